"""The MCP server: tools, their descriptions, the schema resource, transports.

Each tool is a thin shell: lookup.py, source.py, search.py, references.py and status.py fetch typed rows (rows.py), freshness.py re-indexes any file
behind them that changed on disk (and the rows are fetched again), render.py turns them
into compact text. Failures the agent can act on become ToolError messages; nothing
else (no traceback, no stack) ever reaches the agent.
"""

from __future__ import annotations

import dataclasses
import logging
import sys
import threading
from collections.abc import Callable, Iterable, Sequence
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import psycopg
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations
from pydantic import Field

from coderows.common.lines import split_lines
from coderows.db.connection import CannotConnect, DatabaseError, first_line, redact, resource_problem
from coderows.db.readonly import ReaderUnavailable
from coderows.db.sandbox import RejectedQuery, run_readonly
from coderows.server import freshness, lookup, references, render, rows, search, source, status
from coderows.server import http as http_transport
from coderows.server.connections import Connections, DatabaseUnavailable, ReaderConnections
from coderows.server.freshness import BackgroundIndexer
from coderows.server.limits import MAX_ANSWER_BYTES, MAX_OFFSET, NAME_CHARS, TEXT_CHARS, ToolCallLimits
from coderows.server.rows import FileStamp, NameMatch, Symbol
from coderows.server.schema_doc import SCHEMA_DOC
from coderows.server.scope import Scope, UnknownRepository, repo_place, resolve_scope

log = logging.getLogger(__name__)

T = TypeVar("T")

SCHEMA_URI = "coderows://schema"

INSTRUCTIONS = """\
coderows holds this repository's Python code as rows: every module, class, function and \
method with its exact source and line range, re-checked against the files on disk before \
each answer (your own edits show up at once).
Prefer these tools to grep and to reading whole files:
- get_symbol NAME: just that definition's source, line-numbered (not the whole file).
- find_symbol NAME: where a name is defined (kind, full name, path:lines, signature).
- get_outline MODULE|FILE|CLASS: the members with signatures and line ranges, no bodies.
- search_code TEXT: which definitions mention some text, with the matching lines.
- find_references NAME: who calls, imports, subclasses or decorates with it (resolved, not grep).
- run_sql: structural questions over the tables; read the coderows://schema resource first.
Names may be full (pkg.mod.Class.meth), pkg.mod:Class.meth, a qualname (Class.meth), a \
bare name, or path.py:LINE. Long answers end with a [cut: ...] line giving the next call."""

# Each list tool's default `limit`, for its schema, its Tools method and its paging line
# (which leaves a default limit out of the call it suggests).
FIND_SYMBOL_LIMIT = 20
SEARCH_CODE_LIMIT = 20
FIND_REFERENCES_LIMIT = 50
OUTLINE_LIMIT = 200

READ_ONLY = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False)

NameArg = Annotated[
    str,
    Field(
        description="A full name (json.decoder.JSONDecoder.decode), module:qualname (json.decoder:JSONDecoder.decode), "
        "a qualname (JSONDecoder.decode), a bare name (decode) or path.py:LINE (the definition around that line).",
        max_length=NAME_CHARS,
    ),
]
LimitArg = Annotated[int, Field(ge=1, le=500, description="Most entries to return in this page.")]
OffsetArg = Annotated[
    int, Field(ge=0, le=MAX_OFFSET, description="Entries to skip: the [cut: ...] line of a long answer gives it.")
]
RepoArg = Annotated[
    str | None,
    Field(
        description="The repository to answer from: its name or root path as index_status lists them, or '*' for "
        "every repository in the database. Default: the repositories this server serves.",
        max_length=NAME_CHARS,
    ),
]
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
        fetch: Callable[[psycopg.Connection], T],
        stamps: Callable[[T], Iterable[FileStamp]],
        missed: Callable[[T], bool],
    ) -> T:
        """fetch on fresh rows; when it misses, the served roots are brought up to date
        first (the answer may be in a file written a moment ago) and it is asked again."""
        result = self.fresh(conn, fetch, stamps)
        if missed(result) and self.indexer.catch_up(conn):
            result = self.fresh(conn, fetch, stamps)
        return result

    def resolve_fresh(self, conn: psycopg.Connection, fetch: Callable[[psycopg.Connection], NameMatch]) -> NameMatch:
        """A name lookup; no exact or case-insensitive match counts as a miss."""
        return self.lookup(conn, fetch, lambda r: r.stamps, lambda r: r.total == 0 or r.how == "contains")

    def scope(self, conn: psycopg.Connection, repo: str | None) -> Scope:
        """The repositories a call answers from (server/scope.py). Asked afresh by every
        fetch: a served root is registered by its first index run, maybe mid-call."""
        return resolve_scope(conn, repo, self.roots)

    def one_symbol(self, conn: psycopg.Connection, name: str, repo: str | None, *, tool: str) -> Symbol | str:
        """The one definition `name` denotes; else the answer listing the candidates
        (ambiguous), or a ToolError with suggestions (nothing matches)."""
        resolution = self.resolve_fresh(
            conn, lambda c: lookup.match_name(c, name, repos=self.scope(c, repo).ids, limit=50)
        )
        if resolution.total == 0:
            raise ToolError(render.not_found(resolution))
        if resolution.total > 1:
            return one_definition(resolution.matches) or render.ambiguous(resolution, tool=tool, repo=repo)
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

        def fetch(conn: psycopg.Connection) -> NameMatch:
            repos = self.scope(conn, repo).ids
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
            resolution = self.resolve_fresh(conn, fetch)
            return render.symbol_list(
                resolution,
                tool="find_symbol",
                arguments=arguments,
                offset=offset,
                max_bytes=page_budget("find_symbol", arguments),
                show_repo=self.scope(conn, repo).many,
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
            symbol = self.one_symbol(conn, name, repo, tool="get_symbol")
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
                    show_repo=self.scope(conn, repo).many,
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
                show_repo=self.scope(conn, repo).many,
            )

        return self.run(work)

    def find_references(
        self, name: str, limit: int = FIND_REFERENCES_LIMIT, offset: int = 0, repo: str | None = None
    ) -> str:
        arguments = {"name": name, "limit": unless_default(limit, FIND_REFERENCES_LIMIT), "repo": repo}

        def work(conn: psycopg.Connection) -> str:
            symbol = self.one_symbol(conn, name, repo, tool="find_references")
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
                shared_database=self.scope(conn, repo).shared,
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
            modules = self.lookup(
                conn,
                lambda c: source.find_modules(c, target, self.scope(c, repo).ids),
                lambda ms: [m.stamp for m in ms],
                lambda ms: not ms and (target.endswith(".py") or "/" in target),
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
            resolution = self.resolve_fresh(
                conn, lambda c: lookup.match_name(c, target, repos=self.scope(c, repo).ids, limit=50)
            )
            if resolution.total == 0:
                hint = similar_modules_hint(conn, target, self.scope(conn, repo).ids)
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

        def fetch(conn: psycopg.Connection) -> tuple[list[Symbol], list[rows.Hit]]:
            repos = self.scope(conn, repo).ids
            return lookup.symbols_named_like(conn, text.strip(), repos), search.search_lines(conn, text.strip(), repos)

        def work(conn: psycopg.Connection) -> str:
            names, hits = self.lookup(
                conn,
                fetch,
                lambda r: [s.stamp for s in r[0]] + [h.stamp for h in r[1]],
                lambda r: not r[0] and not r[1],
            )
            groups = render.search_groups(names, hits)
            capped = len(hits) >= search.SEARCH_LINE_CAP
            return render.search_answer(
                text.strip(),
                groups,
                capped=capped,
                offset=offset,
                limit=limit,
                arguments=arguments,
                max_bytes=page_budget("search_code", arguments),
                show_repo=self.scope(conn, repo).many,
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
            served = self.scope(conn, None).ids
            shown = None if repo is None else self.scope(conn, repo).ids
            repos = [r for r in status.repo_statuses(conn) if shown is None or r.id in shown]
            changed = freshness.stale_paths(status.all_stamps(conn, shown))
            problems, total = status.problem_modules(conn, shown)
            places = {r.root: repo_place(r.root) for r in repos}
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


# --- the MCP server ------------------------------------------------------------------


def build_server(tools: Tools, *, allow_edits: bool = False) -> MCPServer:
    server = MCPServer("coderows", instructions=INSTRUCTIONS, log_level="WARNING", version=package_version("coderows"))
    server.middleware.append(ToolCallLimits(server))

    @server.tool(
        annotations=READ_ONLY,
        structured_output=False,
        description=(
            "Find where classes, functions and methods are defined, by name. Use it instead of grep "
            "for 'def NAME' / 'class NAME': one line per definition with kind, full name, path:start-end, "
            "signature and the docstring's first line. Matches exact names first, then case-insensitive, "
            "then names containing the text; '*' and '?' are wildcards (JSON*Error, django.db.*.save); "
            "nothing found gives 'did you mean' suggestions."
        ),
    )
    def find_symbol(
        query: Annotated[
            str,
            Field(
                description="A name in any form: full, module:qualname, qualname, bare, or a * pattern.",
                max_length=NAME_CHARS,
            ),
        ],
        kind: Annotated[
            Literal["class", "function", "method"] | None,
            Field(description="Only this kind; 'function' includes methods."),
        ] = None,
        module: Annotated[
            str | None,
            Field(description="Only definitions in this module or package (dotted name).", max_length=NAME_CHARS),
        ] = None,
        limit: LimitArg = FIND_SYMBOL_LIMIT,
        offset: OffsetArg = 0,
        repo: RepoArg = None,
    ) -> str:
        return tools.find_symbol(query, kind, module, limit, offset, repo)

    @server.tool(
        annotations=READ_ONLY,
        structured_output=False,
        description=(
            "Read one class, function or method: its location and its exact source with line numbers. "
            "Use it instead of reading a whole file to see a definition: it returns only those lines "
            "(context_lines=N adds N lines around them; include_body=false gives just signature and "
            "docstring). Reflects the file on disk right now, including edits you just made. An "
            "ambiguous name lists the candidates to choose from."
        ),
    )
    def get_symbol(
        name: NameArg,
        include_body: Annotated[bool, Field(description="False: signature and docstring only.")] = True,
        context_lines: Annotated[
            int, Field(ge=0, le=200, description="Lines of the file to add before and after.")
        ] = 0,
        offset: Annotated[
            int, Field(ge=0, le=MAX_OFFSET, description="Lines to skip, to page through a very long definition.")
        ] = 0,
        repo: RepoArg = None,
    ) -> str:
        return tools.get_symbol(name, include_body, context_lines, offset, repo)

    @server.tool(
        annotations=READ_ONLY,
        structured_output=False,
        description=(
            "The shape of a module or class without its bodies: every class, function and method with "
            "signature, line range and first docstring line, nested by class; a class also shows its "
            "bases and where they are defined. Use it instead of reading a file to learn what is in it, "
            "then get_symbol for the parts you need."
        ),
    )
    def get_outline(
        target: Annotated[
            str,
            Field(
                description="A module (json.decoder), a file path (json/decoder.py) or a class (json.decoder.JSONDecoder).",
                max_length=NAME_CHARS,
            ),
        ],
        limit: Annotated[int, Field(ge=1, le=2000, description="Most entries to list.")] = OUTLINE_LIMIT,
        offset: OffsetArg = 0,
        subclasses: Annotated[bool, Field(description="For a class: also list its subclasses, at any depth.")] = False,
        inherited: Annotated[
            bool, Field(description="For a class: also list the members it inherits, by the base they come from.")
        ] = False,
        repo: RepoArg = None,
    ) -> str:
        return tools.get_outline(target, limit, offset, subclasses, inherited, repo)


    @server.tool(
        annotations=READ_ONLY,
        structured_output=False,
        description=(
            "Find code by text: definitions whose name, docstring or source contains the text "
            "(case-insensitive, literal, not a regex). Unlike grep, each hit names the innermost "
            "definition it is in (kind, full name, path:lines), so you can get_symbol it next. "
            "Up to 3 matching lines are shown per definition."
        ),
    )
    def search_code(
        query: Annotated[str, Field(description="Text to look for, at least 2 characters.", max_length=TEXT_CHARS)],
        limit: LimitArg = SEARCH_CODE_LIMIT,
        offset: OffsetArg = 0,
        repo: RepoArg = None,
    ) -> str:
        return tools.search_code(query, limit, offset, repo)

    @server.tool(
        annotations=READ_ONLY,
        structured_output=False,
        description=(
            "Where a class, function or method is used: every call, reference, import, subclassing "
            "and decoration that resolves to it (through imports, re-exports, self/cls, super() and "
            "base classes), grouped by file with line:column, the enclosing definition and the line's "
            "text. Use it instead of grep for the name: it leaves out other things of the same name. "
            "Uses on objects whose type is unknown are counted separately, not mixed in."
        ),
    )
    def find_references(
        name: NameArg, limit: LimitArg = FIND_REFERENCES_LIMIT, offset: OffsetArg = 0, repo: RepoArg = None
    ) -> str:
        return tools.find_references(name, limit, offset, repo)

    @server.tool(
        annotations=READ_ONLY,
        structured_output=False,
        description=(
            "Run one read-only SQL query (PostgreSQL) over the index for questions the other tools do "
            "not answer: counts, all subclasses of X, methods of a class, biggest functions, imports. "
            "Tables: repos, modules, symbols (+ views classes, functions, methods), imports, usages "
            "(every use of a name, resolved), calls, subclasses, overrides; read the "
            "coderows://schema resource for columns and examples. Rows come back one per line, "
            "' | '-separated, cut at `limit` rows; select body/source only for the rows you need."
        ),
    )
    def run_sql(
        query: Annotated[str, Field(description="One SELECT / WITH / VALUES / TABLE / EXPLAIN statement.")],
        limit: Annotated[int, Field(ge=1, le=1000, description="Most rows to return.")] = 100,
    ) -> str:
        return tools.run_sql(query, limit)

    @server.tool(
        annotations=READ_ONLY,
        structured_output=False,
        description=(
            "What is indexed: repositories, file and definition counts, whether background indexing is "
            "still running, files changed on disk since, and files that did not parse cleanly. Use it "
            "when an answer looks incomplete."
        ),
    )
    def index_status(repo: RepoArg = None) -> str:
        return tools.index_status(repo)

    @server.resource(
        SCHEMA_URI,
        name="coderows SQL schema",
        description="Tables, views and columns of the coderows index, with example queries for run_sql.",
        mime_type="text/plain",
    )
    def schema() -> str:
        return SCHEMA_DOC

    if allow_edits:  # the edit tools (coderows.edit): stdio always, HTTP only with --allow-edits
        from coderows.edit.tools import register as register_edit_tools

        register_edit_tools(server, tools)
    return server


def serve(
    database_url: str,
    roots: list[Path],
    *,
    http: bool = False,
    host: str = "127.0.0.1",
    port: int = 8000,
    watch: bool = True,
    token: str | None = None,
    embedded: bool = False,
    allow_edits: bool = False,
) -> None:
    """Serve the tools over stdio (default) or streamable HTTP, after starting to bring
    `roots` (default: the working directory) up to date in the background and, unless
    `watch` is False, to follow their changes on disk. Over HTTP, `token` is demanded of
    every request, and a non-loopback `host` without one is refused (http.RefusedToServe)
    before anything starts. `embedded`: the database is coderows's embedded server, which
    this server then starts again whenever it finds it stopped."""
    if http:
        http_transport.check_binding(host, token)
    restart = start_embedded_database if embedded else None
    tools = Tools(database_url, roots or [Path.cwd()], watch=watch, restart_database=restart)
    tools.indexer.start()
    server = build_server(tools, allow_edits=allow_edits or not http)
    try:
        if http:
            http_transport.run_http(
                server, host, port, token, announce=lambda url: announce(f"over streamable HTTP at {url}", tools.roots)
            )
        else:
            announce("over stdio", tools.roots)
            server.run()
    finally:
        tools.close()


def announce(transport: str, roots: Sequence[Path]) -> None:
    """Where the server listens and what it answers from, on stderr: over stdio, stdout
    is the MCP channel itself."""
    served = ", ".join(str(root) for root in roots)
    print(
        f"coderows: serving MCP {transport}; scope: the repositories at {served} "
        f"(a tool's repo='*' reaches every repository in the database)",
        file=sys.stderr,
        flush=True,
    )
