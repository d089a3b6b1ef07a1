"""Concurrency: two `coderows index` loops, a Watcher and `coderows serve --http` with
eight MCP clients, all at once on one repository for a minute while a writer edits,
creates, renames and deletes files. No client sees an error, no call hangs, no process
dies, and once the writer stops the index converges to exactly a clean index of the final
tree.

CODEROWS_CONCURRENCY_SECONDS shortens (or lengthens) the minute for local runs. The test
runs on one backend: the machine's PostgreSQL when CODEROWS_TEST_DATABASE_URL is set (a
real TCP server, as a team would run it), else the embedded one.
"""

from __future__ import annotations

import os
import random
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import anyio
import pytest
from mcp import Client

from coderows.db.connection import connect
from coderows.indexer.pipeline import index_repository
from coderows.indexer.watch import Watcher
from server_fixtures import BACKENDS, CODEROWS, call, http_server, run, write_corpus
from test_index import dump
from test_server_transports import ORDER_SAVE, wait_until_indexed

SECONDS = float(os.environ.get("CODEROWS_CONCURRENCY_SECONDS", "60"))
CLIENTS = 8
CALL_TIMEOUT = 30.0  # a call slower than this is taken for a deadlock
CONVERGE_SECONDS = 60.0
SEED = 5

# What the clients ask, in turn: answers about files nobody edits must stay exact while
# everything around them changes; the others read the churning files.
STABLE_CALLS: list[tuple[str, dict[str, object], str | None]] = [
    ("get_symbol", {"name": "shop.models.Order.save"}, ORDER_SAVE),
    ("find_symbol", {"query": "Order.save"}, None),
    ("get_outline", {"target": "shop/billing.py"}, None),
    ("find_symbol", {"query": "churn_*"}, None),
    ("search_code", {"query": "churned"}, None),
    ("run_sql", {"query": "SELECT count(*) FROM symbols WHERE module LIKE 'work.%'"}, None),
    ("get_outline", {"target": "json.decoder"}, None),
    ("index_status", {}, None),
]


@pytest.fixture
def database(database_factories: dict) -> Iterator[tuple[str, str]]:
    """Two fresh databases on one backend: the one under test, and one for a clean index."""
    factory = database_factories[BACKENDS[-1]]
    urls = factory.create(), factory.create()
    yield urls
    for url in urls:
        factory.drop(url)


@dataclass
class Writer:
    """Edits, creates, renames and deletes files under root/work until stopped."""

    root: Path
    rng: random.Random = field(default_factory=lambda: random.Random(SEED))
    stop: threading.Event = field(default_factory=threading.Event)
    changes: int = 0

    def run(self) -> None:
        work = self.root / "work"
        work.mkdir(exist_ok=True)
        while not self.stop.is_set():
            self.change(work)
            self.changes += 1
            self.stop.wait(self.rng.uniform(0.0, 0.05))

    def change(self, work: Path) -> None:
        files = sorted(work.glob("*.py"))
        action = self.rng.choice(["create", "create", "edit", "edit", "atomic", "rename", "delete"]) if files else "create"
        n = self.changes
        if action == "create":
            (work / f"m{n}.py").write_text(source(n))
        elif action == "edit":
            path = self.rng.choice(files)
            with path.open("a") as handle:
                handle.write(f"\n\ndef churn_{n}_appended():\n    return 'churned {n}'\n")
        elif action == "atomic":
            path = self.rng.choice(files)
            temporary = path.with_name(f".{path.name}.tmp")
            temporary.write_text(source(n))
            os.replace(temporary, path)
        elif action == "rename":
            path = self.rng.choice(files)
            path.rename(work / f"r{n}.py")
        else:
            self.rng.choice(files).unlink()


def source(n: int) -> str:
    return f'"""Version {n}."""\n\n\nclass Churn{n}:\n    def churn_{n}(self):\n        return "churned {n}"\n'


@dataclass
class IndexLoop:
    """`coderows index` run again and again until stopped; every failure is kept."""

    url: str
    root: Path
    stop: threading.Event
    runs: int = 0
    failures: list[str] = field(default_factory=list)

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                done = subprocess.run(
                    [CODEROWS, "index", "--database-url", self.url, "--jobs", "1", str(self.root)],
                    capture_output=True,
                    text=True,
                    timeout=60,
                )
            except subprocess.TimeoutExpired:
                self.failures.append("coderows index ran for more than 60 s")
                continue
            self.runs += 1
            if done.returncode != 0:
                self.failures.append(f"exit {done.returncode}: {done.stderr.strip()[-500:]}")


@pytest.mark.slow
def test_indexers_watcher_and_eight_http_clients_at_once_see_no_errors_and_converge(
    database: tuple[str, str], tmp_path: Path
) -> None:
    url, clean_url = database
    root = write_corpus(tmp_path / "corpus")
    stop = threading.Event()
    writer = Writer(root, stop=stop)
    loops = [IndexLoop(url, root, stop) for _ in range(2)]
    errors: list[str] = []
    calls = [0] * CLIENTS

    async def client(number: int, endpoint: str, until: float) -> None:
        async with Client(endpoint) as session:
            turn = number
            while time.monotonic() < until:
                tool, arguments, expected = STABLE_CALLS[turn % len(STABLE_CALLS)]
                turn += 1
                try:
                    with anyio.fail_after(CALL_TIMEOUT):
                        answer = await call(session, tool, **arguments)
                except TimeoutError:
                    errors.append(f"client {number}: {tool} did not answer within {CALL_TIMEOUT:.0f} s")
                    continue
                calls[number] += 1
                if answer.is_error or (expected is not None and answer.text != expected):
                    errors.append(f"client {number}: {tool}({arguments}): {answer.text[:500]}")

    async def clients(endpoint: str) -> None:
        async with Client(endpoint) as first:
            await wait_until_indexed(first)
        until = time.monotonic() + SECONDS
        async with anyio.create_task_group() as group:
            for number in range(CLIENTS):
                group.start_soon(client, number, endpoint, until)

    with Watcher(url, [root]) as watcher, http_server(url, root, stderr=tmp_path / "serve.log") as (server, endpoint):
        assert watcher.wait_ready(60)
        threads = [threading.Thread(target=writer.run), *(threading.Thread(target=loop.run) for loop in loops)]
        for thread in threads:
            thread.start()
        try:
            run(clients, endpoint)
        finally:
            stop.set()
            for thread in threads:
                thread.join(90)
        assert errors == []
        assert min(calls) >= 10, calls  # every client kept calling all along
        assert [loop.failures for loop in loops] == [[], []]
        assert all(loop.runs >= 2 for loop in loops), [loop.runs for loop in loops]
        assert writer.changes >= 100, writer.changes
        assert server.poll() is None, "the server died"
        assert watcher._thread is not None and watcher._thread.is_alive(), "the watcher's worker died"

        with connect(clean_url, autocommit=True) as clean:
            index_repository(clean, root)
            expected = dump(clean)
        with connect(url, autocommit=True) as conn:
            deadline = time.monotonic() + CONVERGE_SECONDS
            while (actual := dump(conn)) != expected:
                assert time.monotonic() < deadline, "the index did not converge to a clean index of the final tree"
                time.sleep(0.1)
    assert actual == expected
