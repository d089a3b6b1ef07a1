"""Crashes: `coderows index` killed with SIGKILL at seeded-random moments, over and over,
with files edited between the trials. After every kill the database is consistent (no
row of a file without its module, no dangling parent) and the next run brings it to
exactly what a clean index of the same tree holds.

The corpus is a copy of a few standard-library packages (~100 files, 1.6 MB), large
enough that an index run lasts long enough for the kills to land while it writes.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import sysconfig
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from coderows.db.connection import connect
from coderows.indexer.pipeline import index_repository
from test_index import dump

STDLIB = Path(sysconfig.get_paths()["stdlib"])
PACKAGES = ["email", "xml", "importlib", "asyncio", "http", "json"]
TRIALS = 20
SEED = 20261122

# Consistency that must hold whenever no transaction is open, whatever was killed when.
ORPHANS = {
    "definitions without their module": "SELECT count(*) FROM definitions d WHERE NOT EXISTS (SELECT FROM modules m WHERE m.id = d.module_id)",
    "definitions with a dangling parent": (
        "SELECT count(*) FROM definitions d WHERE d.parent_id IS NOT NULL"
        " AND NOT EXISTS (SELECT FROM definitions p WHERE p.id = d.parent_id AND p.module_id = d.module_id)"
    ),
    "imports without their module": "SELECT count(*) FROM imports i WHERE NOT EXISTS (SELECT FROM modules m WHERE m.id = i.module_id)",
    "name uses without their module": "SELECT count(*) FROM name_uses u WHERE NOT EXISTS (SELECT FROM modules m WHERE m.id = u.module_id)",
    "definitions whose path or module differs from their module's": (
        "SELECT count(*) FROM definitions d JOIN modules m ON m.id = d.module_id WHERE d.path <> m.path OR d.module <> m.name"
    ),
    "bodies outside their module's source": (
        "SELECT count(*) FROM definitions d JOIN modules m ON m.id = d.module_id"
        " WHERE d.body_start < 1 OR d.body_start + d.body_length - 1 > length(m.source)"
    ),
}


def orphans(conn: psycopg.Connection) -> dict[str, int]:
    return {what: conn.execute(query).fetchone()[0] for what, query in ORPHANS.items()}


def copy_corpus(root: Path) -> Path:
    for package in PACKAGES:
        shutil.copytree(STDLIB / package, root / package, ignore=shutil.ignore_patterns("test", "tests", "__pycache__"))
    return root.resolve()


def index_command(url: str, root: Path, *options: str) -> list[str]:
    return [str(Path(sys.executable).with_name("coderows")), "index", "--database-url", url, *options, str(root)]


def edit_tree(root: Path, rng: random.Random, trial: int) -> None:
    """A handful of what developers do between two index runs: edit, break, delete,
    create and rename files (each trial differently, the same on every run)."""
    files = sorted(root.rglob("*.py"))
    for path in rng.sample(files, 6):
        action = rng.choice(["append", "truncate", "break", "delete", "rename", "touch"])
        if action == "append":
            with path.open("a") as handle:
                handle.write(f"\n\nclass Added{trial}:\n    def method_{trial}(self):\n        return {trial}\n")
        elif action == "truncate":
            lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
            path.write_text("".join(lines[: len(lines) // 2]), encoding="utf-8")
        elif action == "break":
            path.write_text(path.read_text(encoding="utf-8") + f"\ndef broken_{trial}(:\n    pass\n", encoding="utf-8")
        elif action == "delete":
            path.unlink()
        elif action == "rename":
            path.rename(path.with_name(f"renamed_{trial}_{path.name}"))
        else:
            os.utime(path, ns=(time.time_ns(), time.time_ns()))
    (root / "email" / f"new_{trial}.py").write_text(f'"""Trial {trial}."""\n\n\ndef made_in_trial_{trial}():\n    pass\n')


@dataclass
class Trial:
    delay: float
    options: tuple[str, ...]
    mid_write: bool  # the killed run had committed some of its batches, not all


def reset(conn: psycopg.Connection) -> None:
    conn.execute(
        "TRUNCATE repos, files, contents, content_definitions, content_imports, content_uses, answers,"
        " repo_answers, unresolved_modules"
    )


def max_module_id(conn: psycopg.Connection) -> int:
    return conn.execute("SELECT coalesce(max(id), 0) FROM modules").fetchone()[0]


def rewritten_since(conn: psycopg.Connection, last_id: int) -> int:
    """Files whose rows were replaced since `last_id` was the newest module id."""
    return conn.execute("SELECT count(*) FROM modules WHERE id > %s", [last_id]).fetchone()[0]


@pytest.mark.slow
def test_sigkill_at_random_moments_never_leaves_an_inconsistent_index(
    db_url: str, database_factories: dict, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    root = copy_corpus(tmp_path / "corpus")
    clean_url = database_factories[request.node.callspec.params["db_url"]].create()
    rng = random.Random(SEED)
    trials: list[Trial] = []
    killed: list[int] = []
    with connect(db_url, autocommit=True) as conn, connect(clean_url, autocommit=True) as clean:
        started = time.monotonic()
        subprocess.run(index_command(db_url, root, "--jobs", "1"), check=True, capture_output=True, timeout=120)
        run_seconds = time.monotonic() - started  # a full run here, process start included
        for trial in range(TRIALS):
            edit_tree(root, rng, trial)
            # Mostly full runs, which replace every file's rows: the widest target. Workers
            # in-process (--jobs 1, writes spread over the run) and in a pool (--jobs 2).
            options = ("--jobs", str(1 + trial // 2 % 2), *(["--full"] if trial % 5 != 4 else []))
            last_id = max_module_id(conn)
            child = subprocess.Popen(
                index_command(db_url, root, *options), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
            )
            if trial % 2 == 0:  # any moment of the run, start-up included
                delay = rng.uniform(0.2, 1.0) * run_seconds
                time.sleep(delay)  # the random moment itself: there is nothing to poll for
            else:  # a moment just after its first batch was committed: mid-way for sure
                delay = rng.uniform(0.0, 0.1)
                deadline = time.monotonic() + 60
                while rewritten_since(conn, last_id) == 0 and child.poll() is None:
                    assert time.monotonic() < deadline, "the run wrote nothing within 60 s"
                    time.sleep(0.005)
                time.sleep(delay)
            child.send_signal(signal.SIGKILL)
            child.wait(30)
            killed.append(child.pid)
            assert orphans(conn) == dict.fromkeys(ORPHANS, 0), f"trial {trial}: killed {options} after {delay:.2f} s"
            rewritten = rewritten_since(conn, last_id)
            after_kill = dump(conn)

            reset(clean)
            index_repository(clean, root, jobs=2)
            expected = dump(clean)
            trials.append(Trial(delay, options, rewritten > 0 and after_kill != expected))

            index_repository(conn, root, jobs=2)  # the next run
            assert dump(conn) == expected, f"trial {trial}: the run after a kill at {delay:.2f} s differs from a clean index"
            assert orphans(conn) == dict.fromkeys(ORPHANS, 0)
    # Enough kills must have hit a run while it was writing, or the test proves little.
    assert sum(t.mid_write for t in trials) >= TRIALS // 4, trials
    for pid in killed:
        assert_workers_exit(pid)


def assert_workers_exit(pid: int, deadline: float = 10.0) -> None:
    """The indexer's worker processes (its session) do not outlive it for long."""
    end = time.monotonic() + deadline
    while True:
        try:
            os.killpg(pid, 0)
        except ProcessLookupError:
            return
        if time.monotonic() > end:
            os.killpg(pid, signal.SIGKILL)
            pytest.fail(f"worker processes of the killed indexer {pid} were still running {deadline:.0f} s later")
        time.sleep(0.05)
