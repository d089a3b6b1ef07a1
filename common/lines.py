"""Lines as Python counts them, the one rule every line number in coderows follows.

Python source lines end at \\r\\n, \\r or \\n, and at nothing else: unlike str.splitlines(),
a form feed, \\x1c-\\x1e, \\x85, \\u2028 or \\u2029 is an ordinary character of its line
(it may sit inside a string literal). Lines are 1-based; a text that ends in a line
break has no further line (the empty piece after it is not counted by line_count).

    split_lines("a\\rb\\r\\nc\\n")  == ["a", "b", "c", ""]
    line_starts("a\\rb\\r\\nc\\n")  == [0, 2, 5, 7]
"""

from __future__ import annotations

import functools
import itertools
import re
from collections.abc import Callable

LINE_BREAK = re.compile(r"\r\n|\r|\n")


def split_lines(text: str) -> list[str]:
    """The lines of `text` without their breaks, as str.split on a break would give
    them: one more piece than there are breaks (an empty one after a final break)."""
    if "\r" not in text:
        return text.split("\n")
    return LINE_BREAK.split(text)


def split_lines_keepends(text: str) -> list[str]:
    """The lines of `text`, each with its own break, so that joining them gives `text`
    back; no empty piece after a final break."""
    starts = line_starts(text)
    pieces = [text[start:end] for start, end in itertools.pairwise(starts)]
    if starts[-1] < len(text):
        pieces.append(text[starts[-1] :])
    return pieces


def line_starts(text: str) -> list[int]:
    """The offset at which each line of `text` starts: element i is line i + 1's, one
    element per piece of split_lines(text)."""
    if "\r" not in text:
        return list(itertools.accumulate((len(line) + 1 for line in text.split("\n")[:-1]), initial=0))
    return [0, *(match.end() for match in LINE_BREAK.finditer(text))]


def line_count(text: str) -> int:
    """How many lines `text` has (a final line break does not start another)."""
    if not text:
        return 0
    breaks = text.count("\n") + text.count("\r") - text.count("\r\n")
    return breaks if text.endswith(("\n", "\r")) else breaks + 1


def line_end(text: str, starts: list[int], index: int) -> int:
    """The offset just past the last character of line index + 1 (before its break);
    `starts` is line_starts(text)."""
    if index + 1 >= len(starts):
        return len(text)
    end = starts[index + 1]
    return end - 2 if text.startswith("\r\n", end - 2) else end - 1


def sql_split_lines(column: str) -> str:
    """A PostgreSQL expression giving split_lines() of a text column as text[] (the
    same rule, applied server-side so that searches need not fetch whole files).
    `column` is an SQL expression written by coderows, never user input."""
    return f"string_to_array(replace(replace({column}, E'\\r\\n', E'\\n'), E'\\r', E'\\n'), E'\\n')"


def tokenizer_readline(text: str) -> Callable[[], str]:
    """A readline for tokenize.generate_tokens over the lines of `text`, each ending in
    \\n whatever its break was (tokenize reads a lone \\r as an error token, and
    io.StringIO would not end a line there): rows and columns stay those of `text`."""
    lines = [line + "\n" for line in split_lines(text)]
    if lines[-1] == "\n":  # the empty piece after a final break, or an empty text
        lines.pop()
    else:
        lines[-1] = lines[-1][:-1]
    return functools.partial(next, iter(lines), "")
