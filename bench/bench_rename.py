"""Rename by symbol, refereed by rope: on the werkzeug and flask sdists, rename seeded-random
definitions (functions, methods, classes) with `coderows rename` and with rope (PyPI,
installed into this interpreter for the bench only: `pip install rope`), and compare the
positions each changed.

    python bench/bench_rename.py [--count 25] [--seed 17] [--database-url URL] [--json out.json]

For each definition, two fresh copies of the project are renamed, one by each tool; a
position is (file, line, column) of an identifier (or string) token whose text changed.
Reported per project: positions both changed, positions only rope changed (coderows
missed them), positions only coderows changed (beyond rope: each listed with its line
for the report), and whether `compileall` is clean after the coderows rename.
"""

from __future__ import annotations

import argparse
import io
import json
import random
import shutil
import subprocess
import sys
import tempfile
import tokenize
from dataclasses import asdict, dataclass, field
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))

from bench import sdist  # noqa: E402

PROJECTS = (("werkzeug==3.1.9", "werkzeug-3.1.9"), ("flask==3.1.3", "flask-3.1.3"))
CODEROWS = str(Path(sys.executable).with_name("coderows"))

Position = tuple[str, int, int]


@dataclass
class Trial:
    project: str
    full_name: str
    kind: str
    both: int = 0
    rope_only: list[str] = field(default_factory=list)
    coderows_only: list[str] = field(default_factory=list)
    compiles: bool = True
    error: str = ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=25, help="definitions per project (default 25)")
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--quick", action="store_true", help="5 definitions per project")
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    count = 5 if args.quick else args.count
    try:
        import rope  # noqa: F401
    except ImportError:
        raise SystemExit("bench_rename needs rope: pip install rope (into this interpreter only)") from None
    url = args.database_url or _embedded_url()
    trials: list[Trial] = []
    with tempfile.TemporaryDirectory(prefix="coderows-bench-rename-") as scratch:
        for requirement, folder in PROJECTS:
            source = sdist(requirement, folder)
            trials.extend(run_project(source, Path(scratch), url, count, args.seed))
    print_table(trials)
    if args.json:
        args.json.write_text(json.dumps([asdict(t) for t in trials], indent=1))


def _embedded_url() -> str:
    from coderows.db.embedded import start

    return start()


def run_project(source: Path, scratch: Path, url: str, count: int, seed: int) -> list[Trial]:
    from coderows.db.connection import connect
    from coderows.indexer.pipeline import index_repository

    reference = scratch / f"{source.name}-reference"
    shutil.copytree(source, reference)
    with connect(url, autocommit=True) as conn:
        index_repository(conn, reference, jobs=1)
        picks = pick_definitions(conn, reference, count, seed)
    trials = []
    for full_name, kind, path, def_line, name in picks:
        trial = Trial(source.name, full_name, kind)
        try:
            rope_copy = fresh_copy(reference, scratch / "rope")
            ours = fresh_copy(reference, scratch / "coderows")
            rope_rename(rope_copy, path, def_line, name, name + "_renamed")
            with connect(url, autocommit=True) as conn:
                index_repository(conn, ours, jobs=1)  # the same root every trial: an incremental run
            done = subprocess.run(
                [CODEROWS, "rename", "--database-url", url, "--repo", str(ours.resolve()), full_name, name + "_renamed"],
                capture_output=True, text=True, timeout=600, cwd=ours,
            )
            if done.returncode:
                trial.error = done.stderr.strip()[:200]
            rope_positions = changed_positions(reference, rope_copy)
            our_positions = changed_positions(reference, ours)
            trial.both = len(rope_positions & our_positions)
            trial.rope_only = [describe(reference, p) for p in sorted(rope_positions - our_positions)]
            trial.coderows_only = [describe(reference, p) for p in sorted(our_positions - rope_positions)]
            trial.compiles = subprocess.run(
                [sys.executable, "-m", "compileall", "-q", str(ours)], capture_output=True, timeout=600
            ).returncode == 0
        except Exception as error:  # a trial that fails is reported, the bench goes on
            trial.error = f"{type(error).__name__}: {str(error)[:200]}"
        trials.append(trial)
    return trials


def pick_definitions(conn, root: Path, count: int, seed: int) -> list[tuple[str, str, str, int, str]]:
    """Seeded-random non-dunder, non-local definitions of the project's own package code."""
    rows = conn.execute(
        """
        SELECT s.full_name, s.kind, s.path, s.def_line, s.name FROM symbols s JOIN repos r ON r.id = s.repo_id
        WHERE r.root = %s AND s.path LIKE 'src/%%' AND s.qualname NOT LIKE '%%<locals>%%' AND s.name NOT LIKE '\\_\\_%%'
        ORDER BY s.full_name, s.path, s.def_line
        """,
        [str(root.resolve())],
    ).fetchall()
    unique: dict[str, tuple[str, str, str, int, str]] = {}
    for row in rows:
        unique.setdefault(row[0], row)
    chosen = sorted(unique.values())
    random.Random(seed).shuffle(chosen)
    return chosen[:count]


def fresh_copy(reference: Path, place: Path) -> Path:
    shutil.rmtree(place, ignore_errors=True)
    shutil.copytree(reference, place)
    return place


def rope_rename(root: Path, path: str, def_line: int, old: str, new: str) -> None:
    import re

    from rope.base.project import Project
    from rope.refactor.rename import Rename

    text = (root / path).read_text()
    lines = text.splitlines(keepends=True)
    line = lines[def_line - 1]
    found = re.search(rf"\b(?:def|class)\s+({re.escape(old)})\b", line)
    assert found is not None, f"{path}:{def_line} has no definition of {old}"
    offset = sum(len(x) for x in lines[: def_line - 1]) + found.start(1)
    project = Project(str(root), ropefolder=None)
    try:
        resource = project.get_resource(path)
        project.do(Rename(project, resource, offset).get_changes(new))
    finally:
        project.close()


def changed_positions(reference: Path, renamed: Path) -> set[Position]:
    """(path, line, col) of every token whose text differs between the two trees."""
    changed: set[Position] = set()
    for new_path in renamed.rglob("*.py"):
        relative = new_path.relative_to(renamed)
        old_path = reference / relative
        if not old_path.exists():
            continue
        old, new = old_path.read_bytes(), new_path.read_bytes()
        if old == new:
            continue
        old_tokens, new_tokens = tokens(old), tokens(new)
        if len(old_tokens) != len(new_tokens):
            changed.add((str(relative), 0, 0))  # not a rename-shaped change: counted once
            continue
        for (start, text), (_, other) in zip(old_tokens, new_tokens, strict=True):
            if text != other:
                changed.add((str(relative), *start))
    return changed


def tokens(data: bytes) -> list[tuple[tuple[int, int], str]]:
    try:
        return [(t.start, t.string) for t in tokenize.tokenize(io.BytesIO(data).readline) if t.type in (tokenize.NAME, tokenize.STRING)]
    except (tokenize.TokenError, SyntaxError):
        return []


def describe(reference: Path, position: Position) -> str:
    path, line, col = position
    if line == 0:
        return f"{path}: changed beyond tokens"
    text = (reference / path).read_text(errors="replace").splitlines()[line - 1].strip()
    return f"{path}:{line}:{col}: {text[:100]}"


def print_table(trials: list[Trial]) -> None:
    print("| project | renames | positions both | only rope | only coderows | compileall clean | errors |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for project in dict.fromkeys(t.project for t in trials):
        mine = [t for t in trials if t.project == project]
        print(
            f"| {project} | {len(mine)} | {sum(t.both for t in mine)} | {sum(len(t.rope_only) for t in mine)} | "
            f"{sum(len(t.coderows_only) for t in mine)} | {sum(t.compiles for t in mine)}/{len(mine)} | "
            f"{sum(bool(t.error) for t in mine)} |"
        )
    for trial in trials:
        if trial.rope_only or trial.coderows_only or trial.error:
            print(f"\n{trial.project} {trial.kind} {trial.full_name}: {trial.error}")
            for line in trial.rope_only:
                print(f"  only rope:     {line}")
            for line in trial.coderows_only:
                print(f"  only coderows: {line}")


if __name__ == "__main__":
    main()
