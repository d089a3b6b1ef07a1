"""Cross-references, always inside the definition's own repository: resolved uses,
use counts, inherited members and subclasses (schema.sql: usages, resolutions).
"""

from __future__ import annotations

import psycopg

from coderows.db.rows import one_row
from coderows.server.freshness import targets_through_variables
from coderows.server.rows import SYMBOL_COLUMNS, SYMBOL_FROM, Reference, References, Subclass, Symbol, symbol_row


def references(conn: psycopg.Connection, symbol: Symbol, limit: int, offset: int) -> References:
    """Resolved uses of `symbol` in its repository. Calling a class calls its __init__,
    so the references of `C.__init__` include the calls of C."""
    targets = [symbol.full_name]
    if symbol.kind == "method" and symbol.name == "__init__" and symbol.parent_id is not None:
        targets.append(symbol.full_name.rsplit(".", 1)[0])
    # Uses never cross repositories: every join stays inside the symbol's.
    uses_of = """
        FROM resolutions r
        JOIN name_uses u ON u.repo_id = r.repo_id AND u.target = r.target AND u.via_super = r.via_super
        JOIN modules m ON m.id = u.module_id AND m.repo_id = r.repo_id
        JOIN repos p ON p.id = r.repo_id
        LEFT JOIN definitions s ON s.id = u.source_id AND s.repo_id = r.repo_id
        WHERE r.repo_id = %(repo_id)s AND NOT r.stale
          AND (r.full_name = ANY(%(targets)s) AND (r.full_name = %(full_name)s OR u.kind = 'call')
               OR r.target = ANY(%(through)s) AND NOT r.via_super)
    """
    # Uses through variables (current_app.make_response): unresolved in the index.
    through = (
        targets_through_variables(conn, symbol.repo_id, [symbol.full_name], symbol.name) if symbol.kind == "method" else []
    )
    params = {
        "repo_id": symbol.repo_id, "targets": targets, "full_name": symbol.full_name, "through": through,
        "limit": limit, "offset": offset,
    }
    total, files = one_row(conn.execute(f"SELECT count(*), count(DISTINCT u.module_id) {uses_of}", params))
    # source_full_name as the usages view (schema.sql) defines it: the enclosing definition, else the module.
    rows = conn.execute(
        f"""
        SELECT m.path, u.line, u.col, u.kind, u.name, coalesce(s.full_name, m.name),
               split_part(m.source, E'\\n', u.line), p.root, m.size, m.mtime_ns
        {uses_of}
        ORDER BY m.path, u.line, u.col
        LIMIT %(limit)s OFFSET %(offset)s
        """,
        params,
    ).fetchall()
    unknown, unknown_files = one_row(conn.execute(
        "SELECT count(*), count(DISTINCT module_id) FROM name_uses"
        " WHERE short_name = %s AND target IS NULL AND repo_id = %s",
        [symbol.name, symbol.repo_id],
    ))
    return References([Reference(*row) for row in rows], total, files, unknown, unknown_files)


def use_counts(conn: psycopg.Connection, symbol: Symbol) -> tuple[int, int, int]:
    """(resolved uses of the symbol, files they are in, resolved calls made in its body)."""
    used, files = one_row(conn.execute(
        "SELECT count(*), count(DISTINCT u.module_id) FROM resolutions r"
        " JOIN name_uses u ON u.repo_id = r.repo_id AND u.target = r.target AND u.via_super = r.via_super"
        " WHERE r.repo_id = %s AND r.full_name = %s AND NOT r.stale",
        [symbol.repo_id, symbol.full_name],
    ))
    (calls,) = one_row(conn.execute(
        "SELECT count(*) FROM name_uses u"
        " JOIN resolutions r ON r.repo_id = u.repo_id AND r.target = u.target AND r.via_super = u.via_super"
        " WHERE u.repo_id = %s AND u.module_id = %s AND u.source_id = %s AND u.kind = 'call'"
        " AND r.full_name IS NOT NULL AND NOT r.stale",
        [symbol.repo_id, symbol.module_id, symbol.id],
    ))
    return used, files, calls


# The class's resolved bases in its repository, one level: base class (file, definition)
# ids by the class's inherit uses.
_BASES_OF = """
    SELECT b.module_id, b.id, u.line, u.col
    FROM name_uses u
    JOIN resolutions r ON r.repo_id = u.repo_id AND r.target = u.target AND r.via_super = u.via_super AND NOT r.stale
    CROSS JOIN LATERAL (
        SELECT d.module_id, d.id FROM definitions d
        WHERE d.repo_id = r.repo_id AND d.full_name = r.full_name AND d.kind = 'class'
        ORDER BY d.id DESC LIMIT 1
    ) b
    WHERE u.repo_id = %(repo_id)s AND u.module_id = {module} AND u.source_id = {cls} AND u.kind = 'inherit'
"""


def inherited_members(conn: psycopg.Connection, symbol: Symbol, limit: int = 500) -> list[tuple[Symbol, str]]:
    """Members the class inherits and does not define itself, each with the class it
    comes from: the nearest base first (breadth first: Python's MRO for single
    inheritance, close to it otherwise)."""
    rows = conn.execute(
        f"""
        WITH RECURSIVE up (module_id, id, depth, rank) AS (
            SELECT %(module_id)s::bigint, %(id)s::bigint, 0, ARRAY[]::bigint[]
            UNION ALL
            SELECT b.module_id, b.id, up.depth + 1, up.rank || ARRAY[b.line::bigint, b.col::bigint]
            FROM up CROSS JOIN LATERAL ({_BASES_OF.format(module="up.module_id", cls="up.id")}) b
            WHERE up.depth < 30
        ), members AS (
            -- Every definition of a name in the nearest class that has it: both halves of
            -- a property, every overload.
            SELECT s.module_id, s.id, up.depth, up.rank, owner.full_name AS owner,
                   rank() OVER (PARTITION BY s.name ORDER BY up.depth, up.rank) AS nearness
            FROM up
            JOIN definitions owner ON owner.repo_id = %(repo_id)s AND owner.module_id = up.module_id AND owner.id = up.id
            JOIN definitions s ON s.repo_id = %(repo_id)s AND s.module_id = up.module_id AND s.parent_id = up.id
        )
        SELECT {SYMBOL_COLUMNS}, members.owner FROM members
        JOIN {SYMBOL_FROM} ON s.module_id = members.module_id AND s.id = members.id AND s.repo_id = %(repo_id)s
        WHERE members.depth > 0 AND members.nearness = 1
        ORDER BY members.depth, members.rank, s.start_line
        LIMIT %(limit)s
        """,
        {"module_id": symbol.module_id, "id": symbol.id, "repo_id": symbol.repo_id, "limit": limit},
    ).fetchall()
    return [(symbol_row(row[:-1]), row[-1]) for row in rows]


def subclasses(conn: psycopg.Connection, symbol: Symbol, limit: int = 200) -> list[Subclass]:
    """Classes of the symbol's repository below it at any depth, nearest first."""
    rows = conn.execute(
        f"""
        WITH RECURSIVE down (full_name, parent_full_name, depth) AS (
            SELECT %(full_name)s::text COLLATE "C", NULL::text COLLATE "C", 0
            UNION
            SELECT d.full_name, down.full_name, down.depth + 1
            FROM down
            JOIN resolutions r ON r.repo_id = %(repo_id)s AND r.full_name = down.full_name AND NOT r.stale
            JOIN name_uses u ON u.repo_id = r.repo_id AND u.target = r.target AND u.via_super = r.via_super
                             AND u.kind = 'inherit'
            JOIN definitions d ON d.module_id = u.module_id AND d.id = u.source_id AND d.repo_id = r.repo_id
            WHERE down.depth < 30
        ), nearest AS (
            SELECT DISTINCT ON (full_name) full_name, parent_full_name, depth
            FROM down WHERE depth > 0 ORDER BY full_name, depth, parent_full_name
        )
        SELECT {SYMBOL_COLUMNS}, nearest.depth, nearest.parent_full_name FROM nearest
        JOIN {SYMBOL_FROM} ON s.full_name = nearest.full_name AND s.kind = 'class' AND s.repo_id = %(repo_id)s
        ORDER BY nearest.depth, s.full_name
        LIMIT %(limit)s
        """,
        {"full_name": symbol.full_name, "repo_id": symbol.repo_id, "limit": limit},
    ).fetchall()
    return [Subclass(symbol_row(row), row[-2], row[-1]) for row in rows]
