"""Renaming the uses known by name only too (rename_symbol's include_name_only): the
attributes named like the renamed definition on objects of unknown type (`app.old()`
where nothing says what `app` holds, `self.app.old`), which a default rename lists as
left alone.

Safe to decide from the index only when nothing else goes by that name: no definition
(class, function, method) in the repository other than the ones being renamed, no class
attribute or module-level variable bound by assignment (`old = 1` in a class body: a
dataclass field read as `obj.old`), and, outside the repository, nothing the index
shows by that name: no use of the repository resolving outside it (`@click.command()`
makes `cli.command` possibly click's), no base outside the index of the renamed
methods' classes (jinja2's BaseLoader may define `get_source`), no standard library
class defining it (`path.open()` on a pathlib.Path fixture, `e.args`, `f.flush()`).
Then every such use names the renamed definition; the agent is shown them all under
their own heading. Otherwise none of them is renamed, and one line names what shares
the name. Bare names (no attribute) known by name only are never renamed this way.
"""

from __future__ import annotations

import ast
import pathlib
from collections.abc import Iterator

import psycopg

from coderows.indexer.variables import path_packages

# Files whose source holds the name, parsed for class attributes and variables; past it
# the check cannot be made and nothing is renamed by name only.
MAX_FILES_PARSED = 400
SHOWN_SHARING = 5  # definitions sharing the name, named in the one-line refusal
# Built-in and standard library classes whose attributes code reads on objects of them
# that the index cannot type (a fixture's tmp_path, an exception, a string), besides
# rename.PROTOCOL_CLASSES.
STANDARD_CLASSES: tuple[tuple[str, type], ...] = (
    ("str", str), ("bytes", bytes), ("bytearray", bytearray), ("int", int), ("float", float), ("complex", complex),
    ("list", list), ("tuple", tuple), ("dict", dict), ("set", set), ("frozenset", frozenset),
    ("BaseException", BaseException), ("type", type), ("pathlib.Path", pathlib.Path),
)


def standard_definers(name: str, protocols: list[str]) -> list[str]:
    """The standard classes defining `name` ("str.format"), with `protocols` (those of
    rename.protocols_defining), each as "class.name (standard library)"."""
    found = [*protocols, *(f"{label}.{name}" for label, cls in STANDARD_CLASSES if hasattr(cls, name))]
    return [f"{definer} (standard library)" for definer in dict.fromkeys(found)]


def outside_uses(conn: psycopg.Connection, repo_id: int, name: str) -> list[str]:
    """What the repository's code uses by `name` outside the repository (attributes and
    imports whose target is in a module not indexed: `click.command`, `dbm.open`), each
    with where: "click.command (outside the repository, tests/test_cli.py:290)"."""
    rows = conn.execute(
        """
        SELECT DISTINCT ON (u.target) u.target, u.path, u.line FROM usages u
        WHERE u.repo_id = %(repo_id)s AND u.short_name = %(name)s AND u.target IS NOT NULL
          AND u.target_full_name IS NULL AND (u.name <> u.short_name OR u.kind = 'import')
          AND split_part(u.target, '.', 1) NOT IN (SELECT split_part(name, '.', 1) FROM modules WHERE repo_id = %(repo_id)s)
          AND NOT split_part(u.target, '.', 1) = ANY(%(packages)s)
        ORDER BY u.target, u.path, u.line
        """,
        {"repo_id": repo_id, "name": name, "packages": sorted(path_packages(conn, repo_id))},
    ).fetchall()
    return [f"{target} (outside the repository, {path}:{line})" for target, path, line in rows]


def sharing_the_name(conn: psycopg.Connection, repo_id: int, name: str, renamed: list[str]) -> list[str]:
    """What else in the repository goes by `name` ("full name (path:line)"): definitions
    other than the `renamed` full names, class attributes and module-level variables."""
    rows = conn.execute(
        """
        SELECT full_name, path, def_line FROM definitions
        WHERE repo_id = %(repo_id)s AND name = %(name)s AND NOT full_name = ANY(%(renamed)s)
        ORDER BY full_name, path, def_line
        """,
        {"repo_id": repo_id, "name": name, "renamed": renamed},
    ).fetchall()
    found = [f"{full_name} ({path}:{line})" for full_name, path, line in rows]
    modules = conn.execute(
        """
        SELECT name, path, source FROM modules
        WHERE repo_id = %(repo_id)s AND strpos(source, %(name)s) > 0
        ORDER BY path LIMIT %(cap)s
        """,
        {"repo_id": repo_id, "name": name, "cap": MAX_FILES_PARSED + 1},
    ).fetchall()
    if len(modules) > MAX_FILES_PARSED:
        return [*found, f"(more than {MAX_FILES_PARSED} files hold {name}: not checked)"]
    for module, path, source in modules:
        try:
            tree = ast.parse(source)
        except (SyntaxError, ValueError, RecursionError):
            found.append(f"(unparsable {path}: not checked)")
            continue
        for owner, line in assigned(tree.body, module, name):
            if f"{owner}.{name}" not in renamed:
                found.append(f"{owner}.{name} ({path}:{line})")
    return found


def assigned(body: list[ast.stmt], owner: str, name: str) -> Iterator[tuple[str, int]]:
    """(owner, line) of each assignment binding `name` at module level or in a class
    body (`owner` is the module's or the class's full name), through if/try/with/for
    blocks, not inside functions (their locals are no attributes)."""
    for statement in body:
        if isinstance(statement, ast.ClassDef):
            yield from assigned(statement.body, f"{owner}.{statement.name}", name)
        elif isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        elif isinstance(statement, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = statement.targets if isinstance(statement, ast.Assign) else [statement.target]
            if any(bound == name for target in targets for bound in names_bound(target)):
                yield owner, statement.lineno
        else:
            for field in ("body", "orelse", "finalbody", "handlers"):
                inner = getattr(statement, field, None)
                if isinstance(inner, list):
                    for child in inner:
                        yield from assigned(child.body if isinstance(child, ast.ExceptHandler) else [child], owner, name)


def names_bound(target: ast.expr) -> Iterator[str]:
    """The plain names an assignment target binds (`a, (b, *c) = ...`), not attributes
    or subscripts."""
    if isinstance(target, ast.Name):
        yield target.id
    elif isinstance(target, (ast.Tuple, ast.List)):
        for element in target.elts:
            yield from names_bound(element)
    elif isinstance(target, ast.Starred):
        yield from names_bound(target.value)


def refusal(old: str, sharing: list[str], *, overrides_left: bool) -> str:
    """The one line saying why no use known by name only is renamed."""
    shown = ", ".join(sharing[:SHOWN_SHARING]) + (f" and {len(sharing) - SHOWN_SHARING} more" if len(sharing) > SHOWN_SHARING else "")
    hint = " (include_overrides=true renames the methods of its hierarchy with it)" if overrides_left else ""
    return f"not renamed by name only: other definitions are named {old}: {shown}{hint}"
