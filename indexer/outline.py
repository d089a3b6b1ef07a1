"""What a syntax tree says about a file, before any naming rules are applied.

Two extractors produce an Outline: tree-sitter (extract_treesitter.py, the fast path)
and Python's ast (extract_ast.py, used when tree-sitter's tree has errors but the file is
valid Python). parse.py turns either into rows, so qualnames, kinds and bodies are
derived once, the same way for both.
"""

from __future__ import annotations

import ast
import tokenize
import warnings
from dataclasses import dataclass, field

from coderows.common.lines import split_lines, tokenizer_readline


@dataclass(slots=True)
class RawDefinition:
    """A class or function definition as the tree shows it."""

    is_class: bool
    name: str
    parent: int | None  # index of the enclosing definition in Outline.definitions
    def_line: int  # 1-based line of `def` / `class`
    start_line: int  # first decorator's line, else def_line
    end_line: int  # last line of code (trailing comments excluded, as ast does)
    is_async: bool
    header: str  # source from `def`/`class` up to (excluding) the header's colon
    decorators: list[str]
    bases: list[str]
    docstring: str | None
    declared_global: set[str] = field(default_factory=set)  # names in `global` statements of its body


@dataclass(slots=True)
class RawImport:
    line: int
    imported_module: str | None
    imported_name: str | None
    alias: str | None
    level: int


@dataclass(slots=True)
class Outline:
    definitions: list[RawDefinition]  # parents before children
    imports: list[RawImport]
    docstring: str | None  # the module's


def compact_code(text: str) -> str:
    """Code on one line: comments dropped, line breaks inside brackets folded.

    >>> compact_code("def f(\\n    a,  # first\\n    b,\\n) -> int")
    'def f(a, b) -> int'
    """
    if "\n" not in text and "\r" not in text and "#" not in text:
        return text.strip()
    try:
        return _join_tokens(text)
    except (tokenize.TokenError, SyntaxError, IndentationError):
        # Only reachable for code tree-sitter recovered from errors; good enough to show.
        return " ".join(line.strip() for line in split_lines(text) if line.strip())


_SKIPPED_TOKENS = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER}
_OPENING = {"(", "[", "{"}
_CLOSING_BRACKETS = {")", "]", "}"}
_CLOSING = {*_CLOSING_BRACKETS, ","}


def _join_tokens(text: str) -> str:
    pieces: list[str] = []
    previous: tokenize.TokenInfo | None = None
    for token in tokenize.generate_tokens(tokenizer_readline(text.strip())):
        if token.type in _SKIPPED_TOKENS:
            continue
        if previous is not None:
            if token.start[0] == previous.end[0]:
                gap = " " if token.start[1] > previous.end[1] else ""
            else:
                if previous.string == "," and token.string in _CLOSING_BRACKETS:
                    pieces.pop()  # a "magic" trailing comma before a bracket on its own line
                gap = "" if previous.string in _OPENING or token.string in _CLOSING else " "
            pieces.append(gap)
        pieces.append(token.string)
        previous = token
    return "".join(pieces)


def string_value(literal: str) -> str | None:
    """The str value of a string literal's source text; None for bytes and f-strings
    (neither is a docstring for Python)."""
    quote = min((i for i in (literal.find('"'), literal.find("'")) if i >= 0), default=-1)
    if quote < 0:
        return None
    prefix = literal[:quote].lower()
    if "b" in prefix or "f" in prefix or "t" in prefix:
        return None
    plain = _plain_literal_body(literal, quote)
    if plain is not None:
        return plain
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # invalid escapes like "\d" warn but still parse
            value = ast.literal_eval(literal)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return None
    return value if isinstance(value, str) else None


def _plain_literal_body(literal: str, quote: int) -> str | None:
    """The text between the quotes of one literal without escapes (most docstrings),
    or None when it takes Python to evaluate it (escapes, concatenation, parentheses)."""
    if not literal[:quote].isalpha() and quote != 0:
        return None
    delimiter = literal[quote : quote + 3] if literal[quote : quote + 3] in ('"""', "'''") else literal[quote]
    body = literal[quote + len(delimiter) : len(literal) - len(delimiter)]
    if (
        len(literal) - quote < 2 * len(delimiter)
        or not literal.endswith(delimiter)
        or delimiter[0] in body
        or "\\" in body
        or "\r" in body
    ):
        return None
    return body
