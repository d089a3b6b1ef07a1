"""What is indexed, beyond db/repo_status.py's per repository counts: files not parsed
cleanly, every file's stamp."""

from __future__ import annotations

import psycopg
from psycopg.rows import class_row, dict_row

from coderows.server.rows import IN_SCOPE, MODULE_COLUMNS, FileStamp, Module, RepoIds, scope_param


def problem_modules(conn: psycopg.Connection, repos: RepoIds = None, limit: int = 20) -> tuple[list[Module], int]:
    """Files whose parse_status is not `ok` (most severe first), and how many there are."""
    sql = f"""
        SELECT {MODULE_COLUMNS}, count(*) OVER () AS total
        FROM modules m JOIN repos r ON r.id = m.repo_id
        WHERE m.parse_status <> 'ok' AND {IN_SCOPE}
        ORDER BY array_position(ARRAY['skipped', 'partial', 'recovered'], m.parse_status), r.root, m.path
        LIMIT %(limit)s
    """
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(sql, {"limit": limit, "repos": scope_param(repos)}).fetchall()
    total = int(rows[0]["total"]) if rows else 0
    return [Module(**{k: v for k, v in row.items() if k != "total"}) for row in rows], total


def all_stamps(conn: psycopg.Connection, repo_ids: RepoIds = None) -> list[FileStamp]:
    """Every indexed file's stamp (for index_status's "changed on disk" count)."""
    sql = """
        SELECT r.root, m.path, m.size, m.mtime_ns FROM modules m JOIN repos r ON r.id = m.repo_id
        WHERE %(ids)s::bigint[] IS NULL OR r.id = ANY(%(ids)s)
    """
    with conn.cursor(row_factory=class_row(FileStamp)) as cur:
        return cur.execute(sql, {"ids": scope_param(repo_ids)}).fetchall()
