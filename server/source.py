"""Modules and their source: a target's files, a module's or class's outline rows, a
definition's body and the lines around it.
"""

from __future__ import annotations

import psycopg
from psycopg.rows import class_row

from coderows.common.lines import sql_split_lines
from coderows.server.rows import (
    IN_SCOPE,
    MODULE_COLUMNS,
    SYMBOL_COLUMNS,
    SYMBOL_FROM,
    Module,
    RepoIds,
    Symbol,
    like_escape,
    relative_path,
    scope_param,
    symbol_row,
)


def find_modules(conn: psycopg.Connection, target: str, repos: RepoIds = None) -> list[Module]:
    """Modules that `target` names: a dotted name, a path, or the end of a path."""
    text = target.strip()
    path = relative_path(text)
    sql = f"""
        SELECT {MODULE_COLUMNS} FROM modules m JOIN repos r ON r.id = m.repo_id
        WHERE (m.name = %(text)s OR m.path = %(path)s OR %(text)s = r.root || '/' || m.path) AND {IN_SCOPE}
        ORDER BY r.root, m.path
    """
    params = {"text": text, "path": path, "repos": scope_param(repos), "tail": "%/" + like_escape(path)}
    with conn.cursor(row_factory=class_row(Module)) as cur:
        found = cur.execute(sql, params).fetchall()
        if found or not path.endswith(".py"):
            return found
        # A path relative to somewhere else, e.g. "db/models/query.py": match its end.
        sql = f"""
            SELECT {MODULE_COLUMNS} FROM modules m JOIN repos r ON r.id = m.repo_id
            WHERE m.path LIKE %(tail)s AND {IN_SCOPE} ORDER BY r.root, m.path LIMIT 20
        """
        return cur.execute(sql, params).fetchall()


def submodule_names(conn: psycopg.Connection, module: Module) -> list[str]:
    """Dotted names of a package's direct submodules and subpackages, in the same repo."""
    sql = """
        SELECT name FROM modules
        WHERE repo_id = %(repo_id)s AND name LIKE %(prefix)s AND name NOT LIKE %(deeper)s
        ORDER BY name
    """
    prefix = like_escape(module.name) + "."
    params = {"repo_id": module.repo_id, "prefix": prefix + "%", "deeper": prefix + "%.%"}
    return [row[0] for row in conn.execute(sql, params).fetchall()]


def outline_symbols(conn: psycopg.Connection, module_id: int, repo_id: int, under: str | None = None) -> list[Symbol]:
    """A module's classes, functions and methods in source order, without definitions
    local to a function (`f.<locals>.g`); with `under`, only that class's members."""
    condition = "AND s.qualname LIKE %(under)s" if under else ""
    sql = f"""
        SELECT {SYMBOL_COLUMNS} FROM {SYMBOL_FROM}
        WHERE s.module_id = %(module_id)s AND s.repo_id = %(repo_id)s AND s.qualname NOT LIKE '%%<locals>%%' {condition}
        ORDER BY s.start_line, s.def_line, s.qualname
    """
    params = {"module_id": module_id, "repo_id": repo_id, "under": like_escape(under or "") + ".%"}
    return [symbol_row(row) for row in conn.execute(sql, params).fetchall()]


def classes_named(conn: psycopg.Connection, names: list[str], repo_id: int) -> list[Symbol]:
    """Classes of one repository with these simple names, to point a class's bases at
    their definitions."""
    if not names:
        return []
    sql = f"""
        SELECT {SYMBOL_COLUMNS} FROM {SYMBOL_FROM}
        WHERE s.name = ANY(%(names)s) AND s.kind = 'class' AND s.repo_id = %(repo_id)s
        ORDER BY s.full_name, s.path LIMIT 200
    """
    return [symbol_row(row) for row in conn.execute(sql, {"names": names, "repo_id": repo_id}).fetchall()]


def symbol_body(conn: psycopg.Connection, symbol: Symbol) -> str | None:
    row = conn.execute(
        "SELECT body FROM symbols WHERE module_id = %(module_id)s AND id = %(id)s AND repo_id = %(repo_id)s",
        {"module_id": symbol.module_id, "id": symbol.id, "repo_id": symbol.repo_id},
    ).fetchone()
    return None if row is None else row[0]


def source_lines(conn: psycopg.Connection, module_id: int, first: int, last: int) -> list[str]:
    """Lines first..last (1-based, inclusive, clipped to the file) of a module's source."""
    sql = f"""
        SELECT ({sql_split_lines("source")})[%(first)s:least(%(last)s, line_count)] FROM modules WHERE id = %(id)s LIMIT 1
    """
    row = conn.execute(sql, {"id": module_id, "first": max(first, 1), "last": last}).fetchone()
    return list(row[0] or []) if row else []
