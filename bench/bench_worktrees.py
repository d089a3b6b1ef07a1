"""A second checkout (or git worktree) of a project, indexed beside the first: what it
costs in time and in database size, against the first.

    python bench/bench_worktrees.py                      # Django 5.2.19's sdist (fetched once)
    python bench/bench_worktrees.py --root DIR           # any tree
    python bench/bench_worktrees.py --changed 10 --database-url URL --json bench/results/worktrees.json

Both roots are copies under a temporary folder: the first as fetched, the second with
--changed files edited (a function appended to each, so their names change too). Each is
indexed into one fresh database with `index_repository`, the first, then the second.
Targets (issue 15): the second root indexes in at most 10% of the first one's time and
grows the database by at most 10% of what the first one made it. Exit code 1 when a
target is missed. Without --database-url a throwaway embedded PostgreSQL is used;
without Django (offline) the running interpreter's standard library.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench import CACHE, add_json_argument, sdist, write_result  # noqa: E402

DJANGO = ("django==5.2.19", "django-5.2.19")
TARGET = 0.10  # second / first, for time and for database growth
SKIPPED_FOLDERS = ("site-packages",)  # of the stdlib fallback: installed packages are not the stdlib


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, default=None, help="default: the Django sdist, else the stdlib")
    parser.add_argument("--changed", type=int, default=10, help="files edited in the second root (default 10)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--quick", action="store_true", help="accepted for the runner; the bench runs once either way")
    add_json_argument(parser)
    args = parser.parse_args()
    corpus = args.root.resolve() if args.root else default_corpus()
    from bench_index import database

    with tempfile.TemporaryDirectory(prefix="worktrees-", dir=_scratch()) as scratch, database(args.database_url) as url:
        first, second = make_roots(corpus, Path(scratch), args.changed)
        figures = measure(url, first, second, args.jobs)
    report(corpus, args.changed, figures, args.json)
    if figures["time_ratio"] > TARGET or figures["growth_ratio"] > TARGET:
        sys.exit(1)


def default_corpus() -> Path:
    try:
        return sdist(*DJANGO)
    except SystemExit as error:  # offline: pip download failed
        print(f"Django unavailable ({str(error).splitlines()[0]}); using the standard library", file=sys.stderr)
        return Path(sysconfig.get_paths()["stdlib"]).resolve()


def _scratch() -> str:
    CACHE.mkdir(parents=True, exist_ok=True)
    return str(CACHE)


def make_roots(corpus: Path, scratch: Path, changed: int) -> tuple[Path, Path]:
    """Two copies of `corpus` named alike (as worktrees are); the second with `changed`
    Python files, spread over the tree, edited."""
    is_stdlib = corpus == Path(sysconfig.get_paths()["stdlib"]).resolve()
    ignore = shutil.ignore_patterns(*SKIPPED_FOLDERS if is_stdlib else (), "__pycache__")
    first = Path(shutil.copytree(corpus, scratch / "first" / corpus.name, ignore=ignore, symlinks=True))
    second = Path(shutil.copytree(first, scratch / "second" / corpus.name, symlinks=True))
    files = sorted(path for path in second.rglob("*.py") if path.is_file() and not path.is_symlink())
    step = max(1, len(files) // max(changed, 1))
    for number, path in enumerate(files[::step][:changed]):
        with path.open("a", encoding="utf-8") as handle:
            handle.write(f"\n\ndef _edited_in_worktree_{number}():\n    return {number}\n")
    return first, second


def measure(url: str, first: Path, second: Path, jobs: int) -> dict:
    from coderows.db.connection import connect
    from coderows.indexer.pipeline import index_repository

    with connect(url, autocommit=True) as conn:
        empty = database_bytes(conn)
        started = time.perf_counter()
        one = index_repository(conn, first, jobs=jobs)
        first_seconds = time.perf_counter() - started
        after_first = database_bytes(conn)
        started = time.perf_counter()
        two = index_repository(conn, second, jobs=jobs)
        second_seconds = time.perf_counter() - started
        after_second = database_bytes(conn)
    return {
        "first": (first_seconds, after_first - empty, one.files_indexed, one.files_shared),
        "second": (second_seconds, after_second - after_first, two.files_indexed - two.files_shared, two.files_shared),
        "time_ratio": second_seconds / first_seconds,
        "growth_ratio": (after_second - after_first) / (after_first - empty),
    }


def database_bytes(conn: object) -> int:
    return int(conn.execute("SELECT pg_database_size(current_database())").fetchone()[0])  # type: ignore[attr-defined]


def report(corpus: Path, changed: int, figures: dict, json_path: str | None) -> None:
    rows = []
    print(f"corpus: {corpus}; the second root has {changed} files edited")
    print(f"{'root':<8}{'seconds':>9}{'database MB':>13}{'parsed':>8}{'shared':>8}")
    for label in ("first", "second"):
        seconds, grown, parsed, shared = figures[label]
        rows.append([label, round(seconds, 2), round(grown / 2**20, 1), parsed, shared])
        print(f"{label:<8}{seconds:>9.2f}{grown / 2**20:>13.1f}{parsed:>8}{shared:>8}")
    notes = [
        f"time: second / first = {figures['time_ratio']:.3f} (target <= {TARGET:.2f}): "
        + ("PASS" if figures["time_ratio"] <= TARGET else "FAIL"),
        f"database growth: second / first = {figures['growth_ratio']:.3f} (target <= {TARGET:.2f}): "
        + ("PASS" if figures["growth_ratio"] <= TARGET else "FAIL"),
        "database MB: what pg_database_size grew by while the root was indexed",
        "load average (1, 5, 15 min) at the end: {:.1f}, {:.1f}, {:.1f} on {} cores".format(*os.getloadavg(), os.cpu_count()),
    ]
    for note in notes:
        print(note)
    write_result(json_path, "worktrees", ["root", "seconds", "database MB", "parsed", "shared"], rows, notes,
                 corpus=str(corpus), changed=changed)


if __name__ == "__main__":
    main()
