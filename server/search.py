"""search_code's SQL: the source lines that contain a text, each with the innermost
definition around it.
"""

from __future__ import annotations

from typing import Any

import psycopg

from coderows.common.lines import sql_split_lines
from coderows.server.rows import (
    IN_SCOPE,
    SYMBOL_COLUMNS,
    SYMBOL_FROM,
    Hit,
    RepoIds,
    Symbol,
    like_escape,
    scope_param,
    symbol_row,
)

# Beyond this many matching lines search_code stops looking and says so.
SEARCH_LINE_CAP = 2000


def search_lines(conn: psycopg.Connection, text: str, repos: RepoIds = None, cap: int = SEARCH_LINE_CAP) -> list[Hit]:
    """Source lines containing `text` (case-insensitive), each with the innermost
    definition around it, in path and line order; at most `cap` lines."""
    # Candidate files first (the trigram index on contents.source finds them), in answer
    # order, so that lines are split only in the files the answer needs: a file's lines
    # come in order and the LIMIT stops the scan once `cap` lines are found.
    sql = f"""
        WITH candidates AS MATERIALIZED (
            SELECT m.id AS module_id, m.repo_id, m.name AS module, m.path, m.source, r.root, m.size, m.mtime_ns,
                   r.name AS repo
            FROM modules m JOIN repos r ON r.id = m.repo_id
            WHERE m.id = ANY(%(candidates)s) AND {IN_SCOPE}
        ), hits AS (
            SELECT f.module_id, f.repo_id, f.module, f.path, l.n::int AS line, l.text, f.root, f.size, f.mtime_ns,
                   f.repo
            FROM (SELECT * FROM candidates ORDER BY root, path) f,
                 LATERAL (SELECT * FROM unnest({sql_split_lines("f.source")}) WITH ORDINALITY AS l(text, n)
                          WHERE l.text ILIKE %(pattern)s) l
            -- No ORDER BY: the lateral join keeps the files' order and each file's line
            -- order, so LIMIT stops splitting files once `cap` lines are found (a sort
            -- here would split every candidate first); the outer query sorts what is kept.
            LIMIT %(cap)s
        )
        SELECT h.module_id, h.module, h.path, h.line, h.text, h.root, h.size, h.mtime_ns, inner_def.id, h.repo,
               h.repo_id
        FROM hits h LEFT JOIN LATERAL (
            SELECT s.id FROM symbols s
            WHERE s.module_id = h.module_id AND s.repo_id = h.repo_id AND s.start_line <= h.line AND s.end_line >= h.line
            ORDER BY s.start_line DESC, s.def_line DESC LIMIT 1
        ) inner_def ON true
        ORDER BY h.root, h.path, h.line
    """
    pattern = "%" + like_escape(text) + "%"
    params = {"pattern": pattern, "cap": cap, "repos": scope_param(repos), "candidates": contents_containing(conn, pattern)}
    rows = conn.execute(sql, params).fetchall()
    ids = sorted({row[8] for row in rows if row[8] is not None})
    # Checkouts holding the same file share its definitions' ids: key by repository too.
    by_id = {(s.repo_id, s.id): s for s in symbols_by_ids(conn, ids, repos)}
    return [_hit(row, by_id.get((row[10], row[8])) if row[8] else None) for row in rows]


def _hit(row: tuple[Any, ...], symbol: Symbol | None) -> Hit:
    module_id, module, path, line, text, root, size, mtime_ns, _, repo, _ = row
    return Hit(module_id, module, path, line, text, symbol, root, size, mtime_ns, repo)


def contents_containing(conn: psycopg.Connection, pattern: str) -> list[int]:
    """Ids of the file contents whose source matches an ILIKE `pattern`, through the
    trigram index. The planner does not cost reading TOASTed sources, so left to itself
    it reads every one (217 ms on the stdlib for a text 105 files nearly hold) rather
    than let the index narrow them down (72 ms; 8 ms for a text no file holds)."""
    with conn.transaction():
        conn.execute("SET LOCAL enable_seqscan = off")
        conn.execute("SET LOCAL enable_indexscan = off")
        return [row[0] for row in conn.execute("SELECT id FROM contents WHERE source ILIKE %s", [pattern])]


def symbols_by_ids(conn: psycopg.Connection, ids: list[int], repos: RepoIds = None) -> list[Symbol]:
    if not ids:
        return []
    sql = f"""
        SELECT {SYMBOL_COLUMNS} FROM {SYMBOL_FROM}
        WHERE s.id = ANY(%(ids)s) AND (%(repos)s::bigint[] IS NULL OR s.repo_id = ANY(%(repos)s))
    """
    return [symbol_row(row) for row in conn.execute(sql, {"ids": ids, "repos": scope_param(repos)}).fetchall()]
