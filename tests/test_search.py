"""search_code over many files: a common text is read only as far as the page asked for
(and counted as "N+"), a rare one in full; letters beyond ASCII match in either case.
Through a real MCP client, over one database holding two repositories."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from mcp.server.mcpserver import MCPServer

from coderows.server import search
from coderows.server.app import build_server
from coderows.server.tools import Tools
from tests.server_fixtures import BACKENDS, ask, index

FILES = 40  # per repository
LINES = 400  # per file: 7 pieces of 64 lines, each holding "needle" once; 40 * 7 > RARE_CHUNKS
NEEDLES = [line for line in range(1, LINES + 1) if line % search.CHUNK_LINES == 2]  # 2, 66, ..., 386


def write_repository(root: Path, extra: dict[str, str]) -> Path:
    """FILES modules whose every piece holds "needle" on one line, plus `extra`."""
    for number in range(FILES):
        body = [f'x_{line:03d} = "needle"' if line in NEEDLES else f"y_{line:03d} = 0" for line in range(1, LINES + 1)]
        path = root / "pkg" / f"m{number:02d}.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(body) + "\n", encoding="utf-8")
    for relative, text in extra.items():
        (root / relative).write_text(text, encoding="utf-8")
    return root.resolve()


@dataclass(frozen=True)
class Repositories:
    url: str
    alpha: Path
    beta: Path


@pytest.fixture(scope="module", params=BACKENDS)
def repositories(
    request: pytest.FixtureRequest, database_factories: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Repositories]:
    factory = database_factories[request.param]
    url = factory.create()
    base = tmp_path_factory.mktemp("search")
    alpha = write_repository(base / "alpha", {"pkg/summer.py": 'SEASON = "ÉTÉ"\n'})
    beta = write_repository(base / "beta", {"pkg/z.py": 'def needle_finder():\n    return "needle"\n'})
    index(url, alpha)
    index(url, beta)
    yield Repositories(url, alpha, beta)
    factory.drop(url)


@pytest.fixture(scope="module")
def server(repositories: Repositories) -> Iterator[MCPServer]:
    tools = Tools(repositories.url, roots=[repositories.alpha, repositories.beta])
    yield build_server(tools)
    tools.close()


def test_the_corpus_holds_the_text_in_more_pieces_than_a_rare_text(server: MCPServer) -> None:
    # The two repositories share their modules' contents (same path and bytes): stored once.
    pieces = FILES * -(-LINES // search.CHUNK_LINES) + 1
    found = ask(server, "run_sql", query="SELECT count(*) FROM content_chunks WHERE text LIKE '%needle%'").text
    assert found.splitlines()[1] == str(pieces)
    assert pieces > search.RARE_CHUNKS


def module_group(number: int) -> list[str]:
    """How the answer shows one of the FILES modules: its first three lines holding the
    text and how many more there are."""
    return [
        f"module pkg.m{number:02d}  pkg/m{number:02d}.py",
        *(f'  {line:>3}  x_{line:03d} = "needle"' for line in NEEDLES[:3]),
        f"  (+{len(NEEDLES) - 3} more matching lines)",
    ]


def test_a_common_text_is_read_as_far_as_the_page_and_counted_as_at_least(server: MCPServer) -> None:
    # The page and one definition more: 40 modules hold the text; 6 are read and counted.
    answer = ask(server, "search_code", query="needle", limit=5, repo="alpha").text.splitlines()
    assert answer == [
        "6+ definitions match 'needle' (name, docstring or code; case-insensitive):",
        *(line for number in range(5) for line in module_group(number)),
        "[cut: showed definitions 1-5 of 6+; next page: search_code(query='needle', limit=5, repo='alpha', offset=5)]",
    ]


def test_the_next_page_of_a_common_text_goes_on_where_the_first_stopped(server: MCPServer) -> None:
    answer = ask(server, "search_code", query="needle", limit=5, repo="alpha", offset=5).text.splitlines()
    assert answer[1:-1] == [line for number in range(5, 10) for line in module_group(number)]
    assert answer[-1] == (
        "[cut: showed definitions 6-10 of 11+; next page: search_code(query='needle', limit=5, repo='alpha', offset=10)]"
    )


def test_the_last_page_of_a_common_text_counts_it_exactly(server: MCPServer) -> None:
    answer = ask(server, "search_code", query="needle", limit=5, repo="alpha", offset=35).text.splitlines()
    assert answer == [
        "40 definitions match 'needle' (name, docstring or code; case-insensitive):",
        *(line for number in range(35, 40) for line in module_group(number)),
    ]


def test_a_common_text_lists_the_repository_of_a_name_match_first(server: MCPServer) -> None:
    answer = ask(server, "search_code", query="needle", limit=3, repo="*").text.splitlines()
    assert answer == [
        "5+ definitions match 'needle' (name, docstring or code; case-insensitive):",
        "repo beta:",
        "function pkg.z.needle_finder  pkg/z.py:1-2",
        "  1  def needle_finder():",
        '  2  return "needle"',
        *module_group(0),
        *module_group(1),
        "[cut: showed definitions 1-3 of 5+; next page: search_code(query='needle', limit=3, repo='*', offset=3)]",
    ]


def test_a_common_text_pages_on_into_the_next_repository(server: MCPServer) -> None:
    # beta: needle_finder and 40 modules (positions 0-40); then alpha's modules.
    answer = ask(server, "search_code", query="needle", limit=2, repo="*", offset=40).text.splitlines()
    assert answer[1:-1] == ["repo beta:", *module_group(39), "repo alpha:", *module_group(0)]


def test_letters_beyond_ascii_match_in_either_case(server: MCPServer) -> None:
    assert ask(server, "search_code", query="été", repo="alpha").text.splitlines() == [
        "1 definition matches 'été' (name, docstring or code; case-insensitive):",
        "module pkg.summer  pkg/summer.py",
        '  1  SEASON = "ÉTÉ"',
    ]


def test_an_index_run_leaves_no_entries_pending_in_the_trigram_indexes(repositories: Repositories) -> None:
    # Pending entries are read in full by every lookup through the index; gin_clean_pending_list
    # says how many pages it moved: none are left by the runs that indexed the repositories.
    with psycopg.connect(repositories.url, autocommit=True) as conn:
        moved = [
            conn.execute("SELECT gin_clean_pending_list(%s::regclass)", [f"coderows.{name}"]).fetchone()
            for name in ("content_chunks_text_trgm_idx", "content_definitions_name_trgm_idx")
        ]
    assert moved == [(0,), (0,)]
