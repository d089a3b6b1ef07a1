"""Finding definitions by the name an agent wrote: plain parametrized SQL over `symbols`.

  1. exact: `pkg.mod:Qual.name` (module and qualname), else a full name, a qualname, a
     dotted tail of a full name (`decoder.JSONDecoder`) or a bare name, best kind first;
  2. the same comparisons case-insensitively;
  3. otherwise "did you mean" suggestions: definitions that share the last dotted
     component, then pg_trgm similarity of the simple name.
Every comparison is anchored on the simple name (`symbols.name`, the last component of
any of those forms), so each stage is an index lookup: the btree on name for stage 1 and
the trigram index (which also serves ILIKE) for stages 2 and 3.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.rows import class_row

from coderows.server.rows import (
    IN_SCOPE,
    KIND_FILTERS,
    MODULE_COLUMNS,
    SYMBOL_COLUMNS,
    SYMBOL_FROM,
    Match,
    Module,
    NameMatch,
    RepoIds,
    Symbol,
    like_escape,
    relative_path,
    scope_param,
    symbol_row,
)


@dataclass(frozen=True)
class NameParts:
    """A name as the agent wrote it, split for matching."""

    text: str
    module: str | None  # from `module:qualname`
    qualname: str | None  # from `module:qualname`
    last: str  # the simple name every form ends with


def split_name(name: str) -> NameParts:
    text = name.strip().strip("`").removesuffix("()")
    if ":" in text:
        module, _, qualname = text.partition(":")
        return NameParts(text, module.strip(), qualname.strip(), qualname.strip().rsplit(".", 1)[-1])
    return NameParts(text, None, None, text.rsplit(".", 1)[-1])


def _filters(kind: str | None, module: str | None, repos: RepoIds = None) -> tuple[str, dict[str, Any]]:
    """SQL conditions (and their parameters) for the optional kind, module and scope
    (repository ids; None: every repository) filters."""
    sql = ""
    params: dict[str, Any] = {}
    if repos is not None:
        sql += " AND s.repo_id = ANY(%(repos)s)"
        params["repos"] = list(repos)
    if kind:
        sql += " AND s.kind = ANY(%(kinds)s)"
        params["kinds"] = KIND_FILTERS[kind]
    if module:
        # A module filter takes the package and everything below it.
        sql += " AND (s.module = %(mod)s OR s.module LIKE %(mod_prefix)s)"
        params["mod"] = module
        params["mod_prefix"] = like_escape(module) + ".%"
    return sql, params


def match_stages(parts: NameParts) -> list[tuple[Match, str]]:
    """(how, SQL condition) in the order tried: each an index lookup, the first that finds
    anything wins. A dotted name is a full name, else a qualname, else a dotted tail of a
    full name (`decoder.JSONDecoder`); a name without dots matches every namesake alike."""
    folded_last = "s.name ILIKE %(last_ilike)s"  # the trigram index serves ILIKE
    if parts.module is not None:
        return [
            # Through the full name's index (schema.sql keeps none on module and qualname).
            ("exact", "s.full_name = %(joined)s AND s.module = %(module)s AND s.qualname = %(qualname)s"),
            (
                "case-insensitive",
                f"{folded_last} AND lower(s.module) = lower(%(module)s) AND lower(s.qualname) = lower(%(qualname)s)",
            ),
        ]
    if "." not in parts.text:
        return [("exact", "s.name = %(text)s"), ("case-insensitive", folded_last)]
    return [
        ("exact", "s.full_name = %(text)s"),
        ("exact", "s.qualname = %(text)s"),
        ("exact", "s.name = %(last)s AND s.full_name LIKE %(tail)s"),
        ("case-insensitive", f"{folded_last} AND lower(s.full_name) = lower(%(text)s)"),
        ("case-insensitive", f"{folded_last} AND lower(s.qualname) = lower(%(text)s)"),
        ("case-insensitive", f"{folded_last} AND lower(s.full_name) LIKE lower(%(tail)s)"),
    ]


def match_name(
    conn: psycopg.Connection,
    name: str,
    *,
    kind: str | None = None,
    module: str | None = None,
    repos: RepoIds = None,
    limit: int = 50,
    offset: int = 0,
) -> NameMatch:
    """The definitions `name` denotes (the first stage that matches), else suggestions."""
    at_line = _PATH_LINE.match(name.strip())
    if at_line:
        found = symbol_at(conn, at_line.group(1), int(at_line.group(2)), repos)
        return NameMatch(name, "exact" if found else "none", found, len(found))
    parts = split_name(name)
    if not parts.last:
        return NameMatch(name, "none", [], 0)
    where, extra = _filters(kind, module, repos)
    params = {
        "text": parts.text,
        "module": parts.module,
        "qualname": parts.qualname,
        "joined": f"{parts.module}.{parts.qualname}",
        "last": parts.last,
        "last_ilike": like_escape(parts.last),
        "tail": "%." + like_escape(parts.text),
        **extra,
    }
    for how, condition in match_stages(parts):
        matches, total = _page(conn, condition + where, params, limit, offset)
        if total:
            return NameMatch(name, how, matches, total)
    # Same simple name, other path (`json.JSONDecoder` is json.decoder.JSONDecoder) is the
    # best guess; pg_trgm similarity of the simple name the next best.
    namesakes: list[Symbol] = []
    if "." in parts.text or parts.module is not None:
        namesakes, _ = _page(conn, "s.name = %(last)s" + where, params, 10, 0)
        if not namesakes:
            namesakes, _ = _page(conn, "s.name ILIKE %(last_ilike)s" + where, params, 10, 0)
    suggestions = namesakes or similar(conn, parts, where, extra)
    return NameMatch(name, "none", [], 0, suggestions=suggestions, modules=modules_named(conn, parts.text, repos))


# Ranking of definitions in lists: the project's own code before its tests, examples,
# docs and benchmarks ("aside"), shallower modules before deeper ones.
ASIDE = (
    r"(s.path ~ '(^|/)(tests?|testing|examples?|docs?|benchmarks?)/'"
    r" OR s.path ~ '(^|/)(test_[^/]*|[^/]*_tests?|conftest)\.py$')"
)
DEPTH = "array_length(string_to_array(s.module, '.'), 1)"

# Up to this many matches, a page is ranked (ASIDE, DEPTH) and sorted from all of them;
# beyond (`__init__`: 2,144 in the stdlib), the regular expressions of ASIDE would cost
# more than the sort, and a page is sorted by full name alone.
FEW = 1000


def _page(
    conn: psycopg.Connection, condition: str, params: dict[str, Any], limit: int, offset: int
) -> tuple[list[Symbol], int]:
    """One page of the definitions meeting `condition`, in full-name order, and how many
    there are in all."""
    values = {**params, "few": FEW, "offset": offset, "limit": limit}
    rows = conn.execute(_page_sql(condition), values).fetchall()
    if rows:
        return [symbol_row(row) for row in rows], int(rows[0][-1])
    if not offset:
        return [], 0
    counted = conn.execute(f"SELECT count(*) FROM symbols s WHERE {condition}", params).fetchone()  # past the end
    return [], int(counted[0]) if counted else 0


def _page_sql(condition: str) -> str:
    """A page of the matches of `condition` with their count, in one round trip: the
    matches are collected through the condition's own index (MATERIALIZED), counted,
    sorted, and only the page is joined to its files and repository. Left to itself, the
    planner orders the whole join instead: for a name in hundreds of files, it walks every
    definition of every file in scope (the stdlib's `__init__` among 4.5M lines: 15,440
    buffers, against 4,427 this way); without statistics, in a database indexed moments
    ago, 75 ms rather than 0.5 ms for a rare name. Ranked (ASIDE, DEPTH) only up to FEW
    matches: CASE leaves the regular expressions unevaluated past it (the count is one
    InitPlan). One statement rather than a ranked try and a plain retry: the stdlib's
    `__init__` took two, 9 ms each, most of find_symbol's p95."""
    ranked = "(SELECT total FROM counted) <= %(few)s"
    return f"""
        WITH found AS MATERIALIZED (
            SELECT s.id, s.repo_id, s.full_name, s.path, s.module, s.start_line
            FROM symbols s WHERE {condition}
        ), counted AS (
            SELECT count(*) AS total FROM found
        ), page AS (
            SELECT s.id, s.repo_id, row_number() OVER (
                ORDER BY s.repo_id, CASE WHEN {ranked} THEN {ASIDE} END, CASE WHEN {ranked} THEN {DEPTH} END,
                         s.full_name, s.path, s.start_line
            ) AS n
            FROM found s ORDER BY n OFFSET %(offset)s LIMIT %(limit)s
        )
        SELECT {SYMBOL_COLUMNS}, (SELECT total FROM counted) AS total
        FROM page JOIN {SYMBOL_FROM} ON s.id = page.id AND s.repo_id = page.repo_id
        ORDER BY page.n
    """


_PATH_LINE = re.compile(r"^(.+\.py):(\d+)$")


def symbol_at(conn: psycopg.Connection, path: str, line: int, repos: RepoIds = None) -> list[Symbol]:
    """The innermost definition around `line` of the file at `path` (or ending in it);
    one per repository in scope that has such a file."""
    path = relative_path(path)
    sql = f"""
        SELECT DISTINCT ON (r.root) {SYMBOL_COLUMNS}
        FROM {SYMBOL_FROM}
        WHERE (m.path = %(path)s OR m.path LIKE %(tail)s OR r.root || '/' || m.path = %(path)s)
          AND s.start_line <= %(line)s AND s.end_line >= %(line)s
          AND (%(repos)s::bigint[] IS NULL OR s.repo_id = ANY(%(repos)s))
        ORDER BY r.root, (m.path = %(path)s) DESC, s.start_line DESC, s.def_line DESC
    """
    params = {"path": path, "tail": "%/" + like_escape(path), "line": line, "repos": scope_param(repos)}
    return [symbol_row(row) for row in conn.execute(sql, params).fetchall()]


def match_pattern(
    conn: psycopg.Connection,
    pattern: str,
    *,
    kind: str | None = None,
    module: str | None = None,
    repos: RepoIds = None,
    limit: int = 50,
    offset: int = 0,
    how: Match = "pattern",
) -> NameMatch:
    """Definitions whose name (or, for a dotted pattern, full name) matches a glob
    (`*`, `?`), case-insensitively; shortest names first."""
    text = pattern.strip()
    like = like_escape(text).replace("*", "%").replace("?", "_")
    column = "s.full_name" if "." in text else "s.name"
    where, extra = _filters(kind, module, repos)
    sql = f"""
        SELECT {SYMBOL_COLUMNS}, count(*) OVER () AS total
        FROM {SYMBOL_FROM}
        WHERE {column} ILIKE %(like)s {where}
        ORDER BY s.repo_id, {ASIDE}, length(s.name), {DEPTH}, s.name, s.full_name, s.path, s.start_line
        OFFSET %(offset)s LIMIT %(limit)s
    """
    rows = conn.execute(sql, {"like": like, "offset": offset, "limit": limit, **extra}).fetchall()
    total = int(rows[0][-1]) if rows else 0
    return NameMatch(text if how == "pattern" else text.strip("*"), how, [symbol_row(r) for r in rows], total)


def similar_module_names(conn: psycopg.Connection, target: str, repos: RepoIds = None) -> list[str]:
    """Dotted module names most like `target` (no index needed: modules are few)."""
    sql = """
        SELECT name FROM modules
        WHERE similarity(name, %(t)s) > 0.3 AND (%(repos)s::bigint[] IS NULL OR repo_id = ANY(%(repos)s))
        GROUP BY name ORDER BY max(similarity(name, %(t)s)) DESC, name LIMIT 5
    """
    return [row[0] for row in conn.execute(sql, {"t": target, "repos": scope_param(repos)}).fetchall()]


def similar(
    conn: psycopg.Connection, parts: NameParts, where: str = "", params: dict[str, Any] | None = None
) -> list[Symbol]:
    """Up to 5 definitions most like the name (pg_trgm): candidates are the 10 simple names
    nearest its last component (trigram index); they are ranked by that similarity plus,
    for a dotted name, the similarity of the qualified name, so `QuerySet.filtr` puts
    QuerySet.filter first. Definitions local to a function come last."""
    qualified = f"{parts.module}.{parts.qualname}" if parts.module is not None else parts.text
    sql = f"""
        WITH names AS (
            SELECT s.name, similarity(s.name, %(last)s) AS score
            FROM symbols s
            WHERE s.name %% %(last)s {where}
            GROUP BY s.name
            ORDER BY score DESC, s.name
            LIMIT 10
        )
        SELECT {SYMBOL_COLUMNS}
        FROM names JOIN symbols s ON s.name = names.name
        JOIN modules m ON m.id = s.module_id AND m.repo_id = s.repo_id JOIN repos r ON r.id = m.repo_id
        WHERE true {where}
        ORDER BY s.qualname LIKE '%%<locals>%%',
                 names.score + CASE WHEN %(dotted)s
                     THEN greatest(similarity(s.qualname, %(qualified)s), similarity(s.full_name, %(qualified)s))
                     ELSE 0 END DESC,
                 length(s.full_name), s.full_name, s.path
        LIMIT 5
    """
    values = {"last": parts.last, "qualified": qualified, "dotted": "." in qualified, **(params or {})}
    return [symbol_row(row) for row in conn.execute(sql, values).fetchall()]


def modules_named(conn: psycopg.Connection, name: str, repos: RepoIds = None) -> list[Module]:
    """Modules whose dotted name is `name` (a hint when a symbol lookup names a module)."""
    sql = f"""
        SELECT {MODULE_COLUMNS} FROM modules m JOIN repos r ON r.id = m.repo_id
        WHERE m.name = %(name)s AND {IN_SCOPE} ORDER BY r.root, m.path
    """
    with conn.cursor(row_factory=class_row(Module)) as cur:
        return cur.execute(sql, {"name": name, "repos": scope_param(repos)}).fetchall()


def symbols_named_like(conn: psycopg.Connection, text: str, repos: RepoIds = None, limit: int = 200) -> list[Symbol]:
    """Definitions whose simple name contains `text` (case-insensitive; trigram index):
    exact names first, then the shortest, by full name and path; namesakes in one file (a
    property's getter and setter) in source order (id).

    A common text (`get`, `__init__`) names thousands: they are sorted as narrow rows of
    `definitions` and only the first `limit` are read whole (17 ms instead of 29 for `get`
    at stdlib + Django). `symbols` has at least one row per row of those (more when a
    repository holds a file twice), so its first `limit` rows are among them."""
    order = "(lower(s.name) = lower(%(text)s)) DESC, length(s.name), s.full_name, s.path, s.id, s.repo_id"
    first = f"""
        SELECT s.id, s.repo_id FROM definitions s
        WHERE s.name ILIKE %(pattern)s AND (%(repos)s::bigint[] IS NULL OR s.repo_id = ANY(%(repos)s))
        ORDER BY {order} LIMIT %(limit)s
    """
    params = {"pattern": "%" + like_escape(text) + "%", "text": text, "limit": limit, "repos": scope_param(repos)}
    found = {(row[0], row[1]) for row in conn.execute(first, params).fetchall()}
    if not found:
        return []
    # A second statement: planning one with both the view's joins and the ILIKE costs
    # 3x more. Its ids and repositories may pair beyond `found` (a file two repositories hold).
    whole = f"""
        SELECT {SYMBOL_COLUMNS} FROM {SYMBOL_FROM}
        WHERE s.id = ANY(%(ids)s) AND s.repo_id = ANY(%(repo_ids)s)
        ORDER BY {order}
    """
    wanted = {"text": text, "ids": sorted({pair[0] for pair in found}), "repo_ids": sorted({pair[1] for pair in found})}
    symbols = (symbol_row(row) for row in conn.execute(whole, wanted).fetchall())
    return [symbol for symbol in symbols if (symbol.id, symbol.repo_id) in found][:limit]
