"""Fixtures and helpers for the MCP server tests: a small corpus written for them, the
stdlib's json package as real code, databases indexed once per test module, and calls
through a real MCP client (in-process, stdio subprocess, or streamable HTTP)."""

from __future__ import annotations

import json as stdlib_json
import os
import shutil
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters

from coderows.db.connection import connect
from coderows.indexer.pipeline import index_repository

BACKENDS = ["embedded"] + (["external"] if os.environ.get("CODEROWS_TEST_DATABASE_URL") else [])

# 300 numbered statements: a function longer than one answer's byte budget.
LONG_BODY = "\n".join(
    f"    value_{i:03d} = {i}  # a line long enough to make the body weigh something" for i in range(300)
)

CORPUS: dict[str, str] = {
    "shop/__init__.py": '''\
        """A tiny shop: the test corpus of the coderows server."""
        from shop.models import Order
        ''',
    "shop/models.py": '''\
        """Orders and their lines."""
        import dataclasses


        class Base:
            """Common base of every model."""

            def save(self):
                """Store the object."""
                return True


        class Order(Base):
            """An order of a customer.

            Holds lines.
            """

            def __init__(self, customer: str) -> None:
                self.customer = customer
                self.lines = []

            @property
            def total(self) -> int:
                """Sum of the line amounts."""
                return sum(line.amount for line in self.lines)

            def save(self):
                """Store the order and its lines."""
                for line in self.lines:
                    line.save()
                return super().save()

            class Status:
                OPEN = "open"

                def label(self):
                    return self.OPEN.title()


        def make_order(customer):
            """Create an order for a customer."""

            def normalise(name):
                return name.strip()

            return Order(normalise(customer))
        ''',
    "shop/billing.py": '''\
        """Invoices."""


        def save(invoice):
            """Write an invoice to disk."""
            return invoice


        async def send_invoice(invoice, *, retries: int = 3) -> bool:
            return True


        def long_function():
        ''',
}
CORPUS_TAILS = {"shop/billing.py": LONG_BODY + "\n"}


def write_corpus(root: Path) -> Path:
    """The shop package plus a copy of the stdlib's json package under `root`."""
    for relative, text in CORPUS.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text) + CORPUS_TAILS.get(relative, ""), encoding="utf-8")
    shutil.copytree(Path(stdlib_json.__file__).parent, root / "json", ignore=shutil.ignore_patterns("__pycache__"))
    return root.resolve()


@dataclass(frozen=True)
class Indexed:
    url: str
    root: Path


def index(url: str, root: Path) -> None:
    with connect(url, autocommit=True) as conn:
        index_repository(conn, root, jobs=1)


@pytest.fixture(scope="module", params=BACKENDS)
def indexed(
    request: pytest.FixtureRequest, database_factories: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Indexed]:
    """A database holding the corpus, shared by a module's read-only tests."""
    factory = database_factories[request.param]
    url = factory.create()
    root = write_corpus(tmp_path_factory.mktemp("corpus"))
    index(url, root)
    yield Indexed(url, root)
    factory.drop(url)


@pytest.fixture
def own_corpus(db_url: str, tmp_path: Path) -> Indexed:
    """A corpus and database of the test's own, for tests that edit files."""
    root = write_corpus(tmp_path / "corpus")
    index(db_url, root)
    return Indexed(db_url, root)


@dataclass(frozen=True)
class Answer:
    text: str
    is_error: bool


async def call(client: Client, tool: str, **arguments: Any) -> Answer:
    result = await client.call_tool(tool, arguments)
    texts = [block.text for block in result.content if getattr(block, "type", None) == "text"]
    return Answer("\n".join(texts), bool(result.is_error))


def ask(server: Any, tool: str, **arguments: Any) -> Answer:
    """One tool call through a real MCP client, in-process, on its own session."""

    async def session() -> Answer:
        async with Client(server) as client:
            return await call(client, tool, **arguments)

    return run(session)


# The console script installed next to this interpreter (the venv's bin folder).
CODEROWS = str(Path(sys.executable).with_name("coderows"))


def serve_command(url: str, *roots: Path, options: tuple[str, ...] = ()) -> list[str]:
    return [CODEROWS, "serve", "--database-url", url, *options, *map(str, roots)]


def stdio_server(url: str, *roots: Path, cwd: Path | None = None, options: tuple[str, ...] = ()) -> StdioServerParameters:
    """The server as an MCP client launches it: `coderows serve`, speaking over stdio."""
    command, *args = serve_command(url, *roots, options=options)
    return StdioServerParameters(
        command=command,
        args=args,
        cwd=str(cwd) if cwd else None,
        env={"PYTHONWARNINGS": "ignore"},
    )


def run(coroutine_function: Any, *args: Any) -> Any:
    """Run an async test body on asyncio (what MCP clients use)."""
    return anyio.run(coroutine_function, *args)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on at `host` right now."""
    import socket

    with socket.socket() as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def wait_for_port(process: Any, port: int, timeout: float = 30) -> None:
    """Until something accepts connections on 127.0.0.1:`port` (the only address tests
    ever send traffic to), failing if `process` exits first."""
    import socket
    import time

    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            assert process.poll() is None, "the HTTP server exited before listening"
            assert time.monotonic() < deadline, "the HTTP server did not start"
            time.sleep(0.1)


def server_env(**extra: str) -> dict[str, str]:
    """The test process's environment without CODEROWS_TOKEN, plus `extra`."""
    env = {name: value for name, value in os.environ.items() if name != "CODEROWS_TOKEN"}
    return {**env, "PYTHONWARNINGS": "ignore", **extra}


import contextlib  # noqa: E402  (appended with the helper that needs it)


@contextlib.contextmanager
def http_server(url: str, *roots: Path, options: tuple[str, ...] = (), stderr: Path | None = None) -> Iterator[tuple[Any, str]]:
    """`coderows serve --http` on a free loopback port, listening: (its process, its MCP
    endpoint). Stopped with SIGTERM on exit; `stderr` keeps its log for the test to read."""
    import subprocess

    port = free_port()
    with open(stderr or os.devnull, "wb") as log:
        process = subprocess.Popen(
            [*serve_command(url, *roots, options=options), "--http", "--port", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=log,
            env=server_env(),
        )
    try:
        wait_for_port(process, port)
        yield process, f"http://127.0.0.1:{port}/mcp"
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
