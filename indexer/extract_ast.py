"""Outline of a file from Python's own ast: used when tree-sitter's tree has errors but
the file is valid Python, so that rows stay exact (ast is the reference for lines)."""

from __future__ import annotations

import ast
import tokenize
from collections.abc import Iterator

from coderows.common.lines import line_starts, split_lines_keepends, tokenizer_readline
from coderows.indexer.outline import Outline, RawDefinition, RawImport, compact_code

_DEFINITIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
_SCOPES = (*_DEFINITIONS, ast.Lambda)
Definition = ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef


def extract(module: ast.Module, source: str) -> Outline:
    lines = [line.encode("utf-8") for line in split_lines_keepends(source)]
    found = sorted(_definitions_with_parents(module), key=lambda pair: (pair[0].lineno, pair[0].col_offset))
    index_of = {id(node): index for index, (node, _) in enumerate(found)}
    definitions = [
        _definition(node, index_of.get(id(parent)) if parent is not None else None, lines)
        for node, parent in found
    ]
    imports = [row for node in ast.walk(module) if isinstance(node, ast.Import | ast.ImportFrom) for row in _imports(node)]
    imports.sort(key=lambda row: row.line)
    return Outline(definitions, imports, ast.get_docstring(module, clean=False))


def _definitions_with_parents(module: ast.Module) -> Iterator[tuple[Definition, Definition | None]]:
    """Every definition with its nearest enclosing definition, without recursion (files
    can nest deeper than Python's recursion limit)."""
    stack: list[tuple[ast.AST, Definition | None]] = [(module, None)]
    while stack:
        node, enclosing = stack.pop()
        for child in ast.iter_child_nodes(node):
            if isinstance(child, _DEFINITIONS):
                yield child, enclosing
                stack.append((child, child))
            else:
                stack.append((child, enclosing))


def _definition(node: Definition, parent: int | None, lines: list[bytes]) -> RawDefinition:
    is_class = isinstance(node, ast.ClassDef)
    return RawDefinition(
        is_class=is_class,
        name=node.name,
        parent=parent,
        def_line=node.lineno,
        start_line=node.decorator_list[0].lineno if node.decorator_list else node.lineno,
        end_line=node.end_lineno or node.lineno,
        is_async=isinstance(node, ast.AsyncFunctionDef),
        header=_header(node, lines),
        decorators=[compact_code(_segment(lines, d)) for d in node.decorator_list],
        bases=[compact_code(_segment(lines, b)) for b in node.bases] if isinstance(node, ast.ClassDef) else [],
        docstring=ast.get_docstring(node, clean=False),
        declared_global=_declared_global(node),
    )


def _header(node: Definition, lines: list[bytes]) -> str:
    """Source from `def` / `class` up to the colon that ends the header."""
    first = node.body[0]
    text = _slice(lines, node.lineno, node.col_offset, first.lineno, first.col_offset).decode("utf-8", "replace")
    return text[: _header_colon(text)]


def _segment(lines: list[bytes], node: ast.expr) -> str:
    """An expression's source text (ast.get_source_segment re-splits the file each call)."""
    end_line = node.end_lineno or node.lineno
    end_col = node.end_col_offset if node.end_col_offset is not None else len(lines[end_line - 1])
    return _slice(lines, node.lineno, node.col_offset, end_line, end_col).decode("utf-8", "replace")


def _slice(lines: list[bytes], start_line: int, start_col: int, end_line: int, end_col: int) -> bytes:
    if start_line == end_line:
        return lines[start_line - 1][start_col:end_col]
    middle = b"".join(lines[start_line : end_line - 1])
    return lines[start_line - 1][start_col:] + middle + lines[end_line - 1][:end_col]


def _header_colon(text: str) -> int:
    """Offset of the first ':' outside brackets (annotations and defaults may hold more)."""
    offsets = line_starts(text)
    depth = 0
    try:
        for token in tokenize.generate_tokens(tokenizer_readline(text)):
            if token.type != tokenize.OP:
                continue
            if token.string in "([{":
                depth += 1
            elif token.string in ")]}":
                depth -= 1
            elif token.string == ":" and depth == 0:
                return offsets[token.start[0] - 1] + token.start[1]
    except (tokenize.TokenError, SyntaxError):
        pass
    return text.rfind(":") if ":" in text else len(text)


def _declared_global(node: Definition) -> set[str]:
    """Names in `global` statements of this definition's own body (not nested scopes)."""
    names: set[str] = set()
    stack: list[ast.AST] = list(node.body)
    while stack:
        current = stack.pop()
        if isinstance(current, ast.Global):
            names.update(current.names)
        elif not isinstance(current, _SCOPES):
            stack.extend(child for child in ast.iter_child_nodes(current) if isinstance(child, ast.stmt | ast.excepthandler | ast.match_case))
    return names


def _imports(node: ast.Import | ast.ImportFrom) -> list[RawImport]:
    if isinstance(node, ast.Import):
        return [RawImport(alias.lineno, alias.name, None, alias.asname, 0) for alias in node.names]
    return [RawImport(alias.lineno, node.module, alias.name, alias.asname, node.level) for alias in node.names]
