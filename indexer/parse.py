"""Parse one file: bytes in, rows out. Pure: no file system, no database.

    parse_module("pkg/mod.py", data) -> ParsedModule(definitions=[...], imports=[...])

tree-sitter parses every file. When its tree has errors, Python's ast gets a turn: if
ast accepts the file the rows come from ast ("recovered", exact); otherwise from the
error-tolerant tree-sitter tree ("partial", best effort). Qualnames follow CPython's
compiler, including its edge cases (`global` declarations, `<locals>`).

A change here that makes different rows from the same bytes raises
indexer/parser_version.py's PARSER_VERSION, so that indexed files are parsed again.
"""

from __future__ import annotations

import ast
import codecs
import hashlib
import io
import re
import tokenize
import warnings
from dataclasses import dataclass, field

from tree_sitter import Tree

from coderows.common.definition import DefinitionFields
from coderows.common.lines import line_count, line_end, line_starts
from coderows.indexer import extract_ast, extract_treesitter
from coderows.indexer.extract_uses import DefinitionKey, Use, extract_uses
from coderows.indexer.naming import PATH_ONLY_ROOTS, ModuleName, PackageRoots, import_target, module_name
from coderows.indexer.outline import Outline, RawDefinition, RawImport, compact_code

# Python itself refuses more than 100 levels of indentation; deeper definitions can only
# come from generated or hostile files (and each level would repeat every qualname).
MAX_DEFINITION_DEPTH = 100


@dataclass(slots=True)
class Definition(DefinitionFields):
    """One definitions row (read as the symbols view), numbered within its file; ids are
    assigned when loading."""

    ordinal: int
    parent_ordinal: int | None
    body_start: int  # 0-based character offset of start_line in the module's source
    body_length: int  # characters through the end of end_line, without its line break
    source: str = field(repr=False, compare=False)  # the module's text (shared, not copied)

    @property
    def body(self) -> str:
        """Source lines start_line..end_line without the final line break."""
        return self.source[self.body_start : self.body_start + self.body_length]


@dataclass(slots=True)
class Import:
    """One imports row."""

    line: int
    imported_module: str | None
    imported_name: str | None
    alias: str | None
    level: int
    target_module: str | None


@dataclass(slots=True)
class ParsedModule:
    """One modules row with its definitions, imports and name uses."""

    path: str
    name: str
    is_package: bool
    docstring: str | None
    source: str
    line_count: int
    content_hash: str
    encoding: str | None
    parse_status: str  # ok | recovered | partial | skipped
    parse_error: str | None
    definitions: list[Definition] = field(default_factory=list)
    imports: list[Import] = field(default_factory=list)
    uses: list[Use] = field(default_factory=list)

    @property
    def names_hash(self) -> str:
        """A digest of what name resolution reads of this file (indexer/resolve.py): its
        definitions' qualnames and kinds, its imports, its classes' bases, in order. An
        edit that leaves it unchanged (a body, a comment, lines moved) cannot change
        what any name in the repository resolves to."""
        digest = hashlib.blake2b(digest_size=16)
        for d in self.definitions:
            digest.update(f"d\0{d.qualname}\0{d.kind}\n".encode("utf-8", "surrogatepass"))
        for i in self.imports:
            digest.update(f"i\0{i.imported_module}\0{i.imported_name}\0{i.alias}\0{i.target_module}\n".encode("utf-8", "surrogatepass"))
        for u in self.uses:
            if u.kind == "inherit":
                digest.update(f"b\0{u.source_ordinal}\0{u.target}\n".encode("utf-8", "surrogatepass"))
        return digest.hexdigest()


def content_hash(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def skipped_module(path: str, reason: str, data: bytes = b"", package_roots: PackageRoots = PATH_ONLY_ROOTS) -> ParsedModule:
    """A file that is listed but not parsed (binary, too large, unreadable)."""
    name = module_name(path, package_roots)
    return ParsedModule(
        path=path,
        name=name.name,
        is_package=name.is_package,
        docstring=None,
        source="",
        line_count=0,
        content_hash=content_hash(data) if data else "",
        encoding=None,
        parse_status="skipped",
        parse_error=reason,
    )


def parse_module(path: str, data: bytes, package_roots: PackageRoots = PATH_ONLY_ROOTS) -> ParsedModule:
    """Rows for the file at `path` (POSIX, relative to the repository root) holding `data`;
    `package_roots`: the repository's (indexer/packaging.py), which its module name follows."""
    if b"\0" in data:
        return skipped_module(path, "binary file: it contains NUL bytes", data, package_roots)
    text, encoding, decode_note = decode(data)
    utf8 = data if encoding == "utf-8" and decode_note is None else text.encode("utf-8")
    lone_carriage_returns = "\r" in text and text.count("\r") != text.count("\r\n")
    outline, tree, status, error = _outline(text, utf8, trust_tree_lines=not lone_carriage_returns)
    name = module_name(path, package_roots)
    # Line starts in characters; in an ASCII text without \r they are also the byte
    # offsets of the lines tree-sitter counts (at \n only), which the uses need: one list.
    starts = line_starts(text) if tree is not None and text.isascii() and "\r" not in text else None
    definitions, limit_note = _definitions(outline, text, starts)
    if limit_note:
        status, error = "partial", _join_notes(error, limit_note)
    imports = [_import(row, name) for row in outline.imports]
    uses, uses_note = _uses(tree, utf8, name.name, definitions, imports, starts) if tree is not None else ([], None)
    if uses_note:
        status, error = "partial", _join_notes(error, uses_note)
    return ParsedModule(
        path=path,
        name=name.name,
        is_package=name.is_package,
        docstring=outline.docstring,
        source=text,
        line_count=line_count(text) if starts is None else _line_count(text, starts),
        content_hash=content_hash(data),
        encoding=encoding,
        parse_status=status,
        parse_error=_join_notes(error, decode_note),
        definitions=definitions,
        imports=imports,
        uses=uses,
    )


def _line_count(text: str, starts: list[int]) -> int:
    """line_count(text) from its line_starts (a final line break starts no line)."""
    if not text:
        return 0
    return len(starts) - 1 if text.endswith("\n") else len(starts)


def decode(data: bytes) -> tuple[str, str, str | None]:
    """(text, encoding, note): PEP 263 cookie or BOM honoured, bad bytes replaced."""
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
        if codecs.lookup(encoding).name == "utf-8":  # "utf8", "UTF_8": one codec, one name
            encoding = "utf-8"
    except SyntaxError as error:  # an unknown codec in the cookie, or a cookie contradicting the BOM
        return data.decode("utf-8", "replace"), "utf-8", f"{error.msg}; decoded as UTF-8"
    try:
        return data.decode(encoding), encoding, None
    except UnicodeDecodeError as error:
        note = f"undecodable bytes replaced with U+FFFD ({encoding}: {error.reason} at byte {error.start})"
        return data.decode(encoding, "replace"), encoding, note


def _outline(text: str, utf8: bytes, *, trust_tree_lines: bool) -> tuple[Outline, Tree | None, str, str | None]:
    """The outline, the tree-sitter tree when its lines can be trusted, the status and
    its note. trust_tree_lines is False when the file has lone carriage returns: Python
    counts them as line breaks, tree-sitter does not, so ast must give the lines."""
    if too_many_indent_widths(utf8):  # tree-sitter could crash the process: ast alone
        tree, wide_note = None, f"lines indented at over {MAX_INDENT_WIDTHS} different widths: not parsed by tree-sitter"
    else:
        tree, wide_note = extract_treesitter.parse_tree(utf8), None
    tree_for_uses = tree if trust_tree_lines else None
    if tree is not None and not tree.root_node.has_error and trust_tree_lines:
        return extract_treesitter.extract(tree, utf8), tree, "ok", None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # SyntaxWarnings about escapes are not our business
            module = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError) as error:
        if tree is None:
            return Outline([], [], None), None, "partial", _join_notes(_describe_syntax_error(error), wide_note)
        return extract_treesitter.extract(tree, utf8), tree_for_uses, "partial", _describe_syntax_error(error)
    note = None if trust_tree_lines else "lone carriage returns end lines: lines taken from Python's ast"
    return extract_ast.extract(module, text), tree_for_uses, "recovered", _join_notes(note, wide_note)


# tree-sitter-python's external scanner writes past its 1024-byte state buffer, crashing
# the whole process (SIGSEGV), once its stack of indentation widths holds a few hundred
# entries: e.g. an unterminated string followed by 513 ever deeper lines
# (tree-sitter/tree-sitter-python#350). The entries are distinct widths (a tab counts 8),
# so a file with no more distinct line-start widths than this cannot get there, even with
# the 255 string delimiters the scanner saves at most. No real code comes near; a file
# that does still gets exact rows from ast when Python accepts it.
MAX_INDENT_WIDTHS = 256
# A run of 33+ blanks that starts a line: fewer cannot be wider than 256 columns, and
# without a line that wide there cannot be more than 256 distinct widths. The literal \n
# lets the regex engine skip ahead with memchr.
_LONG_INDENT = re.compile(rb"\n([ \t]{33,})")
_INDENT = re.compile(rb"\n([ \t]*)")
_WIDE_SPACES = re.compile(rb"\n {%d}" % (MAX_INDENT_WIDTHS + 1))


def too_many_indent_widths(utf8: bytes) -> bool:
    """True when the lines of the file start at more than MAX_INDENT_WIDTHS distinct
    widths, as tree-sitter's scanner measures them."""
    if b"\\\n" in utf8 or b"\\\r" in utf8:
        # the scanner reads on past a backslash-newline: blanks on both sides add up
        utf8 = utf8.replace(b"\\\r\n", b"").replace(b"\\\n", b"")
    if b"\r" in utf8 or b"\f" in utf8:
        utf8 = utf8.replace(b"\r", b"\n").replace(b"\f", b"\n")  # each restarts the width too
    utf8 = b"\n" + utf8 if utf8[:1] in (b" ", b"\t") else utf8
    if b"\t" not in utf8:  # every width is a count of spaces: one search says it
        if _WIDE_SPACES.search(utf8) is None:
            return False
    elif not any(_width(run[1]) > MAX_INDENT_WIDTHS for run in _LONG_INDENT.finditer(utf8)):
        return False
    return len({_width(run) for run in _INDENT.findall(utf8)}) > MAX_INDENT_WIDTHS


def _width(run: bytes) -> int:
    return run.count(b" ") + 8 * run.count(b"\t")


def _describe_syntax_error(error: BaseException) -> str:
    if isinstance(error, SyntaxError):
        return f"{type(error).__name__}: {error.msg} (line {error.lineno})"
    if isinstance(error, RecursionError | MemoryError):
        return f"{type(error).__name__}: nested too deeply for Python's parser"
    return f"{type(error).__name__}: {error}"


def _definitions(outline: Outline, text: str, starts: list[int] | None = None) -> tuple[list[Definition], str | None]:
    """Rows for the outline's definitions, qualnames derived as CPython's compiler does;
    `starts`: line_starts(text), when the caller has them."""
    rows: list[Definition] = []
    ordinal_of: dict[int, int] = {}  # outline index -> ordinal among kept rows
    depth_of: dict[int, int] = {}
    private_of: dict[int, str | None] = {}  # the class name that mangles __names in its scope
    notes: list[str] = []
    if starts is None:
        starts = line_starts(text) if outline.definitions else []
    for index, raw in enumerate(outline.definitions):
        parent_raw = outline.definitions[raw.parent] if raw.parent is not None else None
        parent_ordinal = ordinal_of.get(raw.parent) if raw.parent is not None else None
        if parent_raw is not None and parent_ordinal is None:
            continue  # its parent was dropped: too deep
        depth = depth_of[raw.parent] + 1 if raw.parent is not None else 1
        if depth > MAX_DEFINITION_DEPTH:
            notes.append(f"definitions nested deeper than {MAX_DEFINITION_DEPTH} levels are not indexed")
            continue
        parent = rows[parent_ordinal] if parent_ordinal is not None else None
        private = private_of[raw.parent] if raw.parent is not None else None
        private_of[index] = raw.name if raw.is_class else private
        end_line = max(raw.end_line, raw.def_line)
        start_line = min(raw.start_line, raw.def_line)
        body_start = starts[min(start_line, len(starts)) - 1]
        body_end = line_end(text, starts, min(end_line, len(starts)) - 1)
        ordinal_of[index] = len(rows)
        depth_of[index] = depth
        rows.append(
            Definition(
                ordinal=len(rows),
                parent_ordinal=parent_ordinal,
                kind=_kind(raw.is_class, parent_raw),
                name=raw.name,
                qualname=_qualname(raw.name, parent, parent_raw, private),
                class_name=parent_raw.name if parent_raw is not None and parent_raw.is_class and not raw.is_class else None,
                def_line=raw.def_line,
                start_line=start_line,
                end_line=end_line,
                signature=compact_code(raw.header),
                decorators=raw.decorators,
                bases=raw.bases,
                is_async=raw.is_async,
                docstring=raw.docstring,
                body_start=body_start,
                body_length=max(body_end - body_start, 0),
                source=text,
            )
        )
    return rows, "; ".join(dict.fromkeys(notes)) or None


def _kind(is_class: bool, parent_raw: RawDefinition | None) -> str:
    if is_class:
        return "class"
    return "method" if parent_raw is not None and parent_raw.is_class else "function"


def _qualname(name: str, parent: Definition | None, parent_raw: RawDefinition | None, private: str | None) -> str:
    """CPython: a name declared `global` in the enclosing scope is bare (compared after
    private-name mangling, as the compiler does); inside a function the enclosing
    qualname gains `.<locals>`."""
    if parent is None or parent_raw is None:
        return name
    if parent_raw.declared_global and _mangle(name, private) in {_mangle(g, private) for g in parent_raw.declared_global}:
        return name
    if parent_raw.is_class:
        return f"{parent.qualname}.{name}"
    return f"{parent.qualname}.<locals>.{name}"


def _mangle(name: str, private: str | None) -> str:
    """Private name mangling inside a class: __x -> _Class__x (CPython's _Py_Mangle)."""
    if private is None or not name.startswith("__") or name.endswith("__") or "." in name:
        return name
    stripped = private.lstrip("_")
    return f"_{stripped}{name}" if stripped else name


def _import(raw: RawImport, importer: ModuleName) -> Import:
    return Import(
        line=raw.line,
        imported_module=raw.imported_module,
        imported_name=raw.imported_name,
        alias=raw.alias,
        level=raw.level,
        target_module=import_target(importer, raw.imported_module, raw.level),
    )


def _uses(
    tree: Tree, utf8: bytes, module: str, definitions: list[Definition], imports: list[Import], starts: list[int] | None
) -> tuple[list[Use], str | None]:
    """Name uses from the tree-sitter tree (also when it has errors: best effort there),
    and a note on what the per-file bounds left out (extract_uses.py)."""
    keys = [
        DefinitionKey(d.ordinal, d.def_line, d.name, f"{module}.{d.qualname}", "." not in d.qualname)
        for d in definitions
    ]
    rows = [(i.line, i.imported_module, i.imported_name, i.alias, i.target_module) for i in imports]
    return extract_uses(tree, utf8, keys, rows, starts)


def _join_notes(*notes: str | None) -> str | None:
    return "; ".join(note for note in notes if note) or None
