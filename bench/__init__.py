"""coderows benchmarks: `python -m bench` runs them all (see bench/__main__.py).

Each bench/bench_*.py script also runs on its own and, given `--json PATH`, writes its
result there in one shape that the runner reads back:

    {"name": "index", "command": "...", "date": "2026-...+00:00",
     "machine": {"cores": 2, "memory_gib": 23.4, "cpu_model": "..."},
     "columns": ["phase", "seconds", ...], "rows": [["parse only", 3.3, ...], ...],
     "notes": ["full index / parse only = 1.95x ...", ...]}

This module has no third-party imports, so a script can load it before anything else.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def machine() -> dict[str, Any]:
    """Cores, memory and CPU model of this machine."""
    memory_gib = None
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemTotal:"):
                    memory_gib = round(int(line.split()[1]) / 1024**2, 1)
                    break
    except OSError:
        pass
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {"cores": os.cpu_count(), "memory_gib": memory_gib, "cpu_model": model}


def write_result(
    path: str | os.PathLike[str] | None,
    name: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    notes: Sequence[str] = (),
    **extra: Any,
) -> None:
    """Write one script's result as JSON to `path` (nothing when path is None)."""
    if path is None:
        return
    result = {
        "name": name,
        "command": " ".join(shlex.quote(arg) for arg in [Path(sys.executable).name, *sys.argv]),
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "columns": list(columns),
        "rows": [list(row) for row in rows],
        "notes": list(notes),
        **extra,
    }
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(to_json(result) + "\n")


def to_json(value: Any, indent: str = "") -> str:
    """JSON with one key per line and one table row per line: readable in a diff."""
    inner = indent + " "
    if isinstance(value, dict) and value:
        items = [f"{inner}{json.dumps(key)}: {to_json(item, inner)}" for key, item in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + indent + "}"
    if isinstance(value, list) and value and all(isinstance(item, (list, dict)) for item in value):
        items = [
            inner + (to_json(item, inner) if isinstance(item, dict) and any(isinstance(v, (list, dict)) for v in item.values())
                     else json.dumps(item, ensure_ascii=False))
            for item in value
        ]
        return "[\n" + ",\n".join(items) + "\n" + indent + "]"
    return json.dumps(value, ensure_ascii=False)


def markdown_table(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A GitHub markdown table; numbers right-aligned."""

    def cell(value: Any) -> str:
        if value is None:
            return ""
        if isinstance(value, float):
            return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:,.2f}"
        if isinstance(value, int) and not isinstance(value, bool):
            return f"{value:,}"
        return str(value).replace("|", "\\|")

    numeric = [
        all(isinstance(row[i], (int, float)) and not isinstance(row[i], bool) for row in rows if i < len(row) and row[i] is not None)
        and any(i < len(row) and row[i] is not None for row in rows)
        for i in range(len(columns))
    ]
    lines = ["| " + " | ".join(columns) + " |", "| " + " | ".join("---:" if n else "---" for n in numeric) + " |"]
    for row in rows:
        lines.append("| " + " | ".join(cell(value) for value in row) + " |")
    return "\n".join(lines)


# One target's row in a bench's "issue 18 targets" table: (target, measured, limit,
# verdict); `python -m bench` gathers these tables from every result into its summary.
TARGETS_TITLE = "issue 18 targets"


def at_most(name: str, measured: float, limit: float, unit: str) -> tuple[str, str, str, str]:
    """An upper bound: PASS, or MISS with the shortfall."""
    shown = f"{measured:.2f}{unit}"
    if measured <= limit:
        return name, shown, f"<= {limit}{unit}", "PASS"
    return name, shown, f"<= {limit}{unit}", f"MISS: over by {measured - limit:.2f}{unit}, {measured / limit:.2f} times the target"


def at_least(name: str, measured: float, limit: float, unit: str) -> tuple[str, str, str, str]:
    """A lower bound: PASS, or MISS with the shortfall."""
    shown = f"{measured:.2f}{unit}"
    if measured >= limit:
        return name, shown, f">= {limit}{unit}", "PASS"
    return name, shown, f">= {limit}{unit}", f"MISS: under by {limit - measured:.2f}{unit}"


def targets_table(targets: Sequence[tuple[str, str, str, str]]) -> dict[str, Any]:
    """The targets as a table of a result's `tables`."""
    return {"title": TARGETS_TITLE, "columns": ["target", "measured", "limit", "verdict"], "rows": [list(t) for t in targets]}


def all_pass(targets: Sequence[tuple[str, str, str, str]]) -> bool:
    return all(verdict == "PASS" for *_, verdict in targets)


def add_json_argument(parser: Any) -> None:
    parser.add_argument("--json", metavar="PATH", help="also write the result as JSON to PATH")


CACHE = Path(os.environ.get("CODEROWS_BENCH_CACHE", "/tmp/coderows-bench"))
# Trees other tools may already have unpacked (reused when present, never written to).
KNOWN_TREES = (Path("/tmp/sdists"),)


def stdlib() -> Path:
    """The running interpreter's standard library (index it with --exclude site-packages/)."""
    import sysconfig

    return Path(sysconfig.get_paths()["stdlib"]).resolve()


def sdist(requirement: str, folder: str | None = None) -> Path:
    """The unpacked source distribution of `requirement` (e.g. "django==5.2.19"), fetched
    once with `pip download --no-deps --no-binary NAME` into CACHE/sdists and unpacked
    beside it. `folder`, when known (e.g. "django-5.2.19"), lets an unpacked copy under
    /tmp/sdists or the cache be reused without asking the package index at all."""
    import re
    import subprocess
    import tarfile
    import zipfile

    sdists = CACHE / "sdists"
    name = re.split(r"[=<>!~\[; ]", requirement, maxsplit=1)[0]
    if folder is None and re.fullmatch(r"[A-Za-z0-9_.-]+==[A-Za-z0-9_.]+", requirement):
        folder = requirement.replace("==", "-")
    if folder:
        for place in (*KNOWN_TREES, sdists):
            if place.is_dir():
                for found in place.iterdir():
                    if found.name.lower() == folder.lower() and found.is_dir():
                        return found.resolve()
    sdists.mkdir(parents=True, exist_ok=True)
    before = set(sdists.iterdir())
    # --no-binary for this package only: its build dependencies may come as wheels
    # (":all:" would build setuptools & co. from source just to read the metadata).
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", name,
               "--dest", str(sdists), requirement]
    done = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if done.returncode:
        raise SystemExit(f"pip download {requirement} failed:\n{done.stdout[-2000:]}")
    archives = [p for p in sdists.iterdir() if p.name.endswith((".tar.gz", ".zip")) and p not in before]
    if not archives:  # already downloaded: pip printed "File was already downloaded"
        normalized = re.sub(r"[-_.]+", "_", name).lower()
        archives = sorted(
            p for p in sdists.iterdir()
            if p.name.endswith((".tar.gz", ".zip")) and re.sub(r"[-_.]+", "_", p.name).lower().startswith(normalized + "_")
        )
        version = requirement[len(name):].lstrip("=")
        if version and not any(char in version for char in "*<>!~,"):
            archives = [p for p in archives if version in p.name] or archives
    if not archives:
        raise SystemExit(f"pip download {requirement}: no archive found in {sdists}")
    archive = archives[-1]
    target = sdists / (archive.name.removesuffix(".tar.gz").removesuffix(".zip"))
    if not target.is_dir():
        partial = sdists / (target.name + ".partial")
        if partial.exists():
            import shutil

            shutil.rmtree(partial)
        partial.mkdir()
        if archive.name.endswith(".zip"):
            with zipfile.ZipFile(archive) as bundle:
                bundle.extractall(partial)
        else:
            with tarfile.open(archive) as bundle:
                bundle.extractall(partial, filter="data")
        inner = [p for p in partial.iterdir()]
        (inner[0] if len(inner) == 1 and inner[0].is_dir() else partial).rename(target)
        if partial.exists():
            partial.rmdir()
    return target.resolve()


def served_roots(url: str, roots: Sequence[Path]) -> list[Path]:
    """Index each of `roots` (printing its summary line) and return them; with none given,
    every repository already in the database, as the roots a benchmark's server serves."""
    from coderows.db.connection import connect

    resolved = [root.resolve() for root in roots]
    with connect(url, autocommit=True) as conn:
        if resolved:
            from coderows.indexer.pipeline import index_repository

            for root in resolved:
                print(index_repository(conn, root).line())
            return resolved
        return [Path(row[0]) for row in conn.execute("SELECT root FROM repos ORDER BY root")]
