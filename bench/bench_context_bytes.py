"""Bytes an agent receives: coderows's answers against grep-then-read-the-file.

For 50 seeded-random functions and methods of one real project:
  get_symbol(full name)  vs  `grep -rn "def NAME" .` output + the containing file
                              (as a Read tool returns it: at most 2,000 lines);
and for the modules that hold them:
  get_outline(module)    vs  reading the whole module (at most 2,000 lines).
Prints each median ratio (the goal: at least 10x and 3x). Then bytes over the exact source
(issue 16, the goal: at most 1.07x, where Serena measured 1.07x and coderows 1.21x): a
seeded set of definitions of the django package of every size, PER_BUCKET of each of the
SIZE_BUCKETS (2-line functions up to classes of ~2,000 lines, django.db.models.query.QuerySet
always among them), each read to its end by following the answer's own continuation call;
total answer bytes / total exact source bytes, where the exact source is the definition's
lines from its first decorator (else `def` / `class`) to `end_lineno`, as `ast` gives them,
each with its line break. Every answer must hold that exact source, byte for byte, and name
its location; each page of a paged answer must say which lines it holds.
Answers come through the SDK's MCP client from the server in-process, so the bytes are
exactly what a client receives.

    python bench/bench_context_bytes.py --database-url URL --root /tmp/sdists/django-5.2.19
    (--source-only: only the bytes over the exact source, by size)
    (--json PATH also writes the result; --quick is accepted and changes nothing: it is fast)
"""

from __future__ import annotations

import argparse
import ast
import random
import re
import statistics
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import anyio
from mcp import Client

from coderows.common.lines import split_lines
from coderows.db.connection import connect, resolve_database_url
from coderows.server.app import build_server
from coderows.server.tools import Tools

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench import add_json_argument, write_result  # noqa: E402
from bench.peers import truth  # noqa: E402

READ_LINE_LIMIT = 2000  # what an agent's Read tool returns at most without paging
SOURCE_RATIO_TARGET = 1.07  # issue 16: Serena's figure on Django, the best peer's
SIZE_BUCKETS = ((1, 5), (6, 20), (21, 60), (61, 200), (201, 600), (601, 10_000))  # lines, inclusive
PER_BUCKET = 5
ALWAYS = ("django/db/models/query.py", "QuerySet")  # the example of a class read through paging
MAX_PAGES = 100  # a definition that needs more pages than this is a paging loop
CONTINUATION = re.compile(r"rest: (get_symbol\([^\]]*?\))(?:; members only: |\]$)")
PAGE_LINES = re.compile(r"\blines (\d+)-(\d+) of (\d+)-(\d+)\b")
NUMBERED = re.compile(r"^ *\d+  ")  # the body format before issue 16: "1489      def filter(..."


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


@dataclass(frozen=True)
class Exact:
    """One definition and its exact source lines, as `ast` gives them."""

    path: str
    qualname: str
    first: int  # the first decorator's line, else the def / class line
    last: int  # end_lineno
    lines: tuple[str, ...]

    @property
    def full_name(self) -> str:
        return truth.module_name(self.path) + "." + self.qualname

    @property
    def source_bytes(self) -> int:
        return sum(len(line.encode()) + 1 for line in self.lines)


def exact_definitions(root: Path, path: str) -> list[Exact]:
    """The classes and functions of one file not inside a function, whose qualname is
    unique in the file (a property's setter repeats its getter's)."""
    source = (root / path).read_text(encoding="utf-8")
    lines = split_lines(source)
    found: list[Exact] = []

    def visit(statements: list[ast.stmt], prefix: str) -> None:
        for node in statements:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
                last = node.end_lineno or node.lineno
                found.append(Exact(path, prefix + node.name, first, last, tuple(lines[first - 1 : last])))
                if isinstance(node, ast.ClassDef):
                    visit(node.body, prefix + node.name + ".")
            else:  # if / try / with bodies define names at the same level
                for attribute in ("body", "orelse", "finalbody"):
                    children = getattr(node, attribute, None)
                    if isinstance(children, list):
                        visit([c for c in children if isinstance(c, ast.stmt)], prefix)
                for handler in getattr(node, "handlers", None) or []:
                    visit(handler.body, prefix)

    visit(ast.parse(source).body, "")
    names = [d.qualname for d in found]
    return [d for d in found if names.count(d.qualname) == 1]


def sized_sample(root: Path, seed: int) -> list[Exact]:
    """PER_BUCKET seeded-random definitions of each size in SIZE_BUCKETS, plus ALWAYS."""
    pool = [d for path in truth.python_files(root) for d in exact_definitions(root, path)]
    rng = random.Random(seed)
    picked = [d for d in pool if (d.path, d.qualname) == ALWAYS]
    for low, high in SIZE_BUCKETS:
        sized = [d for d in pool if low <= d.last - d.first + 1 <= high and d not in picked]
        picked.extend(rng.sample(sized, min(PER_BUCKET, len(sized))))
    return sorted(picked, key=lambda d: d.last - d.first)


@dataclass
class ReadToEnd:
    """A definition's answer pages, and what checking them found."""

    definition: Exact
    pages: list[str]
    correct: bool
    located: bool
    pages_naming_lines: int

    @property
    def answer_bytes(self) -> int:
        return sum(len(page.encode()) for page in self.pages)


def next_call(page: str) -> dict[str, object] | None:
    """The arguments of the continuation call a cut get_symbol page ends with, if any."""
    tail = page.rsplit("\n", 1)[-1]
    found = CONTINUATION.search(tail) if tail.startswith("[cut") else None
    if found is None:
        return None
    expression = ast.parse(found.group(1), mode="eval").body
    assert isinstance(expression, ast.Call)
    return {keyword.arg or "": ast.literal_eval(keyword.value) for keyword in expression.keywords}


def body_of(page: str, first_page: bool) -> list[str]:
    """A page's source lines: without its header line (and the first page's references
    line), its [cut: ...] line, and (in the format before issue 16) line-number prefixes."""
    lines = page.split("\n")[1:]
    if lines and lines[-1].startswith("[cut"):
        lines = lines[:-1]
    numbered = len(lines) > 1 and all(NUMBERED.match(line) for line in lines[1:])
    if (first_page or numbered) and lines and lines[0].startswith("references: "):
        lines = lines[1:]  # before issue 16, every page repeated it
    if numbered:
        lines = [NUMBERED.sub("", line, count=1) for line in lines]
    return lines


def names_its_lines(page: str, held: int) -> bool:
    """Whether the page says which lines it holds (`lines A-B of F-L`, B - A + 1 = held)."""
    found = PAGE_LINES.search(page)
    return found is not None and int(found.group(2)) - int(found.group(1)) + 1 == held


async def read_to_end(tools: Tools, definitions: list[Exact]) -> list[ReadToEnd]:
    """get_symbol of each definition, then every continuation call its pages name."""
    results = []
    async with Client(build_server(tools)) as client:
        for definition in definitions:
            arguments: dict[str, object] | None = {"name": definition.full_name}
            pages: list[str] = []
            while arguments is not None and len(pages) < MAX_PAGES:
                result = await client.call_tool("get_symbol", arguments)
                text = "\n".join(block.text for block in result.content if block.type == "text")
                assert not result.is_error, text
                pages.append(text)
                arguments = next_call(text)
            bodies = [body_of(page, number == 0) for number, page in enumerate(pages)]
            location = f"{definition.path}:{definition.first}-{definition.last}"
            results.append(ReadToEnd(
                definition,
                pages,
                correct=[line for body in bodies for line in body] == list(definition.lines),
                located=location in pages[0].split("\n", 1)[0] and all(definition.path in page for page in pages),
                pages_naming_lines=sum(names_its_lines(page, len(body)) for page, body in zip(pages, bodies, strict=True)),
            ))
    return results


def source_ratio_lines(results: list[ReadToEnd]) -> tuple[list[str], float, bool]:
    """The report: per size bucket and in total, answer bytes over exact source bytes."""
    lines = []
    for low, high in SIZE_BUCKETS:
        some = [r for r in results if low <= r.definition.last - r.definition.first + 1 <= high]
        answer, exact = sum(r.answer_bytes for r in some), sum(r.definition.source_bytes for r in some)
        pages = sum(len(r.pages) for r in some)
        lines.append(f"  {low}-{high} lines: {len(some)} definitions, {pages} pages, {answer:,} / {exact:,} bytes = {answer / exact:.3f}x")
    answer = sum(r.answer_bytes for r in results)
    exact = sum(r.definition.source_bytes for r in results)
    ratio = answer / exact
    correct = sum(r.correct for r in results)
    located = sum(r.located for r in results)
    paged = [r for r in results if len(r.pages) > 1]
    naming = sum(r.pages_naming_lines for r in paged)
    passed = ratio <= SOURCE_RATIO_TARGET and correct == located == len(results)
    verdict = "PASS" if passed else f"shortfall: {ratio - SOURCE_RATIO_TARGET:+.3f}x over the target" if ratio > SOURCE_RATIO_TARGET else "FAIL: an answer is wrong"
    lines[:0] = [
        f"get_symbol read to the end, {len(results)} definitions ({len(results) + sum(len(r.pages) - 1 for r in results)} pages): "
        f"{answer:,} answer bytes / {exact:,} exact source bytes = {ratio:.3f}x (target <= {SOURCE_RATIO_TARGET}x: {verdict})",
        f"  correct (the exact source, byte for byte): {correct}/{len(results)}; location named: {located}/{len(results)}; "
        f"pages of paged answers naming their lines: {naming}/{sum(len(r.pages) for r in paged)}",
        "  beside the peers (issue 16, 20 django definitions, first answer only): Serena 1.07x, coderows before 1.21x",
    ]
    return lines, ratio, passed


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
    parser.add_argument("--source-only", action="store_true", help="only the bytes over the exact source")
    parser.add_argument("--quick", action="store_true", help="accepted for the runner; the bench is already quick")
    add_json_argument(parser)
    args = parser.parse_args()
    url = resolve_database_url(args.database_url)
    root = args.root.resolve()
    from coderows.indexer.pipeline import index_repository

    with connect(url, autocommit=True) as conn:
        print(index_repository(conn, root).line())
    tools = Tools(url)
    try:
        read = anyio.run(read_to_end, tools, sized_sample(root, args.seed))
        source_lines, source_ratio, source_passed = source_ratio_lines(read)
        if args.source_only:
            for line in source_lines:
                print(line)
            return
        picked = sample(url, root, args.count, args.seed)
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
    for line in (header, symbol_line, outline_line, *source_lines):
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
        rows, [header, f"a Read tool returns at most {READ_LINE_LIMIT} lines of a file", *source_lines],
        source_ratio=round(source_ratio, 3),
        ok=statistics.median(symbol_ratios) >= 10 and statistics.median(outline_ratios) >= 3 and source_passed,
    )


if __name__ == "__main__":
    main()
