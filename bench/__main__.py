"""Run every coderows benchmark the same way and summarise them in one markdown page.

    python -m bench                          # all of them (run from the repository root)
    python -m bench --quick                  # fewer repeats and calls
    python -m bench --only index --only watch
    python -m bench --database-url postgresql://postgres@127.0.0.1:5432/postgres

Each script runs as its own process:

    python bench/<script>.py --json bench/results/<name>.json [--quick] [--database-url URL] [--root ...]

--quick and --database-url are passed to the scripts whose --help offers them. Every
script that takes a database gets one of its own, `coderows_bench_<name>`, created
empty on the server of --database-url (default: a throwaway embedded PostgreSQL under
/tmp for the whole run) and dropped afterwards. The corpora: this interpreter's standard
library and the Django 5.2.19 sdist, fetched once into /tmp/coderows-bench/sdists.
A script that is missing, fails or times out gets a line saying so and the run goes on.
The summary is printed and written to bench/results/summary.md, beside the JSON results.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from bench import RESULTS, TARGETS_TITLE, machine, markdown_table, sdist, stdlib

BENCH = Path(__file__).resolve().parent
REPOSITORY = BENCH.parent
DJANGO = ("django==5.2.19", "django-5.2.19")

# (name, script, what it measures); run in this order.
SCRIPTS = (
    ("index", "bench_index.py", "index speed against the tree-sitter parse floor and ctags, peak memory, "
     "`coderows --help` and no-op `coderows index` processes; issue 18's targets with PASS or the shortfall"),
    ("startup", "bench_startup.py", "Django from a fresh database: `coderows serve` to its first correct answer and "
     "to the complete index, the server's memory; issue 18's targets with PASS or the shortfall"),
    ("queries", "bench_queries.py", "find_symbol / get_symbol latency over stdio (stdlib + Django)"),
    ("search", "bench_search.py", "search_code latency on a seeded mix of rare to very common texts, in-process "
     "and over stdio (stdlib + Django); issue 16's p95 <= 50 ms with PASS or the shortfall"),
    ("context_bytes", "bench_context_bytes.py", "bytes an agent receives against grep + read (Django)"),
    ("watch", "bench_watch.py", "live index: from a write on disk to the change in SQL"),
    ("references", "bench_references.py", "find_references"),
    ("peers", "bench_peers.py", "coderows against other code-index tools"),
    ("scale", "bench_scale.py", "3M+ lines from several projects in one database"),
    ("rename", "bench_rename.py", "rename by symbol against rope on werkzeug and flask (needs pip install rope)"),
    ("worktrees", "bench_worktrees.py", "a second checkout (Django) with 10 files changed: time and database growth against the first"),
)
NAMES = [name for name, _, _ in SCRIPTS]


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", action="append", choices=NAMES, metavar="NAME",
                        help=f"run only this bench (repeatable): {', '.join(NAMES)}")
    parser.add_argument("--quick", action="store_true", help="fewer repeats and calls (passed to each script)")
    parser.add_argument("--database-url", help="a PostgreSQL server to create the benches' databases on "
                        "(the database named in the URL is only used to connect); default: a throwaway embedded server")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds each script may take (default 3600)")
    args = parser.parse_args()
    selected = args.only or NAMES
    RESULTS.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    sys.path.insert(0, str(BENCH))
    from bench_index import database

    outcomes: dict[str, str] = {}
    with database(args.database_url) as server_url:
        for name, script, _ in SCRIPTS:
            if name in selected:
                outcomes[name] = run_script(name, script, server_url, args)
    summary = summarise(selected, outcomes, args, time.perf_counter() - started)
    (RESULTS / "summary.md").write_text(summary)
    print(summary)
    print(f"written: {RESULTS / 'summary.md'} and the JSON files beside it", file=sys.stderr)


def run_script(name: str, script: str, server_url: str, args: argparse.Namespace) -> str:
    """Run one bench; returns a line on what happened."""
    path = BENCH / script
    result = RESULTS / f"{name}.json"
    if not path.exists():
        return f"not run: bench/{script} does not exist (yet)"
    offered = subprocess.run([sys.executable, str(path), "--help"], capture_output=True, text=True, cwd=REPOSITORY)
    if offered.returncode:
        return f"failed: `bench/{script} --help` exited with {offered.returncode}: {last_line(offered.stderr)}"
    command = [sys.executable, f"bench/{script}", "--json", str(result.relative_to(REPOSITORY))]
    if args.quick and "--quick" in offered.stdout:
        command.append("--quick")
    url = None
    if "--database-url" in offered.stdout:
        url = database_url(server_url, f"coderows_bench_{name}")
        if name != "scale":  # the scale bench creates (and drops) its databases itself
            create_database(url)
        command += ["--database-url", url]
        if args.database_url is None and "--own-server" in offered.stdout:
            command.append("--own-server")  # the throwaway server runs one bench at a time
    try:
        command += corpus_arguments(name)
    except SystemExit as error:
        return f"not run: its corpus could not be fetched: {error}"
    if result.exists():
        result.unlink()  # never report a stale result as this run's
    print(f"\n=== {name}: {' '.join(command)}", file=sys.stderr, flush=True)
    started = time.perf_counter()
    code, tail = stream(command, name, args.timeout)
    seconds = time.perf_counter() - started
    if url is not None and name != "scale":
        try:
            drop_database(url)
        except Exception as error:  # noqa: BLE001  # a leftover database is no reason to stop
            print(f"[{name}] could not drop its database: {error}", file=sys.stderr)
    if code is None:
        return f"failed: timed out after {args.timeout:.0f} s; last output: {tail}"
    if not result.exists():
        return f"failed: exit code {code} after {seconds:.0f} s, no result written; last output: {tail}"
    if code:
        return f"ran in {seconds:.0f} s; exit code {code} (a target was missed)"
    return f"ran in {seconds:.0f} s"


def corpus_arguments(name: str) -> list[str]:
    if name in ("queries", "search"):
        return ["--root", str(stdlib()), "--root", str(sdist(*DJANGO))]
    if name == "context_bytes":
        return ["--root", str(sdist(*DJANGO))]
    return []


def stream(command: list[str], name: str, timeout: float) -> tuple[int | None, str]:
    """Run `command`, echoing its output to stderr line by line; (exit code or None on
    timeout, its last line)."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(command, cwd=REPOSITORY, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
                               text=True, errors="replace")
    lines: list[str] = []

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line.rstrip("\n"))
            print(f"[{name}] {line}", end="", file=sys.stderr, flush=True)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    try:
        code: int | None = process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        code = None
    reader.join(10)
    tail = next((line for line in reversed(lines) if line.strip()), "(none)")
    return code, tail


def summarise(selected: list[str], outcomes: dict[str, str], args: argparse.Namespace, seconds: float) -> str:
    info = machine()
    now = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    flags = " ".join(["--quick"] * args.quick + [f"--only {name}" for name in args.only or []])
    parts = [
        "# coderows benchmarks",
        "",
        f"`python -m bench {flags}`".replace(" `", "`") + f" on {now}: {info['cores']} cores, "
        f"{info['memory_gib']} GiB, {info['cpu_model']}; "
        f"database server: {'the one given' if args.database_url else 'a throwaway embedded PostgreSQL'}; "
        f"{seconds / 60:.1f} min in all. Code: {code_version()}.",
        "",
    ]
    parts += targets_section()
    for name, script, what in SCRIPTS:
        result = RESULTS / f"{name}.json"
        parts += [f"## {name}", "", f"{what} (`bench/{script}`)", ""]
        if name in selected:
            parts += [outcomes.get(name, "not run"), ""]
            if outcomes.get(name, "").startswith(("not run", "failed")):
                continue
        elif result.exists():
            parts += ["not run this time; the result below is from an earlier run", ""]
        else:
            parts += ["not run", ""]
            continue
        try:
            data = json.loads(result.read_text())
        except (OSError, ValueError) as error:
            parts += [f"its result could not be read: {error}", ""]
            continue
        parts += section(data)
    return "\n".join(parts).rstrip() + "\n"


def targets_section() -> list[str]:
    """Every bench's issue 18 targets in one table, from the results on disk (this run's,
    or an earlier run's: the date says which)."""
    rows = []
    for name, _, _ in SCRIPTS:
        try:
            data = json.loads((RESULTS / f"{name}.json").read_text())
        except (OSError, ValueError):
            continue
        for table in data.get("tables", []):
            if table.get("title") == TARGETS_TITLE:
                rows += [[*row, name, data.get("date", "?")[:10]] for row in table["rows"]]
    if not rows:
        return []
    return [f"## {TARGETS_TITLE}", "", markdown_table(["target", "measured", "limit", "verdict", "bench", "run on"], rows), "",
            "- ast parity of definitions (100%) is checked by the test suite (tests/test_stdlib_parity.py), not here", ""]


def section(data: dict) -> list[str]:
    lines = [f"`{data.get('command', '')}` on {data.get('date', '?')}", ""]
    if data.get("columns"):
        lines += [markdown_table(data["columns"], data.get("rows", [])), ""]
    for table in data.get("tables", []):
        lines += [f"{table.get('title', '')}:", "", markdown_table(table["columns"], table["rows"]), ""]
    lines += [f"- {note}" for note in data.get("notes", [])]
    return lines + [""]


def code_version() -> str:
    """The commit of the coderows that the benches imported (this interpreter's), and which
    of its files outside bench/ differed from that commit."""
    found = subprocess.run(
        [sys.executable, "-c", "import os, coderows.indexer as i; print(os.path.dirname(os.path.dirname(i.__file__)))"],
        capture_output=True, text=True,
    )
    source = Path(found.stdout.strip()) if found.returncode == 0 else REPOSITORY

    def git(*arguments: str) -> str:
        done = subprocess.run(["git", "-C", str(source), *arguments], capture_output=True, text=True)
        return done.stdout.rstrip() if done.returncode == 0 else ""

    commit = git("rev-parse", "--short", "HEAD").strip()
    if not commit:
        return f"coderows from {source} (not a git checkout)"
    changed = [line[3:] for line in git("status", "--porcelain", "--untracked-files=no").splitlines()
               if not line[3:].startswith("bench/")]
    where = "" if source == REPOSITORY else f" (checked out at {source})"
    return f"coderows at commit {commit}{where}" + (f", with uncommitted changes to {', '.join(changed)}" if changed else "")


def last_line(text: str) -> str:
    return next((line for line in reversed(text.splitlines()) if line.strip()), "(nothing)")


# --- databases --------------------------------------------------------------------------


def database_url(server_url: str, name: str) -> str:
    from urllib.parse import quote, urlsplit, urlunsplit

    parts = urlsplit(server_url)
    if parts.scheme not in ("postgres", "postgresql"):
        raise SystemExit(f"--database-url must be a postgresql:// URL, not {server_url!r}")
    return urlunsplit(parts._replace(path="/" + quote(name)))


def create_database(url: str) -> None:
    drop_database(url)
    _maintenance(url, "CREATE DATABASE {}")


def drop_database(url: str) -> None:
    _maintenance(url, "DROP DATABASE IF EXISTS {} WITH (FORCE)")


def _maintenance(url: str, statement: str) -> None:
    import psycopg
    from psycopg import sql
    from psycopg.conninfo import conninfo_to_dict

    name = conninfo_to_dict(url)["dbname"]
    with psycopg.connect(database_url(url, "postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL(statement).format(sql.Identifier(name)))


if __name__ == "__main__":
    main()
