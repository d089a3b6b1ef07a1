"""coderows side by side with peer MCP code indexes, on Django's sdist, over stdio.

    .venv/bin/python bench/bench_peers.py --json bench/results/peers.json

Each peer is pip-installed from PyPI into a virtualenv of its own under --cache
(default /tmp/coderows-bench/peers/<name>; never a dependency of coderows), started the
way an MCP client starts it, and driven through the official MCP SDK's stdio client, one
peer at a time on a fresh copy of Django 5.2.19's sdist. coderows gets a throwaway
embedded PostgreSQL under the same cache (or --database-url). Per peer:

  first answer s   spawn -> first correct source of QuerySet.filter, the index calls the
                   server needs before it answers included
  ready s          the same, until the server says its whole index is built (differs only
                   for coderows, which answers from the rows written so far meanwhile)
  re-index s       append a function to django/core/paginator.py -> its source is served
                   (after the peer's own refresh call, when it needs one)
  source           20 seeded-random definitions: correct answers, bytes, bytes per correct,
                   all answer bytes over the exact source bytes (`def` line to end_lineno)
  outline          5 modules: bytes, fraction of top-level and class-level names present
  references       3 functions: locations returned, and how many are real (grep check)
  peak memory MB   summed PSS of the server's process tree, sampled every 0.1 s (coderows:
                   plus the embedded PostgreSQL when it runs one, shown apart in the notes)

How answers are scored is in bench/peers/truth.py; what each peer's tools are asked is in
bench/peers/<peer>.py. A peer that cannot install, start or answer gets a row saying why.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import psutil
from mcp import Client
from mcp.client.stdio import StdioServerParameters, stdio_client

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench import CACHE, RESULTS, add_json_argument, markdown_table, sdist, write_result  # noqa: E402
from bench.peers import PEERS, Answer, Definition, Peer, PeerUnavailable, truth  # noqa: E402
from bench.peers.base import INDEX_TIMEOUT  # noqa: E402
from bench.peers.coderows import Coderows  # noqa: E402

DJANGO = "django==5.2.19"
KNOWN = ("django/db/models/query.py", "QuerySet.filter")
OUTLINE_FILES = (
    "django/core/paginator.py",
    "django/db/models/query.py",
    "django/http/response.py",
    "django/utils/text.py",
    "django/forms/fields.py",
)
REFERENCE_FUNCTIONS = (
    ("django/shortcuts.py", "get_object_or_404"),
    ("django/utils/text.py", "slugify"),
    ("django/utils/html.py", "format_html"),
)
EDITED_FILE = "django/core/paginator.py"
PROBE = "bench_peers_probe"
INSTALL_TIMEOUT = 900.0
REINDEX_TIMEOUT = 300.0

COLUMNS = [
    "server", "version", "status", "first answer s", "ready s", "re-index s", "source correct", "source bytes",
    "bytes/correct", "bytes/exact source", "outline bytes", "outline complete", "refs returned", "refs real", "peak memory MB",
]


@dataclass
class Truth:
    """What the answers are scored against, read from the pristine sdist with `ast`."""

    known: Definition
    sample: list[Definition]
    outlines: dict[str, set[str]]
    functions: list[Definition]
    grep: dict[str, int]


@dataclass
class Result:
    peer: str
    version: str = ""
    status: str = "ok"
    first: float | None = None
    ready: float | None = None
    reindex: float | None = None
    sources: list[dict[str, Any]] = field(default_factory=list)
    outlines: list[dict[str, Any]] = field(default_factory=list)
    references: list[dict[str, Any]] = field(default_factory=list)
    server_mb: float | None = None
    db_mb: float | None = None
    problems: list[str] = field(default_factory=list)

    def row(self) -> list[Any]:
        correct = sum(s["correct"] for s in self.sources)
        source_bytes = sum(s["bytes"] for s in self.sources)
        exact_bytes = sum(s["exact"] for s in self.sources)
        refs = [r for r in self.references if r.get("tool")]
        peak = None if self.server_mb is None else round(self.server_mb + (self.db_mb or 0), 1)
        status = self.status if not self.problems else f"{self.status}; " + "; ".join(self.problems)
        return [
            self.peer, self.version, status, rounded(self.first, 2), rounded(self.ready, 2), rounded(self.reindex, 2),
            correct if self.sources else None, source_bytes if self.sources else None,
            round(source_bytes / correct) if correct else None,
            round(source_bytes / exact_bytes, 2) if exact_bytes else None,
            sum(o["bytes"] for o in self.outlines) if self.outlines else None,
            round(statistics.mean(o["complete"] for o in self.outlines), 2) if self.outlines else None,
            sum(r["returned"] for r in refs) if refs else ("no tool" if self.references else None),
            sum(r["real"] for r in refs) if refs else None,
            peak,
        ]


def rounded(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


# -- setting up ------------------------------------------------------------------------------


def load_truth(root: Path, count: int, seed: int) -> Truth:
    functions = [truth.find(root, path, name) for path, name in REFERENCE_FUNCTIONS]
    return Truth(
        known=truth.find(root, *KNOWN),
        sample=truth.sample(root, count, seed),
        outlines={path: truth.outline_names(root, path) for path in OUTLINE_FILES},
        functions=functions,
        grep={f.name: truth.grep_count(root, f) for f in functions},
    )


def install(peer: type[Peer], venv: Path) -> str:
    """Create the peer's venv and pip-install it (once: a marker records what was installed)."""
    marker = venv / ".bench-installed"
    wanted = "\n".join(peer.requirements)
    if marker.is_file() and marker.read_text() == wanted:
        return "cached"
    if venv.exists():
        shutil.rmtree(venv)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120, capture_output=True)
    done = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *peer.requirements],
        capture_output=True, text=True, timeout=INSTALL_TIMEOUT,
    )
    if done.returncode:
        errors = [line for line in done.stderr.splitlines() if line.startswith("ERROR")] or done.stderr.splitlines()[-1:]
        raise PeerUnavailable(f"pip install {' '.join(peer.requirements)} failed: {' '.join(errors)[:300]}")
    marker.write_text(wanted)
    return "installed"


def version_of(venv: Path, distribution: str) -> str:
    done = subprocess.run(
        [str(venv / "bin" / "python"), "-c", f"from importlib.metadata import version; print(version({distribution!r}))"],
        capture_output=True, text=True, timeout=60,
    )
    return done.stdout.strip()


def coderows_version() -> str:
    from importlib.metadata import version

    commit = subprocess.run(
        ["git", "-C", str(Path(__file__).resolve().parent.parent), "rev-parse", "--short", "HEAD"],
        capture_output=True, text=True,
    ).stdout.strip()
    return f"{version('coderows')} ({commit})" if commit else version("coderows")


# -- memory --------------------------------------------------------------------------------


class MemorySampler:
    """Peak summed RSS of this process's descendants (the server tree) and of extra roots."""

    def __init__(self, extra_roots: Callable[[], list[int]], interval: float = 0.1) -> None:
        self.extra_roots = extra_roots
        self.interval = interval
        self.server_peak = 0
        self.extra_peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        me = psutil.Process()
        while not self._stop.wait(self.interval):
            try:
                self.server_peak = max(self.server_peak, tree_rss(me.children(recursive=True)))
                self.extra_peak = max(self.extra_peak, tree_rss(self._extra()))
            except psutil.Error:
                continue  # a process came or went while being read

    def _extra(self) -> list[psutil.Process]:
        mine = {process.pid for process in psutil.Process().children(recursive=True)}
        found: list[psutil.Process] = []
        for pid in self.extra_roots():
            if pid <= 0 or pid in mine:  # negative: a standalone backend (initdb) wrote the file
                continue
            try:
                root = psutil.Process(pid)
                found += [root, *root.children(recursive=True)]
            except psutil.Error:
                pass
        return found


def tree_rss(processes: list[psutil.Process]) -> int:
    """Summed proportional set size (PSS): shared pages (PostgreSQL's shared buffers, forked
    workers' copy-on-write memory) are split between the processes sharing them, not counted
    once per process as RSS would. Falls back to RSS where smaps_rollup is unreadable."""
    total = 0
    for process in processes:
        try:
            with open(f"/proc/{process.pid}/smaps_rollup") as rollup:
                total += next(int(line.split()[1]) * 1024 for line in rollup if line.startswith("Pss:"))
        except (OSError, StopIteration, ValueError):
            try:
                total += process.memory_info().rss
            except psutil.Error:
                pass
    return total


def end_children() -> None:
    """Stop whatever this process started and left running (by PID, ours only)."""
    children = psutil.Process().children(recursive=True)
    for child in children:
        try:
            child.terminate()
        except psutil.Error:
            pass
    _, alive = psutil.wait_procs(children, timeout=5)
    for child in alive:
        try:
            child.kill()
        except psutil.Error:
            pass


# -- driving one server ----------------------------------------------------------------------


async def until_correct(ask: Callable[[], Awaitable[Answer]], extract: Callable[[Answer], str], definition: Definition,
                        timeout: float) -> Answer:
    """Ask again every 0.1 s until the answer holds the definition; TimeoutError past `timeout`."""
    with anyio.fail_after(timeout):
        while True:
            answer = await ask()
            if truth.contains_definition(extract(answer), definition):
                return answer
            await anyio.sleep(0.1)


async def drive(peer: Peer, root: Path, facts: Truth, result: Result, log: Any) -> None:
    command, args = peer.command(root)
    params = StdioServerParameters(command=command, args=args, env=peer.env(), cwd=str(root))
    started = time.monotonic()
    async with Client(stdio_client(params, errlog=log)) as client:
        peer.tools = {tool.name: tool for tool in (await client.list_tools()).tools}
        missing = [name for name in peer.tools_needed if name not in peer.tools]
        if missing:
            raise RuntimeError(f"list_tools lacks {', '.join(missing)} (has {', '.join(sorted(peer.tools))})")
        await peer.open(client, root)
        try:
            await until_correct(lambda: peer.source(client, facts.known), peer.source_text, facts.known, INDEX_TIMEOUT)
        except TimeoutError:
            raise RuntimeError(f"no correct source of {facts.known.full_name} within {INDEX_TIMEOUT:.0f} s") from None
        result.first = time.monotonic() - started
        await peer.wait_indexed(client)
        result.ready = time.monotonic() - started
        await ask_sources(peer, client, facts, result)
        await ask_outlines(peer, client, facts, result)
        await ask_references(peer, client, root, facts, result)
        await edit_and_find(peer, client, root, result)


async def ask_sources(peer: Peer, client: Client, facts: Truth, result: Result) -> None:
    for definition in facts.sample:
        try:
            answer = await peer.source(client, definition)
        except Exception as error:  # noqa: BLE001 - one failed call scores as wrong, with its reason
            answer = Answer(f"{type(error).__name__}: {error}", 0, 1, True)
        correct = truth.contains_definition(peer.source_text(answer), definition)
        exact = sum(len(line.encode()) + 1 for line in definition.lines)
        result.sources.append({"definition": f"{definition.path}::{definition.qualname}", "correct": correct,
                               "bytes": answer.bytes, "exact": exact, "calls": answer.calls, "error": answer.error})


async def ask_outlines(peer: Peer, client: Client, facts: Truth, result: Result) -> None:
    for path, names in facts.outlines.items():
        try:
            answer = await peer.outline(client, path, truth.module_name(path))
        except Exception as error:  # noqa: BLE001
            answer = Answer(f"{type(error).__name__}: {error}", 0, 1, True)
        result.outlines.append({"path": path, "bytes": answer.bytes, "complete": round(truth.named_fraction(answer.text, names), 3),
                                "names": len(names), "error": answer.error})


async def ask_references(peer: Peer, client: Client, root: Path, facts: Truth, result: Result) -> None:
    for function in facts.functions:
        try:
            found = await peer.references(client, function)
        except Exception as error:  # noqa: BLE001
            result.references.append({"function": function.full_name, "tool": "", "error": f"{type(error).__name__}: {error}"})
            continue
        if found is None:
            result.references.append({"function": function.full_name, "tool": ""})
            continue
        real = sum(truth.word_on_line(root, path, line, function.name) for path, line in found.locations)
        result.references.append({"function": function.full_name, "tool": found.tool, "returned": len(found.locations),
                                  "real": real, "grep": facts.grep[function.name], "bytes": found.answer.bytes})


async def edit_and_find(peer: Peer, client: Client, root: Path, result: Result) -> None:
    file = root / EDITED_FILE
    text = file.read_text(encoding="utf-8")
    body = ["", "", f"def {PROBE}(value):", '    """Appended by bench_peers.py."""', "    return value * 2"]
    lines_before = len(text.splitlines())
    edited = text.rstrip("\n") + "\n" + "\n".join(body) + "\n"
    probe = Definition(EDITED_FILE, truth.module_name(EDITED_FILE), PROBE, "function",
                       lines_before + 3, lines_before + 5, tuple(body[2:]))
    started = time.monotonic()
    file.write_text(edited, encoding="utf-8")
    try:
        await peer.refresh(client, root, EDITED_FILE)
        await until_correct(lambda: peer.source(client, probe), peer.source_text, probe, REINDEX_TIMEOUT)
    except TimeoutError:
        result.problems.append(f"the appended function was not served within {REINDEX_TIMEOUT:.0f} s")
        return
    result.reindex = time.monotonic() - started


def run_peer(peer_class: type[Peer], cache: Path, tree: Path, facts: Truth, database_url: str | None,
             budget: float) -> Result:
    result = Result(peer_class.name)
    venv = cache / peer_class.name
    workdir = cache / "runs" / peer_class.name
    try:
        if peer_class.requirements:
            print(f"[{peer_class.name}] pip install ({install(peer_class, venv)})", file=sys.stderr)
            result.version = version_of(venv, peer_class.requirements[0])
        else:
            result.version = coderows_version()
        if workdir.exists():
            if peer_class is Coderows and (workdir / "data").exists():
                stop_embedded(workdir)  # a run that was killed may have left its server up
            shutil.rmtree(workdir)
        workdir.mkdir(parents=True)
        root = workdir / tree.name
        shutil.copytree(tree, root, symlinks=True)
        peer = Coderows(venv, workdir, database_url) if peer_class is Coderows else peer_class(venv, workdir)
        peer.preflight()
        peer.prepare()
    except PeerUnavailable as reason:
        result.status = str(reason)
        return result
    except (OSError, subprocess.SubprocessError) as error:
        result.status = f"setup failed: {type(error).__name__}: {error}"
        return result
    print(f"[{peer.name}] running on {root}", file=sys.stderr)
    with open(workdir / "server.log", "w") as log, MemorySampler(peer.memory_roots) as memory:
        try:
            anyio.run(_bounded, drive(peer, root, facts, result, log), budget)
        except TimeoutError:
            result.status = f"timed out after {budget:.0f} s ({stage(result)})"
        except Exception as error:  # noqa: BLE001 - whatever a peer does, it gets a row
            result.status = f"failed ({stage(result)}): {describe(error)}"
        finally:
            end_children()
    result.server_mb = round(memory.server_peak / 2**20, 1)
    result.db_mb = round(memory.extra_peak / 2**20, 1) if memory.extra_peak else None
    if isinstance(peer, Coderows) and not database_url:
        stop_embedded(workdir)
    result.problems += [f"{s['definition']}: error" for s in result.sources if s["error"]][:3]
    return result


async def _bounded(work: Awaitable[None], budget: float) -> None:
    with anyio.fail_after(budget):
        await work


def stage(result: Result) -> str:
    if result.ready is None:
        return "before the first correct answer"
    if result.reindex is None and result.references:
        return "re-index after an edit"
    return "while answering"


def describe(error: BaseException) -> str:
    while isinstance(error, BaseExceptionGroup) and error.exceptions:
        error = error.exceptions[0]
    return f"{type(error).__name__}: {str(error)[:300]}"


def stop_embedded(workdir: Path) -> None:
    env = {**os.environ, "CODEROWS_DATA_DIR": str(workdir / "data")}
    env.pop("CODEROWS_DATABASE_URL", None)
    subprocess.run([str(Path(sys.executable).with_name("coderows")), "db", "stop"], env=env,
                   capture_output=True, timeout=60)


# -- report ----------------------------------------------------------------------------------


def notes(results: list[Result], facts: Truth, database_url: str | None, peers: list[type[Peer]],
          load: tuple[float, float]) -> list[str]:
    lines = [
        f"Project: Django 5.2.19 sdist ({DJANGO}), a fresh copy per server; one server at a time on "
        f"{os.cpu_count()} cores; load average {load[0]:.1f} before the first server, {load[1]:.1f} after the last "
        "(other work shares the machine: timings carry its noise).",
        f"source: {len(facts.sample)} seeded-random definitions of the django package (seed in the command; "
        "migrations and locale skipped); correct = the answer holds the def/class line through end_lineno "
        "as ast gives them; bytes/correct = all source bytes / correct answers.",
        f"outline: {', '.join(OUTLINE_FILES)} ({sum(map(len, facts.outlines.values()))} top-level and class-level "
        "names); complete = mean fraction of names present as whole words; one call each with default arguments.",
        "references: " + ", ".join(f"{f.full_name} ({facts.grep[f.name]} grep lines)" for f in facts.functions)
        + "; real = the name is a whole word on the returned line (in the file when no line is given).",
        "first answer s: from spawning the server to the first correct source of "
        f"{facts.known.full_name}, including the index calls the server needs first; ready s: until its "
        f"whole index is built too; re-index s: from writing {EDITED_FILE} to the appended function's "
        "source being served, the server's own refresh call included.",
    ]
    for result in results:
        if result.peer == "coderows":
            if not database_url:
                lines.append("coderows: its embedded PostgreSQL is created and started before the clock starts "
                             "(it keeps running between commands, so a server usually finds it up).")
            if result.db_mb is not None:
                lines.append(f"coderows peak memory counts its embedded PostgreSQL: server {result.server_mb} MB + "
                             f"database {result.db_mb} MB.")
            elif database_url:
                lines.append("coderows peak memory is the server alone: the database (--database-url) is not counted.")
        missing = [r["function"] for r in result.references if not r.get("tool") and not r.get("error")]
        if missing and result.status == "ok":
            lines.append(f"{result.peer}: no references tool (find_references not in list_tools).")
    lines += [note for peer in peers for note in peer.notes]
    lines.append("peak memory: the highest summed PSS (shared pages split between the processes sharing "
                 "them) of the server's process tree, sampled every 0.1 s.")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cache", type=Path, default=CACHE / "peers", help="venvs and runs (default %(default)s)")
    parser.add_argument("--peer", action="append", choices=[p.name for p in PEERS], help="only these (repeatable)")
    parser.add_argument("--database-url", help="coderows: this PostgreSQL instead of a throwaway embedded one")
    parser.add_argument("--count", type=int, default=20, help="definitions asked for (default 20)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--budget", type=float, default=900, help="seconds one server may take in all (default 900)")
    add_json_argument(parser)
    parser.set_defaults(json=str(RESULTS / "peers.json"))
    args = parser.parse_args()

    tree = sdist(DJANGO, "django-5.2.19")
    facts = load_truth(tree, args.count, args.seed)
    peers = [p for p in PEERS if not args.peer or p.name in args.peer]
    results = []
    load_before = os.getloadavg()[0]
    for peer_class in peers:
        result = run_peer(peer_class, args.cache.resolve(), tree, facts, args.database_url, args.budget)
        print(f"[{result.peer}] {result.status}", file=sys.stderr)
        results.append(result)
    rows = [result.row() for result in results]
    extra_notes = notes(results, facts, args.database_url, peers, (load_before, os.getloadavg()[0]))
    print(markdown_table(COLUMNS, rows))
    print()
    print("\n".join(f"- {line}" for line in extra_notes))
    details = {r.peer: {"sources": r.sources, "outlines": r.outlines, "references": r.references,
                        "server_mb": r.server_mb, "db_mb": r.db_mb} for r in results}
    write_result(args.json, "peers", COLUMNS, rows, extra_notes, details=details)


if __name__ == "__main__":
    main()
