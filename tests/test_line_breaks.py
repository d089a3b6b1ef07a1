"""Line numbers in tool answers follow Python's rule (coderows.common.lines): a line ends
at \\r\\n, \\r or \\n, and nowhere else. Files with lone carriage returns, and files whose
strings hold the characters str.splitlines() also breaks at (\\x0c, \\x1c, \\x85,
\\u2028), are numbered in search_code, and in get_symbol's header and context markers,
exactly as Python numbers them. Through a real MCP client, on a real PostgreSQL."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from mcp.server.mcpserver import MCPServer

from coderows.common.lines import line_count, line_end, line_starts, split_lines, split_lines_keepends
from coderows.server.app import build_server
from coderows.server.tools import Tools
from server_fixtures import BACKENDS, Answer, ask, index

# 14 lines ending in lone carriage returns; the needle is on line 12, inside g (11-13).
CR_ONLY = "\r".join(
    [
        '"""Lines that end in lone carriage returns (old Mac OS)."""',  # 1
        "",  # 2
        "",  # 3
        "def f():",  # 4
        "    one = 1",  # 5
        "    two = 2",  # 6
        "    return one + two",  # 7
        "",  # 8
        "",  # 9
        "# before g",  # 10
        "def g():",  # 11
        "    crneedle = 'found'",  # 12
        "    return crneedle",  # 13
        "# after g",  # 14
    ]
) + "\r"

# Line breaks for str.splitlines(), ordinary characters for Python: inside strings here.
ODD_SEPARATORS = "\n".join(
    [
        '"""Strings holding characters that str.splitlines() breaks at."""',  # 1
        "A = 'form\x0cfeed'",  # 2
        "B = 'line\u2028separator'",  # 3
        "",  # 4
        "def h(a='x\u2029y', b='\x85'):",  # 5
        "    c = 'file\x1cseparator'",  # 6
        "    return 'sepneedle'",  # 7
        "Z = 1",  # 8
    ]
) + "\n"

# Valid Python tree-sitter cannot parse (the dedented `baz`): its rows come from ast.
RECOVERED = "def r(a='x\u2028y',\n      b='\x0c'):\n    (bar.\nbaz)\n"

CRLF = "def k():\r\n    crlfneedle = 1\r\n    return crlfneedle\r\n"


@pytest.fixture(scope="module", params=BACKENDS)
def server(request: pytest.FixtureRequest, database_factories: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Iterator[MCPServer]:
    factory = database_factories[request.param]
    url = factory.create()
    root = tmp_path_factory.mktemp("line_breaks").resolve()
    for name, text in {"cr.py": CR_ONLY, "seps.py": ODD_SEPARATORS, "crlf.py": CRLF, "recovered.py": RECOVERED}.items():
        (root / name).write_bytes(text.encode("utf-8"))
    index(url, root)
    tools = Tools(url, [root])
    yield build_server(tools)
    tools.close()
    factory.drop(url)




NUMBERED = re.compile(r" *\d+  ")


def numbered_lines(answer: Answer) -> list[str]:
    """search_code's matching lines (`  12  text`), without headers and notes."""
    return [line for line in answer.text.split("\n") if NUMBERED.match(line)]


# --- search_code ----------------------------------------------------------------------


def test_search_code_numbers_a_lone_carriage_return_file_by_its_own_lines(server: MCPServer) -> None:
    answer = ask(server, "search_code", query="crneedle")
    assert not answer.is_error
    assert numbered_lines(answer) == ["  12  crneedle = 'found'", "  13  return crneedle"]


def test_search_code_does_not_break_lines_at_characters_inside_strings(server: MCPServer) -> None:
    answer = ask(server, "search_code", query="sepneedle")
    assert numbered_lines(answer) == ["  7  return 'sepneedle'"]


def test_search_code_lines_of_a_crlf_file_carry_no_carriage_return(server: MCPServer) -> None:
    answer = ask(server, "search_code", query="crlfneedle")
    assert numbered_lines(answer) == ["  2  crlfneedle = 1", "  3  return crlfneedle"]
    assert "\r" not in answer.text


# --- get_symbol -----------------------------------------------------------------------


def source_part(answer: Answer) -> list[str]:
    """get_symbol's lines after its header and references line: the source, and the
    marker lines that number the blocks of context."""
    assert answer.text.split("\n")[1].startswith("references: ")
    return answer.text.split("\n")[2:]


def test_get_symbol_numbers_body_and_context_of_a_lone_carriage_return_file(server: MCPServer) -> None:
    answer = ask(server, "get_symbol", name="cr.g", context_lines=1)
    assert not answer.is_error
    assert answer.text.split("\n")[0] == "function cr.g  cr.py:11-13"
    assert source_part(answer) == [
        "-- context 10-10 --",
        "# before g",
        "-- definition 11-13 --",
        "def g():",
        "    crneedle = 'found'",
        "    return crneedle",
        "-- context 14-14 --",
        "# after g",
    ]
    assert "\r" not in answer.text


def test_get_symbol_context_reaches_across_lone_carriage_returns(server: MCPServer) -> None:
    answer = ask(server, "get_symbol", name="cr.f", context_lines=3)
    assert source_part(answer) == [
        "-- context 1-3 --",
        "\"\"\"Lines that end in lone carriage returns (old Mac OS).\"\"\"",
        "",
        "",
        "-- definition 4-7 --",
        "def f():",
        "    one = 1",
        "    two = 2",
        "    return one + two",
        "-- context 8-10 --",
        "",
        "",
        "# before g",
    ]


def test_get_symbol_keeps_strings_holding_splitlines_breaks_on_their_line(server: MCPServer) -> None:
    answer = ask(server, "get_symbol", name="seps.h", context_lines=2)
    assert source_part(answer) == [
        "-- context 3-4 --",
        "B = 'line\u2028separator'",
        "",
        "-- definition 5-7 --",
        "def h(a='x\u2029y', b='\x85'):",
        "    c = 'file\x1cseparator'",
        "    return 'sepneedle'",
        "-- context 8-8 --",
        "Z = 1",
    ]


def test_context_after_a_definition_stops_at_the_files_last_line(server: MCPServer) -> None:
    # seps.py ends in a line break after line 8: there is no line 9 to show.
    answer = ask(server, "get_symbol", name="seps.h", context_lines=5)
    assert source_part(answer)[-2:] == ["-- context 8-8 --", "Z = 1"]


def test_get_symbol_body_of_a_crlf_file_carries_no_carriage_return(server: MCPServer) -> None:
    answer = ask(server, "get_symbol", name="crlf.k")
    assert answer.text.split("\n")[0] == "function crlf.k  crlf.py:1-3"
    assert source_part(answer) == ["def k():", "    crlfneedle = 1", "    return crlfneedle"]
    assert "\r" not in answer.text


# --- find_symbol ----------------------------------------------------------------------


def test_a_recovered_signature_is_not_cut_at_a_line_separator_inside_a_string(server: MCPServer) -> None:
    answer = ask(server, "find_symbol", query="recovered.r")
    assert answer.text.split("\n")[1:] == ["function recovered.r  recovered.py:1-4", "  def r(a='x\u2028y', b='\x0c')"]


# --- the rule itself --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "lines"),
    [
        ("", [""]),
        ("a", ["a"]),
        ("a\n", ["a", ""]),
        ("a\rb\r\nc\n", ["a", "b", "c", ""]),
        ("a\r\r\nb", ["a", "", "b"]),
        ("x\x0cy\x1cz\x85\u2028\u2029\x0b", ["x\x0cy\x1cz\x85\u2028\u2029\x0b"]),
    ],
)
def test_split_lines_breaks_at_crlf_cr_and_lf_only(text: str, lines: list[str]) -> None:
    assert split_lines(text) == lines
    starts = line_starts(text)
    assert [text[start : line_end(text, starts, i)] for i, start in enumerate(starts)] == lines
    assert "".join(split_lines_keepends(text)) == text
    assert line_count(text) == len(lines) - (lines[-1] == "")


def test_split_lines_agrees_with_python_on_which_line_a_statement_is() -> None:
    import ast

    text = "a = 'x\u2028y'\rb = '\x0c'\r\nc = '\x85'\nd = 4"
    assert [node.lineno for node in ast.parse(text).body] == [1, 2, 3, 4]
    assert [line.split(" =")[0] for line in split_lines(text)] == ["a", "b", "c", "d"]
