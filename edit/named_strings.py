"""String literals that name a renamed definition as precisely as code does, so a rename
changes them with its uses (tests patch by name: a rename that leaves the strings makes
`patch.object` fail on an attribute that is gone):

    patch("pkg.loops.Loop.trigger")              # its full name, or a module importing it + its name
    patch.object(WatchdogLoop, "trigger")        # the attribute of a class the index resolves:
    monkeypatch.setattr(loops, "helper", fake)   #   the method's class or a subclass inheriting it,
    getattr(loops, "helper")                     #   or the module that defines or imports it

Only a whole literal counts (`"trigger"`, `"pkg.loops.Loop.trigger"`), written plainly
(no escapes, no implicit concatenation); any other string holding the name stays in
rename.strings_holding's list for the agent to judge.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass

import psycopg

from coderows.common.lines import line_starts
from coderows.edit.plan import ModuleFile, module_files
from coderows.edit.write import TextEdit

# Files parsed for such strings (those whose source holds the name), like rename's scan.
MAX_FILES_PARSED = 400
# A plain literal: an optional prefix without escapes' meaning changes, one quote kind.
PLAIN_LITERAL = re.compile(r"""(?i)[ru]?(['"])(?P<body>[\w.]*)\1\Z""")


@dataclass(frozen=True)
class Owners:
    """What a string may name the renamed definitions through: dotted names (classes'
    and modules' full names) and, for an attribute argument, the targets of the call's
    first argument (class full names, module names)."""

    classes: frozenset[str]
    modules: frozenset[str]


def owners_of(conn: psycopg.Connection, repo_id: int, renamed: list[str], old: str) -> Owners:
    """Classes holding a renamed method as an attribute: their own classes, and
    subclasses that inherit it rather than define their own `old` (a subclass's own
    method of that name, not renamed, is what `patch.object(Sub, old)` means); modules
    defining a renamed top-level definition or importing it under its name."""
    classes = conn.execute(
        """
        WITH renamed AS (
            SELECT m.full_name, c.full_name AS class_name
            FROM definitions m LEFT JOIN definitions c ON c.id = m.parent_id AND c.repo_id = m.repo_id AND c.kind = 'class'
            WHERE m.repo_id = %(repo_id)s AND m.full_name = ANY(%(names)s)
        ), owners AS (
            SELECT class_name AS full_name FROM renamed WHERE class_name IS NOT NULL
        ), others AS (  -- classes defining a method of that name that is not renamed
            SELECT c.full_name FROM definitions m JOIN definitions c ON c.id = m.parent_id AND c.repo_id = m.repo_id
            WHERE m.repo_id = %(repo_id)s AND m.name = %(old)s AND c.kind = 'class' AND NOT m.full_name = ANY(%(names)s)
        )
        SELECT full_name FROM owners
        UNION
        SELECT s.subclass_full_name FROM subclasses s JOIN owners o ON o.full_name = s.base_full_name
        WHERE s.repo_id = %(repo_id)s
          AND s.subclass_full_name NOT IN (SELECT full_name FROM others)
          AND NOT EXISTS (SELECT 1 FROM subclasses t JOIN others x ON x.full_name = t.base_full_name
                          WHERE t.repo_id = %(repo_id)s AND t.subclass_full_name = s.subclass_full_name)
        """,
        {"repo_id": repo_id, "names": renamed, "old": old},
    ).fetchall()
    modules = conn.execute(
        """
        SELECT module FROM definitions
        WHERE repo_id = %(repo_id)s AND full_name = ANY(%(names)s) AND parent_id IS NULL
        UNION
        SELECT module FROM usages
        WHERE repo_id = %(repo_id)s AND kind = 'import' AND short_name = %(old)s AND target_full_name = ANY(%(names)s)
        """,
        {"repo_id": repo_id, "names": renamed, "old": old},
    ).fetchall()
    return Owners(frozenset(name for (name,) in classes), frozenset(name for (name,) in modules))


def owners_of_variable(spellings: list[str]) -> Owners:
    """A module-level variable is an attribute of the modules that define or re-export
    it (`pkg.settings.TIMEOUT`, `pkg.TIMEOUT`)."""
    return Owners(frozenset(), frozenset(name.rpartition(".")[0] for name in spellings))


def add_string_edits(
    conn: psycopg.Connection, repo_id: int, owners: Owners, old: str, new: str,
    edits: dict[int, dict[int, TextEdit]], files: dict[int, ModuleFile],
) -> None:
    """Add to `edits` (and their files to `files`) the rename of every string naming
    `old` through its owners."""
    named = strings_naming(conn, repo_id, owners, old)
    files.update(module_files(conn, repo_id, sorted(set(named) - set(files))))
    for module_id, offsets in named.items():
        for start in offsets:
            edits.setdefault(module_id, {})[start] = TextEdit(start, start + len(old), new)


def strings_naming(conn: psycopg.Connection, repo_id: int, owners: Owners, old: str) -> dict[int, list[int]]:
    """Module id -> offsets of `old` inside the string literals that name it through
    one of its `owners` (see the module's docstring)."""
    if not owners.classes and not owners.modules:
        return {}
    rows = conn.execute(
        """
        SELECT id, source FROM modules
        WHERE repo_id = %(repo_id)s AND (strpos(source, %(double)s) > 0 OR strpos(source, %(single)s) > 0)
        ORDER BY path LIMIT %(cap)s
        """,
        {"repo_id": repo_id, "double": old + '"', "single": old + "'", "cap": MAX_FILES_PARSED},
    ).fetchall()
    targets = _use_targets(conn, repo_id, [module_id for module_id, _ in rows])
    found: dict[int, list[int]] = {}
    for module_id, source in rows:
        offsets = list(_offsets_in(source, old, owners, targets.get(module_id, {})))
        if offsets:
            found[module_id] = offsets
    return found


def _use_targets(
    conn: psycopg.Connection, repo_id: int, module_ids: list[int]
) -> dict[int, dict[tuple[int, int], set[str]]]:
    """Module id -> (line, col) of each use in it -> what it stands for: its resolved
    definition's full name, and its target as written (a module's name)."""
    rows = conn.execute(
        """
        SELECT module_id, line, col, target_full_name, target FROM usages
        WHERE repo_id = %(repo_id)s AND module_id = ANY(%(module_ids)s) AND kind <> 'import'
        """,
        {"repo_id": repo_id, "module_ids": module_ids},
    ).fetchall()
    targets: dict[int, dict[tuple[int, int], set[str]]] = {}
    for module_id, line, col, full_name, target in rows:
        targets.setdefault(module_id, {}).setdefault((line, col), set()).update(name for name in (full_name, target) if name)
    return targets


def _offsets_in(
    source: str, old: str, owners: Owners, first_arguments: dict[tuple[int, int], set[str]]
) -> Iterator[int]:
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return
    lines = source.splitlines(keepends=True)
    starts = line_starts(source)
    attribute_arguments = {
        id(call.args[1]): call.args[0]
        for call in ast.walk(tree)
        if isinstance(call, ast.Call) and len(call.args) >= 2 and isinstance(call.args[0], (ast.Name, ast.Attribute))
    }
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.endswith(old)):
            continue
        value = node.value
        if value == old:
            holder = attribute_arguments.get(id(node))
            if holder is None or not (first_arguments.get(_name_position(holder, lines), set()) & (owners.classes | owners.modules)):
                continue
        elif value.removesuffix("." + old) not in owners.classes | owners.modules:
            continue
        end = _literal_end(node, lines, starts)
        if end is not None:
            yield end - len(old)


def _name_position(node: ast.Name | ast.Attribute, lines: list[str]) -> tuple[int, int]:
    """(line, 1-based character column) of the name a Name or Attribute ends with."""
    if isinstance(node, ast.Name):
        line, byte_col = node.lineno, node.col_offset
    else:
        assert node.end_lineno is not None and node.end_col_offset is not None
        line, byte_col = node.end_lineno, node.end_col_offset - len(node.attr.encode())
    return line, _chars(lines[line - 1], byte_col) + 1


def _literal_end(node: ast.Constant, lines: list[str], starts: list[int]) -> int | None:
    """Offset just inside the closing quote of a plain one-line literal, else None."""
    if node.end_lineno != node.lineno or node.end_col_offset is None:
        return None
    line = lines[node.lineno - 1]
    start, end = _chars(line, node.col_offset), _chars(line, node.end_col_offset)
    literal = PLAIN_LITERAL.match(line[start:end])
    if literal is None or literal["body"] != node.value:
        return None
    return starts[node.lineno - 1] + end - 1


def _chars(line: str, byte_col: int) -> int:
    """ast's columns count UTF-8 bytes; the index's and the edits' count characters."""
    return len(line.encode()[:byte_col].decode(errors="replace"))
