"""Answers that settle the question (issue 16): paging that cannot loop or trail off,
signatures capped in lists, overloads and property accessors answered as one."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from mcp.server.mcpserver import MCPServer

from coderows.server.app import build_server
from coderows.server.render import DEFAULT_MAX_BYTES, SIGNATURE_CHARS
from coderows.server.tools import Tools
from tests.server_fixtures import ask, index

HUGE_DEFAULT = "'" + "d" * 17_000 + "'"
HUGE_SIGNATURE = f"def first(self, value={HUGE_DEFAULT})"


def long_docstring_methods(count: int, doc_lines: int) -> str:
    doc = "\n".join(f"        line {i} of a docstring that is long enough to weigh" for i in range(doc_lines))
    return "".join(f'    def method_{n}(self):\n        """Method {n}.\n{doc}\n        """\n\n' for n in range(count))


SOURCES = {
    "pkg/__init__.py": "",
    "pkg/huge.py": (
        "class Holder:\n"
        f"    def first(self, value={HUGE_DEFAULT}):\n"
        "        return value\n\n"
        "    def second(self):\n"
        "        return 2\n"
    ),
    "pkg/many.py": "class Many:\n" + long_docstring_methods(400, 1),
    "pkg/typed.py": (
        "from typing import overload\n\n\n"
        "class Session:\n"
        "    @overload\n"
        "    def execute(self, statement: int) -> int: ...\n"
        "    @overload\n"
        "    def execute(self, statement: str) -> str: ...\n"
        "    def execute(self, statement):\n"
        "        return statement\n\n"
        "    @property\n"
        "    def base_url(self) -> str:\n"
        "        return self._url\n\n"
        "    @base_url.setter\n"
        "    def base_url(self, url: str) -> None:\n"
        "        self._url = url\n\n\n"
        "class Child(Session):\n"
        "    pass\n"
    ),
    "pkg/base.py": "class BaseTransport:\n    pass\n\n\nclass Client:\n    pass\n",
    "pkg/transports/default.py": "class HTTPTransport:\n    pass\n",
    "pkg/transports/deep/client.py": "class Client:\n    pass\n",
    "tests/test_things.py": "class ATransport:\n    pass\n",
    "docs/conf.py": "class Client:\n    pass\n",
    "pkg/twice.py": (
        "import sys\n\n"
        "if sys.platform == 'win32':\n"
        "    def where():\n"
        "        return 'windows'\n"
        "else:\n"
        "    def where():\n"
        "        return 'elsewhere'\n"
    ),
}


@pytest.fixture(scope="module")
def server(database_factories: dict, tmp_path_factory: pytest.TempPathFactory) -> Iterator[MCPServer]:
    factory = database_factories["embedded"]
    url = factory.create()
    root = tmp_path_factory.mktemp("answers")
    for relative, text in SOURCES.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text(text)
    index(url, root)
    tools = Tools(url, [root.resolve()], watch=False)
    yield build_server(tools)
    tools.close()
    factory.drop(url)




NEXT_OFFSET = re.compile(r"offset=(\d+)\)")


def pages(server: MCPServer, tool: str, **arguments: object) -> list[str]:
    """Every page of an answer, following the call each [cut: ...] line gives."""
    texts = []
    offset = 0
    while True:
        text = ask(server, tool, **arguments, offset=offset).text
        texts.append(text)
        tail = text.splitlines()[-1]
        if not tail.startswith("[cut:"):
            return texts
        found = NEXT_OFFSET.findall(tail)
        assert found, tail
        assert int(found[-1]) > offset, f"paging does not move forward: {tail}"
        offset = int(found[-1])
        assert len(texts) < 200, "paging did not end"


def test_an_outline_whose_first_entry_outweighs_the_page_still_moves_forward(server: MCPServer) -> None:
    answer = ask(server, "get_outline", target="pkg.huge.Holder").text
    lines = answer.splitlines()
    assert lines[2] == f"{HUGE_SIGNATURE[:SIGNATURE_CHARS]}…[+{len(HUGE_SIGNATURE) - SIGNATURE_CHARS} chars]  2-3"
    assert lines[3] == "def second(self)  5-6"
    assert len(answer.encode()) <= DEFAULT_MAX_BYTES


def test_a_list_caps_each_signature_with_an_elision_mark(server: MCPServer) -> None:
    lines = ask(server, "find_symbol", query="first").text.splitlines()
    assert lines[1] == "method pkg.huge.Holder.first  pkg/huge.py:2-3"
    assert lines[2] == f"  {HUGE_SIGNATURE[:SIGNATURE_CHARS]}…[+{len(HUGE_SIGNATURE) - SIGNATURE_CHARS} chars]"


def test_get_symbol_without_body_cuts_an_oversized_signature_and_says_how_to_read_it(server: MCPServer) -> None:
    lines = ask(server, "get_symbol", name="Holder.first", include_body=False).text.splitlines()
    assert lines[0] == "method pkg.huge.Holder.first  pkg/huge.py:2-3"
    assert lines[2].startswith("def first(self, value='ddd") and lines[2].endswith(" ...[line cut: 17025 bytes]")
    assert lines[3] == "[cut at the answer's byte budget; the source, paged: get_symbol(name='Holder.first')]"


@pytest.mark.parametrize(
    ("tool", "arguments"),
    [
        # limit above the entry count: the pages are cut by bytes (limit=N pages are N entries each)
        ("get_outline", {"target": "pkg.many.Many", "limit": 1000}),
        ("get_outline", {"target": "pkg/many.py", "limit": 1000}),
        ("get_symbol", {"name": "pkg.many.Many"}),
        ("find_symbol", {"query": "method_*"}),
        ("search_code", {"query": "docstring that"}),
    ],
)
def test_paging_reaches_the_end_without_repeating_and_without_a_sliver(
    server: MCPServer, tool: str, arguments: dict[str, object]
) -> None:
    texts = pages(server, tool, **arguments)
    assert len(texts) >= 2
    assert all(len(text.encode()) <= DEFAULT_MAX_BYTES for text in texts)
    assert len(texts[-1].encode()) >= DEFAULT_MAX_BYTES // 10
    shown = re.findall(r"showed \w+ (\d+)-(\d+) of", "\n".join(texts))
    # Consecutive pages continue exactly where the previous one ended.
    assert all(int(start) == int(previous_end) + 1 for (start, _), (_, previous_end) in zip(shown[1:], shown, strict=False))


def test_overloads_and_their_implementation_are_one_answer(server: MCPServer) -> None:
    lines = ask(server, "get_symbol", name="Session.execute").text.splitlines()
    assert lines[0] == "method pkg.typed.Session.execute  pkg/typed.py:5-10  (2 overloads and the implementation)"
    assert lines[2:] == [
        "    @overload",
        "    def execute(self, statement: int) -> int: ...",
        "    @overload",
        "    def execute(self, statement: str) -> str: ...",
        "    def execute(self, statement):",
        "        return statement",
    ]


def test_a_property_getter_and_setter_are_one_answer(server: MCPServer) -> None:
    lines = ask(server, "get_symbol", name="Session.base_url").text.splitlines()
    assert lines[0] == "method pkg.typed.Session.base_url  pkg/typed.py:12-18  (property getter and setter)"
    assert lines[2] == "    @property"
    assert lines[-1] == "        self._url = url"


def test_two_plain_definitions_of_one_name_stay_ambiguous(server: MCPServer) -> None:
    # if/else variants are alternatives, not parts of one definition: the agent chooses.
    assert ask(server, "get_symbol", name="pkg.twice.where").text.startswith(
        "'pkg.twice.where' is ambiguous: 2 definitions match."
    )


def test_inherited_members_show_every_half_of_a_property_and_every_overload(server: MCPServer) -> None:
    lines = ask(server, "get_outline", target="pkg.typed.Child", inherited=True).text.splitlines()
    assert lines[lines.index("  from pkg.typed.Session") + 1 : -1] == [
        "    @overload def execute(self, statement: int) -> int  pkg/typed.py:5-6",
        "    @overload def execute(self, statement: str) -> str  pkg/typed.py:7-8",
        "    def execute(self, statement)  pkg/typed.py:9-10",
        "    @property def base_url(self) -> str  pkg/typed.py:12-14",
        "    @base_url.setter def base_url(self, url: str) -> None  pkg/typed.py:16-18",
    ]


def test_a_pattern_lists_the_project_code_before_its_tests(server: MCPServer) -> None:
    headers = [line for line in ask(server, "find_symbol", query="*Transport").text.splitlines() if line.startswith("class")]
    assert headers == [
        "class pkg.base.BaseTransport  pkg/base.py:1-2",
        "class pkg.transports.default.HTTPTransport  pkg/transports/default.py:1-2",
        "class tests.test_things.ATransport  tests/test_things.py:1-2",
    ]


def test_namesakes_are_listed_shallow_modules_first_and_docs_last(server: MCPServer) -> None:
    headers = [line for line in ask(server, "find_symbol", query="Client").text.splitlines() if line.startswith("class")]
    assert headers == [
        "class pkg.base.Client  pkg/base.py:5-6",
        "class pkg.transports.deep.client.Client  pkg/transports/deep/client.py:1-2",
        "class docs.conf.Client  docs/conf.py:1-2",
    ]
