"""Repository scope: one database holds many repositories, and every answer comes from
the repositories the server serves (or the one `repo` names), with cross-references that
never cross repositories.

The referee is a database holding the served repository alone: a server over a database
that also holds a near-identical second checkout must answer every call with the same text.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from mcp.server.mcpserver import MCPServer

from coderows.server.app import build_server
from coderows.server.tools import Tools
from tests.server_fixtures import BACKENDS, ask, index, write_corpus

# The second checkout: the same project, plus a file that uses and extends it, so that
# a leak of its uses, subclasses or overrides into the first one's answers shows.
EXTRA = '''\
from shop.models import Base, Order, make_order


class RushOrder(Order):
    def save(self):
        return super().save()


class Note(Base):
    def save(self):
        make_order("x").save()
        return Base.save(self)


def reorder(order):
    return make_order(order.customer)
'''


@dataclass(frozen=True)
class Databases:
    both: str  # checkout "first" and checkout "second"
    alone: str  # checkout "first" only
    first: Path
    second: Path


@pytest.fixture(scope="module", params=BACKENDS)
def databases(
    request: pytest.FixtureRequest, database_factories: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Databases]:
    factory = database_factories[request.param]
    base = tmp_path_factory.mktemp("checkouts")
    first = write_corpus(base / "first")
    second = base / "second"
    shutil.copytree(first, second)
    (second / "shop" / "extra.py").write_text(EXTRA, encoding="utf-8")
    second = second.resolve()
    both, alone = factory.create(), factory.create()
    index(both, first)
    index(both, second)
    index(alone, first)
    yield Databases(both, alone, first, second)
    factory.drop(both)
    factory.drop(alone)




@pytest.fixture(scope="module")
def servers(databases: Databases) -> Iterator[tuple[MCPServer, MCPServer]]:
    """(a server of checkout "first" over the shared database, the same over its own)."""
    shared = Tools(databases.both, [databases.first], watch=False)
    own = Tools(databases.alone, [databases.first], watch=False)
    yield build_server(shared), build_server(own)
    shared.close()
    own.close()


CALLS = [
    ("find_symbol", {"query": "save"}),
    ("find_symbol", {"query": "*Order*"}),
    ("find_symbol", {"query": "Ord"}),
    ("get_symbol", {"name": "shop.models.Order.save"}),
    ("get_symbol", {"name": "shop.models.Base.save", "include_body": False}),
    ("get_symbol", {"name": "make_order"}),
    ("get_symbol", {"name": "shop/models.py:30"}),
    ("find_references", {"name": "shop.models.Base.save"}),
    ("find_references", {"name": "shop.models.make_order"}),
    ("find_references", {"name": "shop.models.Order"}),
    ("get_outline", {"target": "shop.models"}),
    ("get_outline", {"target": "shop/models.py"}),
    ("get_outline", {"target": "shop.models.Base", "subclasses": True}),
    ("get_outline", {"target": "shop.models.Order", "inherited": True}),
    ("search_code", {"query": "save"}),
    ("search_code", {"query": "make_order"}),
]


@pytest.mark.parametrize(("tool", "arguments"), CALLS, ids=[f"{t}-{'-'.join(map(str, a.values()))}" for t, a in CALLS])
def test_a_server_answers_as_if_its_repository_were_alone_in_the_database(
    servers: tuple[MCPServer, MCPServer], tool: str, arguments: dict[str, object]
) -> None:
    shared, own = servers
    answer = ask(shared, tool, **arguments)
    # The one intended difference: SQL that a shared database's answer suggests keeps to
    # the repository (the first one indexed: repo_id 1).
    text = answer.text.replace(" AND repo_id = 1\")", "\")")
    assert (text, answer.is_error) == (ask(own, tool, **arguments).text, ask(own, tool, **arguments).is_error)


def test_the_index_status_of_a_scoped_server_marks_the_other_repository(
    servers: tuple[MCPServer, MCPServer], databases: Databases
) -> None:
    lines = ask(servers[0], "index_status").text.splitlines()
    repo_lines = [line for line in lines if line.startswith("repo ")]
    assert repo_lines == [
        f"repo first  {databases.first}",
        f"repo second  {databases.second}  (outside this server scope: repo='second' reaches it)",
    ]


def test_repo_names_another_repository_for_one_call(servers: tuple[MCPServer, MCPServer]) -> None:
    answer = ask(servers[0], "find_symbol", query="RushOrder", repo="second")
    assert answer.text == (
        "1 definition matches 'RushOrder':\nclass shop.extra.RushOrder  shop/extra.py:4-6\n  class RushOrder(Order)"
    )


def test_repo_star_answers_from_every_repository_naming_each_once(
    servers: tuple[MCPServer, MCPServer],
) -> None:
    answer = ask(servers[0], "find_symbol", query="make_order", repo="*")
    assert answer.text.splitlines() == [
        "2 definitions match 'make_order':",
        "repo first:",
        "function shop.models.make_order  shop/models.py:41-47",
        "  def make_order(customer)",
        "  Create an order for a customer.",
        "repo second:",
        "function shop.models.make_order  shop/models.py:41-47",
        "  def make_order(customer)",
        "  Create an order for a customer.",
    ]


def test_an_unknown_repo_is_one_line_naming_the_repositories(servers: tuple[MCPServer, MCPServer]) -> None:
    answer = ask(servers[0], "find_symbol", query="Order", repo="third")
    assert answer.is_error
    assert answer.text == (
        "Error executing tool find_symbol: no indexed repository is named 'third' (by name or root path);"
        " repositories: first, second; repo='*' searches them all."
    )


def test_a_name_in_two_served_checkouts_is_answered_with_a_call_that_ends_the_ambiguity(
    databases: Databases,
) -> None:
    tools = Tools(databases.both, [databases.first, databases.second], watch=False)
    try:
        server = build_server(tools)
        lines = ask(server, "get_symbol", name="shop.models.make_order").text.splitlines()
        assert lines == [
            "'shop.models.make_order' is ambiguous: 2 definitions match in 2 repositories. "
            "Call get_symbol again with one of these full names and its repo:",
            "repo first:",
            "function shop.models.make_order  shop/models.py:41-47",
            "repo second:",
            "function shop.models.make_order  shop/models.py:41-47",
            "e.g. get_symbol(name='shop.models.make_order', repo='first')",
        ]
        followed = ask(server, "get_symbol", name="shop.models.make_order", repo="first").text.splitlines()
        # repo= narrows the scope to one repository: the answer needs no repository label.
        assert followed[0] == "function shop.models.make_order  shop/models.py:41-47"
        assert followed[1] == "references: 0 in 0 files; calls 2 indexed definitions"
    finally:
        tools.close()


def test_find_references_in_the_second_checkout_counts_only_its_own_uses(servers: tuple[MCPServer, MCPServer]) -> None:
    first = ask(servers[0], "find_references", name="shop.models.make_order").text.splitlines()
    second = ask(servers[0], "find_references", name="shop.models.make_order", repo="second").text.splitlines()
    assert first[0] == "function shop.models.make_order  shop/models.py:41-47: 0 resolved uses in 0 files"
    assert second[0] == "function shop.models.make_order  shop/models.py:41-47: 3 resolved uses in 1 file"


def test_every_table_and_view_has_a_repo_id(databases: Databases) -> None:
    # Except what checkouts share: contents and content_* are keyed by file content, and
    # answers (and their consulted lists) by what a name resolves to; they are read through
    # the views (modules, definitions, resolutions, ...), which carry the repo_id. deferred_indexes lists the
    # database's own indexes that a first bulk load rebuilds: no repository's data.
    with psycopg.connect(databases.both) as conn:
        lacking = conn.execute(
            """
            SELECT c.relname FROM pg_class c
            WHERE c.relnamespace = 'coderows'::regnamespace AND c.relkind IN ('r', 'v', 'm')
              AND c.relname NOT IN ('schema_version', 'repos', 'contents', 'answers', 'consulted_lists', 'deferred_indexes')
              AND c.relname NOT LIKE 'content^_%' ESCAPE '^'
              AND NOT EXISTS (SELECT FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'repo_id')
            ORDER BY 1
            """
        ).fetchall()
    assert lacking == []


VIEW_QUERIES = {
    "overrides": "SELECT method_full_name, overridden_full_name, depth FROM coderows.overrides WHERE repo_id = %s",
    "subclasses": "SELECT base_full_name, subclass_full_name, depth FROM coderows.subclasses WHERE repo_id = %s",
    "calls": "SELECT path, line, col, caller_full_name, callee_full_name FROM coderows.calls WHERE repo_id = %s",
    "usages": "SELECT path, line, col, kind, name, target_full_name FROM coderows.usages WHERE repo_id = %s",
}


@pytest.mark.parametrize("view", sorted(VIEW_QUERIES))
def test_each_view_holds_for_a_repository_what_it_holds_when_alone(databases: Databases, view: str) -> None:
    def rows(url: str) -> list[tuple[Any, ...]]:
        with psycopg.connect(url) as conn:
            (repo_id,) = conn.execute("SELECT id FROM coderows.repos WHERE root = %s", [str(databases.first)]).fetchone()
            return sorted(conn.execute(VIEW_QUERIES[view], [repo_id]).fetchall())

    assert rows(databases.both) == rows(databases.alone)


def test_git_checkouts_show_their_branch_and_commit(db_url: str, tmp_path: Path) -> None:
    root = tmp_path / "gitrepo"
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "__init__.py").write_text("def hello():\n    return 1\n")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-C", str(root)]
    subprocess.run([*git, "init", "-q", "-b", "trunk"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "one"], check=True)
    commit = subprocess.run([*git, "rev-parse", "HEAD"], check=True, capture_output=True, text=True).stdout.strip()
    index(db_url, root)
    tools = Tools(db_url, [root], watch=False)
    try:
        lines = ask(build_server(tools), "index_status", repo="gitrepo").text.splitlines()
    finally:
        tools.close()
    assert lines[0] == f"repo gitrepo  {root.resolve()}  [git trunk @ {commit[:10]}]"


def test_two_roots_with_the_same_folder_name_get_distinct_repository_names(db_url: str, tmp_path: Path) -> None:
    for parent in ("work", "spare"):
        (tmp_path / parent / "httpx").mkdir(parents=True)
        (tmp_path / parent / "httpx" / "client.py").write_text("def get():\n    pass\n")
        index(db_url, tmp_path / parent / "httpx")
    index(db_url, tmp_path / "work" / "httpx")  # indexing again keeps the name it was given
    with psycopg.connect(db_url) as conn:
        names = conn.execute("SELECT name FROM coderows.repos ORDER BY id").fetchall()
    assert names == [("httpx",), ("spare/httpx",)]


def _project(root: Path) -> Path:
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "__init__.py").write_text("def hello():\n    return 1\n")
    return root.resolve()


def test_a_repository_indexed_between_two_calls_is_in_the_scope_of_the_next(db_url: str, tmp_path: Path) -> None:
    index(db_url, _project(tmp_path / "one"))
    tools = Tools(db_url, watch=False)  # no roots: every repository is in scope
    try:
        server = build_server(tools)
        assert ask(server, "find_symbol", query="hello").text == (
            "1 definition matches 'hello':\nfunction pkg.hello  pkg/__init__.py:1-2\n  def hello()"
        )
        index(db_url, _project(tmp_path / "two"))
        assert ask(server, "find_symbol", query="hello").text.splitlines()[0] == "2 definitions match 'hello':"
    finally:
        tools.close()


def test_a_served_root_first_indexed_by_a_lookup_miss_answers_that_same_call(db_url: str, tmp_path: Path) -> None:
    root = _project(tmp_path / "fresh")
    tools = Tools(db_url, [root], watch=False)  # never started: only the miss's catch-up indexes the root
    try:
        assert ask(build_server(tools), "find_symbol", query="hello").text == (
            "1 definition matches 'hello':\nfunction pkg.hello  pkg/__init__.py:1-2\n  def hello()"
        )
    finally:
        tools.close()
