"""Decide the text changes of replace, insert and delete from a definition's rows.

A definition spans whole lines: start_line (its first decorator) to end_line (its last
statement), so its decorators and docstring always go with it. New source is accepted at
any indentation and placed at the definition's: its code lines lose their common
indentation and gain the target's, while lines inside multi-line strings are left as
written (re-indenting them would change the strings' values). Line breaks are the
file's own: the break of the definition's line, else the file's first, else \\n.
"""

from __future__ import annotations

import ast
import io
import os
import tokenize
from dataclasses import dataclass
from typing import Any, Literal

import psycopg

from coderows.common.lines import line_end, line_starts, split_lines
from coderows.edit.write import EditRefused, FileChange, TextEdit
from coderows.server.rows import FileStamp, Symbol

Position = Literal["before", "after", "end"]
NOTHING_WRITTEN = "nothing was written"


@dataclass(frozen=True)
class ModuleFile:
    """The rows of one file an edit is decided on."""

    module_id: int
    repo_id: int
    root: str
    path: str
    source: str
    content_hash: str
    size: int
    mtime_ns: int
    excludes: tuple[str, ...]
    parse_status: str

    @property
    def stamp(self) -> FileStamp:
        return FileStamp(self.root, self.path, self.size, self.mtime_ns)

    def change(self, edits: list[TextEdit]) -> FileChange:
        return FileChange(self.root, self.path, self.content_hash, self.source, tuple(edits), self.excludes)


def module_files(conn: psycopg.Connection, repo_id: int, module_ids: list[int]) -> dict[int, ModuleFile]:
    """The files (module ids) of one repository, with their source as indexed."""
    rows = conn.execute(
        """
        SELECT m.id, m.repo_id, r.root, m.path, m.source, m.content_hash, m.size, m.mtime_ns, r.excludes, m.parse_status
        FROM modules m JOIN repos r ON r.id = m.repo_id
        WHERE m.repo_id = %(repo_id)s AND m.id = ANY(%(ids)s)
        """,
        {"repo_id": repo_id, "ids": module_ids},
    ).fetchall()
    return {row[0]: _module_file(row) for row in rows}


def _module_file(row: tuple[Any, ...]) -> ModuleFile:
    module_id, repo_id, root, path, source, content_hash, size, mtime_ns, excludes, parse_status = row
    return ModuleFile(
        module_id, repo_id, root, path, source, content_hash, size, mtime_ns, tuple(excludes or ()), parse_status
    )


def module_file(conn: psycopg.Connection, repo_id: int, module_id: int) -> ModuleFile:
    found = module_files(conn, repo_id, [module_id]).get(module_id)
    if found is None:
        raise EditRefused(f"the file of module id {module_id} is no longer indexed; call again")
    return found


def refuse_unparsed(file: ModuleFile) -> None:
    """Line ranges of a file that did not parse cleanly are a best effort: not edited."""
    if file.parse_status not in ("ok", "recovered"):
        raise EditRefused(f"{file.path} does not parse ({file.parse_status}): fix it first; {NOTHING_WRITTEN}")


# --- where lines are ---------------------------------------------------------------


def newline_of(text: str, starts: list[int], index: int) -> str:
    """The line break ending line index + 1, else the file's first, else \\n."""
    for candidate in (index, 0):
        end = line_end(text, starts, candidate)
        if text.startswith("\r\n", end):
            return "\r\n"
        if end < len(text):
            return text[end]
    return "\n"


def indentation(text: str, starts: list[int], index: int) -> str:
    line = text[starts[index] : line_end(text, starts, index)]
    return line[: len(line) - len(line.lstrip(" \t\f"))]


def after_line(text: str, starts: list[int], index: int) -> int:
    """The offset just past line index + 1 and its break."""
    return starts[index + 1] if index + 1 < len(starts) else len(text)


# --- placing new source ------------------------------------------------------------


def placed(source: str, indent: str, newline: str) -> str:
    """`source` re-indented to `indent`, its lines joined by `newline`, without a final
    break. Refused when it does not parse on its own."""
    lines = split_lines(source.expandtabs(8) if _indent_mixes_tabs(source) else source)
    while lines and not lines[-1].strip():
        lines.pop()
    while lines and not lines[0].strip():
        lines.pop(0)
    if not lines:
        raise EditRefused(f"the source is empty; {NOTHING_WRITTEN}")
    inside_strings = _string_interior_rows(lines)
    code = [i for i, line in enumerate(lines) if line.strip() and i not in inside_strings]
    common = os.path.commonprefix([_leading(lines[i]) for i in code])
    out = []
    for i, line in enumerate(lines):
        if i in inside_strings:
            out.append(line)
        elif not line.strip():
            out.append("")
        else:
            out.append(indent + line[len(common) :])
    dedented = "\n".join(line[len(indent) :] if i in code else line for i, line in enumerate(out))
    try:
        ast.parse(dedented)
    except SyntaxError as error:
        raise EditRefused(f"the source does not parse: line {error.lineno}: {error.msg}; {NOTHING_WRITTEN}") from None
    except (ValueError, RecursionError) as error:
        raise EditRefused(f"the source does not parse ({type(error).__name__}); {NOTHING_WRITTEN}") from None
    return newline.join(out)


def _leading(line: str) -> str:
    return line[: len(line) - len(line.lstrip(" \t\f"))]


def _indent_mixes_tabs(source: str) -> bool:
    return any("\t" in _leading(line) for line in split_lines(source))


def _string_interior_rows(lines: list[str]) -> set[int]:
    """0-based rows that begin inside a multi-line string (their text is the string's)."""
    # Indented code tokenizes as the body of a block: `if 1:` is put before it.
    wrapped = 1 if _leading(lines[0]) else 0
    text = "\n".join((["if 1:"] if wrapped else []) + lines) + "\n"
    rows: set[int] = set()
    try:
        for token in tokenize.generate_tokens(io.StringIO(text).readline):
            if token.type == tokenize.STRING and token.end[0] > token.start[0]:
                # tokenize rows are 1-based: rows start+1..end (1-based) are start..end-1 0-based
                rows.update(row - wrapped for row in range(token.start[0], token.end[0]))
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return rows  # ast.parse reports the problem
    return rows


# --- the edits ---------------------------------------------------------------------


def replace_edit(file: ModuleFile, symbol: Symbol, source: str) -> TextEdit:
    """The definition's lines replaced by `source`, at its indentation."""
    text = file.source
    starts = line_starts(text)
    first, last = symbol.start_line - 1, symbol.end_line - 1
    newline = newline_of(text, starts, first)
    new = placed(source, indentation(text, starts, first), newline)
    return TextEdit(starts[first], line_end(text, starts, last), new)


def blank_lines(symbol_is_top_level: bool) -> int:
    """PEP 8: two blank lines around top-level definitions, one around methods."""
    return 2 if symbol_is_top_level else 1


def insert_edit(file: ModuleFile, anchor: Symbol | None, position: Position, source: str) -> TextEdit:
    """`source` placed before or after the anchor definition, or at the end of the
    anchor class (or of the module when anchor is None)."""
    text = file.source
    starts = line_starts(text)
    if anchor is None:
        return _append_to_module(text, starts, source)
    first, last = anchor.start_line - 1, anchor.end_line - 1
    newline = newline_of(text, starts, first)
    if position == "end":
        indent = class_body_indent(file, anchor)
        blanks = newline * 1
        return _after(text, starts, last, blanks + placed(source, indent, newline), newline)
    indent = indentation(text, starts, first)
    blanks = newline * blank_lines(anchor.parent_id is None)
    block = placed(source, indent, newline)
    if position == "before":
        return TextEdit(starts[first], starts[first], block + newline + blanks)
    return _after(text, starts, last, blanks + block, newline)


def _after(text: str, starts: list[int], last: int, block: str, newline: str) -> TextEdit:
    """`block` as whole lines right after line last + 1."""
    offset = after_line(text, starts, last)
    if offset == len(text) and not text.endswith(("\n", "\r")):
        return TextEdit(offset, offset, newline + block + newline)
    return TextEdit(offset, offset, block + newline)


def _append_to_module(text: str, starts: list[int], source: str) -> TextEdit:
    newline = newline_of(text, starts, 0)
    block = placed(source, "", newline)
    if not text.strip():
        return TextEdit(0, len(text), block + newline)
    trailing = len(text) - len(text.rstrip(" \t\f\r\n"))
    # Trailing blank lines are rewritten: exactly two blank lines before the new code.
    return TextEdit(len(text) - trailing, len(text), newline * 3 + block + newline)


def class_body_indent(file: ModuleFile, cls: Symbol) -> str:
    """The indentation of the class's body statements (from ast: the header may span lines)."""
    if cls.kind != "class":
        raise EditRefused(f"position 'end' needs a class or a module; {cls.full_name} is a {cls.kind}; {NOTHING_WRITTEN}")
    node, _ = definition_node(file, cls)
    first = node.body[0]
    starts = line_starts(file.source)
    return indentation(file.source, starts, first.lineno - 1)


def delete_edit(file: ModuleFile, symbol: Symbol) -> TextEdit:
    """The definition's lines removed with the blank lines after them; `pass` stands in
    when it was the only statement of its block."""
    text = file.source
    starts = line_starts(text)
    first, last = symbol.start_line - 1, symbol.end_line - 1
    _, siblings = definition_node(file, symbol)
    if len(siblings) == 1 and symbol.parent_id is not None:
        return TextEdit(starts[first], line_end(text, starts, last), indentation(text, starts, first) + "pass")
    end = after_line(text, starts, last)
    following = last + 1
    while following < len(starts) and not text[starts[following] : line_end(text, starts, following)].strip():
        following += 1
        end = after_line(text, starts, following - 1)
    return TextEdit(starts[first], end, "")


def definition_node(
    file: ModuleFile, symbol: Symbol
) -> tuple[ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef, list[ast.stmt]]:
    """The ast node of the definition, and the statement list it stands in."""
    try:
        tree = ast.parse(file.source)
    except (SyntaxError, ValueError, RecursionError):
        raise EditRefused(f"{file.path} does not parse now: fix it first; {NOTHING_WRITTEN}") from None
    definitions = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
    stack: list[list[ast.stmt]] = [tree.body]
    while stack:
        body = stack.pop()
        for node in body:
            if isinstance(node, definitions) and node.lineno == symbol.def_line and node.name == symbol.name:
                return node, body
            for name in ("body", "orelse", "finalbody", "handlers", "cases"):
                children = getattr(node, name, None)
                if isinstance(children, list):
                    stack.append([c for c in children if isinstance(c, ast.stmt)])
                    for child in children:  # except handlers and match cases hold bodies
                        if not isinstance(child, ast.stmt) and isinstance(getattr(child, "body", None), list):
                            stack.append(child.body)
    raise EditRefused(f"{file.path}:{symbol.def_line} no longer holds {symbol.name} as indexed; call again")
