"""Every process coderows starts ends with it, whatever signal ends it.

`serve`, `watch` and `index` are started as a user's shell or an MCP client starts them,
in a session of their own, on a copy of the standard library (big enough that indexing
is still running when the signal arrives), killed once their parser workers exist, and
then no process of theirs may be left: not a worker, not multiprocessing's helpers.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from shell_signals import default_signals

pytestmark = pytest.mark.slow

CODEROWS = str(Path(sys.executable).with_name("coderows"))
WORKERS_APPEAR_SECONDS = 120  # a loaded 2-core machine: imports and the walk come first
# Stopping is quick (a few seconds); the margin is for a loaded 2-core CI machine, where
# serve-SIGHUP once took over 30 s at load ~10 (the cause was not found).
ALL_GONE_SECONDS = 90
COMMANDS = {
    "serve": ["serve"],  # stdio: its stdin stays open (a pipe), as an MCP client keeps it
    "watch": ["watch"],
    "index": ["index", "--jobs", "2"],
}


@dataclass(frozen=True)
class Proc:
    pid: int
    started: int  # clock ticks after boot: tells a process from a later one given its pid
    ppid: int
    session: int
    state: str
    cmdline: str
    exe: str


def read_proc(pid: int) -> Proc | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return None
    try:
        exe = os.readlink(f"/proc/{pid}/exe")
    except OSError:
        exe = ""
    fields = stat.rsplit(")", 1)[1].split()  # after "(comm)", which may hold spaces
    return Proc(pid, int(fields[19]), int(fields[1]), int(fields[3]), fields[0], cmdline, exe)


def all_procs() -> list[Proc]:
    found = (read_proc(int(name)) for name in os.listdir("/proc") if name.isdigit())
    return [proc for proc in found if proc is not None]


def descendants(pid: int) -> list[Proc]:
    procs = all_procs()
    found: list[Proc] = []
    parents = {pid}
    while True:
        new = [proc for proc in procs if proc.ppid in parents and proc not in found]
        if not new:
            return found
        found += new
        parents = {proc.pid for proc in new}


def is_postgres(proc: Proc) -> bool:
    """The database server's own processes are not coderows's to end (the embedded one
    keeps running between commands by design)."""
    return Path(proc.exe).name.startswith("postgres")


def workers(procs: list[Proc]) -> list[Proc]:
    return [proc for proc in procs if not is_postgres(proc) and "resource_tracker" not in proc.cmdline]


def left_behind(main: int, seen: set[tuple[int, int]], corpus: Path) -> list[Proc]:
    """Live processes of the run: seen in its tree before the signal, or in its session,
    or naming its corpus; zombies are already dead."""
    return [
        proc
        for proc in all_procs()
        if proc.state != "Z"
        and not is_postgres(proc)
        and ((proc.pid, proc.started) in seen or proc.session == main or str(corpus) in proc.cmdline)
    ]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The standard library's Python files: indexing them takes seconds."""
    target = tmp_path_factory.mktemp("signals") / "stdlib"
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    shutil.copytree(stdlib, target, ignore=shutil.ignore_patterns("site-packages", "__pycache__", "*.pyc", "*.so"))
    return target


def start(command: str, corpus: Path, db_url: str) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if k != "CODEROWS_DATA_DIR"}
    env["CODEROWS_DATABASE_URL"] = db_url
    with default_signals():  # as a shell or an MCP client starts it, however this run started
        return subprocess.Popen(
            [CODEROWS, *COMMANDS[command], str(corpus)],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
            start_new_session=True,  # its own session: every process it starts is recognisable
        )


def wait_for_workers(process: subprocess.Popen[bytes], seen: set[tuple[int, int]]) -> list[Proc]:
    """Its descendants once two parser workers are running (all recorded in `seen`)."""
    deadline = time.monotonic() + WORKERS_APPEAR_SECONDS
    while time.monotonic() < deadline:
        assert process.poll() is None, f"exited with {process.returncode} before its workers started"
        tree = descendants(process.pid)
        seen |= {(proc.pid, proc.started) for proc in tree}
        if len(workers(tree)) >= 2:
            return tree
        time.sleep(0.05)
    raise AssertionError(f"no parser workers within {WORKERS_APPEAR_SECONDS} s")


def wait_until_gone(main: int, seen: set[tuple[int, int]], corpus: Path) -> list[Proc]:
    deadline = time.monotonic() + ALL_GONE_SECONDS
    while True:
        left = left_behind(main, seen, corpus)
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.2)


@pytest.mark.parametrize("db_url", ["embedded"], indirect=True)  # processes, not the backend, are under test
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGKILL], ids=lambda s: s.name)
@pytest.mark.parametrize("command", list(COMMANDS))
def test_no_process_outlives_a_command_stopped_by_a_signal_mid_index(
    command: str, sig: signal.Signals, corpus: Path, db_url: str
) -> None:
    process = start(command, corpus, db_url)
    seen: set[tuple[int, int]] = set()
    try:
        tree = wait_for_workers(process, seen)
        assert process.poll() is None  # still indexing when the signal arrives
        os.kill(process.pid, sig)
        process.wait(ALL_GONE_SECONDS)
        left = wait_until_gone(process.pid, seen, corpus)
    finally:
        for proc in left_behind(process.pid, seen, corpus):  # do not leave them to the next test
            os.kill(proc.pid, signal.SIGKILL)
        if process.poll() is None:
            process.kill()
            process.wait()
    assert [proc.cmdline for proc in left] == [], f"tree before the signal: {[p.cmdline[:80] for p in tree]}"
