"""search_code answers the same however a common text's lines are found: reading every
piece of every file in one go (the plain answer), in small batches whose ends fall
inside files, or through the trigram index after the first piece. Through a real MCP
client, over one database holding two repositories that share some files. (The plain
answers were also checked to be those of the walk before pieces were read in order,
file by file through the trigram index: commit 9f6183c.)"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from mcp.server.mcpserver import MCPServer

from coderows.server import search
from coderows.server.app import build_server
from coderows.server.tools import Tools
from tests.server_fixtures import BACKENDS, ask, index

# (query, limit, offset, repo): common texts (one in most definitions, one sparse, one
# without a trigram), pages far down, both repositories and one.
QUERIES = [
    ("token", 3, 0, "*"),
    ("token", 5, 4, "*"),
    ("token", 4, 30, "*"),
    ("token", 2, 9, "beta"),
    ("rare_mark", 2, 0, "*"),
    ("rare_mark", 3, 2, "alpha"),
    ("==", 3, 5, "*"),
    ("Token = ", 5, 10, "*"),
    ("été", 2, 1, "*"),
]
# How the walk is set to read, besides the plain way: (PROBE_FIRST, PROBE_MOST, PROBE_BUDGET, INDEXED_FIRST).
WALKS = {
    "small batches": (1, 2, 10**9, 1),
    "index after the first piece": (1, 1, 1, 1),
    "index, larger batches": (3, 50, 1, 2),
}


def module_text(rng: random.Random, number: int) -> str:
    """A module of classes (methods, nested functions, lines between the methods) and
    functions, 20-300 lines; "token" on ~1 line in 3, "rare_mark" on ~1 in 60."""
    lines = [f'"""Module {number}."""', "import os"]

    def body(indent: str) -> None:
        for _ in range(rng.randint(1, 6)):
            roll = rng.random()
            word = "token" if roll < 0.3 else "rare_mark" if roll < 0.32 else "value"
            compare = " == 1" if rng.random() < 0.2 else ""
            lines.append(f"{indent}{word}_{len(lines)} = {rng.choice(['Token', 'x'])}{compare}")

    while len(lines) < rng.randint(20, 300):
        if rng.random() < 0.5:
            lines.append(f"class C{len(lines)}:")
            body("    ")
            for _ in range(rng.randint(0, 3)):
                lines.append(f"    def m{len(lines)}(self):")
                body("        ")
                if rng.random() < 0.3:
                    lines.append(f"        def inner{len(lines)}():")
                    body("            ")
                body("        ")
            body("    ")
        else:
            lines.append(f"def f{len(lines)}():")
            body("    ")
        body("")
    return "\n".join(lines) + "\n"


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
    base = tmp_path_factory.mktemp("walk")
    rng = random.Random(16)
    roots = []
    for name in ("alpha", "beta"):
        for number in range(30):
            # The first ten modules are the same in both repositories (one content, two files).
            seed = number if number < 10 else number + (100 if name == "alpha" else 200)
            path = base / name / "pkg" / f"m{number:02d}.py"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(module_text(random.Random(seed), number), encoding="utf-8")
        roots.append((base / name).resolve())
    for root in roots:
        # Letters beyond ASCII in either case, matched by a regular expression ([Éé]t[Éé]).
        seasons = [f"def season_{n}():\n    return {'ÉTÉ' if n % 2 else 'été'!r}\n" for n in range(6)]
        (root / "pkg" / "season.py").write_text("\n".join(seasons), encoding="utf-8")
    (roots[1] / "pkg" / "z.py").write_text(f"def token_reader():\n    return 'token'\n\n\n{module_text(rng, 99)}")
    for root in roots:
        index(url, root)
    yield Repositories(url, roots[0], roots[1])
    factory.drop(url)


@pytest.fixture(scope="module")
def server(repositories: Repositories) -> Iterator[MCPServer]:
    tools = Tools(repositories.url, roots=[repositories.alpha, repositories.beta])
    yield build_server(tools)
    tools.close()


def answers(server: MCPServer) -> list[str]:
    return [
        ask(server, "search_code", query=text, limit=limit, offset=offset, repo=repo).text
        for text, limit, offset, repo in QUERIES
    ]


@pytest.fixture(scope="module")
def plain(server: MCPServer) -> list[str]:
    """Every text walked (none is rare), every piece of a repository read at once."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(search, "RARE_CHUNKS", 0)
        patch.setattr(search, "PROBE_FIRST", 10**6)
        return answers(server)


def test_the_plain_answers_show_pages_of_common_texts_across_both_repositories(plain: list[str]) -> None:
    heads = [answer.splitlines()[:2] for answer in plain]
    assert heads[0] == [
        "5+ definitions match 'token' (name, docstring or code; case-insensitive):",
        "repo beta:",
    ]
    # The page, one definition more, and beta's token_reader (a name match) for "token".
    assert [head[0].split(" definitions")[0] for head in heads] == ["5+", "11+", "36+", "13+", "3+", "6+", "9+", "16+", "4+"]


@pytest.mark.parametrize("walk", list(WALKS))
def test_a_common_text_answers_the_same_however_it_is_walked(
    server: MCPServer, plain: list[str], walk: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for constant, value in zip(["PROBE_FIRST", "PROBE_MOST", "PROBE_BUDGET", "INDEXED_FIRST"], WALKS[walk], strict=True):
        monkeypatch.setattr(search, constant, value)
    monkeypatch.setattr(search, "RARE_CHUNKS", 0)
    assert answers(server) == plain



@pytest.mark.parametrize("rare_chunks", [3, 60])
def test_a_page_far_down_answers_the_same_when_the_walk_comes_before_the_rarity_check(
    server: MCPServer, rare_chunks: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A rare text has at most 3 pieces here ("été", in 1: rare; "rare_mark", in 53, common)
    # or 60 ("rare_mark" rare; "token", in 97, common, though a first page of it is full
    # after fewer pieces). The rarity check comes first, then the walk first, on every page.
    monkeypatch.setattr(search, "RARE_CHUNKS", rare_chunks)
    monkeypatch.setattr(search, "WALK_FIRST_GROUPS", 10**9)
    checked_first = answers(server)
    monkeypatch.setattr(search, "WALK_FIRST_GROUPS", 0)
    assert answers(server) == checked_first
