"""The MCP server: the tools' names, descriptions and argument schemas, the schema
resource, and the transports (stdio, streamable HTTP). What each tool does is in
tools.py; app.py only declares it to MCP.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Sequence
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Annotated, Literal, TypeVar

from mcp.server.mcpserver import MCPServer
from mcp.types import ToolAnnotations
from pydantic import Field

from coderows.server import http as http_transport
from coderows.server.limits import MAX_OFFSET, NAME_CHARS, TEXT_CHARS, ToolCallLimits
from coderows.server.schema_doc import SCHEMA_DOC
from coderows.server.tools import (
    FIND_REFERENCES_LIMIT,
    FIND_SYMBOL_LIMIT,
    OUTLINE_LIMIT,
    SEARCH_CODE_LIMIT,
    Tools,
    start_embedded_database,
)

log = logging.getLogger(__name__)

SCHEMA_URI = "coderows://schema"

INSTRUCTIONS = """\
coderows holds this repository's Python code as rows: every module, class, function and \
method with its exact source and line range, re-checked against the files on disk before \
each answer (your own edits show up at once).
Prefer these tools to grep and to reading whole files:
- get_symbol NAME: just that definition's exact source, under its path:first-last (not the whole file).
- find_symbol NAME: where a name is defined (kind, full name, path:lines, signature).
- get_outline MODULE|FILE|CLASS: the members with signatures and line ranges, no bodies.
- search_code TEXT: which definitions mention some text, with the matching lines.
- find_references NAME: who calls, imports, subclasses or decorates with it (resolved, not grep).
- run_sql: structural questions over the tables; read the coderows://schema resource first.
Names may be full (pkg.mod.Class.meth), pkg.mod:Class.meth, a qualname (Class.meth), a \
bare name, or path.py:LINE. Long answers end with a [cut: ...] line giving the next call."""

READ_ONLY = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False)
ToolFunction = TypeVar("ToolFunction", bound=Callable[..., str])


def text_tools(server: MCPServer, annotations: ToolAnnotations) -> Callable[[str], Callable[[ToolFunction], ToolFunction]]:
    """A decorator that declares a tool of `server` by its description: every coderows tool
    answers with text for the agent (no structured output), with these annotations."""

    def declare(description: str) -> Callable[[ToolFunction], ToolFunction]:
        return server.tool(annotations=annotations, structured_output=False, description=description)

    return declare

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


# --- the MCP server ------------------------------------------------------------------


def build_server(tools: Tools, *, allow_edits: bool = False) -> MCPServer:
    server = MCPServer("coderows", instructions=INSTRUCTIONS, log_level="WARNING", version=package_version("coderows"))
    server.middleware.append(ToolCallLimits(server))
    read_only = text_tools(server, READ_ONLY)

    @read_only(
        "Find where classes, functions and methods are defined, by name. Use it instead of grep "
        "for 'def NAME' / 'class NAME': one line per definition with kind, full name, path:start-end, "
        "signature and the docstring's first line. Matches exact names first, then case-insensitive, "
        "then names containing the text; '*' and '?' are wildcards (JSON*Error, django.db.*.save); "
        "nothing found gives 'did you mean' suggestions."
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

    @read_only(
        "Read one class, function or method: its location (path:first-last) and its exact source, unnumbered, "
        "as it can be copied into an edit. "
        "Use it instead of reading a whole file to see a definition: it returns only those lines "
        "(context_lines=N adds N lines around them; include_body=false gives just signature and "
        "docstring). Reflects the file on disk right now, including edits you just made. An "
        "ambiguous name lists the candidates to choose from."
    )
    def get_symbol(
        name: NameArg,
        include_body: Annotated[bool, Field(description="False: signature and docstring only.")] = True,
        context_lines: Annotated[
            int, Field(ge=0, le=200, description="Lines of the file to add before and after.")
        ] = 0,
        offset: Annotated[
            int, Field(ge=0, le=MAX_OFFSET, description="Lines to skip, to page through a very long definition (a cut answer names the next call).")
        ] = 0,
        repo: RepoArg = None,
    ) -> str:
        return tools.get_symbol(name, include_body, context_lines, offset, repo)

    @read_only(
        "The shape of a module or class without its bodies: every class, function and method with "
        "signature, line range and first docstring line, nested by class; a class also shows its "
        "bases and where they are defined. Use it instead of reading a file to learn what is in it, "
        "then get_symbol for the parts you need."
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


    @read_only(
        "Find code by text: definitions whose name, docstring or source contains the text "
        "(case-insensitive, literal, not a regex). Unlike grep, each hit names the innermost "
        "definition it is in (kind, full name, path:lines), so you can get_symbol it next. "
        "Up to 3 matching lines are shown per definition."
    )
    def search_code(
        query: Annotated[str, Field(description="Text to look for, at least 2 characters.", max_length=TEXT_CHARS)],
        limit: LimitArg = SEARCH_CODE_LIMIT,
        offset: OffsetArg = 0,
        repo: RepoArg = None,
    ) -> str:
        return tools.search_code(query, limit, offset, repo)

    @read_only(
        "Where a class, function or method is used: every call, reference, import, subclassing "
        "and decoration that resolves to it (through imports, re-exports, self/cls, super() and "
        "base classes), grouped by file with line:column, the enclosing definition and the line's "
        "text. Use it instead of grep for the name: it leaves out other things of the same name. "
        "Uses on objects whose type is unknown are counted separately, not mixed in."
    )
    def find_references(
        name: NameArg, limit: LimitArg = FIND_REFERENCES_LIMIT, offset: OffsetArg = 0, repo: RepoArg = None
    ) -> str:
        return tools.find_references(name, limit, offset, repo)

    @read_only(
        "Run one read-only SQL query (PostgreSQL) over the index for questions the other tools do "
        "not answer: counts, all subclasses of X, methods of a class, biggest functions, imports. "
        "Tables: repos, modules, symbols (+ views classes, functions, methods), imports, usages "
        "(every use of a name, resolved), calls, subclasses, overrides; read the "
        "coderows://schema resource for columns and examples. Rows come back one per line, "
        "' | '-separated, cut at `limit` rows; select body/source only for the rows you need."
    )
    def run_sql(
        query: Annotated[str, Field(description="One SELECT / WITH / VALUES / TABLE / EXPLAIN statement.")],
        limit: Annotated[int, Field(ge=1, le=1000, description="Most rows to return.")] = 100,
    ) -> str:
        return tools.run_sql(query, limit)

    @read_only(
        "What is indexed: repositories, file and definition counts, whether background indexing is "
        "still running, files changed on disk since, and files that did not parse cleanly. Use it "
        "when an answer looks incomplete."
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
