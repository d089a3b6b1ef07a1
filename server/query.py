"""Read-side SQL for the MCP tools: plain parametrized queries that return typed rows.

Every row that comes from a file carries that file's stamp (repository root, path, size,
mtime_ns as last indexed), so the caller can compare it with disk before answering
(see freshness.py). Nothing here formats text for the agent; render.py does that.

Name resolution, used by every tool that takes a name:
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
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import psycopg
from psycopg.rows import class_row, dict_row

from coderows.common.lines import sql_split_lines
from coderows.db.rows import one_row

Kind = Literal["class", "function", "method"]

# The repositories a query answers from (server/scope.py); None: every repository.
RepoIds = Sequence[int] | None

# What find_symbol's `kind` argument selects; "function" follows the `functions` view,
# which holds methods too, because agents rarely know which one a name is.
KIND_FILTERS: dict[str, list[str]] = {
    "class": ["class"],
    "function": ["function", "method"],
    "method": ["method"],
}


@dataclass(frozen=True)
class FileStamp:
    """A file as it was when indexed; compared with os.stat before answering."""

    root: str
    path: str
    size: int
    mtime_ns: int


class OnDisk:
    """A row that names its file (root, path) and the stat it was indexed under."""

    root: str
    path: str
    size: int
    mtime_ns: int

    @property
    def stamp(self) -> FileStamp:
        return FileStamp(self.root, self.path, self.size, self.mtime_ns)


@dataclass(frozen=True)
class Symbol(OnDisk):
    """One row of `symbols` (without body), plus its file's stamp."""

    id: int
    module_id: int
    parent_id: int | None
    module: str
    path: str
    kind: str
    name: str
    qualname: str
    full_name: str
    class_name: str | None
    def_line: int
    start_line: int
    end_line: int
    signature: str
    decorators: list[str]
    bases: list[str]
    is_async: bool
    docstring: str | None
    root: str
    size: int
    mtime_ns: int
    repo_id: int
    repo: str  # the repository's name (repos.name)
    # Set when the row stands for several that Python treats as one definition (overloads
    # and their implementation, a property's accessors): what they are. start_line and
    # end_line then span them all.
    grouped: str | None = None


@dataclass(frozen=True)
class Module(OnDisk):
    """One row of `modules` (without source), plus its repository root."""

    id: int
    repo_id: int
    path: str
    name: str
    is_package: bool
    docstring: str | None
    line_count: int
    parse_status: str
    parse_error: str | None
    root: str
    size: int
    mtime_ns: int
    repo: str


Match = Literal["exact", "case-insensitive", "pattern", "contains", "none"]


@dataclass
class Resolution:
    """What a name resolved to: the matches of the best stage, or suggestions."""

    name: str
    how: Match
    matches: list[Symbol]
    total: int  # matches before limit/offset
    suggestions: list[Symbol] = field(default_factory=list)
    modules: list[Module] = field(default_factory=list)  # modules of that name, for a hint

    @property
    def stamps(self) -> set[FileStamp]:
        return {s.stamp for s in [*self.matches, *self.suggestions]} | {m.stamp for m in self.modules}


SYMBOL_COLUMNS = """
    s.id, s.module_id, s.parent_id, s.module, s.path, s.kind, s.name, s.qualname, s.full_name,
    s.class_name, s.def_line, s.start_line, s.end_line, s.signature, s.decorators, s.bases,
    s.is_async, s.docstring, r.root, m.size, m.mtime_ns, s.repo_id, r.name
"""
SYMBOL_COLUMN_COUNT = 23
SYMBOL_FROM = """
    symbols s JOIN modules m ON m.id = s.module_id AND m.repo_id = s.repo_id JOIN repos r ON r.id = m.repo_id
"""
MODULE_COLUMNS = """
    m.id, m.repo_id, m.path, m.name, m.is_package, m.docstring, m.line_count, m.parse_status,
    m.parse_error, r.root, m.size, m.mtime_ns, r.name AS repo
"""


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


def relative_path(path: str) -> str:
    """A path as the agent wrote it, without leading "./" (dot-folders such as .github stay)."""
    while path.startswith("./"):
        path = path[2:]
    return path


def like_escape(text: str) -> str:
    """`text` as a LIKE pattern that matches only itself."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


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
            ("exact", "s.module = %(module)s AND s.qualname = %(qualname)s"),
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


def resolve(
    conn: psycopg.Connection,
    name: str,
    *,
    kind: str | None = None,
    module: str | None = None,
    repos: RepoIds = None,
    limit: int = 50,
    offset: int = 0,
) -> Resolution:
    """The definitions `name` denotes (the first stage that matches), else suggestions."""
    at_line = _PATH_LINE.match(name.strip())
    if at_line:
        found = symbol_at(conn, at_line.group(1), int(at_line.group(2)), repos)
        return Resolution(name, "exact" if found else "none", found, len(found))
    parts = split_name(name)
    if not parts.last:
        return Resolution(name, "none", [], 0)
    where, extra = _filters(kind, module, repos)
    params = {
        "text": parts.text,
        "module": parts.module,
        "qualname": parts.qualname,
        "last": parts.last,
        "last_ilike": like_escape(parts.last),
        "tail": "%." + like_escape(parts.text),
        **extra,
    }
    for how, condition in match_stages(parts):
        matches, total = _page(conn, condition + where, params, limit, offset)
        if total:
            return Resolution(name, how, matches, total)
    # Same simple name, other path (`json.JSONDecoder` is json.decoder.JSONDecoder) is the
    # best guess; pg_trgm similarity of the simple name the next best.
    namesakes: list[Symbol] = []
    if "." in parts.text or parts.module is not None:
        namesakes, _ = _page(conn, "s.name = %(last)s" + where, params, 10, 0)
        if not namesakes:
            namesakes, _ = _page(conn, "s.name ILIKE %(last_ilike)s" + where, params, 10, 0)
    suggestions = namesakes or similar(conn, parts, where, extra)
    return Resolution(name, "none", [], 0, suggestions=suggestions, modules=modules_named(conn, parts.text, repos))


# Ranking of definitions in lists: the project's own code before its tests, examples,
# docs and benchmarks ("aside"), shallower modules before deeper ones.
ASIDE = (
    r"(s.path ~ '(^|/)(tests?|testing|examples?|docs?|benchmarks?)/'"
    r" OR s.path ~ '(^|/)(test_[^/]*|[^/]*_tests?|conftest)\.py$')"
)
DEPTH = "array_length(string_to_array(s.module, '.'), 1)"

# Up to this many matches, a page is sorted from all of them; beyond, read in full_name
# index order. Walking the index costs about 20 * |symbols| / matches entries for a page
# of 20, sorting costs the matches: they break even near sqrt(20 * 113,000) = 1,500 on
# stdlib + django; the walk is only worth it for names as common as __init__.
FEW = 1000


def _page(
    conn: psycopg.Connection, condition: str, params: dict[str, Any], limit: int, offset: int
) -> tuple[list[Symbol], int]:
    """One page of the definitions meeting `condition`, in full-name order, and how many
    there are in all."""
    # Up to FEW matches are collected through the condition's own index and sorted, with
    # their count, in one round trip (MATERIALIZED: otherwise a planner without
    # statistics, in a database indexed moments ago, walks the whole full_name index for
    # the order instead, 75 ms rather than 0.5 ms for a rare name).
    sql = f"""
        WITH found AS MATERIALIZED (
            SELECT s.id, s.repo_id, s.full_name, s.path, s.start_line, {ASIDE} AS aside, {DEPTH} AS depth
            FROM symbols s WHERE {condition} LIMIT %(few)s
        ), page AS (
            SELECT id, repo_id, row_number() OVER (ORDER BY repo_id, aside, depth, full_name, path, start_line) AS n
            FROM found ORDER BY n OFFSET %(offset)s LIMIT %(limit)s
        )
        SELECT {SYMBOL_COLUMNS}, (SELECT count(*) FROM found) AS total
        FROM page JOIN {SYMBOL_FROM} ON s.id = page.id AND s.repo_id = page.repo_id
        ORDER BY page.n
    """
    values = {**params, "few": FEW + 1, "offset": offset, "limit": limit}
    rows = conn.execute(sql, values).fetchall()
    total = int(rows[0][-1]) if rows else 0
    if rows and total <= FEW:
        return [_symbol(row) for row in rows], total
    if not rows and not offset:
        return [], 0
    # More than FEW (`__init__`: 3,000): walking the full_name index in order is faster.
    counted = conn.execute(f"SELECT count(*) FROM symbols s WHERE {condition}", params).fetchone()
    sql = f"""
        SELECT {SYMBOL_COLUMNS} FROM {SYMBOL_FROM}
        WHERE {condition}
        ORDER BY s.repo_id, s.full_name, s.path, s.start_line
        OFFSET %(offset)s LIMIT %(limit)s
    """
    rows = conn.execute(sql, values).fetchall()
    return [_symbol(row) for row in rows], int(counted[0]) if counted else 0


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
    params = {"path": path, "tail": "%/" + like_escape(path), "line": line, "repos": _ids(repos)}
    return [_symbol(row) for row in conn.execute(sql, params).fetchall()]


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
) -> Resolution:
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
    return Resolution(text if how == "pattern" else text.strip("*"), how, [_symbol(r) for r in rows], total)


def similar_module_names(conn: psycopg.Connection, target: str, repos: RepoIds = None) -> list[str]:
    """Dotted module names most like `target` (no index needed: modules are few)."""
    sql = """
        SELECT name FROM modules
        WHERE similarity(name, %(t)s) > 0.3 AND (%(repos)s::bigint[] IS NULL OR repo_id = ANY(%(repos)s))
        GROUP BY name ORDER BY max(similarity(name, %(t)s)) DESC, name LIMIT 5
    """
    return [row[0] for row in conn.execute(sql, {"t": target, "repos": _ids(repos)}).fetchall()]


def _symbol(row: tuple[Any, ...]) -> Symbol:
    return Symbol(*row[:SYMBOL_COLUMN_COUNT])


def _ids(repos: RepoIds) -> list[int] | None:
    """A scope as a query parameter: NULL (every repository) or the ids."""
    return None if repos is None else list(repos)


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
    return [_symbol(row) for row in conn.execute(sql, values).fetchall()]


IN_SCOPE = "(%(repos)s::bigint[] IS NULL OR m.repo_id = ANY(%(repos)s))"


def modules_named(conn: psycopg.Connection, name: str, repos: RepoIds = None) -> list[Module]:
    """Modules whose dotted name is `name` (a hint when a symbol lookup names a module)."""
    sql = f"""
        SELECT {MODULE_COLUMNS} FROM modules m JOIN repos r ON r.id = m.repo_id
        WHERE m.name = %(name)s AND {IN_SCOPE} ORDER BY r.root, m.path
    """
    with conn.cursor(row_factory=class_row(Module)) as cur:
        return cur.execute(sql, {"name": name, "repos": _ids(repos)}).fetchall()


def find_modules(conn: psycopg.Connection, target: str, repos: RepoIds = None) -> list[Module]:
    """Modules that `target` names: a dotted name, a path, or the end of a path."""
    text = target.strip()
    path = relative_path(text)
    sql = f"""
        SELECT {MODULE_COLUMNS} FROM modules m JOIN repos r ON r.id = m.repo_id
        WHERE (m.name = %(text)s OR m.path = %(path)s OR %(text)s = r.root || '/' || m.path) AND {IN_SCOPE}
        ORDER BY r.root, m.path
    """
    params = {"text": text, "path": path, "repos": _ids(repos), "tail": "%/" + like_escape(path)}
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
    return [_symbol(row) for row in conn.execute(sql, params).fetchall()]


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
    return [_symbol(row) for row in conn.execute(sql, {"names": names, "repo_id": repo_id}).fetchall()]


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


@dataclass(frozen=True)
class Hit(OnDisk):
    """One line that matched search_code, with its innermost enclosing definition."""

    module_id: int
    module: str
    path: str
    line: int
    text: str
    symbol: Symbol | None  # None: module-level code
    root: str
    size: int
    mtime_ns: int
    repo: str


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
    params = {"pattern": pattern, "cap": cap, "repos": _ids(repos), "candidates": contents_containing(conn, pattern)}
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
    return [_symbol(row) for row in conn.execute(sql, {"ids": ids, "repos": _ids(repos)}).fetchall()]


def symbols_named_like(conn: psycopg.Connection, text: str, repos: RepoIds = None, limit: int = 200) -> list[Symbol]:
    """Definitions whose simple name contains `text` (case-insensitive; trigram index)."""
    sql = f"""
        SELECT {SYMBOL_COLUMNS} FROM {SYMBOL_FROM}
        WHERE s.name ILIKE %(pattern)s AND (%(repos)s::bigint[] IS NULL OR s.repo_id = ANY(%(repos)s))
        ORDER BY (lower(s.name) = lower(%(text)s)) DESC, length(s.name), s.full_name, s.path
        LIMIT %(limit)s
    """
    params = {"pattern": "%" + like_escape(text) + "%", "text": text, "limit": limit, "repos": _ids(repos)}
    return [_symbol(row) for row in conn.execute(sql, params).fetchall()]


@dataclass(frozen=True)
class RepoStatus:
    id: int
    root: str
    name: str
    indexed_at: Any
    modules: int
    symbols: int
    not_ok: int
    excludes: list[str]


def repo_statuses(conn: psycopg.Connection) -> list[RepoStatus]:
    # One pass over each table for all repositories (a count per repository would scan
    # definitions once per repository: 1.4 s for eight of them, 4.5M lines).
    sql = """
        WITH counted AS (
            SELECT repo_id, count(*) AS modules, count(*) FILTER (WHERE parse_status <> 'ok') AS not_ok
            FROM modules GROUP BY repo_id
        ), defined AS (
            SELECT repo_id, count(*) AS symbols FROM definitions GROUP BY repo_id
        )
        SELECT r.id, r.root, r.name, r.indexed_at, coalesce(f.modules, 0) AS modules,
               coalesce(d.symbols, 0) AS symbols, coalesce(f.not_ok, 0) AS not_ok, r.excludes
        FROM repos r LEFT JOIN counted f ON f.repo_id = r.id LEFT JOIN defined d ON d.repo_id = r.id
        ORDER BY r.root
    """
    with conn.cursor(row_factory=class_row(RepoStatus)) as cur:
        return cur.execute(sql).fetchall()


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
        rows = cur.execute(sql, {"limit": limit, "repos": _ids(repos)}).fetchall()
    total = int(rows[0]["total"]) if rows else 0
    return [Module(**{k: v for k, v in row.items() if k != "total"}) for row in rows], total


def all_stamps(conn: psycopg.Connection, repo_ids: RepoIds = None) -> list[FileStamp]:
    """Every indexed file's stamp (for index_status's "changed on disk" count)."""
    sql = """
        SELECT r.root, m.path, m.size, m.mtime_ns FROM modules m JOIN repos r ON r.id = m.repo_id
        WHERE %(ids)s::bigint[] IS NULL OR r.id = ANY(%(ids)s)
    """
    with conn.cursor(row_factory=class_row(FileStamp)) as cur:
        return cur.execute(sql, {"ids": _ids(repo_ids)}).fetchall()


# --- cross-references (usages, resolutions) ------------------------------------------


@dataclass(frozen=True)
class Reference(OnDisk):
    """One resolved use of a definition, with the text of its line."""

    path: str
    line: int
    col: int
    kind: str
    name: str
    source_full_name: str
    text: str
    root: str
    size: int
    mtime_ns: int


@dataclass(frozen=True)
class References:
    """Where a definition is used: the resolved uses (a page of them, and how many
    there are) and the uses of its bare name whose target is unknown."""

    uses: list[Reference]
    total: int
    files: int
    name_matches: int
    name_match_files: int


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
        WHERE r.repo_id = %(repo_id)s AND r.full_name = ANY(%(targets)s) AND NOT r.stale
          AND (r.full_name = %(full_name)s OR u.kind = 'call')
    """
    params = {
        "repo_id": symbol.repo_id, "targets": targets, "full_name": symbol.full_name, "limit": limit, "offset": offset,
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
    return [(_symbol(row[:-1]), row[-1]) for row in rows]


@dataclass(frozen=True)
class Subclass:
    """A class below another: its depth (1: direct) and the class it inherits from on
    the nearest path (the queried class itself at depth 1)."""

    symbol: Symbol
    depth: int
    parent_full_name: str


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
    return [Subclass(_symbol(row), row[-2], row[-1]) for row in rows]
