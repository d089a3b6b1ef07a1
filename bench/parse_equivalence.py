"""The parse stage before and after a change, side by side in one process: asserts that
every row parse_module returns (and encode makes of it) is identical over the given
roots, then times both, interleaved, in process CPU time.

    python bench/parse_equivalence.py [--old main] [--repeats 3] [--profile] ROOT...

The old version is the given git ref's indexer/{parse,extract_uses,extract_treesitter,
encode}.py, loaded under another package name; everything else is shared.
"""

from __future__ import annotations

import argparse
import cProfile
import dataclasses
import importlib
import pstats
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType
from typing import Any

REPO = Path(__file__).resolve().parent.parent
CHANGED = ("extract_treesitter", "extract_uses", "parse", "encode")
STDLIB = "/root/.pyenv/versions/3.11.7/lib/python3.11"


def load_old(ref: str) -> tuple[ModuleType, ModuleType]:
    """(parse, encode) modules of `ref`, as package `old_indexer`."""
    folder = Path(tempfile.mkdtemp(prefix="parse-equivalence-"))
    package = folder / "old_indexer"
    package.mkdir()
    (package / "__init__.py").write_text("")
    for name in CHANGED:
        text = subprocess.run(
            ["git", "-C", str(REPO), "show", f"{ref}:indexer/{name}.py"], check=True, capture_output=True, text=True
        ).stdout
        for other in CHANGED:
            text = text.replace(f"coderows.indexer.{other} ", f"old_indexer.{other} ")
            text = text.replace(f"coderows.indexer.{other}\n", f"old_indexer.{other}\n")
        text = text.replace(
            "from coderows.indexer import extract_ast, extract_treesitter",
            "from coderows.indexer import extract_ast\nfrom old_indexer import extract_treesitter",
        )
        (package / f"{name}.py").write_text(text)
    sys.path.insert(0, str(folder))
    return importlib.import_module("old_indexer.parse"), importlib.import_module("old_indexer.encode")


def rows(value: Any) -> Any:
    """A dataclass as nested tuples of its fields (classes of both versions compare)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return (type(value).__name__, tuple((f.name, rows(getattr(value, f.name))) for f in dataclasses.fields(value)))
    if isinstance(value, list):
        return [rows(item) for item in value]
    return value


def files(roots: list[str]) -> list[tuple[str, bytes]]:
    found = []
    for root in roots:
        for path in sorted(Path(root).rglob("*.py")):
            if path.is_file() and "site-packages" not in path.relative_to(root).parts:
                found.append((path.relative_to(root).as_posix(), path.read_bytes()))
    return found


def check(old: ModuleType, old_encode: ModuleType, new: ModuleType, new_encode: ModuleType, sources: list[tuple[str, bytes]]) -> int:
    differ = 0
    for path, data in sources:
        a, b = old.parse_module(path, data), new.parse_module(path, data)
        ra, rb = rows(a), rows(b)
        ea = rows(old_encode.encode(7, 1, old_encode.FileVersion(a, len(data), 0)))
        eb = rows(new_encode.encode(7, 1, new_encode.FileVersion(b, len(data), 0)))
        if ra != rb or ea != eb or a.names_hash != b.names_hash:
            differ += 1
            if differ <= 5:
                print(f"DIFFERS: {path}", file=sys.stderr)
                if len(a.uses) != len(b.uses):
                    print(f"  uses {len(a.uses)} != {len(b.uses)}", file=sys.stderr)
                for x, y in zip(rows(a.uses), rows(b.uses), strict=False):
                    if x != y:
                        print(f"  {x}\n  {y}", file=sys.stderr)
                        break
    return differ


def cpu(parse: Any, sources: list[tuple[str, bytes]]) -> float:
    start = time.process_time()
    for path, data in sources:
        parse(path, data)
    return time.process_time() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("roots", nargs="*", default=[STDLIB])
    parser.add_argument("--old", default="main")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-check", action="store_true")
    parser.add_argument("--profile", action="store_true", help="profile the new parse_module once")
    args = parser.parse_args()
    old, old_encode = load_old(args.old)
    from coderows.indexer import encode as new_encode
    from coderows.indexer import extract_treesitter
    from coderows.indexer import parse as new

    sources = files(args.roots)
    print(f"{len(sources)} files, {sum(len(d) for _, d in sources) / 1e6:.1f} MB")
    if not args.no_check:
        differ = check(old, old_encode, new, new_encode, sources)
        print(f"identical: {len(sources) - differ}/{len(sources)}")
        if differ:
            sys.exit(1)
    if not args.repeats:
        return
    if args.profile:
        profile = cProfile.Profile()
        profile.enable()
        cpu(new.parse_module, sources)
        profile.disable()
        pstats.Stats(profile).sort_stats("tottime").print_stats(25)
        return
    # Interleaved file by file (and in alternating order), so that the load of a shared
    # machine weighs on both versions alike.
    labels = ("tree-sitter parse", "old parse_module", "new parse_module")
    functions = (lambda _p, d: extract_treesitter.parse_tree(d), old.parse_module, new.parse_module)
    times: dict[str, list[float]] = {label: [] for label in labels}
    clock = time.process_time
    for _ in range(args.repeats):
        spent = [0.0, 0.0, 0.0]
        for number, (path, data) in enumerate(sources):
            order = (0, 1, 2) if number % 2 else (0, 2, 1)
            for which in order:
                start = clock()
                functions[which](path, data)
                spent[which] += clock() - start
        for label, value in zip(labels, spent, strict=True):
            times[label].append(value)
    base = min(times["tree-sitter parse"])
    for label, values in times.items():
        print(f"{label:20} min {min(values):6.2f} s CPU  ({min(values) / base:4.2f}x parse)  all: "
              + " ".join(f"{v:.2f}" for v in values))
    print(f"new/old: {min(times['new parse_module']) / min(times['old parse_module']):.3f}")


if __name__ == "__main__":
    main()
