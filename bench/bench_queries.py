"""Round-trip latency of find_symbol and get_symbol over stdio, as an agent sees it.

Starts `coderows serve` as a subprocess (the way MCP clients run it), waits until it has
brought its roots up to date, then times seeded-random calls from the SDK's stdio client
and prints p50 / p95 / max per tool, beside the same calls to a server that does no work
(bench/echo_server.py: the MCP SDK's own cost). The database should hold a large corpus, e.g.:

    python bench/bench_queries.py --database-url URL \\
        --root "$(python -c 'import sysconfig; print(sysconfig.get_paths()["stdlib"])')" \\
        --root /tmp/sdists/django-5.2.19

(--root paths are indexed first if needed; the server keeps them fresh while it runs.)
--quick makes 100 calls of each tool instead of --calls; --json PATH also writes the result.
"""

from __future__ import annotations

import argparse
import random
import re
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import anyio
from mcp import Client
from mcp.client.stdio import StdioServerParameters

from coderows.db.connection import connect, resolve_database_url

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench import add_json_argument, served_roots, write_result  # noqa: E402

EACH = "<each>"  # sample_names(repo=EACH): every call names the definition's own repository


class Sample(NamedTuple):
    """A definition to look up by its full name and by its simple name, the name of its
    repository, and the `repo` argument of both calls (None: none, the server's own
    scope answers)."""

    full_name: str
    name: str
    repository: str
    repo: str | None = None


def sample_names(
    url: str, count: int, seed: int, *, roots: Sequence[Path] = (), repo: str | None = None
) -> list[Sample]:
    """`count` seeded-random definitions (none local to a function) whose full name is
    unique where the calls look it up, so that each call answers with that definition:

    - repo None: in the repositories of `roots` (a server's scope: every repository when
      there are no roots), unique among them; the calls pass no `repo`;
    - repo '*': in every repository, unique in the whole database; the calls pass '*';
    - repo EACH: in every repository, unique within its own; the calls pass its name.
    """
    per_repository = repo == EACH
    where = "s.qualname NOT LIKE '%%<locals>%%'"
    if repo is None and roots:
        where += " AND r.root = ANY(%(roots)s)"
    with connect(url, autocommit=True) as conn:
        rows = conn.execute(
            f"""
            SELECT s.full_name, s.name, min(r.name) AS home FROM symbols s JOIN repos r ON r.id = s.repo_id
            WHERE {where}
            GROUP BY s.full_name, s.name{", r.id" if per_repository else ""} HAVING count(*) = 1
            ORDER BY 1, 3
            """,
            {"roots": [str(root.resolve()) for root in roots]},
        ).fetchall()
    if not rows:
        raise SystemExit("the database holds no definitions there: pass --root to index something")
    chosen = random.Random(seed).sample(rows, min(count, len(rows)))
    return [Sample(full_name, name, home, home if per_repository else repo) for full_name, name, home in chosen]


def lists_definitions(answer: str, name: str) -> bool:
    """find_symbol's answer lists definitions named `name` exactly: not suggestions, not
    names that merely contain it, not "not found"."""
    first_line = answer.split("\n", 1)[0]
    return re.fullmatch(rf"\d+ (definition matches|definitions match) {re.escape(repr(name))}:", first_line) is not None


def is_definition(answer: str, full_name: str) -> bool:
    """get_symbol's answer is the definition of `full_name` (its header line first), not
    candidates of an ambiguous name and not "not found"."""
    return f" {full_name}  " in answer.split("\n", 1)[0]


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def report(tool: str, seconds: list[float]) -> str:
    ms = [s * 1000 for s in seconds]
    return (
        f"{tool:12s} n={len(ms)}  p50 {statistics.median(ms):6.2f} ms  p95 {percentile(ms, 0.95):6.2f} ms  "
        f"max {max(ms):6.2f} ms"
    )


async def measure(
    url: str, roots: list[Path], names: list[Sample], serve_options: tuple[str, ...] = ()
) -> dict[str, list[float]]:
    params = StdioServerParameters(
        command=str(Path(sys.executable).with_name("coderows")),  # the venv's console script
        args=["serve", "--database-url", url, *serve_options, *map(str, roots)],
        env={"PYTHONWARNINGS": "ignore"},
    )
    timings: dict[str, list[float]] = {"find_symbol": [], "get_symbol": []}
    async with Client(params) as client:
        deadline = time.monotonic() + 600
        while "indexing" in (status := (await client.call_tool("index_status", {})).content[0].text) or (
            "waiting" in status
        ):
            if time.monotonic() > deadline:
                raise SystemExit("the server did not finish indexing in 10 minutes")
            await anyio.sleep(0.5)
        for sample in names[:20]:  # warm up connections and caches
            await client.call_tool("get_symbol", with_repo({"name": sample.full_name}, sample))
        for sample in names:
            started = time.perf_counter()
            result = await client.call_tool("find_symbol", with_repo({"query": sample.name}, sample))
            timings["find_symbol"].append(time.perf_counter() - started)
            assert not result.is_error and lists_definitions(result.content[0].text, sample.name), (sample, result.content)
            started = time.perf_counter()
            result = await client.call_tool("get_symbol", with_repo({"name": sample.full_name}, sample))
            timings["get_symbol"].append(time.perf_counter() - started)
            assert not result.is_error and is_definition(result.content[0].text, sample.full_name), (sample, result.content)
    return timings


def with_repo(arguments: dict[str, str], sample: Sample) -> dict[str, str]:
    """A call's arguments, with the sample's `repo` when it has one."""
    return arguments if sample.repo is None else {**arguments, "repo": sample.repo}


ECHO_TEXT = "x" * 500  # about the size of a get_symbol answer


async def measure_floor(calls: int) -> list[float]:
    """Round trips to bench/echo_server.py: the MCP SDK's stdio cost with no work at all."""
    params = StdioServerParameters(
        command=sys.executable, args=[str(Path(__file__).with_name("echo_server.py"))], env={"PYTHONWARNINGS": "ignore"}
    )
    seconds: list[float] = []
    async with Client(params) as client:
        for _ in range(20):  # warm up, as for coderows
            await client.call_tool("echo", {"text": ECHO_TEXT})
        for _ in range(calls):
            started = time.perf_counter()
            result = await client.call_tool("echo", {"text": ECHO_TEXT})
            seconds.append(time.perf_counter() - started)
            assert not result.is_error and result.content[0].text == ECHO_TEXT, result.content
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", help="default: CODEROWS_DATABASE_URL, else the embedded server")
    parser.add_argument(
        "--root", action="append", type=Path, default=[], help="a repository root to serve (repeatable)"
    )
    parser.add_argument("--calls", type=int, default=300, help="calls of each tool (default 300)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="100 calls of each tool")
    add_json_argument(parser)
    args = parser.parse_args()
    if args.quick:
        args.calls = min(args.calls, 100)
    url = resolve_database_url(args.database_url)
    # Serve every indexed repository unless told (not the working directory, the default).
    roots = served_roots(url, args.root)
    with connect(url, autocommit=True) as conn:
        counts = conn.execute("SELECT (SELECT count(*) FROM modules), (SELECT count(*) FROM symbols)").fetchone()
    names = sample_names(url, args.calls, args.seed, roots=roots)  # the served roots' definitions: the scope
    header = f"database: {counts[0]} files, {counts[1]} definitions; {len(names)} seeded-random names (seed {args.seed})"
    print(header)
    timings = anyio.run(measure, url, roots, names)
    timings["echo (transport floor)"] = anyio.run(measure_floor, len(names))
    for tool, seconds in timings.items():
        print(report(tool, seconds))
    rows = [[tool, len(seconds), *summary_ms(seconds)] for tool, seconds in timings.items()]
    notes = [header, "round trips over stdio from the MCP SDK's client to `coderows serve`; roots: "
             + ", ".join(map(str, roots)),
             "echo (transport floor): the same client and transport to bench/echo_server.py, whose one tool "
             "returns a 500-byte argument: what any MCP server built on the SDK costs per call"]
    write_result(args.json, "queries", ["tool", "n", "p50 ms", "p95 ms", "max ms"], rows, notes,
                 files=counts[0], definitions=counts[1])


def summary_ms(seconds: list[float]) -> list[float]:
    """p50, p95 and max in milliseconds, as report() prints them."""
    ms = [s * 1000 for s in seconds]
    return [round(statistics.median(ms), 2), round(percentile(ms, 0.95), 2), round(max(ms), 2)]


if __name__ == "__main__":
    main()
