"""Scale: several real projects, 3M+ lines of Python, in one database.

    python bench/bench_scale.py                       # machine PostgreSQL, database bench_scale
    python bench/bench_scale.py --database-url postgresql://USER@HOST:PORT/DBNAME --quick
    python bench/bench_scale.py --json bench/results/scale.json

The corpus: this interpreter's standard library plus the source distributions of Django,
SymPy, Salt, Twisted, SQLAlchemy, NetworkX and Sphinx (fetched once with `pip download
--no-deps --no-binary NAME` into /tmp/coderows-bench/sdists; CODEROWS_BENCH_CACHE moves it).
The database named in the URL and a sibling `<name>_single` are created afresh (the URL's
server must let us CREATE DATABASE) and dropped at the end (--keep keeps them).

1. Growth: the projects are indexed one after another into the one database with
   `index_repository`, as `coderows index` does. Before each step the same project is
   indexed alone into an empty database (the single-repository rate of that very code),
   so each step's lines/s is compared with itself, not with other code. After each step:
   cumulative lines, that step's lines/s, cumulative lines/s, database size against
   source size. Each run ends, as every `coderows index` does, by ANALYZEing the tables
   whose size moved by a tenth or more; that time is part of its lines/s.
2. Lookups: ANALYZE, then find_symbol and get_symbol round trips over stdio to
   `coderows serve STDLIB` (as bench_queries.py does) and the same tools called
   in-process (no transport) on the full database and on a database holding the stdlib
   alone, interleaved; p50 / p95 / max of seeded-random names that answer with one
   definition (checked) with the server's scope applied: on both databases, stdlib names
   (the scope: the served root's repository); on the full database also names of every
   repository looked up with repo='*' and with repo=<its repository>. Each round also
   times bench/echo_server.py, a server that does no work: the stdio transport's floor.
3. Throughput at scale: the stdlib, copied to a new root each time (each .py file ends
   with one more comment line, so that shared storage cannot reuse the rows of the bytes already
   indexed), is indexed into the full database (3M+ lines and growing) and alone into an
   empty one, interleaved
   (--repeat times, medians): the target is a rate within 20% of the single-repository
   one, and lookup p95 at most 10 ms. Each rate is also given by CPU seconds (indexer,
   workers, database backend), which a busy shared machine disturbs far less than wall time.
4. Memory at scale: one more fresh copy of the stdlib indexed into the full database in a
   process of its own; its largest process's peak resident set.

Issue 18's targets, printed with PASS or the shortfall (exit code 1 on a miss): throughput
into the full database >= 0.9 of alone, database / source < 5x with every project
loaded, the indexer's peak memory <= 150 MB.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench import (  # noqa: E402
    CACHE,
    add_json_argument,
    all_pass,
    at_least,
    at_most,
    markdown_table,
    sdist,
    stdlib,
    targets_table,
    write_result,
)

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/bench_scale"
# (label, pip requirement or None for the stdlib, excludes). Mostly-Python projects; about
# 4.5M lines of .py in all.
STDLIB_EXCLUDES = ["site-packages/"]
CORPUS = (
    ("stdlib", None, STDLIB_EXCLUDES),
    ("django", "django==5.2.19", []),
    ("sympy", "sympy==1.14.0", []),
    ("salt", "salt==3008.5", []),
    ("twisted", "twisted==26.10.0", []),
    ("sqlalchemy", "sqlalchemy==2.1.9", []),
    ("networkx", "networkx==3.6.1", []),
    ("sphinx", "sphinx==9.0.4", []),
)
TARGET_LINES = 3_000_000
TARGET_RATE_RATIO = 0.8  # at least 80% of the single-repository lines/s
TARGET_P95_MS = 10.0
# Issue 18's targets at this scale.
TARGET18_RATE_RATIO = 0.9  # throughput into the full database / alone
TARGET18_DB_RATIO = 5.0  # database bytes / source bytes, all projects loaded
TARGET18_PEAK_MB = 150  # largest resident set of the indexer's processes, indexing into the full database
FLOOR = ("no database", "echo server (bench/echo_server.py)")  # the transport floor
SCOPED = "scope: the stdlib"  # lookups that pass no repo: the served root's repository answers
MB = 1024 * 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=DEFAULT_URL, help=f"created and dropped by the bench (default {DEFAULT_URL})")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--repeat", type=int, default=5, help="throughput-at-scale runs of each kind (default 5)")
    parser.add_argument("--calls", type=int, default=300, help="calls of each tool per database and round (default 300)")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved lookup rounds per database (default 2)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="--repeat 3 --calls 150 --rounds 1 (the corpus stays 3M+ lines)")
    parser.add_argument("--keep", action="store_true", help="keep both databases afterwards")
    add_json_argument(parser)
    args = parser.parse_args()
    if args.quick:
        args.repeat, args.calls, args.rounds = min(args.repeat, 3), min(args.calls, 150), min(args.rounds, 1)
    bench = Scale(args)
    try:
        bench.run()
    finally:
        bench.close()


class Scale:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.url = args.database_url
        self.single_url = sibling(self.url, "_single")
        self.corpus: list[tuple[str, Path, list[str]]] = []
        self.copies = CACHE / "copies"
        self.notes: list[str] = []

    # --- the three parts ------------------------------------------------------------

    def run(self) -> None:
        started = time.perf_counter()
        self.fetch()
        create_database(self.url)
        step_rows, steps = self.grow()
        sizes = self.database_sizes()
        self.single_stdlib()
        for url in (self.url, self.single_url):
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute("ANALYZE")
        lookup_rows, lookups = self.lookups()
        control_rows, control = self.throughput_at_scale(steps[-1]["cumulative_lines"])
        control["peak_mb"] = self.indexer_peak_at_scale()
        self.report(step_rows, steps, sizes, lookup_rows, lookups, control_rows, control, time.perf_counter() - started)

    def fetch(self) -> None:
        for label, requirement, excludes in CORPUS:
            self.corpus.append((label, stdlib() if requirement is None else sdist(requirement), list(excludes)))
        print("corpus: " + ", ".join(f"{label} {root}" for label, root, _ in self.corpus), flush=True)

    def grow(self) -> tuple[list[list], list[dict]]:
        print(f"{'step':<5}{'project':<11}{'files':>7}{'lines':>10}{'cum lines':>11}{'s':>7}"
              f"{'lines/s':>9}{'alone':>9}{'ratio':>7}{'cpu r':>7}{'cum l/s':>9}{'db MB':>8}{'db/src':>7}", flush=True)
        rows, steps = [], []
        total_seconds = cumulative_lines = cumulative_bytes = 0
        for number, (label, root, excludes) in enumerate(self.corpus, 1):
            # The same code alone into an empty database, just before (interleaved).
            create_database(self.single_url)
            alone = index_once(self.single_url, root, excludes, self.args.jobs)
            step = index_once(self.url, root, excludes, self.args.jobs)
            total_seconds += step["seconds"]
            cumulative_lines += step["lines"]
            cumulative_bytes += step["bytes"]
            db_bytes = database_bytes(self.url)
            record = {
                "step": number, "project": label, "root": str(root), "files": step["files"], "lines": step["lines"],
                "source_bytes": step["bytes"], "definitions": step["definitions"], "seconds": step["seconds"],
                "lines_per_s": step["lines"] / step["seconds"], "alone_seconds": alone["seconds"],
                "alone_lines_per_s": alone["lines"] / alone["seconds"], "cumulative_lines": cumulative_lines,
                "cumulative_source_bytes": cumulative_bytes, "cumulative_lines_per_s": cumulative_lines / total_seconds,
                "database_bytes": db_bytes,
            }
            record["ratio"] = record["lines_per_s"] / record["alone_lines_per_s"]
            record["cpu_seconds"], record["alone_cpu_seconds"] = step["cpu"], alone["cpu"]
            record["cpu_ratio"] = alone["cpu"] / step["cpu"] if step["cpu"] and alone["cpu"] else None
            steps.append(record)
            rows.append([
                number, label, step["files"], step["lines"], cumulative_lines, round(step["seconds"], 2),
                round(record["lines_per_s"]), round(record["alone_lines_per_s"]), round(record["ratio"], 2),
                None if record["cpu_ratio"] is None else round(record["cpu_ratio"], 2), round(record["cumulative_lines_per_s"]), round(cumulative_bytes / MB, 1), round(db_bytes / MB, 1),
                round(db_bytes / cumulative_bytes, 2),
            ])
            print(f"{number:<5}{label:<11}{step['files']:>7}{step['lines']:>10,}{cumulative_lines:>11,}{step['seconds']:>7.1f}"
                  f"{record['lines_per_s']:>9,.0f}{record['alone_lines_per_s']:>9,.0f}{record['ratio']:>7.2f}"
                  f"{record['cpu_ratio'] or 0:>7.2f}"
                  f"{record['cumulative_lines_per_s']:>9,.0f}{db_bytes / MB:>8,.0f}{db_bytes / cumulative_bytes:>7.2f}", flush=True)
        return rows, steps

    def database_sizes(self) -> list[list]:
        with psycopg.connect(self.url, autocommit=True) as conn:
            rows = conn.execute(
                """
                SELECT c.relname, pg_table_size(c.oid), pg_indexes_size(c.oid), pg_total_relation_size(c.oid)
                FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE n.nspname = 'coderows' AND c.relkind IN ('r', 'p', 'm')
                ORDER BY pg_total_relation_size(c.oid) DESC
                """
            ).fetchall()
            counts = {name: conn.execute(f"SELECT count(*) FROM coderows.{name}").fetchone()[0] for name, *_ in rows}
        return [[name, counts[name], round(table / MB, 1), round(indexes / MB, 1), round(total / MB, 1)]
                for name, table, indexes, total in rows]

    def single_stdlib(self) -> None:
        """The single-repository database of the lookup comparison: the stdlib alone."""
        label, root, excludes = self.corpus[0]
        create_database(self.single_url)
        index_once(self.single_url, root, excludes, self.args.jobs)

    def lookups(self) -> tuple[list[list], dict]:
        import anyio
        from bench_queries import EACH, measure, measure_floor, sample_names

        # Every server serves the stdlib alone (serving the sdists would index the files
        # they leave out), so its scope is the stdlib's repository, as for a server started
        # on one project among many. Each case looks up names that answer there with one
        # definition: the stdlib's by the scope, every repository's with repo='*' (full
        # names unique in the database) and with repo=<the definition's repository>.
        stdlib_root = self.corpus[0][1]
        cases = {
            ("stdlib alone", SCOPED): (self.single_url, None),
            ("all projects", SCOPED): (self.url, None),
            ("all projects", "repo='*'"): (self.url, "*"),
            ("all projects", "repo=<its name>"): (self.url, EACH),
        }
        names = {case: sample_names(url, self.args.calls, self.args.seed, roots=[stdlib_root], repo=repo)
                 for case, (url, repo) in cases.items()}
        self.sampled_repositories = {case: Counter(sample.repository for sample in samples)
                                     for case, samples in names.items() if cases[case][1] is not None}
        stdio: dict[tuple[str, str, str], list[float]] = {}
        direct: dict[tuple[str, str, str], list[float]] = {}
        floor: list[float] = []
        self.load_during_lookups = [os.getloadavg()[0]]
        for round_number in range(self.args.rounds):
            for case, (url, _) in cases.items():
                print(f"lookups, round {round_number + 1}: {case[0]}, {case[1]}", flush=True)
                timings = anyio.run(measure, url, [stdlib_root], names[case], ("--no-watch",))
                for tool, seconds in timings.items():
                    stdio.setdefault((*case, tool), []).extend(seconds)
                for tool, seconds in in_process(url, [stdlib_root], names[case], status=case[1] == SCOPED).items():
                    direct.setdefault((*case, tool), []).extend(seconds)
                self.load_during_lookups.append(os.getloadavg()[0])
            # The MCP SDK's own stdio round trip to a server that does no work, in the same
            # conditions: what no lookup over stdio can beat.
            floor.extend(anyio.run(measure_floor, self.args.calls))
        rows, summary = [], {}
        ms = [s * 1000 for s in floor]
        summary[(*FLOOR, "stdio", "echo")] = percentile(ms, 0.95)
        rows.append([*FLOOR, None, None, "echo", "stdio", len(ms), round(statistics.median(ms), 2),
                     round(percentile(ms, 0.95), 2), round(max(ms), 2)])
        for case in cases:
            with psycopg.connect(cases[case][0], autocommit=True) as conn:
                lines, definitions = conn.execute(
                    "SELECT (SELECT sum(line_count) FROM coderows.modules), (SELECT count(*) FROM coderows.definitions)"
                ).fetchone()
            for transport, timings in (("stdio", stdio), ("in-process", direct)):
                for tool in ("find_symbol", "get_symbol", "index_status"):
                    if (*case, tool) not in timings:
                        continue
                    ms = [s * 1000 for s in timings[(*case, tool)]]
                    p50, p95, top = statistics.median(ms), percentile(ms, 0.95), max(ms)
                    summary[(*case, transport, tool)] = p95
                    rows.append([*case, int(lines), definitions, tool, transport, len(ms), round(p50, 2), round(p95, 2),
                                 round(top, 2)])
        for row in rows:
            print("  ".join(str(value) for value in row), flush=True)
        return rows, summary

    def throughput_at_scale(self, lines_before: int) -> tuple[list[list], dict]:
        label, root, excludes = self.corpus[0]
        alone_rates, big_rates, alone_cpu, big_cpu, rows = [], [], [], [], []
        for run in range(1, self.args.repeat + 1):
            copy = self.copies / f"stdlib-{run}"
            if copy.exists():
                shutil.rmtree(copy)
            shutil.copytree(root, copy, ignore=shutil.ignore_patterns("site-packages", "__pycache__"), symlinks=True,
                            copy_function=lambda source, target, run=run: copy_with_new_bytes(source, target, run))
            with psycopg.connect(self.url, autocommit=True) as conn:
                before = int(conn.execute("SELECT coalesce(sum(line_count), 0) FROM coderows.modules").fetchone()[0])
            # Alternate which goes first, so that neither always follows the file copy.
            create_database(self.single_url)
            if run % 2:
                alone = index_once(self.single_url, root, excludes, self.args.jobs)
                big = index_once(self.url, copy, excludes, self.args.jobs)
            else:
                big = index_once(self.url, copy, excludes, self.args.jobs)
                alone = index_once(self.single_url, root, excludes, self.args.jobs)
            alone_rate, big_rate = alone["lines"] / alone["seconds"], big["lines"] / big["seconds"]
            alone_rates.append(alone_rate)
            big_rates.append(big_rate)
            cpu_ratio = None
            if alone["cpu"] and big["cpu"]:
                alone_cpu.append(alone["lines"] / alone["cpu"])
                big_cpu.append(big["lines"] / big["cpu"])
                cpu_ratio = big_cpu[-1] / alone_cpu[-1]
            rows.append([run, alone["lines"], round(alone["seconds"], 2), round(alone_rate), before,
                         round(big["seconds"], 2), round(big_rate), round(big_rate / alone_rate, 2),
                         None if cpu_ratio is None else round(cpu_ratio, 2)])
            print(f"at scale, run {run}: stdlib alone {alone_rate:,.0f} lines/s; into {before:,} lines "
                  f"{big_rate:,.0f} lines/s ({big_rate / alone_rate:.2f}; by CPU time "
                  f"{'-' if cpu_ratio is None else f'{cpu_ratio:.2f}'})", flush=True)
            shutil.rmtree(copy, ignore_errors=True)
        alone_median, big_median = statistics.median(alone_rates), statistics.median(big_rates)
        cpu_ratio = statistics.median(big_cpu) / statistics.median(alone_cpu) if alone_cpu else None
        rows.append(["median", None, None, round(alone_median), None, None, round(big_median),
                     round(big_median / alone_median, 2), None if cpu_ratio is None else round(cpu_ratio, 2)])
        return rows, {"alone_lines_per_s": alone_median, "big_lines_per_s": big_median, "ratio": big_median / alone_median,
                      "alone_lines_per_cpu_s": statistics.median(alone_cpu) if alone_cpu else None,
                      "big_lines_per_cpu_s": statistics.median(big_cpu) if big_cpu else None, "cpu_ratio": cpu_ratio}

    def indexer_peak_at_scale(self) -> float:
        """The indexer's peak resident memory (its largest process, workers included) for one
        more fresh copy of the stdlib into the full database, run as its own process
        (bench_index.py's phase runner: the bench's own memory is not counted)."""
        from bench_index import phase

        label, root, excludes = self.corpus[0]
        copy = self.copies / "stdlib-peak"
        if copy.exists():
            shutil.rmtree(copy)
        shutil.copytree(root, copy, ignore=shutil.ignore_patterns("site-packages", "__pycache__"), symlinks=True,
                        copy_function=lambda source, target: copy_with_new_bytes(source, target, 0))
        try:
            result = phase("into", copy, excludes, self.args.jobs, self.url)
        finally:
            shutil.rmtree(copy, ignore_errors=True)
        print(f"indexer peak memory into the full database: {result['peak_mb']:.0f} MB", flush=True)
        return float(result["peak_mb"])

    # --- report ---------------------------------------------------------------------

    def report(self, step_rows, steps, sizes, lookup_rows, lookups, control_rows, control, seconds) -> None:
        total_lines = steps[-1]["cumulative_lines"]
        source_bytes = steps[-1]["cumulative_source_bytes"]
        db_bytes = database_bytes(self.url)
        full_cases = [case for case in dict.fromkeys(key[:2] for key in lookups) if case[0] == "all projects"]
        big_p95s = {case: worst_p95(lookups, case, "stdio") for case in full_cases}
        big_p95 = max(big_p95s.values())
        big_p95_direct = max(worst_p95(lookups, case, "in-process") for case in full_cases)
        single_p95 = worst_p95(lookups, ("stdlib alone", SCOPED), "stdio")
        first_rate = steps[0]["alone_lines_per_s"]
        steps_over = [step for step in steps if step["cumulative_lines"] - step["lines"] >= TARGET_LINES]
        rate_ok = control["ratio"] >= TARGET_RATE_RATIO
        p95_ok = big_p95 <= TARGET_P95_MS
        cpu_text = "-" if control["cpu_ratio"] is None else format(control["cpu_ratio"], ".2f")
        verdict = (
            f"throughput {'PASS' if rate_ok and total_lines >= TARGET_LINES else 'FAIL'}: into {total_lines:,}+ lines "
            f"the stdlib indexed at {control['big_lines_per_s']:,.0f} lines/s against {control['alone_lines_per_s']:,.0f} "
            f"alone ({control['ratio']:.2f}; by CPU time {cpu_text}; target >= {TARGET_RATE_RATIO:.2f}). "
            f"lookup p95 {'PASS' if p95_ok else 'FAIL'}: at most {big_p95:.2f} ms over stdio at {total_lines:,} lines "
            f"with scope applied ("
            + "; ".join(f"{case[1]}: {value:.2f} ms" for case, value in big_p95s.items())
            + f"; target <= {TARGET_P95_MS:.0f} ms; the stdlib alone: {single_p95:.2f} ms; in-process at most "
            f"{big_p95_direct:.2f} ms)"
        )
        db_ratio = steps[-1]["database_bytes"] / source_bytes
        targets = [
            at_least("throughput into the full database / alone (wall, median)", control["ratio"], TARGET18_RATE_RATIO, "x"),
            at_most(f"database / source with all {len(steps)} projects ({total_lines:,} lines)", db_ratio, TARGET18_DB_RATIO, "x"),
            at_most("peak resident memory of the indexer, into the full database", control["peak_mb"], TARGET18_PEAK_MB, " MB"),
        ]
        notes = [
            f"{len(steps)} projects, {total_lines:,} lines, {source_bytes / MB:,.0f} MB of source; database "
            f"{db_bytes / MB:,.0f} MB at the end ({db_bytes / source_bytes:.2f}x source, the stdlib copies of part 3 included)",
            "ratio = this step's lines/s / the same project's lines/s alone into an empty database, measured just before; "
            "cpu ratio: the same by CPU seconds (indexer, its workers and the database backend), which a busy shared "
            "machine disturbs far less than wall time",
            f"cumulative lines/s over all steps: {steps[-1]['cumulative_lines_per_s']:,.0f}; the stdlib alone: {first_rate:,.0f}",
            "each index run ends with coderows' own ANALYZE of the tables whose size moved by a tenth; a whole ANALYZE before the lookups",
            verdict,
            f"{self.args.jobs} indexing processes; whole bench {seconds / 60:.1f} min",
        ]
        status = [lookups.get((label, SCOPED, "in-process", "index_status")) for label in ("all projects", "stdlib alone")]
        if None not in status:
            notes.append(f"index_status (not a lookup; in-process, p95 of {5 * self.args.rounds} calls): {status[0]:,.0f} ms "
                         f"on all projects, {status[1]:,.0f} ms on the stdlib alone")
        notes.append(
            "every server serves the stdlib (its scope); each lookup answers with the one definition sampled (checked): "
            "the stdlib's names by the scope, and names of every repository with repo='*' (full names unique in the "
            "database) and with repo=<the definition's repository> (unique in it), drawn at random: "
            + "; ".join(f"{case[1]} " + ", ".join(f"{name} {count}" for name, count in counts.most_common())
                        for case, counts in self.sampled_repositories.items())
        )
        notes.append(f"transport floor: the MCP SDK's stdio round trip to a server that does no work "
                     f"(bench/echo_server.py), same rounds: p95 {lookups[(*FLOOR, 'stdio', 'echo')]:.2f} ms")
        notes.append(
            f"lookup p95 all projects (scope) / stdlib alone: stdio {worst_p95(lookups, ('all projects', SCOPED), 'stdio') / single_p95:.2f}, "
            f"in-process {worst_p95(lookups, ('all projects', SCOPED), 'in-process') / worst_p95(lookups, ('stdlib alone', SCOPED), 'in-process'):.2f}; "
            f"load average (1 min) on this {os.cpu_count()}-core machine during the lookups: "
            + ", ".join(f"{value:.1f}" for value in self.load_during_lookups)
        )
        if steps_over:
            notes.insert(3, "steps into a database already over 3M lines: " + ", ".join(
                f"{step['project']} {step['ratio']:.2f} (by CPU time {step['cpu_ratio'] or 0:.2f})" for step in steps_over))
        tables = [
            targets_table(targets),
            {"title": "Lookups with scope applied: full database against the stdlib alone, a server of the stdlib "
                      "(ANALYZEd; stdio = round trip to `coderows serve`)",
             "columns": ["database", "names looked up", "lines", "definitions", "tool", "transport", "n", "p50 ms",
                         "p95 ms", "max ms"],
             "rows": lookup_rows},
            {"title": "Throughput at scale: the stdlib (a fresh copy each run) into the full database vs alone, interleaved",
             "columns": ["run", "lines", "alone s", "alone lines/s", "database lines before", "into full s",
                         "into full lines/s", "ratio", "ratio by CPU time"],
             "rows": control_rows},
            {"title": "Database size by table, full database (before part 3's copies)",
             "columns": ["table", "rows", "table MB", "indexes MB", "total MB"], "rows": sizes},
        ]
        print()
        for table in tables:
            print(table["title"])
            print(markdown_table(table["columns"], table["rows"]))
            print()
        for note in notes:
            print(note)
        write_result(
            self.args.json, "scale",
            ["step", "project", "files", "lines", "cumulative lines", "seconds", "lines/s", "alone lines/s", "ratio",
             "cpu ratio", "cumulative lines/s", "cumulative source MB", "database MB", "database / source"],
            step_rows, notes, tables=tables, steps=steps, control=control,
            lookup_p95_ms={f"{label}, {names} {transport} {tool}": round(value, 3)
                           for (label, names, transport, tool), value in lookups.items()},
            ok=bool(rate_ok and p95_ok and total_lines >= TARGET_LINES) and all_pass(targets),
        )
        if not all_pass(targets):
            sys.exit(1)  # python -m bench reports it as a missed target

    def close(self) -> None:
        shutil.rmtree(self.copies, ignore_errors=True)
        if not self.args.keep:
            for url in (self.single_url, self.url):
                try:
                    drop_database(url)
                except psycopg.Error as error:
                    print(f"could not drop {dbname(url)}: {error}", file=sys.stderr)


# --- helpers ----------------------------------------------------------------------------


def index_once(url: str, root: Path, excludes: list[str], jobs: int) -> dict:
    """index_repository of `root` into `url`: wall and CPU seconds (this process, its
    workers and the database backend: a busy shared machine stretches wall time far more
    than CPU time), and what was written (from the database)."""
    from coderows.db.connection import connect
    from coderows.indexer.pipeline import index_repository

    with connect(url, autocommit=True) as conn:
        backend = backend_process(conn)
        cpu_before = cpu_seconds(backend)
        started = time.perf_counter()
        summary = index_repository(conn, root, excludes=excludes, jobs=jobs)
        seconds = time.perf_counter() - started
        cpu_after = cpu_seconds(backend)
        files, lines, size = conn.execute(
            "SELECT count(*), coalesce(sum(m.line_count), 0), coalesce(sum(m.size), 0)"
            " FROM modules m JOIN repos r ON r.id = m.repo_id WHERE r.root = %s",
            [str(root.resolve())],
        ).fetchone()
    cpu = None if cpu_before is None or cpu_after is None else cpu_after - cpu_before
    return {"seconds": seconds, "cpu": cpu, "files": int(files), "lines": int(lines), "bytes": int(size),
            "definitions": summary.definitions}


def copy_with_new_bytes(source: str, target: str, run: int) -> str:
    """shutil.copy2, except that a .py file gets one more line naming the run: a copy of
    bytes already in the database would share their rows (issue 15's shared storage)
    and be neither parsed nor resolved again, measuring no indexing at all."""
    shutil.copy2(source, target)
    if source.endswith(".py"):
        with open(target, "ab") as file:
            file.write(f"\n# coderows bench_scale copy {run}\n".encode())
    return target


def backend_process(conn: psycopg.Connection):
    """The server process of `conn`, when the server runs on this machine (else None)."""
    try:
        import psutil

        return psutil.Process(conn.info.backend_pid)
    except Exception:  # noqa: BLE001  # a remote server, or no psutil: wall time only
        return None


def cpu_seconds(backend) -> float | None:
    """User + system seconds of this process, its finished children and `backend`."""
    import resource

    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    total = own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime
    if backend is None:
        return None
    try:
        return total + sum(backend.cpu_times()[:2])
    except Exception:  # noqa: BLE001
        return None


def in_process(url: str, roots: list[Path], names: list, *, status: bool = False) -> dict[str, list[float]]:
    """The same calls as over stdio, straight to the tool functions of a server of
    `roots` (its scope), with the same checks of the answers; index_status too if asked."""
    from bench_queries import is_definition, lists_definitions

    from coderows.server.tools import Tools

    tools = Tools(url, roots, watch=False)
    timings: dict[str, list[float]] = {"find_symbol": [], "get_symbol": []}
    try:
        for sample in names[:20]:
            tools.get_symbol(sample.full_name, repo=sample.repo)
        for sample in names:
            started = time.perf_counter()
            text = tools.find_symbol(sample.name, repo=sample.repo)
            timings["find_symbol"].append(time.perf_counter() - started)
            assert lists_definitions(text, sample.name), (sample, text[:500])
            started = time.perf_counter()
            text = tools.get_symbol(sample.full_name, repo=sample.repo)
            timings["get_symbol"].append(time.perf_counter() - started)
            assert is_definition(text, sample.full_name), (sample, text[:500])
        if status:
            timings["index_status"] = []
            for _ in range(5):  # not a lookup: it counts every repository's rows and stats every file
                started = time.perf_counter()
                tools.index_status()
                timings["index_status"].append(time.perf_counter() - started)
    finally:
        tools.close()
    return timings


def worst_p95(lookups: dict, case: tuple[str, str], transport: str) -> float:
    """The higher p95 of find_symbol and get_symbol in one case of the lookups."""
    return max(lookups[(*case, transport, tool)] for tool in ("find_symbol", "get_symbol"))


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def dbname(url: str) -> str:
    return conninfo_to_dict(url).get("dbname") or "postgres"


def with_dbname(url: str, name: str) -> str:
    """`url` (postgresql://...) naming database `name` instead."""
    from urllib.parse import quote, urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.scheme not in ("postgres", "postgresql"):
        raise SystemExit(f"--database-url must be a postgresql:// URL, not {url!r}")
    return urlunsplit(parts._replace(path="/" + quote(name)))


def sibling(url: str, suffix: str) -> str:
    return with_dbname(url, dbname(url) + suffix)


def maintenance(url: str) -> psycopg.Connection:
    return psycopg.connect(with_dbname(url, "postgres"), autocommit=True)


def create_database(url: str) -> None:
    """A fresh, empty database named as in `url` (dropped first if it exists)."""
    drop_database(url)
    with maintenance(url) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname(url))))
    import coderows.db.connection as connection

    connection._prepared_urls.discard(url)  # the schema must be created again


def drop_database(url: str) -> None:
    with maintenance(url) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(dbname(url))))


def database_bytes(url: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        return int(conn.execute("SELECT pg_database_size(current_database())").fetchone()[0])


if __name__ == "__main__":
    main()
