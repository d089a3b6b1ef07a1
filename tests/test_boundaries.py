"""Boundaries (hardening item 7): tools never return text from outside the indexed roots,
and the HTTP transport binds loopback unless told otherwise, refuses any other address
without an access token, and checks the token on every request.

HTTP servers are real `coderows serve --http` processes; non-loopback ones bind 0.0.0.0
but every request goes to 127.0.0.1. Path cases go through a real MCP client in-process."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from coderows.db.connection import connect
from coderows.server.app import build_server
from coderows.server.http import check_binding
from coderows.server.tools import Tools
from server_fixtures import (
    CODEROWS,
    Answer,
    call,
    free_port,
    index,
    run,
    server_env,
    wait_for_port,
    write_corpus,
)

TOKEN = "k7Qm2vX9pL4sT8wZ1nB5cR3dF6gH0jYe"
REFUSAL = "coderows: refusing to serve on {host} without an access token: pass --token or set CODEROWS_TOKEN\n"
UNAUTHORIZED = "401 Unauthorized: send the access token as 'Authorization: Bearer <token>'\n"
ACCEPT = {"Accept": "application/json, text/event-stream"}
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "test", "version": "1"}},
}
ORDER_SAVE_HEADER = "method shop.models.Order.save  shop/models.py:28-32"

# --- binding -------------------------------------------------------------------------


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "team-box.example"])
def test_serve_refuses_a_non_loopback_address_without_a_token(host: str, tmp_path: Path) -> None:
    done = subprocess.run(
        [CODEROWS, "serve", "--http", "--host", host, "--port", "1", str(tmp_path)],
        env=server_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (done.returncode, done.stderr) == (1, REFUSAL.format(host=host))


def test_an_empty_CODEROWS_TOKEN_counts_as_no_token(tmp_path: Path) -> None:
    done = subprocess.run(
        [CODEROWS, "serve", "--http", "--host", "0.0.0.0", "--port", "1", str(tmp_path)],
        env=server_env(CODEROWS_TOKEN=""),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (done.returncode, done.stderr) == (1, REFUSAL.format(host="0.0.0.0"))


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "localhost"])
def test_a_loopback_address_needs_no_token(host: str) -> None:
    check_binding(host, None)  # does not raise RefusedToServe


# --- the token -----------------------------------------------------------------------


@dataclass(frozen=True)
class HttpServer:
    url: str  # what the db holds
    root: Path
    endpoint: str  # always http://127.0.0.1:PORT/mcp
    port: int
    log: Path


@pytest.fixture(scope="module")
def corpus_db(database_factories: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """One indexed corpus for the HTTP servers (the transport does not depend on the backend)."""
    factory = database_factories["embedded"]
    url = factory.create()
    root = write_corpus(tmp_path_factory.mktemp("http-corpus"))
    index(url, root)
    yield url, root
    factory.drop(url)


def started(corpus: tuple[str, Path], options: list[str], env: dict[str, str], log: Path) -> Iterator[HttpServer]:
    """`coderows serve --no-watch --http OPTIONS ROOT`, its stderr in `log`."""
    url, root = corpus
    host = options[options.index("--host") + 1] if "--host" in options else "127.0.0.1"
    port = free_port(host)
    command = [CODEROWS, "serve", "--database-url", url, "--no-watch", "--http", "--port", str(port), *options]
    # COLUMNS: one log record per line, so that no token could hide split by wrapping.
    with open(log, "w") as stderr:
        process = subprocess.Popen(
            [*command, str(root)], env={**env, "COLUMNS": "500"}, stdout=subprocess.DEVNULL, stderr=stderr
        )
    try:
        wait_for_port(process, port)
        yield HttpServer(url, root, f"http://127.0.0.1:{port}/mcp", port, log)
    finally:
        process.terminate()
        process.wait(10)


@pytest.fixture(scope="module")
def open_server(corpus_db: tuple[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[HttpServer]:
    """Bound to 0.0.0.0 with the token from CODEROWS_TOKEN."""
    log = tmp_path_factory.mktemp("open-server") / "stderr.log"
    yield from started(corpus_db, ["--host", "0.0.0.0"], server_env(CODEROWS_TOKEN=TOKEN), log)


@pytest.fixture(scope="module")
def loopback_server(corpus_db: tuple[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[HttpServer]:
    """Bound to 127.0.0.1 (the default), with a token all the same (--token)."""
    log = tmp_path_factory.mktemp("loopback-server") / "stderr.log"
    yield from started(corpus_db, ["--token", TOKEN], server_env(), log)


def post(server: HttpServer, body: dict[str, Any], **headers: str) -> httpx2.Response:
    return httpx2.post(server.endpoint, json=body, headers={**ACCEPT, **headers}, timeout=30)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_a_request_without_a_token_gets_401_and_a_short_body(open_server: HttpServer) -> None:
    response = post(open_server, INITIALIZE)
    assert (response.status_code, response.text) == (401, UNAUTHORIZED)
    assert response.headers["www-authenticate"] == 'Bearer realm="coderows"'


def test_a_request_with_a_wrong_token_gets_401(open_server: HttpServer) -> None:
    response = post(open_server, INITIALIZE, **bearer(TOKEN[:-1] + "X"))
    assert (response.status_code, response.text) == (401, UNAUTHORIZED)


def test_the_token_under_another_scheme_gets_401(open_server: HttpServer) -> None:
    response = post(open_server, INITIALIZE, Authorization=f"Basic {TOKEN}")
    assert (response.status_code, response.text) == (401, UNAUTHORIZED)


def test_a_request_with_the_token_is_answered(open_server: HttpServer) -> None:
    response = post(open_server, INITIALIZE, **bearer(TOKEN))
    assert response.status_code == 200
    assert response.headers["mcp-session-id"]


def test_an_mcp_client_sending_the_token_gets_answers(open_server: HttpServer) -> None:
    async def session() -> Answer:
        async with httpx2.AsyncClient(headers=bearer(TOKEN), timeout=30) as http:
            async with Client(streamable_http_client(open_server.endpoint, http_client=http)) as client:
                return await call(client, "get_symbol", name="shop.models.Order.save", include_body=False)

    assert run(session).text.splitlines()[0] == ORDER_SAVE_HEADER


def test_a_refused_request_runs_no_tool(open_server: HttpServer) -> None:
    # get_symbol re-indexes an edited file before answering (--no-watch: nothing else
    # does), so the rows show whether a tool ran.
    billing = open_server.root / "shop" / "billing.py"
    billing.write_text(billing.read_text().replace("return invoice\n", "return invoice  # edited\n", 1))
    opened = post(open_server, INITIALIZE, **bearer(TOKEN))
    session = {"mcp-session-id": opened.headers["mcp-session-id"], "mcp-protocol-version": "2025-06-18"}
    post(open_server, {"jsonrpc": "2.0", "method": "notifications/initialized"}, **session, **bearer(TOKEN))
    call_tool = {
        "jsonrpc": "2.0",
        "id": 2,
        "method": "tools/call",
        "params": {"name": "get_symbol", "arguments": {"name": "shop.billing.save"}},
    }

    refused = post(open_server, call_tool, **session)
    assert (refused.status_code, refused.text) == (401, UNAUTHORIZED)
    assert "# edited" not in indexed_body(open_server.url, "shop.billing.save")

    answered = post(open_server, call_tool, **session, **bearer(TOKEN))
    assert answered.status_code == 200
    assert "\\n    return invoice  # edited" in answered.text  # JSON-escaped
    assert "# edited" in indexed_body(open_server.url, "shop.billing.save")


def indexed_body(url: str, full_name: str) -> str:
    with connect(url, autocommit=True) as conn:
        row = conn.execute("SELECT body FROM symbols WHERE full_name = %s", [full_name]).fetchone()
    return row[0]


def test_on_a_non_loopback_address_the_host_header_is_not_checked(open_server: HttpServer) -> None:
    # The names a team reaches the server by are unknown here; the token stops rebinding.
    response = post(open_server, INITIALIZE, Host=f"team-box.example:{open_server.port}", **bearer(TOKEN))
    assert response.status_code == 200


def test_the_token_is_never_logged(open_server: HttpServer) -> None:
    wrong = "wrong-" + TOKEN
    assert post(open_server, INITIALIZE, **bearer(wrong)).status_code == 401
    assert post(open_server, INITIALIZE, **bearer(TOKEN)).status_code == 200
    log = open_server.log.read_text()
    assert "refused a request from 127.0.0.1: missing or wrong access token" in log
    squeezed = re.sub(r"\s+", "", log)
    assert TOKEN not in squeezed and wrong not in squeezed


def test_on_loopback_a_given_token_is_enforced_too(loopback_server: HttpServer) -> None:
    assert post(loopback_server, INITIALIZE).status_code == 401
    assert post(loopback_server, INITIALIZE, **bearer(TOKEN)).status_code == 200


def test_on_loopback_a_foreign_host_header_is_refused(loopback_server: HttpServer) -> None:
    # DNS-rebinding protection: a page on evil.example resolved to 127.0.0.1.
    response = post(loopback_server, INITIALIZE, Host=f"evil.example:{loopback_server.port}", **bearer(TOKEN))
    assert (response.status_code, response.text) == (421, "Invalid Host header")


# --- paths: no text from outside the indexed roots -----------------------------------

SECRET = 'def stolen():\n    return "TOP SECRET"\n'
VAT = "def vat(amount):\n    return amount * 0.2\n"


@dataclass(frozen=True)
class Fenced:
    url: str
    root: Path
    outside: Path  # a folder next to the root, never indexed, holding secret.py


@pytest.fixture
def fenced(db_url: str, tmp_path: Path) -> Fenced:
    """A root holding pkg/tax.py and two links out of it (to a file and to a folder)."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.py").write_text(SECRET)
    root = tmp_path / "root"
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "tax.py").write_text(VAT)
    (root / "leak.py").symlink_to(outside / "secret.py")
    (root / "leakdir").symlink_to(outside, target_is_directory=True)
    index(db_url, root.resolve())
    return Fenced(db_url, root.resolve(), outside.resolve())


def ask(fenced: Fenced, tool: str, **arguments: Any) -> Answer:
    """One call through an MCP client, to a server serving the root without a watcher
    (so that only the tools themselves can read files)."""
    tools = Tools(fenced.url, [fenced.root], watch=False)

    async def session() -> Answer:
        async with Client(build_server(tools)) as client:
            return await call(client, tool, **arguments)

    try:
        return run(session)
    finally:
        tools.close()


def indexed_paths(url: str) -> list[str]:
    with connect(url, autocommit=True) as conn:
        return [row[0] for row in conn.execute("SELECT path FROM coderows.modules ORDER BY path").fetchall()]


def not_found(tool: str, name: str) -> Answer:
    text = (
        f"No definition matches {name!r} and no name is similar. search_code({name!r}) looks inside "
        "bodies and docstrings; index_status shows what is indexed."
    )
    if tool == "find_symbol":  # an empty list, not a failure
        return Answer(text, False)
    return Answer(f"Error executing tool {tool}: {text}", True)


def no_definition_at(path: str, line: int) -> Answer:
    return Answer(
        f"Error executing tool get_symbol: No definition spans line {line} of {path} (module-level code, or no "
        f"such indexed file). get_outline({path!r}) lists the file's definitions.",
        True,
    )


def test_links_out_of_the_root_are_not_indexed(fenced: Fenced) -> None:
    assert indexed_paths(fenced.url) == ["pkg/tax.py"]


def test_a_definition_behind_a_link_out_of_the_root_is_not_found(fenced: Fenced) -> None:
    assert ask(fenced, "find_symbol", query="stolen") == not_found("find_symbol", "stolen")


def test_search_code_finds_no_text_behind_a_link_out_of_the_root(fenced: Fenced) -> None:
    assert ask(fenced, "search_code", query="TOP SECRET") == Answer(
        "Nothing matches 'TOP SECRET' in any definition's name, docstring or code (case-insensitive).", False
    )


def test_get_symbol_at_a_line_of_a_file_outside_every_root_is_not_found(fenced: Fenced) -> None:
    path = f"{fenced.outside}/secret.py"
    assert ask(fenced, "get_symbol", name=f"{path}:1") == no_definition_at(path, 1)


@pytest.mark.parametrize("path", ["../outside/secret.py", "pkg/../../outside/secret.py", "leak.py", "leakdir/secret.py"])
def test_get_symbol_at_a_path_leading_out_of_the_root_is_not_found(fenced: Fenced, path: str) -> None:
    assert ask(fenced, "get_symbol", name=f"{path}:1") == no_definition_at(path, 1)


def test_get_symbol_of_a_system_file_is_not_found(fenced: Fenced) -> None:
    assert ask(fenced, "get_symbol", name="../../etc/passwd:1") == not_found("get_symbol", "../../etc/passwd:1")


@pytest.mark.parametrize("where", ["absolute", "../outside/secret.py", "leak.py"])
def test_get_outline_of_a_file_outside_the_root_is_not_found(fenced: Fenced, where: str) -> None:
    target = f"{fenced.outside}/secret.py" if where == "absolute" else where
    assert ask(fenced, "get_outline", target=target) == not_found("get_outline", target)


def test_a_file_replaced_by_a_link_out_of_the_root_loses_its_rows_unread(fenced: Fenced) -> None:
    tax = fenced.root / "pkg" / "tax.py"
    tax.unlink()
    tax.symlink_to(fenced.outside / "secret.py")
    assert ask(fenced, "get_outline", target="pkg/tax.py") == not_found("get_outline", "pkg/tax.py")
    assert indexed_paths(fenced.url) == []


def test_a_folder_replaced_by_a_link_out_of_the_root_loses_its_rows_unread(fenced: Fenced) -> None:
    (fenced.outside / "tax.py").write_text(SECRET)
    (fenced.root / "pkg" / "tax.py").unlink()
    (fenced.root / "pkg").rmdir()
    (fenced.root / "pkg").symlink_to(fenced.outside, target_is_directory=True)
    assert ask(fenced, "get_outline", target="pkg/tax.py") == not_found("get_outline", "pkg/tax.py")
    assert indexed_paths(fenced.url) == []


def test_run_sql_cannot_read_the_database_servers_files(fenced: Fenced) -> None:
    answer = ask(fenced, "run_sql", query="SELECT pg_read_file('postgresql.conf')")
    assert answer == Answer(
        "Error executing tool run_sql: PostgreSQL: permission denied for function pg_read_file", True
    )


# --- loopback names (issue 13, item 9) -----------------------------------------------


@pytest.fixture(scope="module")
def tokenless_loopback_server(corpus_db: tuple[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[HttpServer]:
    """Bound to 127.0.0.1 without a token: only the Host/Origin check guards it."""
    log = tmp_path_factory.mktemp("tokenless-server") / "stderr.log"
    yield from started(corpus_db, [], server_env(), log)


@pytest.mark.parametrize(
    "host",
    ["127.0.0.1", "127.0.0.1:80", "localhost", "LOCALHOST:{port}", "LocalHost", "[::1]", "[::1]:{port}", "localhost.:{port}"],
)
def test_on_loopback_every_spelling_of_a_loopback_host_is_served(tokenless_loopback_server: HttpServer, host: str) -> None:
    # `serve --port 80` clients send no port (the SDK's list wanted one); names are case-insensitive.
    response = post(tokenless_loopback_server, INITIALIZE, Host=host.format(port=tokenless_loopback_server.port))
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("origin", ["http://localhost", "http://LOCALHOST:6274", "https://127.0.0.1", "http://[::1]:3000"])
def test_on_loopback_a_page_on_a_loopback_origin_is_served(tokenless_loopback_server: HttpServer, origin: str) -> None:
    response = post(tokenless_loopback_server, INITIALIZE, Origin=origin)
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    "host", ["evil.example", "evil.example:80", "127.0.0.1.evil.example", "localhost.evil.example:8000", "127.0.0.1:99999"]
)
def test_on_loopback_a_host_that_is_not_a_loopback_name_gets_421(tokenless_loopback_server: HttpServer, host: str) -> None:
    response = post(tokenless_loopback_server, INITIALIZE, Host=host)
    assert (response.status_code, response.text) == (421, "Invalid Host header")


@pytest.mark.parametrize("origin", ["http://evil.example", "null", "http://localhost.evil.example", "file://"])
def test_on_loopback_a_page_elsewhere_gets_403(tokenless_loopback_server: HttpServer, origin: str) -> None:
    response = post(tokenless_loopback_server, INITIALIZE, Origin=origin)
    assert (response.status_code, response.text) == (403, "Invalid Origin header")


def test_a_server_bound_to_port_80_accepts_the_host_header_clients_send_it() -> None:
    # Clients of http://127.0.0.1/mcp (port 80 is the default) send `Host: 127.0.0.1`.
    from coderows.server.http import host_allowed, origin_allowed

    assert [host_allowed(h) for h in ["127.0.0.1", "localhost", "[::1]", "127.0.0.1:80", "LOCALHOST"]] == [True] * 5
    assert [origin_allowed(o) for o in ["http://127.0.0.1", "http://localhost", "http://[::1]"]] == [True] * 3
