"""What `coderows serve` says when it starts: where it listens and what it answers from,
on stderr (over stdio, stdout is the MCP channel and stays clean)."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import pytest

from server_fixtures import serve_command, server_env, wait_for_port

SCOPE_TAIL = "(a tool's repo='*' reaches every repository in the database)"


@pytest.fixture
def roots(tmp_path: Path) -> list[Path]:
    folders = []
    for name in ("shop", "tools"):
        folder = tmp_path / name
        folder.mkdir()
        (folder / "mod.py").write_text("def f():\n    return 1\n")
        folders.append(folder.resolve())
    return folders


def listening_socket() -> socket.socket:
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    return taken


def test_http_server_prints_its_url_and_scope_once_it_listens(db_url: str, roots: list[Path], tmp_path: Path) -> None:
    with listening_socket() as probe:  # a port free a moment ago, then released for the server
        port = probe.getsockname()[1]
    log = tmp_path / "serve.log"
    with open(log, "wb") as stderr:
        server = subprocess.Popen(
            [*serve_command(db_url, *roots), "--http", "--port", str(port)],
            stdout=subprocess.DEVNULL, stderr=stderr, env=server_env(),
        )
    try:
        wait_for_port(server, port, timeout=120)
        assert log.read_text().splitlines()[0] == (
            f"coderows: serving MCP over streamable HTTP at http://127.0.0.1:{port}/mcp; "
            f"scope: the repositories at {roots[0]}, {roots[1]} {SCOPE_TAIL}"
        )
    finally:
        server.terminate()
        server.wait(30)


def test_http_server_on_a_taken_port_fails_with_one_line(db_url: str, roots: list[Path]) -> None:
    with listening_socket() as taken:
        port = taken.getsockname()[1]
        done = subprocess.run(
            [*serve_command(db_url, roots[0]), "--http", "--port", str(port)],
            capture_output=True, text=True, env=server_env(), check=False, timeout=120,
        )
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == (
        f"coderows: cannot listen on 127.0.0.1:{port}: Address already in use; choose another --port or --host\n"
    )


def test_stdio_server_prints_its_scope_on_stderr_and_nothing_on_stdout(db_url: str, roots: list[Path]) -> None:
    # The line comes before the server reads its input, so an empty input (the server then
    # stops) still gets it.
    done = subprocess.run(serve_command(db_url, roots[0]), input="", capture_output=True, text=True, env=server_env(), check=False, timeout=120)
    assert done.stdout == ""
    assert done.stderr.splitlines()[0] == f"coderows: serving MCP over stdio; scope: the repositories at {roots[0]} {SCOPE_TAIL}"
