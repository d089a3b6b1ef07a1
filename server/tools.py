"""The tool logic: each method answers one MCP tool call with the text the agent reads.

Each tool is a thin shell: lookup.py, source.py, search.py, references.py and status.py
fetch typed rows (rows.py), freshness.py re-indexes any file behind them that changed on
disk (and the rows are fetched again), render.py turns them into compact text. Failures
the agent can act on become ToolError messages; nothing else (no traceback, no stack)
ever reaches the agent. app.py declares the tools to MCP and runs the transports.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import psycopg
from mcp.server.mcpserver.exceptions import ToolError

from coderows.common.lines import split_lines
from coderows.db import repo_status
from coderows.db.connection import CannotConnect, DatabaseError, first_line, redact, resource_problem
from coderows.db.readonly import ReaderUnavailable
from coderows.db.sandbox import RejectedQuery, run_readonly
from coderows.server import freshness, lookup, references, render, rows, search, source, status
from coderows.server.connections import Connections, DatabaseUnavailable, ReaderConnections
from coderows.server.freshness import BackgroundIndexer
from coderows.server.limits import MAX_ANSWER_BYTES, MAX_OFFSET
from coderows.server.rows import FileStamp, NameMatch, Symbol
from coderows.server.scope import CallScope, UnknownRepository, known_repos, scope_of

log = logging.getLogger(__name__)

T = TypeVar("T")

# Each list tool's default `limit`, for its schema, its Tools method and its paging line
# (which leaves a default limit out of the call it suggests).
FIND_SYMBOL_LIMIT = 20
SEARCH_CODE_LIMIT = 20
FIND_REFERENCES_LIMIT = 50
OUTLINE_LIMIT = 200

# Room an answer's own lines leave for its paging line: the fixed words of `[cut: showed
# lines N-M of A-B; rest: ...]`, and a cut over-long line's overshoot (render.Page.add_cut).
PAGING_LINE_FRAME_BYTES = 512
RESTARTED_NOTE = "\n[note: the embedded PostgreSQL had stopped; this server started it again]"


class Tools:
    """The tool implementations, each returning the text the agent reads."""

    def __init__(
        self,
        database_url: str,
        roots: Iterable[Path] = (),
        *,
        watch: bool = True,
        restart_database: Callable[[], object] | None = None,
    ) -> None:
        self.connections = Connections(database_url)
        # Set when the database is coderows's embedded server, which this server then
        # owns: it starts it again when it finds it stopped, instead of asking the user.
        self.restart_database = restart_database
        self._restart_lock = threading.Lock()
        # run_sql's sessions: a login that can only SELECT the coderows schema.
        self.reader = ReaderConnections(self.connections)
        self.roots = [Path(r).resolve() for r in roots]
        self.indexer = BackgroundIndexer(database_url, self.roots, watch=watch)

    # --- plumbing --------------------------------------------------------------------

    def run(
        self,
        work: Callable[[psycopg.Connection], str],
        *,
        note_progress: bool = True,
        connections: Connections | None = None,
        after_restart: bool = False,
    ) -> str:
        """work(conn) with every failure turned into a message the agent can act on, and
        a note while the initial index is still running. An embedded database found
        stopped is started again and the call answered, with a note saying so."""
        try:
            pool = connections or self.connections
            answer = pool.run(work) + (self.indexer.progress_note() if note_progress else "")
            return answer + (RESTARTED_NOTE if after_restart else "")
        except ToolError as error:
            note = self.indexer.progress_note() if note_progress else ""
            if note:
                raise ToolError(str(error) + note) from None
            raise
        except ReaderUnavailable as error:
            raise ToolError(f"run_sql is not available: {error}.") from None
        except UnknownRepository as error:
            raise ToolError(f"{error}.") from None
        except (DatabaseUnavailable, CannotConnect) as error:
            if after_restart or not self.restart_embedded():
                raise ToolError(self.unavailable(error)) from None
            return self.run(work, note_progress=note_progress, connections=connections, after_restart=True)
        except DatabaseError as error:
            raise ToolError(f"The coderows database is unavailable: {error}.") from None
        except RejectedQuery as error:
            raise ToolError(f"run_sql refused the query: {error}.") from None
        except psycopg.errors.QueryCanceled:
            raise ToolError(
                "The query ran past its time limit and was cancelled. Narrow it (WHERE, LIMIT, fewer "
                "source/body columns)."
            ) from None
        except psycopg.Error as error:
            raise ToolError(resource_problem(error) or f"PostgreSQL: {postgres_message(error)}") from None
        except Exception as error:  # a bug: keep the traceback in the server log, not the answer
            log.exception("tool failed")
            raise ToolError(f"coderows failed internally ({type(error).__name__}: {first_line(error)}).") from None

    def restart_embedded(self) -> bool:
        """Start the embedded PostgreSQL again when this server uses it and it has
        stopped; True when it was started. Concurrent calls start it once."""
        if self.restart_database is None:
            return False
        from coderows.db import embedded

        with self._restart_lock:
            if embedded.status().running:
                return False  # running but not answering: starting it again would not help
            try:
                self.restart_database()
            except (DatabaseError, embedded.EmbeddedServerError) as error:
                log.warning("could not start the embedded PostgreSQL again: %s", error)
                return False
        log.warning("the embedded PostgreSQL had stopped; started it again")
        return True

    def unavailable(self, error: BaseException) -> str:
        """The message for a database this server cannot reach, saying what brings it back."""
        if self.restart_database is None:
            remedy = f"Start the PostgreSQL server at {redact(self.connections.url)} again and repeat the call"
        else:
            from coderows.db import embedded

            if embedded.status().running:
                remedy = (
                    "The embedded PostgreSQL runs but does not answer: `coderows db stop` then "
                    "`coderows db start` restarts it"
                )
            else:
                remedy = (
                    "This server could not start the embedded PostgreSQL again: `coderows db start` "
                    f"says why (server log: {embedded.pgdata_dir() / 'log'})"
                )
        return f"The coderows database is unavailable: {error}. {remedy}; this server reconnects by itself."

    @staticmethod
    def fresh(
        conn: psycopg.Connection, fetch: Callable[[psycopg.Connection], T], stamps: Callable[[T], Iterable[FileStamp]]
    ) -> T:
        """fetch(conn), fetched again if any file behind its rows changed on disk."""
        result = fetch(conn)
        if freshness.refresh(conn, stamps(result)):
            result = fetch(conn)
        return result

    def lookup(
        self,
        conn: psycopg.Connection,
        scope: CallScope,
        fetch: Callable[[psycopg.Connection], T],
        stamps: Callable[[T], Iterable[FileStamp]],
        missed: Callable[[T], bool],
        wanted: str | None = None,
    ) -> T:
        """fetch on fresh rows; when it misses, the served roots are brought up to date
        first (the answer may be in a file written a moment ago; during the first pass,
        the file `wanted`, the name or path asked for, names) and it is asked again,
        over the scope renewed: the catch-up may have registered a served root."""
        result = self.fresh(conn, fetch, stamps)
        if missed(result) and self.indexer.catch_up(conn, wanted):
            scope.renew(conn)
            result = self.fresh(conn, fetch, stamps)
        return result

    def resolve_fresh(
        self,
        conn: psycopg.Connection,
        scope: CallScope,
        fetch: Callable[[psycopg.Connection], NameMatch],
        wanted: str | None = None,
    ) -> NameMatch:
        """A name lookup of `wanted`; no exact or case-insensitive match counts as a miss."""
        return self.lookup(
            conn, scope, fetch, lambda r: r.stamps, lambda r: r.total == 0 or r.how == "contains", wanted
        )

    def scope(self, conn: psycopg.Connection, repo: str | None) -> CallScope:
        """The repositories a call answers from (server/scope.py), resolved once per call."""
        return CallScope(conn, repo, self.roots)

    def one_symbol(self, conn: psycopg.Connection, scope: CallScope, name: str, *, tool: str) -> Symbol | str:
        """The one definition `name` denotes; else the answer listing the candidates
        (ambiguous), or a ToolError with suggestions (nothing matches)."""
        resolution = self.resolve_fresh(conn, scope, lambda c: lookup.match_name(c, name, repos=scope.ids, limit=50), name)
        if resolution.total == 0:
            raise ToolError(render.not_found(resolution))
        if resolution.total > 1:
            return one_definition(resolution.matches) or render.ambiguous(resolution, tool=tool, repo=scope.repo)
        return resolution.matches[0]

    # --- tools -----------------------------------------------------------------------

    def find_symbol(
        self,
        query_text: str,
        kind: str | None = None,
        module: str | None = None,
        limit: int = FIND_SYMBOL_LIMIT,
        offset: int = 0,
        repo: str | None = None,
    ) -> str:
        arguments = {"query": query_text, "kind": kind, "module": module, "limit": limit, "repo": repo}

        def fetch(conn: psycopg.Connection, scope: CallScope) -> NameMatch:
            repos = scope.ids
            if is_pattern(query_text):
                return lookup.match_pattern(
                    conn, query_text, kind=kind, module=module, repos=repos, limit=limit, offset=offset
                )
            found = lookup.match_name(conn, query_text, kind=kind, module=module, repos=repos, limit=limit, offset=offset)
            if found.total == 0 and "." not in query_text and ":" not in query_text:
                # No definition has that name: names that contain it are the next best answer.
                contained = lookup.match_pattern(
                    conn, f"*{query_text}*", kind=kind, module=module, repos=repos, limit=limit, offset=offset,
                    how="contains",
                )
                if contained.total:
                    return contained
            return found

        def work(conn: psycopg.Connection) -> str:
            scope = self.scope(conn, repo)
            resolution = self.resolve_fresh(conn, scope, lambda c: fetch(c, scope), query_text)
            return render.symbol_list(
                resolution,
                tool="find_symbol",
                arguments=arguments,
                offset=offset,
                max_bytes=page_budget("find_symbol", arguments),
                show_repo=scope.many,
            )

        return self.run(work)

    def get_symbol(
        self, name: str, include_body: bool = True, context_lines: int = 0, offset: int = 0, repo: str | None = None
    ) -> str:
        arguments = {
            "name": name,
            "include_body": None if include_body else False,
            "context_lines": context_lines or None,
            "repo": repo,
        }

        def work(conn: psycopg.Connection) -> str:
            scope = self.scope(conn, repo)
            symbol = self.one_symbol(conn, scope, name, tool="get_symbol")
            if isinstance(symbol, str):
                return symbol
            uses = references.use_counts(conn, symbol)
            if not include_body:
                return render.symbol_answer(
                    symbol,
                    body_lines=None,
                    body_first_line=symbol.start_line,
                    context_before=[],
                    context_after=[],
                    offset=0,
                    arguments=arguments,
                    uses=uses,
                    max_bytes=page_budget("get_symbol", arguments),
                    show_repo=scope.many,
                )
            if symbol.grouped:  # overloads or property accessors: the lines spanning them all
                body = "\n".join(source.source_lines(conn, symbol.module_id, symbol.start_line, symbol.end_line))
            else:
                body = source.symbol_body(conn, symbol) or ""
            before = after = []
            if context_lines:
                before = source.source_lines(
                    conn, symbol.module_id, symbol.start_line - context_lines, symbol.start_line - 1
                )
                after = source.source_lines(conn, symbol.module_id, symbol.end_line + 1, symbol.end_line + context_lines)
            return render.symbol_answer(
                symbol,
                body_lines=split_lines(body),
                body_first_line=symbol.start_line,
                context_before=before,
                context_after=after,
                offset=offset,
                arguments=arguments,
                uses=uses,
                max_bytes=page_budget("get_symbol", arguments, f"; members only: get_outline({symbol.full_name!r})"),
                show_repo=scope.many,
            )

        return self.run(work)

    def find_references(
        self, name: str, limit: int = FIND_REFERENCES_LIMIT, offset: int = 0, repo: str | None = None
    ) -> str:
        arguments = {"name": name, "limit": unless_default(limit, FIND_REFERENCES_LIMIT), "repo": repo}

        def work(conn: psycopg.Connection) -> str:
            scope = self.scope(conn, repo)
            symbol = self.one_symbol(conn, scope, name, tool="find_references")
            if isinstance(symbol, str):
                return symbol
            found = self.fresh(
                conn,
                lambda c: references.references(c, symbol, limit, offset),
                lambda r: [use.stamp for use in r.uses],
            )
            return render.references_answer(
                symbol,
                found,
                offset=offset,
                arguments=arguments,
                max_bytes=page_budget("find_references", arguments),
                shared_database=scope.shared,
            )

        return self.run(work)

    def get_outline(
        self,
        target: str,
        limit: int = OUTLINE_LIMIT,
        offset: int = 0,
        subclasses: bool = False,
        inherited: bool = False,
        repo: str | None = None,
    ) -> str:
        arguments = {
            "target": target,
            "limit": unless_default(limit, OUTLINE_LIMIT),
            "subclasses": subclasses or None,
            "inherited": inherited or None,
            "repo": repo,
        }

        def work(conn: psycopg.Connection) -> str:
            scope = self.scope(conn, repo)
            modules = self.lookup(
                conn,
                scope,
                lambda c: source.find_modules(c, target, scope.ids),
                lambda ms: [m.stamp for m in ms],
                lambda ms: not ms and (target.endswith(".py") or "/" in target),
                target,
            )
            if len(modules) > 1:
                return render.modules_ambiguous(target, modules, tool="get_outline", arguments=arguments)
            if modules:
                module = modules[0]
                members = source.outline_symbols(conn, module.id, module.repo_id)
                submodules = source.submodule_names(conn, module) if module.is_package else []
                title = render.module_title(module, submodules)
                return render.outline(
                    title,
                    members,
                    0,
                    arguments=arguments,
                    offset=offset,
                    limit=limit,
                    max_bytes=page_budget("get_outline", arguments),
                )
            resolution = self.resolve_fresh(conn, scope, lambda c: lookup.match_name(c, target, repos=scope.ids, limit=50), target)
            if resolution.total == 0:
                hint = similar_modules_hint(conn, target, scope.ids)
                raise ToolError(render.not_found(resolution) + hint)
            if resolution.total > 1:
                return render.ambiguous(resolution, tool="get_outline", repo=repo)
            symbol = resolution.matches[0]
            related = render.related_classes(
                references.subclasses(conn, symbol) if subclasses and symbol.kind == "class" else None,
                references.inherited_members(conn, symbol) if inherited and symbol.kind == "class" else None,
            )
            return self.symbol_outline(conn, symbol, arguments, offset, limit, related)

        return self.run(work)

    def symbol_outline(
        self,
        conn: psycopg.Connection,
        symbol: Symbol,
        arguments: dict[str, Any],
        offset: int,
        limit: int,
        related: Sequence[str] = (),
    ) -> str:
        members = source.outline_symbols(conn, symbol.module_id, symbol.repo_id, under=symbol.qualname)
        bases = unique_classes(source.classes_named(conn, [base_name(b) for b in symbol.bases], symbol.repo_id))
        title = render.class_title(symbol, {b: bases[base_name(b)] for b in symbol.bases if base_name(b) in bases})
        title = [*title, *related]
        return render.outline(
            title,
            members,
            symbol.qualname.count(".") + 1,
            arguments=arguments,
            offset=offset,
            limit=limit,
            max_bytes=page_budget("get_outline", arguments),
        )

    def search_code(self, text: str, limit: int = SEARCH_CODE_LIMIT, offset: int = 0, repo: str | None = None) -> str:
        arguments = {"query": text, "limit": unless_default(limit, SEARCH_CODE_LIMIT), "repo": repo}
        if len(text.strip()) < 2:
            raise ToolError("search_code needs at least 2 characters of text to look for.")

        def fetch(conn: psycopg.Connection, scope: CallScope) -> tuple[list[Symbol], list[rows.Hit], bool]:
            repos = scope.ids
            names = lookup.symbols_named_like(conn, text.strip(), repos)
            # A common text is read as far as this page and one definition more.
            found = search.search_lines(conn, text.strip(), repos, groups=offset + limit + 1, first=names)
            return names, found.hits, found.complete

        def work(conn: psycopg.Connection) -> str:
            scope = self.scope(conn, repo)
            names, hits, complete = self.lookup(
                conn,
                scope,
                lambda c: fetch(c, scope),
                lambda r: [s.stamp for s in r[0]] + [h.stamp for h in r[1]],
                lambda r: not r[0] and not r[1],
            )
            groups = render.search_groups(names, hits)
            return render.search_answer(
                text.strip(),
                groups,
                capped=not complete,
                offset=offset,
                limit=limit,
                arguments=arguments,
                max_bytes=page_budget("search_code", arguments),
                show_repo=scope.many,
            )

        return self.run(work)

    def run_sql(self, sql_text: str, limit: int = 100) -> str:
        def work(conn: psycopg.Connection) -> str:
            columns, rows, more = run_readonly(conn, sql_text, limit)
            return render.sql_rows(columns, rows, more=more, limit=limit)

        return self.run(work, connections=self.reader)

    def index_status(self, repo: str | None = None) -> str:
        def work(conn: psycopg.Connection) -> str:
            # Progress first: "up to date" must not be claimed over counts read before that.
            progress = self.indexer.status_lines()
            known = known_repos(conn)
            served = scope_of(known, None, self.roots).ids
            shown = None if repo is None else scope_of(known, repo, self.roots).ids
            repos = [r for r in repo_status.repo_statuses(conn) if shown is None or r.id in shown]
            changed = freshness.stale_paths(status.all_stamps(conn, shown))
            problems, total = status.problem_modules(conn, shown)
            places = {r.root: repo_status.repo_place(r.root) for r in repos}
            return render.status_answer(repos, progress, changed, problems, total, served=served, places=places)

        return self.run(work, note_progress=False)

    def close(self) -> None:
        self.indexer.stop()
        self.reader.close()
        self.connections.close()


def start_embedded_database() -> str:
    from coderows.db import embedded

    return embedded.start()


def unless_default(limit: int, default: int) -> int | None:
    """The limit to repeat in a paging line's call: None (left out) when it is the default."""
    return None if limit == default else limit


def page_budget(tool: str, arguments: dict[str, Any], *echoed: str) -> int:
    """The bytes an answer's own lines may take, so that with its paging line, which
    repeats the call's arguments (and `echoed`, e.g. a definition's name), the whole
    answer stays within MAX_ANSWER_BYTES."""
    paging_call = render.call(tool, **{**arguments, "offset": MAX_OFFSET})
    tail = len(paging_call.encode("utf-8")) + sum(len(text.encode("utf-8")) for text in echoed)
    return MAX_ANSWER_BYTES - tail - PAGING_LINE_FRAME_BYTES


OVERLOAD_DECORATORS = frozenset({"overload", "typing.overload", "t.overload", "typing_extensions.overload"})


def one_definition(matches: list[Symbol]) -> Symbol | None:
    """The one definition that several matches make in Python's eyes, as a row spanning
    them: `@overload` stubs and their implementation, or a property's getter with its
    setter and deleter, all of one name in one file. None for anything else (if/else
    variants stay ambiguous: they are alternatives the agent chooses between)."""
    first = matches[0]
    if any((m.repo_id, m.module_id, m.full_name) != (first.repo_id, first.module_id, first.full_name) for m in matches):
        return None
    ordered = sorted(matches, key=lambda m: m.start_line)
    overloads = sum(1 for m in ordered if OVERLOAD_DECORATORS.intersection(m.decorators))
    accessors = {f"{first.name}.{role}" for role in ("setter", "deleter", "getter")}
    if overloads == len(ordered) - 1 and not OVERLOAD_DECORATORS.intersection(ordered[-1].decorators):
        what = f"{overloads} overload{'s' if overloads != 1 else ''} and the implementation"
    elif overloads == len(ordered):
        what = f"{overloads} overloads"
    elif "property" in ordered[0].decorators and all(accessors.intersection(m.decorators) for m in ordered[1:]):
        roles = [next(iter(accessors.intersection(m.decorators))).rsplit(".", 1)[1] for m in ordered[1:]]
        what = "property getter and " + " and ".join(roles)
    else:
        return None
    return dataclasses.replace(ordered[0], end_line=max(m.end_line for m in ordered), grouped=what)


def is_pattern(text: str) -> bool:
    return "*" in text or "?" in text


def base_name(base: str) -> str:
    """The simple class name a base expression ends with: `models.Model` -> `Model`."""
    return base.split("[", 1)[0].rsplit(".", 1)[-1].strip()


def unique_classes(classes: list[Symbol]) -> dict[str, Symbol]:
    """Simple name -> class, for the names exactly one indexed class has."""
    by_name: dict[str, list[Symbol]] = {}
    for cls in classes:
        by_name.setdefault(cls.name, []).append(cls)
    return {name: found[0] for name, found in by_name.items() if len(found) == 1}


def similar_modules_hint(conn: psycopg.Connection, target: str, repos: rows.RepoIds = None) -> str:
    names = lookup.similar_module_names(conn, target, repos)
    return ("\nModules with similar names: " + ", ".join(names)) if names else ""


def postgres_message(error: psycopg.Error) -> str:
    """PostgreSQL's own words: the primary message, and its detail and hint when given."""
    diag = error.diag
    parts = [diag.message_primary or first_line(error)]
    if diag.message_detail:
        parts.append(f"DETAIL: {diag.message_detail}")
    if diag.message_hint:
        parts.append(f"HINT: {diag.message_hint}")
    return "\n".join(parts)
