"""The correctness bar: over the whole standard library of the running interpreter, the
index holds exactly the definitions Python's own ast sees, with exact bodies.

Referees: `ast` for kinds and lines (the contract's definition), and CPython's compiler
for qualnames (`co_qualname` of every compiled code object), so that the qualname rules
in the referee below cannot drift from Python's.
"""

from __future__ import annotations

import ast
import sysconfig
import types
import warnings
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from coderows.db.connection import connect
from coderows.indexer.pipeline import index_repository
from conftest import BACKENDS

STDLIB = Path(sysconfig.get_paths()["stdlib"])
Row = tuple[str, str, int, int, int]  # qualname, kind, def_line, start_line, end_line


def ast_definitions(tree: ast.Module) -> Iterator[tuple[Row, ast.AST]]:
    """(qualname, kind, def_line, start_line, end_line) of every definition, by the rules
    CPython's compiler uses for __qualname__."""
    stack: list[tuple[ast.AST, ast.AST | None, str, set[str]]] = [(tree, None, "", set())]
    while stack:
        node, parent, parent_qualname, parent_globals = stack.pop()
        for child in ast.iter_child_nodes(node):
            if not isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                stack.append((child, parent, parent_qualname, parent_globals))
                continue
            in_class = isinstance(parent, ast.ClassDef)
            if parent is None or child.name in parent_globals:
                qualname = child.name
            elif in_class:
                qualname = f"{parent_qualname}.{child.name}"
            else:
                qualname = f"{parent_qualname}.<locals>.{child.name}"
            kind = "class" if isinstance(child, ast.ClassDef) else "method" if in_class else "function"
            start = child.decorator_list[0].lineno if child.decorator_list else child.lineno
            yield (qualname, kind, child.lineno, start, child.end_lineno or child.lineno), child
            stack.append((child, child, qualname, declared_global(child)))


def declared_global(definition: ast.AST) -> set[str]:
    names: set[str] = set()
    pending = list(getattr(definition, "body", []))
    while pending:
        node = pending.pop()
        if isinstance(node, ast.Global):
            names.update(node.names)
        elif not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Lambda):
            pending.extend(c for c in ast.iter_child_nodes(node) if isinstance(c, ast.stmt | ast.excepthandler | ast.match_case))
    return names


def compiled_qualnames(source: bytes, filename: str) -> set[tuple[str, int]]:
    """(co_qualname, co_firstlineno) of every named code object CPython compiles."""
    found = set()
    pending = [compile(source, filename, "exec", dont_inherit=True)]
    while pending:
        code = pending.pop()
        for const in code.co_consts:
            if isinstance(const, types.CodeType):
                pending.append(const)
                if not const.co_name.startswith("<"):
                    found.add((const.co_qualname, const.co_firstlineno))
    return found


@pytest.fixture(scope="module", params=BACKENDS)
def indexed_stdlib(request: pytest.FixtureRequest, database_factories: dict) -> Iterator[psycopg.Connection]:
    """One stdlib index per backend, shared by the read-only tests below."""
    url = database_factories[request.param].create()
    with connect(url, autocommit=True) as conn:
        index_repository(conn, STDLIB, excludes=["site-packages/"])
        yield conn


def indexed_rows(conn: psycopg.Connection) -> dict[str, dict[Row, str]]:
    by_path: dict[str, dict[Row, str]] = defaultdict(dict)
    for path, qualname, kind, def_line, start, end, body in conn.execute(
        "SELECT path, qualname, kind, def_line, start_line, end_line, body FROM symbols"
    ):
        by_path[path][(qualname, kind, def_line, start, end)] = body
    return by_path


@pytest.mark.slow
def test_every_stdlib_definition_matches_ast_with_exact_bodies(indexed_stdlib: psycopg.Connection) -> None:
    indexed = indexed_rows(indexed_stdlib)
    checked_files = checked_definitions = 0
    mismatches: list[str] = []
    for (path,) in indexed_stdlib.execute("SELECT path FROM modules ORDER BY path"):
        source = (STDLIB / path).read_bytes()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                tree = ast.parse(source)
        except (SyntaxError, ValueError):
            continue  # not valid Python for this interpreter: outside the correctness bar
        lines = source.decode(_encoding(source), "replace").split("\n")
        expected = {row: "\n".join(lines[row[3] - 1 : row[4]]).removesuffix("\r") for row, _ in ast_definitions(tree)}
        actual = indexed.get(path, {})
        checked_files += 1
        checked_definitions += len(expected)
        if actual != expected:
            missing = sorted(set(expected) - set(actual))[:3]
            extra = sorted(set(actual) - set(expected))[:3]
            wrong_body = [row for row in expected if row in actual and actual[row] != expected[row]][:3]
            mismatches.append(f"{path}: missing {missing} extra {extra} wrong bodies {wrong_body}")
    assert mismatches == []
    assert checked_files > 1500 and checked_definitions > 60000


@pytest.mark.slow
def test_every_stdlib_qualname_agrees_with_cpythons_compiler(indexed_stdlib: psycopg.Connection) -> None:
    ours: dict[str, set[tuple[str, int]]] = defaultdict(set)
    for path, qualname, start in indexed_stdlib.execute("SELECT path, qualname, start_line FROM symbols"):
        ours[path].add((qualname, start))
    disagreements = []
    compared = 0
    for (path,) in indexed_stdlib.execute("SELECT path FROM modules WHERE parse_status IN ('ok', 'recovered')"):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                compiled = compiled_qualnames((STDLIB / path).read_bytes(), path)
        except (SyntaxError, ValueError):
            continue
        compared += len(compiled)
        disagreements += [f"{path}: {item}" for item in sorted(compiled - ours[path])[:3]]
    assert disagreements == []
    assert compared > 60000


def _encoding(source: bytes) -> str:
    import io
    import tokenize

    return tokenize.detect_encoding(io.BytesIO(source).readline)[0]
