"""Bytes an agent receives: coderows's answers against grep-then-read-the-file.

For 50 seeded-random functions and methods of one real project:
  get_symbol(full name)  vs  `grep -rn "def NAME" .` output + the containing file
                              (as a Read tool returns it: at most 2,000 lines);
and for the modules that hold them:
  get_outline(module)    vs  reading the whole module (at most 2,000 lines).
Prints each median ratio (the goal: at least 10x and 3x). Answers come through the SDK's
MCP client from the server in-process, so the bytes are exactly what a client receives.

    python bench/bench_context_bytes.py --database-url URL --root /tmp/sdists/django-5.2.19
    (--json PATH also writes the result; --quick is accepted and changes nothing: it is fast)
"""

from __future__ import annotations

import argparse
import random
import statistics
import subprocess
import sys
from pathlib import Path

import anyio
from mcp import Client

from coderows.db.connection import connect, resolve_database_url
from coderows.server.app import build_server
from coderows.server.tools import Tools

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench import add_json_argument, write_result  # noqa: E402

READ_LINE_LIMIT = 2000  # what an agent's Read tool returns at most without paging


def sample(url: str, root: Path, count: int, seed: int) -> list[tuple[str, str, str, str]]:
    """(full_name, name, path, module) of seeded-random functions and methods of `root`
    whose full name is unique (so get_symbol answers with the definition itself)."""
    with connect(url, autocommit=True) as conn:
        rows = conn.execute(
            """
            SELECT s.full_name, min(s.name), min(s.path), min(s.module)
            FROM symbols s JOIN repos r ON r.id = s.repo_id
            WHERE r.root = %s AND s.kind IN ('function', 'method') AND s.qualname NOT LIKE '%%<locals>%%'
            GROUP BY s.full_name HAVING count(*) = 1
            ORDER BY s.full_name
            """,
            [str(root)],
        ).fetchall()
    if len(rows) < count:
        raise SystemExit(f"{root} has only {len(rows)} functions and methods indexed: pass --root to index it")
    return random.Random(seed).sample(rows, count)


def read_tool_bytes(path: Path) -> int:
    """Bytes of a file as a Read tool shows it: at most READ_LINE_LIMIT lines."""
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines(keepends=True)
    return len("".join(lines[:READ_LINE_LIMIT]).encode())


def grep_bytes(root: Path, name: str) -> int:
    found = subprocess.run(
        ["grep", "-rn", "--include=*.py", f"def {name}(", "."], cwd=root, capture_output=True, check=False
    )
    return len(found.stdout)


async def answer_bytes(tools: Tools, calls: list[tuple[str, dict[str, str]]]) -> list[int]:
    sizes = []
    async with Client(build_server(tools)) as client:
        for tool, arguments in calls:
            result = await client.call_tool(tool, arguments)
            text = "\n".join(block.text for block in result.content if block.type == "text")
            assert not result.is_error, text
            sizes.append(len(text.encode()))
    return sizes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", help="default: CODEROWS_DATABASE_URL, else the embedded server")
    parser.add_argument("--root", type=Path, required=True, help="the project's root (indexed first if needed)")
    parser.add_argument("--count", type=int, default=50)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="accepted for the runner; the bench is already quick")
    add_json_argument(parser)
    args = parser.parse_args()
    url = resolve_database_url(args.database_url)
    root = args.root.resolve()
    from coderows.indexer.pipeline import index_repository

    with connect(url, autocommit=True) as conn:
        print(index_repository(conn, root).line())
    picked = sample(url, root, args.count, args.seed)
    tools = Tools(url)
    try:
        symbol_sizes = anyio.run(answer_bytes, tools, [("get_symbol", {"name": full}) for full, _, _, _ in picked])
        modules = sorted({(module, path) for _, _, path, module in picked})
        outline_sizes = anyio.run(answer_bytes, tools, [("get_outline", {"target": path}) for _, path in modules])
    finally:
        tools.close()

    symbol_ratios = []
    for (_, name, path, _), size in zip(picked, symbol_sizes, strict=True):
        route = grep_bytes(root, name) + read_tool_bytes(root / path)
        symbol_ratios.append(route / size)
    outline_ratios = [
        read_tool_bytes(root / path) / size for (_, path), size in zip(modules, outline_sizes, strict=True)
    ]

    header = f"{len(picked)} seeded-random functions and methods of {root} (seed {args.seed})"
    symbol_route = statistics.median(r * s for r, s in zip(symbol_ratios, symbol_sizes, strict=True))
    outline_route = statistics.median(r * s for r, s in zip(outline_ratios, outline_sizes, strict=True))
    symbol_line = (
        f"get_symbol:  median {statistics.median(symbol_sizes):,.0f} bytes; grep + read file median "
        f"{symbol_route:,.0f} bytes; "
        f"median ratio {statistics.median(symbol_ratios):.1f}x (min {min(symbol_ratios):.1f}x)"
    )
    outline_line = (
        f"get_outline: {len(modules)} modules, median {statistics.median(outline_sizes):,.0f} bytes; whole module "
        f"median {outline_route:,.0f} bytes; "
        f"median ratio {statistics.median(outline_ratios):.1f}x (min {min(outline_ratios):.1f}x)"
    )
    for line in (header, symbol_line, outline_line):
        print(line)
    rows = [
        ["get_symbol vs grep + read file", len(symbol_sizes), round(statistics.median(symbol_sizes)), round(symbol_route),
         round(statistics.median(symbol_ratios), 1), round(min(symbol_ratios), 1), 10.0],
        ["get_outline vs read whole module", len(outline_sizes), round(statistics.median(outline_sizes)),
         round(outline_route), round(statistics.median(outline_ratios), 1), round(min(outline_ratios), 1), 3.0],
    ]
    write_result(
        args.json, "context_bytes",
        ["comparison", "n", "coderows median bytes", "other route median bytes", "median ratio", "min ratio", "target ratio"],
        rows, [header, f"a Read tool returns at most {READ_LINE_LIMIT} lines of a file"],
        ok=statistics.median(symbol_ratios) >= 10 and statistics.median(outline_ratios) >= 3,
    )


if __name__ == "__main__":
    main()
