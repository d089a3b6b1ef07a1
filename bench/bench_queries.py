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
import statistics
import sys
import time
from pathlib import Path

import anyio
from mcp import Client
from mcp.client.stdio import StdioServerParameters

from coderows.db.connection import connect, resolve_database_url

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench import add_json_argument, write_result  # noqa: E402


def sample_names(url: str, count: int, seed: int) -> list[tuple[str, str]]:
    """(full_name, name) of `count` seeded-random definitions whose full name is unique."""
    with connect(url, autocommit=True) as conn:
        rows = conn.execute(
            """
            SELECT full_name, name FROM symbols
            WHERE qualname NOT LIKE '%%<locals>%%'
            GROUP BY full_name, name HAVING count(*) = 1
            ORDER BY full_name
            """
        ).fetchall()
    if not rows:
        raise SystemExit("the database holds no definitions: pass --root to index something")
    return random.Random(seed).sample(rows, min(count, len(rows)))


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
    url: str, roots: list[Path], names: list[tuple[str, str]], serve_options: tuple[str, ...] = ()
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
        for full_name, _ in names[:20]:  # warm up connections and caches
            await client.call_tool("get_symbol", {"name": full_name})
        for full_name, name in names:
            started = time.perf_counter()
            result = await client.call_tool("find_symbol", {"query": name})
            timings["find_symbol"].append(time.perf_counter() - started)
            assert not result.is_error, result.content
            started = time.perf_counter()
            result = await client.call_tool("get_symbol", {"name": full_name})
            timings["get_symbol"].append(time.perf_counter() - started)
            assert not result.is_error and full_name in result.content[0].text, result.content
    return timings


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
    roots = [root.resolve() for root in args.root]
    if roots:
        from coderows.indexer.pipeline import index_repository

        with connect(url, autocommit=True) as conn:
            for root in roots:
                print(index_repository(conn, root).line())
    names = sample_names(url, args.calls, args.seed)
    with connect(url, autocommit=True) as conn:
        # Serve every indexed repository (not the working directory, the default).
        roots = roots or [Path(row[0]) for row in conn.execute("SELECT root FROM repos ORDER BY root")]
        counts = conn.execute("SELECT (SELECT count(*) FROM modules), (SELECT count(*) FROM symbols)").fetchone()
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
