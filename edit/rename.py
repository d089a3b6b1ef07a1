"""What renaming a definition changes, from the index: its definition sites and every use
that resolves to it within its repository.

Changed (each at the position the index gives, checked to hold the old name):
- the `def` / `class` name of every definition with that full name (a property and its
  setter, @overload variants), and with include_overrides, of the methods that override
  it in subclasses or that it overrides;
- every resolved use (usages.target_full_name) written with the old name: calls,
  references, imports and re-exports (`from m import old` and `from m import old as
  old`, whose alias is renamed too), base classes, decorators, attributes through
  self / cls / super() / instances of a known class;
- `__all__` entries naming it, in the files that define or import it;
- strings naming it as precisely as code does (edit/named_strings.py): its full name
  (`patch("pkg.mod.Class.old")`), or the attribute argument of a call whose first
  argument resolves to its class or module (`patch.object(Class, "old")`).
Uses through another name (`from m import old as alias`, then `alias()`) stay as they
are: the alias still binds. Left alone and listed: uses known by name only (attributes
of objects of unknown type: usages.target IS NULL, or a path through this repository
that does not resolve: `self.app.old`), strings and comments holding the name
(getattr, string annotations, docs).
"""

from __future__ import annotations

import ast
import collections.abc
import contextlib
import io
import keyword
import re
import tokenize
from collections.abc import Iterable
from dataclasses import dataclass, field

import psycopg

from coderows.common.lines import line_end, line_starts, split_lines, sql_split_lines, tokenizer_readline
from coderows.db.rows import one_row
from coderows.edit.name_only import outside_uses, refusal, sharing_the_name, standard_definers
from coderows.edit.named_strings import add_string_edits, owners_of
from coderows.edit.plan import ModuleFile, module_files
from coderows.edit.write import EditRefused, FileChange, TextEdit
from coderows.indexer.variables import path_packages, targets_through_variables
from coderows.server.rows import FileStamp, Symbol

NOTHING_WRITTEN = "nothing was written"
# Listed at most, per kind of use left alone; the answer gives the count of all.
LISTED_LEFT_ALONE = 25
# Files read for strings and comments holding the name (the answer says when it stopped).
MAX_FILES_SCANNED = 400


@dataclass(frozen=True)
class ChangedLine:
    path: str
    line: int
    old: str
    new: str


@dataclass(frozen=True)
class LeftAlone:
    path: str
    line: int
    text: str


@dataclass
class RenamePlan:
    symbol: Symbol
    new_name: str
    renamed: list[str]  # full names whose definitions are renamed
    related: list[tuple[str, str]]  # (full name, how related) methods of the hierarchy not renamed
    bases_outside: list[str] = field(default_factory=list)  # a method's classes' bases not indexed
    protocols: list[str] = field(default_factory=list)  # standard library classes defining the method's name
    changes: list[FileChange] = field(default_factory=list)
    lines: list[ChangedLine] = field(default_factory=list)
    positions: int = 0
    aliased: int = 0  # resolved uses written through another name: unchanged
    name_only: list[LeftAlone] = field(default_factory=list)
    name_only_total: int = 0
    by_name_only: list[tuple[str, int, int]] = field(default_factory=list)  # (path, line, col) renamed by name only
    by_name_refused: str = ""  # include_name_only: why none was renamed
    strings: list[LeftAlone] = field(default_factory=list)
    strings_total: int = 0
    strings_scan_cut: bool = False
    stamps: set[FileStamp] = field(default_factory=set)


def check_new_name(old: str, new: str) -> None:
    if not new.isidentifier() or keyword.iskeyword(new):
        raise EditRefused(f"{new!r} is not a Python identifier; {NOTHING_WRITTEN}")
    if new == old:
        raise EditRefused(f"the definition is already named {old}; {NOTHING_WRITTEN}")


def plan_rename(
    conn: psycopg.Connection, symbol: Symbol, new_name: str, *, include_overrides: bool,
    include_name_only: bool = False, listed: int | None = LISTED_LEFT_ALONE,
) -> RenamePlan:
    """Every change renaming `symbol` to `new_name` makes, and what it leaves alone (at
    most `listed` of each kind named; None: all). With include_name_only, the attributes
    known by name only too, when nothing else in the repository has the name."""
    old = symbol.name
    check_new_name(old, new_name)
    refuse_while_resolving(conn, symbol.repo_id)
    related = hierarchy(conn, symbol) if symbol.kind == "method" else []
    renamed = [symbol.full_name] + ([name for name, _ in related] if include_overrides else [])
    plan = RenamePlan(symbol, new_name, renamed, [] if include_overrides else related)
    plan.bases_outside = bases_outside(conn, symbol.repo_id, renamed) if symbol.kind == "method" else []
    plan.protocols = protocols_defining(old) if symbol.kind == "method" else []
    definitions = definition_sites(conn, symbol.repo_id, renamed)
    uses = resolved_uses(conn, symbol.repo_id, renamed)
    through = targets_through_variables(conn, symbol.repo_id, renamed, old) if symbol.kind == "method" else []
    uses += uses_of_targets(conn, symbol.repo_id, through)  # (only a method is an attribute of an instance)
    files = module_files(conn, symbol.repo_id, sorted({d[0] for d in definitions} | {u[0] for u in uses}))
    refuse_conflicts(conn, symbol, new_name, definitions, {u[0] for u in uses if u[3] == "import"}, files)
    edits: dict[int, dict[int, TextEdit]] = {}
    for module_id, def_line in {(d[0], d[1]) for d in definitions}:
        file = files[module_id]
        start = definition_name_offset(file, def_line, old)
        edits.setdefault(module_id, {})[start] = TextEdit(start, start + len(old), new_name)
    plan.aliased += add_use_edits(edits, files, uses, old, new_name)
    top_level = any(d[2] for d in definitions)
    for module_id in edits:
        if top_level or module_id in {u[0] for u in uses if u[3] == "import"}:
            for start in all_entries(files[module_id].source, old):
                edits[module_id][start] = TextEdit(start, start + len(old), new_name)
    name_only = name_only_uses(conn, symbol.repo_id, old, through)
    if include_name_only:
        add_name_only_edits(conn, plan, edits, files, name_only, overrides_left=bool(plan.related))
    # after __all__: a file changed only in strings keeps its own __all__
    add_string_edits(conn, symbol.repo_id, owners_of(conn, symbol.repo_id, renamed, old), old, new_name, edits, files)
    for module_id, by_start in sorted(edits.items(), key=lambda item: files[item[0]].path):
        file = files[module_id]
        plan.changes.append(file.change(list(by_start.values())))
        plan.lines.extend(changed_lines(file, list(by_start.values())))
        plan.positions += len(by_start)
        plan.stamps.add(file.stamp)
    plan.name_only, plan.name_only_total = left_by_name_only(conn, plan, name_only, listed)
    changed_at = {(c.path, e.start) for c in plan.changes for e in c.edits}
    plan.strings, plan.strings_total, plan.strings_scan_cut = strings_holding(conn, symbol.repo_id, old, changed_at, listed)
    return plan


def refuse_while_resolving(conn: psycopg.Connection, repo_id: int) -> None:
    """Uses whose resolution is pending read as unresolved: a rename then would miss them."""
    (pending,) = one_row(conn.execute("SELECT count(*) FROM resolutions WHERE repo_id = %s AND stale", [repo_id]))
    if pending:
        raise EditRefused(f"the index is still resolving {pending} names of this repository; call again in a moment")


def hierarchy(conn: psycopg.Connection, method: Symbol) -> list[tuple[str, str]]:
    """Methods of the same name up and down the class hierarchy: (full name, relation)."""
    rows = conn.execute(
        """
        SELECT method_full_name, 'overrides it' FROM overrides
        WHERE repo_id = %(repo_id)s AND overridden_full_name = %(name)s
        UNION
        SELECT overridden_full_name, 'is overridden by it' FROM overrides
        WHERE repo_id = %(repo_id)s AND method_full_name = %(name)s
        ORDER BY 1
        """,
        {"repo_id": method.repo_id, "name": method.full_name},
    ).fetchall()
    return [(name, how) for name, how in rows if name != method.full_name]


# Standard library classes whose methods Python and the standard library call by name on
# any object standing in for one (duck typing): zipfile flushes whatever file-like object
# it was given, dict(x) asks a mapping for keys(). Ordered so the most general come first.
PROTOCOL_CLASSES: tuple[tuple[str, type], ...] = (
    ("object", object),
    ("io.IOBase", io.IOBase),
    ("io.RawIOBase", io.RawIOBase),
    ("io.BufferedIOBase", io.BufferedIOBase),
    ("io.TextIOBase", io.TextIOBase),
    ("contextlib.AbstractContextManager", contextlib.AbstractContextManager),
    ("contextlib.AbstractAsyncContextManager", contextlib.AbstractAsyncContextManager),
    *((f"collections.abc.{name}", getattr(collections.abc, name)) for name in collections.abc.__all__),
)


def protocols_defining(name: str) -> list[str]:
    """The standard library classes (io.IOBase, collections.abc.Mapping) that define a
    method `name`, none that only inherit it from another listed: renaming a method of
    that name breaks code outside the repository (the standard library's own included)
    that calls it on an object of the class by duck typing, which no index sees."""
    defining: list[str] = []
    seen: list[type] = []
    for label, cls in PROTOCOL_CLASSES:
        if hasattr(cls, name) and not any(issubclass(cls, base) and hasattr(base, name) for base in seen):
            defining.append(f"{label}.{name}")
        seen.append(cls)
    return defining


def bases_outside(conn: psycopg.Connection, repo_id: int, methods: list[str]) -> list[str]:
    """The bases outside the index (jinja2.BaseLoader, click.Group) of the classes of these
    methods and of the classes they inherit from: code there may call the method by its
    name (jinja2 calls a loader's get_source), which no rename can see. typing's
    generics and protocols define no methods of the class's own."""
    rows = conn.execute(
        """
        WITH owners AS (
            SELECT c.full_name FROM definitions m JOIN definitions c ON c.id = m.parent_id AND c.repo_id = m.repo_id
            WHERE m.repo_id = %(repo_id)s AND m.full_name = ANY(%(names)s) AND c.kind = 'class'
        ), lineage AS (
            SELECT full_name FROM owners
            UNION
            SELECT s.base_full_name FROM subclasses s JOIN owners o ON o.full_name = s.subclass_full_name
            WHERE s.repo_id = %(repo_id)s
        )
        SELECT DISTINCT u.target FROM usages u JOIN lineage l ON l.full_name = u.source_full_name
        WHERE u.repo_id = %(repo_id)s AND u.kind = 'inherit' AND NOT u.resolved AND u.target IS NOT NULL
          AND split_part(u.target, '.', 1) NOT IN ('typing', 'typing_extensions') AND u.target <> 'object'
        ORDER BY 1
        """,
        {"repo_id": repo_id, "names": methods},
    ).fetchall()
    return [target for (target,) in rows]


def definition_sites(conn: psycopg.Connection, repo_id: int, full_names: list[str]) -> list[tuple[int, int, bool, int | None]]:
    """(module_id, def_line, is top level, parent_id) of every definition with these full names."""
    rows = conn.execute(
        """
        SELECT module_id, def_line, parent_id IS NULL, parent_id FROM definitions
        WHERE repo_id = %(repo_id)s AND full_name = ANY(%(names)s)
        """,
        {"repo_id": repo_id, "names": full_names},
    ).fetchall()
    return [tuple(row) for row in rows]


def resolved_uses(conn: psycopg.Connection, repo_id: int, full_names: list[str]) -> list[tuple[int, int, int, str, str]]:
    """(module_id, line, col, kind, short_name) of every use resolving to these names."""
    rows = conn.execute(
        """
        SELECT module_id, line, col, kind, short_name FROM usages
        WHERE repo_id = %(repo_id)s AND target_full_name = ANY(%(names)s)
        """,
        {"repo_id": repo_id, "names": full_names},
    ).fetchall()
    return [tuple(row) for row in rows]


def uses_of_targets(conn: psycopg.Connection, repo_id: int, targets: list[str]) -> list[tuple[int, int, int, str, str]]:
    """(module_id, line, col, kind, short_name) of every use of these targets (found
    through variables: unresolved in the index, see indexer/variables.py)."""
    if not targets:
        return []
    rows = conn.execute(
        """
        SELECT module_id, line, col, kind, short_name FROM name_uses
        WHERE repo_id = %(repo_id)s AND target = ANY(%(targets)s) AND NOT via_super
        """,
        {"repo_id": repo_id, "targets": targets},
    ).fetchall()
    return [tuple(row) for row in rows]


def refuse_conflicts(
    conn: psycopg.Connection,
    symbol: Symbol,
    new: str,
    definitions: list[tuple[int, int, bool, int | None]],
    importing: set[int],
    files: dict[int, ModuleFile],
) -> None:
    """The new name must not be taken where the definition or an import binds it."""
    for module_id, _, _, parent_id in definitions:
        taken = conn.execute(
            """
            SELECT def_line FROM definitions
            WHERE repo_id = %s AND module_id = %s AND parent_id IS NOT DISTINCT FROM %s AND name = %s LIMIT 1
            """,
            [symbol.repo_id, module_id, parent_id, new],
        ).fetchone()
        if taken:
            raise EditRefused(
                f"{files[module_id].path}:{taken[0]} already defines {new} in the same scope; {NOTHING_WRITTEN}"
            )
    module_level = {d[0] for d in definitions if d[2]} | importing
    if not module_level:
        return
    taken = conn.execute(
        """
        SELECT module_id, line FROM imports
        WHERE repo_id = %(repo_id)s AND module_id = ANY(%(ids)s)
          AND coalesce(alias, imported_name, split_part(imported_module, '.', 1)) = %(new)s
        UNION ALL
        SELECT module_id, def_line FROM definitions
        WHERE repo_id = %(repo_id)s AND module_id = ANY(%(ids)s) AND parent_id IS NULL AND name = %(new)s
        LIMIT 1
        """,
        {"repo_id": symbol.repo_id, "ids": sorted(module_level), "new": new},
    ).fetchone()
    if taken:
        path = files[taken[0]].path if taken[0] in files else f"module {taken[0]}"
        raise EditRefused(f"{path}:{taken[1]} already binds {new} at module level; {NOTHING_WRITTEN}")


# --- positions in the text ---------------------------------------------------------

_IDENTIFIER_CHAR = re.compile(r"\w")


def definition_name_offset(file: ModuleFile, def_line: int, old: str) -> int:
    """Where the name of the `def` / `class` on def_line starts."""
    starts = line_starts(file.source)
    if def_line > len(starts):
        raise _moved(file, def_line, old)
    line = file.source[starts[def_line - 1] : line_end(file.source, starts, def_line - 1)]
    found = re.search(rf"\b(?:def|class)\s+({re.escape(old)})(?!\w)", line)
    if found is None:
        raise _moved(file, def_line, old)
    return starts[def_line - 1] + found.start(1)


def use_offset(file: ModuleFile, line: int, col: int, old: str) -> int:
    """Where the use at line:col (1-based, characters) starts, checked to hold `old`."""
    text = file.source
    starts = line_starts(text)
    if line > len(starts):
        raise _moved(file, line, old)
    start = starts[line - 1] + col - 1
    after = start + len(old)
    if text[start:after] != old or (after < len(text) and _IDENTIFIER_CHAR.match(text[after])):
        raise _moved(file, line, old)
    return start


def _moved(file: ModuleFile, line: int, old: str) -> EditRefused:
    return EditRefused(
        f"{file.path}:{line} does not hold {old} where the index says; re-index ({file.root}) and call again; "
        f"{NOTHING_WRITTEN}"
    )


def same_name_alias(text: str, after: int, old: str) -> int | None:
    """In `import old as old` (the re-export idiom), where the alias starts."""
    found = re.compile(rf"[ \t]*(?:\\\r?\n[ \t]*)?as[ \t]+({re.escape(old)})(?!\w)").match(text, after)
    return found.start(1) if found else None


def all_entries(source: str, old: str) -> list[int]:
    """Offsets of the names inside `__all__` strings that equal `old`."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError):
        return []
    starts = line_starts(source)
    found = []
    for node in _all_values(tree):
        for constant in ast.walk(node):
            if isinstance(constant, ast.Constant) and constant.value == old and constant.lineno == constant.end_lineno:
                line = source[starts[constant.lineno - 1] : line_end(source, starts, constant.lineno - 1)]
                begin = len(line.encode("utf-8")[: constant.col_offset].decode("utf-8", "replace"))
                end = len(line.encode("utf-8")[: constant.end_col_offset].decode("utf-8", "replace"))
                literal = line[begin:end]
                if len(literal) == len(old) + 2 and literal[0] == literal[-1] and literal[0] in "'\"":
                    found.append(starts[constant.lineno - 1] + begin + 1)
    return found


def _all_values(tree: ast.AST) -> Iterable[ast.AST]:
    """The expressions assigned to, added to or extending `__all__`."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and any(_is_all(t) for t in node.targets):
            yield node.value
        elif isinstance(node, (ast.AugAssign, ast.AnnAssign)) and _is_all(node.target) and node.value is not None:
            yield node.value
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and _is_all(node.func.value)
            and node.func.attr in ("append", "extend", "insert")
        ):
            yield from node.args


def _is_all(node: ast.AST) -> bool:
    return isinstance(node, ast.Name) and node.id == "__all__"


def changed_lines(file: ModuleFile, edits: list[TextEdit]) -> list[ChangedLine]:
    """Each changed line of the file, before and after."""
    text = file.source
    starts = line_starts(text)
    by_line: dict[int, list[TextEdit]] = {}
    for edit in edits:
        index = _line_index(starts, edit.start)
        by_line.setdefault(index, []).append(edit)
    lines = []
    for index, line_edits in sorted(by_line.items()):
        begin, end = starts[index], line_end(text, starts, index)
        old = text[begin:end]
        new = old
        for edit in sorted(line_edits, key=lambda e: e.start, reverse=True):
            new = new[: edit.start - begin] + edit.new + new[edit.end - begin :]
        lines.append(ChangedLine(file.path, index + 1, old.strip(), new.strip()))
    return lines


def _line_index(starts: list[int], offset: int) -> int:
    from bisect import bisect_right

    return bisect_right(starts, offset) - 1


# --- what is left alone ------------------------------------------------------------


@dataclass(frozen=True)
class NameOnlyUse:
    """A use known by name only, where it is."""

    module_id: int
    path: str
    line: int
    col: int
    kind: str
    name: str  # as written: app.old, self.app.old


def left_by_name_only(
    conn: psycopg.Connection, plan: RenamePlan, uses: list[NameOnlyUse], listed: int | None
) -> tuple[list[LeftAlone], int]:
    """The uses known by name only that the plan does not rename: at most `listed` of
    them (None: all), each with its line, and their count. Only the lines listed are
    read: a common name has thousands of such uses."""
    renamed = set(plan.by_name_only)
    found = [use for use in uses if (use.path, use.line, use.col) not in renamed]
    shown = found[:listed]
    texts = line_texts(conn, [(use.module_id, use.line) for use in shown])
    return [LeftAlone(use.path, use.line, text.strip()) for use, text in zip(shown, texts, strict=True)], len(found)


def line_texts(conn: psycopg.Connection, places: list[tuple[int, int]]) -> list[str]:
    """The text of each (content id, line), in one query; lines split as common/lines.py
    splits them."""
    if not places:
        return []
    rows = conn.execute(
        f"""
        SELECT coalesce(({sql_split_lines("c.source")})[t.line], '')
        FROM unnest(%s::bigint[], %s::integer[]) WITH ORDINALITY AS t (content_id, line, n)
        JOIN contents c ON c.id = t.content_id
        ORDER BY t.n
        """,
        [[content_id for content_id, _ in places], [line for _, line in places]],
    ).fetchall()
    return [text for (text,) in rows]


def name_only_uses(conn: psycopg.Connection, repo_id: int, name: str, changed: list[str]) -> list[NameOnlyUse]:
    """Uses of `name` whose target the index does not know: objects of unknown type
    (no target), and attributes on a path through this repository that the resolver
    could not follow (`self.app.name` where nothing says what self.app holds, also
    through a package a test imports from a folder on sys.path), except the `changed`
    targets (followed through variables). A path into a module not indexed (`os.open`)
    is not listed: that is another definition."""
    rows = conn.execute(
        """
        SELECT u.module_id, u.path, u.line, u.col, u.kind, u.name
        FROM usages u
        WHERE u.repo_id = %(repo_id)s AND u.short_name = %(name)s
          AND (u.target IS NULL
               OR u.target_full_name IS NULL AND u.kind <> 'import' AND NOT u.target = ANY(%(changed)s)
                  AND (split_part(u.target, '.', 1) IN (
                           SELECT split_part(name, '.', 1) FROM modules WHERE repo_id = %(repo_id)s)
                       OR split_part(u.target, '.', 1) = ANY(%(packages)s)))
        ORDER BY u.path, u.line, u.col
        """,
        {"repo_id": repo_id, "name": name, "changed": changed, "packages": sorted(path_packages(conn, repo_id))},
    ).fetchall()
    return [NameOnlyUse(*row) for row in rows]


def add_name_only_edits(
    conn: psycopg.Connection, plan: RenamePlan, edits: dict[int, dict[int, TextEdit]], files: dict[int, ModuleFile],
    uses: list[NameOnlyUse], *, overrides_left: bool,
) -> None:
    """include_name_only: the attributes known by name only renamed too (added to
    `edits` and plan.by_name_only) when nothing else in the repository goes by the name
    (edit/name_only.py); else none, and plan.by_name_refused says why. Bare names are
    not renamed (left alone and listed)."""
    old, repo_id = plan.symbol.name, plan.symbol.repo_id
    attributes = [use for use in uses if "." in use.name]
    if not attributes:
        return
    sharing = [
        *sharing_the_name(conn, repo_id, old, plan.renamed),
        *outside_uses(conn, repo_id, old),
        *(f"{base} (a base outside the index of its class)" for base in plan.bases_outside),
        *standard_definers(old, protocols_defining(old)),
    ]
    if sharing:
        plan.by_name_refused = refusal(old, sharing, overrides_left=overrides_left)
        return
    files.update(module_files(conn, repo_id, sorted({use.module_id for use in attributes} - files.keys())))
    add_use_edits(edits, files, [(u.module_id, u.line, u.col, u.kind, old) for u in attributes], old, plan.new_name)
    plan.by_name_only = [(u.path, u.line, u.col) for u in attributes]


def strings_holding(
    conn: psycopg.Connection, repo_id: int, name: str, changed_at: set[tuple[str, int]], listed: int | None
) -> tuple[list[LeftAlone], int, bool]:
    """Lines whose strings or comments hold `name` as a word, outside what is changed."""
    rows = conn.execute(
        """
        SELECT path, source FROM modules
        WHERE repo_id = %(repo_id)s AND strpos(source, %(name)s) > 0
        ORDER BY path LIMIT %(cap)s
        """,
        {"repo_id": repo_id, "name": name, "cap": MAX_FILES_SCANNED + 1},
    ).fetchall()
    word = re.compile(rf"(?<!\w){re.escape(name)}(?!\w)")
    found: list[LeftAlone] = []
    total = 0
    for path, source in rows[:MAX_FILES_SCANNED]:
        starts = line_starts(source)
        lines = split_lines(source)
        seen: set[int] = set()
        for row, col in _string_and_comment_hits(source, word):
            offset = starts[row - 1] + col
            if (path, offset) in changed_at or row in seen:
                continue
            seen.add(row)
            total += 1
            if listed is None or len(found) < listed:
                found.append(LeftAlone(path, row, lines[row - 1].strip()))
    return found, total, len(rows) > MAX_FILES_SCANNED


def _string_and_comment_hits(source: str, word: re.Pattern[str]) -> Iterable[tuple[int, int]]:
    """(row, col) of every match of `word` inside a string or comment token."""
    try:
        for token in tokenize.generate_tokens(tokenizer_readline(source)):
            if token.type not in (tokenize.STRING, tokenize.COMMENT):
                continue
            for match in word.finditer(token.string):
                before = token.string[: match.start()]
                row = token.start[0] + before.count("\n")
                col = match.start() - (before.rfind("\n") + 1) if "\n" in before else token.start[1] + match.start()
                yield row, col
    except (tokenize.TokenError, SyntaxError):
        return


def add_use_edits(
    edits: dict[int, dict[int, TextEdit]], files: dict[int, ModuleFile], uses: list[tuple[int, int, int, str, str]],
    old: str, new_name: str,
) -> int:
    """Add to `edits` the rename of every use spelled `old` (and `import x as x`'s alias);
    returns how many uses reach the target through another name (left as they are)."""
    aliased = 0
    for module_id, line, col, kind, short_name in uses:
        if short_name != old:
            aliased += 1
            continue
        file = files[module_id]
        start = use_offset(file, line, col, old)
        edits.setdefault(module_id, {})[start] = TextEdit(start, start + len(old), new_name)
        if kind == "import":
            alias = same_name_alias(file.source, start + len(old), old)
            if alias is not None:
                edits[module_id][alias] = TextEdit(alias, alias + len(old), new_name)
    return aliased
