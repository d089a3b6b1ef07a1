"""search_code's definitions named like the text: exact names first, then the shortest,
by full name and path; namesakes in one file in source order. Through a real MCP client."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from mcp.server.mcpserver import MCPServer

from coderows.server.app import build_server
from coderows.server.tools import Tools
from tests.server_fixtures import BACKENDS, ask, index

SHAPES = """class Shape:
    @property
    def size(self):
        return 1

    @size.setter
    def size(self, value):
        pass

    def sizes(self):
        pass

    def resize(self):
        pass
"""


@pytest.fixture(scope="module", params=BACKENDS)
def server(
    request: pytest.FixtureRequest, database_factories: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[MCPServer]:
    factory = database_factories[request.param]
    url = factory.create()
    root = tmp_path_factory.mktemp("names")
    (root / "pkg").mkdir()
    (root / "pkg" / "shapes.py").write_text(SHAPES, encoding="utf-8")
    (root / "pkg" / "a_size.py").write_text("def get_size():\n    pass\n", encoding="utf-8")
    index(url, root.resolve())
    tools = Tools(url, roots=[root.resolve()])
    yield build_server(tools)
    tools.close()
    factory.drop(url)


def test_name_matches_come_exact_first_then_shortest_with_namesakes_in_source_order(server: MCPServer) -> None:
    answer = ask(server, "search_code", query="SIZE").text.splitlines()
    # The getter before its setter; then sizes, resize, get_size by length.
    assert answer == [
        "5 definitions match 'SIZE' (name, docstring or code; case-insensitive):",
        "method pkg.shapes.Shape.size  pkg/shapes.py:2-4",
        "  3  def size(self):",
        "method pkg.shapes.Shape.size  pkg/shapes.py:6-8",
        "  6  @size.setter",
        "  7  def size(self, value):",
        "method pkg.shapes.Shape.sizes  pkg/shapes.py:10-11",
        "  10  def sizes(self):",
        "method pkg.shapes.Shape.resize  pkg/shapes.py:13-14",
        "  13  def resize(self):",
        "function pkg.a_size.get_size  pkg/a_size.py:1-2",
        "  1  def get_size():",
    ]
