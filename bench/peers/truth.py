"""Ground truth from Python's own `ast`, and the checks that score a server's answers.

- A symbol-source answer is correct when it contains the definition's lines, `def`/`class`
  line through `end_lineno` as `ast` gives them, contiguous and in order. Each line may
  come with its original indentation, without the definition's own indentation
  (`ast.get_source_segment` style) or re-indented as a block; decorators are not required.
- An outline's completeness is the fraction of the module's top-level and class-level
  definitions whose name appears in the answer as a whole word.
- A reference location is real when the function's name appears as a whole word on that
  line of the file (in the file, for a server that names only files). Comments and
  docstrings count: this is the plain grep check, kept simple on purpose.
"""

from __future__ import annotations

import ast
import random
import re
from collections.abc import Iterator
from pathlib import Path

from .base import Definition

SKIP_PARTS = {"migrations", "locale"}  # generated code some servers skip by design


def module_name(path: str) -> str:
    parts = path.removesuffix(".py").split("/")
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def definitions(root: Path, path: str) -> list[Definition]:
    """Every class and function of one file that is not inside a function."""
    source = (root / path).read_text(encoding="utf-8")
    lines = source.splitlines()
    tree = ast.parse(source)
    found: list[Definition] = []

    def visit(statements: list[ast.stmt], prefix: str, in_class: bool) -> None:
        for node in statements:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                qualname = prefix + node.name
                kind = "class" if isinstance(node, ast.ClassDef) else "method" if in_class else "function"
                end = node.end_lineno or node.lineno
                found.append(
                    Definition(path, module_name(path), qualname, kind, node.lineno, end, tuple(lines[node.lineno - 1 : end]))
                )
                if isinstance(node, ast.ClassDef):
                    visit(node.body, qualname + ".", True)
            else:  # if / try / with / for bodies define names at the same level
                for attribute in ("body", "orelse", "finalbody"):
                    children = getattr(node, attribute, None)
                    if isinstance(children, list):
                        visit([child for child in children if isinstance(child, ast.stmt)], prefix, in_class)
                for handler in getattr(node, "handlers", None) or []:
                    visit(handler.body, prefix, in_class)

    visit(tree.body, "", False)
    return found


def python_files(root: Path, package: str = "django") -> Iterator[str]:
    for file in sorted((root / package).rglob("*.py")):
        relative = file.relative_to(root).as_posix()
        if not SKIP_PARTS & set(relative.split("/")):
            yield relative


def sample(root: Path, count: int, seed: int) -> list[Definition]:
    """`count` seeded-random definitions of the package whose qualname is unique in its file."""
    pool: list[Definition] = []
    for path in python_files(root):
        found = definitions(root, path)
        names = [d.qualname for d in found]
        pool.extend(d for d in found if names.count(d.qualname) == 1)
    return random.Random(seed).sample(pool, count)


def find(root: Path, path: str, qualname: str) -> Definition:
    for definition in definitions(root, path):
        if definition.qualname == qualname:
            return definition
    raise LookupError(f"{path}: no definition {qualname}")


def contains_definition(text: str, definition: Definition) -> bool:
    """Whether `text` holds the definition's lines (see the module docstring)."""
    want = [line.rstrip() for line in definition.lines]
    indent = len(definition.lines[0]) - len(definition.lines[0].lstrip())
    have = [line.rstrip() for line in text.splitlines()]
    first = want[0].strip()
    for start, line in enumerate(have):
        if line.strip() != first or start + len(want) > len(have):
            continue
        shift = line[: len(line) - len(line.lstrip())]
        if all(_same_line(have[start + k], want[k], indent, shift) for k in range(1, len(want))):
            return True
    return False


def _same_line(have: str, want: str, indent: int, shift: str) -> bool:
    if not want.strip():
        return not have.strip()
    dedented = want[indent:] if want[:indent].strip() == "" else want
    return have in (want, dedented, shift + dedented)


def outline_names(root: Path, path: str) -> set[str]:
    """Names of the module's top-level definitions and of its classes' direct members."""
    return {d.name for d in definitions(root, path) if d.qualname.count(".") <= 1}


def named_fraction(text: str, names: set[str]) -> float:
    found = sum(1 for name in names if re.search(rf"(?<![\w]){re.escape(name)}(?![\w])", text))
    return found / len(names) if names else 1.0


def word_on_line(root: Path, path: str, line: int | None, name: str) -> bool:
    """The reference check: `name` as a whole word on that line (anywhere in the file if None)."""
    file = root / path.removeprefix("./")
    if not file.is_file():
        return False
    text = file.read_text(encoding="utf-8", errors="replace")
    pattern = re.compile(rf"(?<![\w]){re.escape(name)}(?![\w])")
    if line is None:
        return bool(pattern.search(text))
    lines = text.splitlines()
    return 1 <= line <= len(lines) and bool(pattern.search(lines[line - 1]))


def grep_count(root: Path, definition: Definition) -> int:
    """Lines of the project's .py files naming the function as a whole word, its `def` line aside."""
    pattern = re.compile(rf"(?<![\w]){re.escape(definition.name)}(?![\w])")
    count = 0
    for file in root.rglob("*.py"):
        relative = file.relative_to(root).as_posix()
        for number, line in enumerate(file.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            if pattern.search(line) and not (relative == definition.path and number == definition.lineno):
                count += 1
    return count
