"""What each MCP tool answers, through a real MCP client connected to the server in-process,
on a real indexed corpus (tests/server_fixtures.py: a small `shop` package + stdlib json).

Transports (stdio subprocess, HTTP) are covered in test_server_transports.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from mcp import Client
from mcp.server.mcpserver import MCPServer

from coderows.db.connection import connect
from coderows.indexer.pipeline import index_repository
from coderows.server.app import build_server
from coderows.server.render import DEFAULT_MAX_BYTES
from coderows.server.tools import Tools
from server_fixtures import LONG_BODY, Answer, Indexed, ask, call, index, indexed, own_corpus, run  # noqa: F401  (fixtures)


@pytest.fixture(scope="module")
def server(indexed: Indexed) -> Iterator[MCPServer]:
    tools = Tools(indexed.url)
    yield build_server(tools)
    tools.close()




def json_lines(indexed: Indexed, path: str, first: int, last: int) -> list[str]:
    """Lines first..last of a corpus file, exactly as the file holds them."""
    return (indexed.root / path).read_text(encoding="utf-8").split("\n")[first - 1 : last]


# --- tools/list and the schema resource ---------------------------------------------


def test_every_tool_is_listed_read_only_with_a_description(server: MCPServer) -> None:
    async def session() -> list:
        async with Client(server) as client:
            return (await client.list_tools()).tools

    tools = run(session)
    assert [t.name for t in tools] == [
        "find_symbol",
        "get_symbol",
        "get_outline",
        "search_code",
        "find_references",
        "run_sql",
        "index_status",
    ]
    for tool in tools:
        assert tool.annotations.read_only_hint is True
        assert tool.annotations.destructive_hint is False
        assert len(tool.description) > 150
    get_symbol = next(t for t in tools if t.name == "get_symbol")
    assert list(get_symbol.input_schema["properties"]) == ["name", "include_body", "context_lines", "offset", "repo"]
    assert get_symbol.input_schema["required"] == ["name"]


def test_server_instructions_tell_the_agent_to_prefer_the_tools_to_grep(server: MCPServer) -> None:
    assert "instead of grep" in server.instructions.replace("Prefer these tools to grep", "instead of grep")
    assert "get_symbol" in server.instructions
    assert len(server.instructions.splitlines()) <= 12


def test_schema_resource_is_listed_and_describes_the_tables(server: MCPServer) -> None:
    async def session() -> tuple[list, str]:
        async with Client(server) as client:
            listed = (await client.list_resources()).resources
            read = await client.read_resource("coderows://schema")
            return listed, read.contents[0].text

    listed, text = run(session)
    assert [str(r.uri) for r in listed] == ["coderows://schema"]
    for word in ("repos", "modules", "symbols", "classes, functions, methods", "imports", "full_name", "Examples"):
        assert word in text


# --- find_symbol --------------------------------------------------------------------


def test_find_symbol_lists_every_definition_of_a_bare_name(server: MCPServer) -> None:
    assert ask(server, "find_symbol", query="save").text == (
        "3 definitions match 'save':\n"
        "function shop.billing.save  shop/billing.py:4-6\n"
        "  def save(invoice)\n"
        "  Write an invoice to disk.\n"
        "method shop.models.Base.save  shop/models.py:8-10\n"
        "  def save(self)\n"
        "  Store the object.\n"
        "method shop.models.Order.save  shop/models.py:28-32\n"
        "  def save(self)\n"
        "  Store the order and its lines."
    )


def test_find_symbol_filters_by_kind_and_module(server: MCPServer) -> None:
    assert ask(server, "find_symbol", query="save", kind="method").text.splitlines()[0] == "2 definitions match 'save':"
    assert ask(server, "find_symbol", query="save", module="shop.billing").text == (
        "1 definition matches 'save':\n"
        "function shop.billing.save  shop/billing.py:4-6\n"
        "  def save(invoice)\n"
        "  Write an invoice to disk."
    )


def test_find_symbol_kind_function_includes_methods_like_the_functions_view(server: MCPServer) -> None:
    assert (
        ask(server, "find_symbol", query="save", kind="function").text.splitlines()[0] == "3 definitions match 'save':"
    )
    assert ask(server, "find_symbol", query="save", kind="class").text.startswith("No definition matches 'save'")


@pytest.mark.parametrize(
    "name",
    [
        "shop.models.Order.Status.label",
        "shop.models:Order.Status.label",
        "Order.Status.label",
        "Status.label",
        "label",
        "`Order.Status.label()`",
    ],
)
def test_find_symbol_resolves_every_name_form(server: MCPServer, name: str) -> None:
    assert ask(server, "find_symbol", query=name).text == (
        f"1 definition matches {name!r}:\n"
        "method shop.models.Order.Status.label  shop/models.py:37-38\n"
        "  def label(self)"
    )


def test_find_symbol_falls_back_to_case_insensitive_and_says_so(server: MCPServer) -> None:
    assert ask(server, "find_symbol", query="ORDER.SAVE").text == (
        "1 definition matches 'ORDER.SAVE' (case-insensitive match):\n"
        "method shop.models.Order.save  shop/models.py:28-32\n"
        "  def save(self)\n"
        "  Store the order and its lines."
    )


def test_find_symbol_then_finds_names_containing_the_text(server: MCPServer) -> None:
    assert ask(server, "find_symbol", query="invoic").text == (
        "1 definition matches 'invoic' (no exact name; names containing it):\n"
        "function shop.billing.send_invoice  shop/billing.py:9-10\n"
        "  async def send_invoice(invoice, *, retries: int = 3) -> bool"
    )


def test_find_symbol_takes_wildcards(server: MCPServer) -> None:
    assert ask(server, "find_symbol", query="JSON*Error").text == (
        "1 definition matches 'JSON*Error':\n"
        "class json.decoder.JSONDecodeError  json/decoder.py:20-43\n"
        "  class JSONDecodeError(ValueError)\n"
        "  Subclass of ValueError with the following additional properties:"
    )


def test_find_symbol_suggests_similar_names_for_a_typo(server: MCPServer) -> None:
    answer = ask(server, "find_symbol", query="JSONDecodr")
    assert not answer.is_error
    assert answer.text == (
        "No definition matches 'JSONDecodr'. Did you mean:\n"
        "class json.decoder.JSONDecoder  json/decoder.py:254-356\n"
        "class json.decoder.JSONDecodeError  json/decoder.py:20-43"
    )


def test_find_symbol_suggestions_for_a_dotted_typo_put_the_closest_qualified_name_first(server: MCPServer) -> None:
    assert ask(server, "find_symbol", query="Order.sav").text.splitlines()[:2] == [
        "No definition matches 'Order.sav'. Did you mean:",
        "method shop.models.Order.save  shop/models.py:28-32",
    ]


def test_find_symbol_suggests_the_definition_behind_a_re_export(server: MCPServer) -> None:
    # json re-exports JSONDecoder from json.decoder: the namesake is the answer to give.
    assert ask(server, "find_symbol", query="json.JSONDecoder").text == (
        "No definition matches 'json.JSONDecoder'. Did you mean:\nclass json.decoder.JSONDecoder  json/decoder.py:254-356"
    )


def test_find_symbol_pages_with_limit_and_offset(server: MCPServer) -> None:
    first = ask(server, "find_symbol", query="save", limit=2)
    assert first.text.splitlines()[-1] == (
        "[cut: showed definitions 1-2 of 3; next page: find_symbol(query='save', limit=2, offset=2)]"
    )
    second = ask(server, "find_symbol", query="save", limit=2, offset=2)
    assert second.text.splitlines()[1] == "method shop.models.Order.save  shop/models.py:28-32"
    assert "[cut" not in second.text


def test_find_symbol_pages_a_name_of_more_than_a_thousand_definitions_by_full_name(own_corpus: Indexed) -> None:
    # Past lookup.FEW matches a page is sorted by full name alone, not ranked.
    jobs = "".join(f"class Job{i:04d}:\n    def run(self):\n        pass\n" for i in range(1002))
    (own_corpus.root / "jobs.py").write_text(jobs)
    index(own_corpus.url, own_corpus.root)
    tools = Tools(own_corpus.url)
    try:
        server = build_server(tools)
        first, last, past = (ask(server, "find_symbol", query="run", limit=2, offset=offset) for offset in (0, 1000, 1002))
    finally:
        tools.close()
    assert first.text.splitlines() == [
        "1002 definitions match 'run':",
        "method jobs.Job0000.run  jobs.py:2-3",
        "  def run(self)",
        "method jobs.Job0001.run  jobs.py:5-6",
        "  def run(self)",
        "[cut: showed definitions 1-2 of 1002; next page: find_symbol(query='run', limit=2, offset=2)]",
    ]
    assert last.text.splitlines() == [
        "1002 definitions match 'run':",
        "method jobs.Job1000.run  jobs.py:3002-3003",
        "  def run(self)",
        "method jobs.Job1001.run  jobs.py:3005-3006",
        "  def run(self)",
    ]
    assert past.text == "1002 definitions match 'run'; offset 1002 is past the end."


def test_find_symbol_ranks_up_to_a_thousand_definitions_and_sorts_more_by_full_name(own_corpus: Indexed) -> None:
    # Up to lookup.FEW matches, shallower modules come first (top.run before a.b.jobs's);
    # one more and the page is in full-name order (a.b.jobs's first).
    (own_corpus.root / "a" / "b").mkdir(parents=True)
    (own_corpus.root / "a" / "b" / "jobs.py").write_text(
        "".join(f"class Job{i:03d}:\n    def run(self):\n        pass\n" for i in range(999))
    )
    (own_corpus.root / "top.py").write_text("def run():\n    pass\n")
    firsts = []
    for extra in ("", "def run():\n    pass\n"):
        (own_corpus.root / "zzz.py").write_text(extra)
        index(own_corpus.url, own_corpus.root)
        tools = Tools(own_corpus.url)
        try:
            firsts.append(ask(build_server(tools), "find_symbol", query="run", limit=1).text.splitlines()[:2])
        finally:
            tools.close()
    assert firsts == [
        ["1000 definitions match 'run':", "function top.run  top.py:1-2"],
        ["1001 definitions match 'run':", "method a.b.jobs.Job000.run  a/b/jobs.py:2-3"],
    ]


def test_find_symbol_counts_the_thousand_within_its_scope_with_another_repository_in_the_database(
    own_corpus: Indexed, tmp_path: Path
) -> None:
    # 1,000 matches in the served repository (ranked: top.run first), 1,001 with another
    # repository's (repo='*': full-name order, repository by repository).
    (own_corpus.root / "a" / "b").mkdir(parents=True)
    (own_corpus.root / "a" / "b" / "jobs.py").write_text(
        "".join(f"class Job{i:03d}:\n    def run(self):\n        pass\n" for i in range(999))
    )
    (own_corpus.root / "top.py").write_text("def run():\n    pass\n")
    other = tmp_path / "other"
    other.mkdir()
    (other / "aaa.py").write_text("def run():\n    pass\n")
    index(own_corpus.url, own_corpus.root)
    index(own_corpus.url, other)
    tools = Tools(own_corpus.url, [own_corpus.root], watch=False)
    try:
        server = build_server(tools)
        served, everywhere = (
            ask(server, "find_symbol", query="run", limit=1, **scope).text.splitlines()[:3] for scope in ({}, {"repo": "*"})
        )
    finally:
        tools.close()
    assert served[:2] == ["1000 definitions match 'run':", "function top.run  top.py:1-2"]
    assert everywhere == ["1001 definitions match 'run':", "repo corpus:", "method a.b.jobs.Job000.run  a/b/jobs.py:2-3"]


# --- get_symbol ---------------------------------------------------------------------


def test_get_symbol_returns_the_definition_as_its_exact_unnumbered_source(server: MCPServer) -> None:
    assert ask(server, "get_symbol", name="shop.models.Order.save").text == (
        "method shop.models.Order.save  shop/models.py:28-32\n"
        "references: 0 in 0 files; calls 1 indexed definition\n"
        "    def save(self):\n"
        '        """Store the order and its lines."""\n'
        "        for line in self.lines:\n"
        "            line.save()\n"
        "        return super().save()"
    )


def test_get_symbol_returns_real_code_exactly(server: MCPServer, indexed: Indexed) -> None:
    answer = ask(server, "get_symbol", name="json.decoder.JSONDecoder.decode")
    lines = answer.text.splitlines()
    assert lines[0] == "method json.decoder.JSONDecoder.decode  json/decoder.py:332-341"
    assert lines[1].startswith("references: ")
    assert lines[2:] == json_lines(indexed, "json/decoder.py", 332, 341)


def test_get_symbol_starts_at_the_first_decorator(server: MCPServer) -> None:
    assert ask(server, "get_symbol", name="shop.models:Order.total").text.splitlines()[:3] == [
        "method shop.models.Order.total  shop/models.py:23-26",
        "references: 0 in 0 files; calls 0 indexed definitions",
        "    @property",
    ]


def test_get_symbol_context_lines_adds_surrounding_lines_set_apart_by_marker_lines(server: MCPServer) -> None:
    assert ask(server, "get_symbol", name="Order.total", context_lines=2).text == (
        "method shop.models.Order.total  shop/models.py:23-26\n"
        "references: 0 in 0 files; calls 0 indexed definitions\n"
        "-- context 21-22 --\n"
        "        self.lines = []\n"
        "\n"
        "-- definition 23-26 --\n"
        "    @property\n"
        "    def total(self) -> int:\n"
        '        """Sum of the line amounts."""\n'
        "        return sum(line.amount for line in self.lines)\n"
        "-- context 27-28 --\n"
        "\n"
        "    def save(self):"
    )


def test_get_symbol_without_body_gives_signature_and_whole_docstring(server: MCPServer) -> None:
    assert ask(server, "get_symbol", name="shop.models.Order", include_body=False).text == (
        "class shop.models.Order  shop/models.py:13-38\nreferences: 2 in 2 files; calls 0 indexed definitions\n"
        "class Order(Base)\n  An order of a customer.\n\n  Holds lines."
    )


def test_get_symbol_finds_definitions_local_to_a_function(server: MCPServer) -> None:
    assert ask(server, "get_symbol", name="make_order.<locals>.normalise").text == (
        "function shop.models.make_order.<locals>.normalise  shop/models.py:44-45\n"
        "references: 1 in 1 file; calls 0 indexed definitions\n"
        "    def normalise(name):\n"
        "        return name.strip()"
    )


def test_get_symbol_takes_a_path_and_line(server: MCPServer) -> None:
    assert ask(server, "get_symbol", name="shop/models.py:31").text.splitlines()[0] == (
        "method shop.models.Order.save  shop/models.py:28-32"
    )


def test_get_symbol_lists_candidates_for_an_ambiguous_name(server: MCPServer) -> None:
    answer = ask(server, "get_symbol", name="save")
    assert not answer.is_error
    assert answer.text == (
        "'save' is ambiguous: 3 definitions match. Call get_symbol again with one of these full names:\n"
        "function shop.billing.save  shop/billing.py:4-6\n"
        "method shop.models.Base.save  shop/models.py:8-10\n"
        "method shop.models.Order.save  shop/models.py:28-32"
    )


def test_get_symbol_of_an_unknown_name_is_an_error_with_suggestions(server: MCPServer) -> None:
    answer = ask(server, "get_symbol", name="make_ordr")
    assert answer.is_error
    assert answer.text.endswith(
        "No definition matches 'make_ordr'. Did you mean:\nfunction shop.models.make_order  shop/models.py:41-47"
    )


def test_get_symbol_of_a_module_name_points_to_get_outline(server: MCPServer) -> None:
    answer = ask(server, "get_symbol", name="shop.models")
    assert answer.is_error
    assert answer.text.endswith(
        "'shop.models' is a module (shop/models.py): get_outline('shop.models') lists its definitions."
    )


def test_get_symbol_of_a_line_outside_any_definition_says_so(server: MCPServer) -> None:
    answer = ask(server, "get_symbol", name="shop/models.py:40")
    assert answer.is_error
    assert answer.text.endswith(
        "No definition spans line 40 of shop/models.py (module-level code, or no such indexed file). "
        "get_outline('shop/models.py') lists the file's definitions."
    )


def test_get_symbol_pages_a_body_longer_than_the_byte_budget(server: MCPServer) -> None:
    first = ask(server, "get_symbol", name="long_function")
    lines = first.text.splitlines()
    assert len(first.text.encode()) <= DEFAULT_MAX_BYTES  # the paging line included
    assert lines[0] == "function shop.billing.long_function  shop/billing.py:13-313"
    assert lines[-1] == "[cut: showed lines 13-217 of 13-313; rest: get_symbol(name='long_function', offset=205)]"
    rest = ask(server, "get_symbol", name="long_function", offset=205).text.splitlines()
    assert rest[0] == "function shop.billing.long_function  shop/billing.py:13-313  (lines 218-313 of 13-313)"
    assert rest[1] == "    value_204 = 204  # a line long enough to make the body weigh something"
    assert rest[-1] == "    value_299 = 299  # a line long enough to make the body weigh something"
    assert "\n".join([*lines[2:-1], *rest[1:]]) == "def long_function():\n" + LONG_BODY



def test_get_symbol_says_when_its_offset_is_past_the_end(server: MCPServer) -> None:
    assert ask(server, "get_symbol", name="shop.models.Order.save", offset=5).text == (
        "method shop.models.Order.save  shop/models.py:28-32\n[offset 5 is past the end: the answer holds 5 lines, 28-32]"
    )

# --- get_outline --------------------------------------------------------------------


def test_get_outline_of_a_module_lists_members_nested_without_bodies(server: MCPServer) -> None:
    assert ask(server, "get_outline", target="shop.models").text == (
        "module shop.models  shop/models.py  (47 lines)\n"
        "Orders and their lines.\n"
        "class Base  5-10\n"
        "  Common base of every model.\n"
        "  def save(self)  8-10\n"
        "    Store the object.\n"
        "class Order(Base)  13-38\n"
        "  An order of a customer.\n"
        "  def __init__(self, customer: str) -> None  19-21\n"
        "  @property def total(self) -> int  23-26\n"
        "    Sum of the line amounts.\n"
        "  def save(self)  28-32\n"
        "    Store the order and its lines.\n"
        "  class Status  34-38\n"
        "    def label(self)  37-38\n"
        "def make_order(customer)  41-47\n"
        "  Create an order for a customer."
    )


def test_get_outline_of_a_package_lists_its_submodules(server: MCPServer) -> None:
    assert ask(server, "get_outline", target="json").text.splitlines()[:3] == [
        "module json  json/__init__.py  (359 lines)",
        "submodules: decoder, encoder, scanner, tool",
        "JSON (JavaScript Object Notation) <https://json.org> is a subset of",
    ]


def test_get_outline_takes_a_file_path(server: MCPServer) -> None:
    assert ask(server, "get_outline", target="shop/billing.py").text == (
        "module shop.billing  shop/billing.py  (313 lines)\n"
        "Invoices.\n"
        "def save(invoice)  4-6\n"
        "  Write an invoice to disk.\n"
        "async def send_invoice(invoice, *, retries: int = 3) -> bool  9-10\n"
        "def long_function()  13-313"
    )


def test_get_outline_of_a_class_shows_its_bases_and_members(server: MCPServer) -> None:
    assert ask(server, "get_outline", target="Order").text == (
        "class shop.models.Order  shop/models.py:13-38\n"
        "class Order(Base)\n"
        "bases: Base (shop.models.Base shop/models.py:5-10)\n"
        "An order of a customer.\n"
        "def __init__(self, customer: str) -> None  19-21\n"
        "@property def total(self) -> int  23-26\n"
        "  Sum of the line amounts.\n"
        "def save(self)  28-32\n"
        "  Store the order and its lines.\n"
        "class Status  34-38\n"
        "  def label(self)  37-38"
    )


def test_get_outline_pages_with_limit_and_offset(server: MCPServer) -> None:
    first = ask(server, "get_outline", target="json.decoder", limit=3).text.splitlines()
    assert (
        first[-1] == "[cut: showed entries 1-3 of 11; next page: get_outline(target='json.decoder', limit=3, offset=3)]"
    )
    second = ask(server, "get_outline", target="json.decoder", limit=3, offset=3).text.splitlines()
    assert second[2] == "def _decode_uXXXX(s, pos)  59-67"


def test_get_outline_of_an_unknown_module_suggests_similar_ones(server: MCPServer) -> None:
    answer = ask(server, "get_outline", target="shop.modls")
    assert answer.is_error
    assert answer.text.endswith("Modules with similar names: shop.models, shop")


# --- search_code --------------------------------------------------------------------


def test_search_code_names_the_definition_around_each_hit(server: MCPServer) -> None:
    assert ask(server, "search_code", query="line.save").text == (
        "1 definition matches 'line.save' (name, docstring or code; case-insensitive):\n"
        "method shop.models.Order.save  shop/models.py:28-32\n"
        "  31  line.save()"
    )


def test_search_code_puts_name_matches_first_then_code_in_file_order(server: MCPServer) -> None:
    assert ask(server, "search_code", query="invoice").text == (
        "3 definitions match 'invoice' (name, docstring or code; case-insensitive):\n"
        "function shop.billing.send_invoice  shop/billing.py:9-10\n"
        "  9  async def send_invoice(invoice, *, retries: int = 3) -> bool:\n"
        "module shop.billing  shop/billing.py\n"
        '  1  """Invoices."""\n'
        "function shop.billing.save  shop/billing.py:4-6\n"
        "  4  def save(invoice):\n"
        '  5  """Write an invoice to disk."""\n'
        "  6  return invoice"
    )


def test_search_code_shows_three_lines_per_definition_and_counts_the_rest(server: MCPServer) -> None:
    lines = ask(server, "search_code", query="a line long enough").text.splitlines()
    assert lines == [
        "1 definition matches 'a line long enough' (name, docstring or code; case-insensitive):",
        "function shop.billing.long_function  shop/billing.py:13-313",
        "   14  value_000 = 0  # a line long enough to make the body weigh something",
        "   15  value_001 = 1  # a line long enough to make the body weigh something",
        "   16  value_002 = 2  # a line long enough to make the body weigh something",
        "  (+297 more matching lines)",
    ]


def test_search_code_reports_nothing_found(server: MCPServer) -> None:
    assert ask(server, "search_code", query="no such text anywhere").text == (
        "Nothing matches 'no such text anywhere' in any definition's name, docstring or code (case-insensitive)."
    )


# --- run_sql ------------------------------------------------------------------------


def test_run_sql_returns_rows_one_per_line(server: MCPServer) -> None:
    assert ask(
        server, "run_sql", query="SELECT name, start_line FROM methods WHERE class_name = 'Order' ORDER BY start_line"
    ).text == ("name | start_line\n__init__ | 19\ntotal | 23\nsave | 28\n(3 rows)")


def test_run_sql_cuts_at_limit_and_says_how_to_get_more(server: MCPServer) -> None:
    assert ask(
        server, "run_sql", query="SELECT qualname FROM symbols WHERE module = 'shop.models' ORDER BY id", limit=2
    ).text == (
        "qualname\nBase\nBase.save\n(2 rows) [cut at limit=2; there are more rows: select fewer columns, "
        "add WHERE / LIMIT ... OFFSET 2, or raise limit]"
    )


def test_run_sql_escapes_line_breaks_inside_values(server: MCPServer) -> None:
    assert ask(server, "run_sql", query="SELECT body FROM symbols WHERE full_name = 'shop.models.Base.save'").text == (
        'body\n    def save(self):\\n        """Store the object."""\\n        return True\n(1 row)'
    )


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("DELETE FROM symbols", "run_sql refused the query: only one read-only query is allowed"),
        ("SELECT 1; DELETE FROM symbols", "run_sql refused the query: only one statement is allowed"),
        (
            "WITH gone AS (DELETE FROM symbols RETURNING 1) SELECT * FROM gone",
            "PostgreSQL: WITH clause containing a data-modifying statement must be at the top level",
        ),
        ("SELECT nextval('modules_id_seq')", "PostgreSQL: permission denied for sequence modules_id_seq"),
    ],
)
def test_run_sql_refuses_anything_but_one_read_only_query(server: MCPServer, sql: str, message: str) -> None:
    answer = ask(server, "run_sql", query=sql)
    assert answer.is_error
    assert message in answer.text
    assert (
        ask(server, "run_sql", query="SELECT count(*) FROM symbols WHERE module LIKE 'shop%'").text
        == "count\n13\n(1 row)"
    )


def test_run_sql_stops_a_query_at_its_statement_timeout(server: MCPServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("coderows.db.sandbox.SQL_STATEMENT_TIMEOUT", "300ms")
    answer = ask(server, "run_sql", query="SELECT pg_sleep(30)")
    assert answer.is_error
    assert answer.text.endswith(
        "The query ran past its time limit and was cancelled. Narrow it (WHERE, LIMIT, fewer source/body columns)."
    )


def test_run_sql_reports_postgres_errors_readably(server: MCPServer) -> None:
    answer = ask(server, "run_sql", query="SELECT nme FROM symbols")
    assert answer.is_error
    assert answer.text.endswith(
        'PostgreSQL: column "nme" does not exist\nHINT: Perhaps you meant to reference the column "symbols.name".'
    )


def test_run_sql_session_settings_do_not_outlive_the_query(server: MCPServer) -> None:
    ask(server, "run_sql", query="SELECT set_config('search_path', 'public', false)")
    assert (
        ask(server, "run_sql", query="SELECT count(*) FROM classes WHERE module = 'shop.models'").text
        == "count\n3\n(1 row)"
    )


def test_schema_resource_examples_run(server: MCPServer) -> None:
    from coderows.server.schema_doc import SCHEMA_DOC

    examples = SCHEMA_DOC.split("Examples:")[1].strip().split("\n\n")
    assert len(examples) == 5
    for example in examples:
        answer = ask(server, "run_sql", query=example)
        assert not answer.is_error, answer.text


# --- index_status -------------------------------------------------------------------


def test_index_status_lists_repositories_and_counts(server: MCPServer, indexed: Indexed) -> None:
    lines = ask(server, "index_status").text.splitlines()
    assert lines[0] == f"repo {indexed.root.name}  {indexed.root}"
    assert lines[1].startswith("  8 files, 47 definitions, last indexed 20")


def test_get_symbol_cuts_a_line_longer_than_the_budget(own_corpus: Indexed) -> None:
    (own_corpus.root / "shop" / "minified.py").write_text(
        "def packed():\n    return [" + "1, " * 20_000 + "]\n    # end\n"
    )
    tools = Tools(own_corpus.url, [own_corpus.root])
    try:
        server = build_server(tools)
        first = ask(server, "get_symbol", name="packed").text.splitlines()
        assert first[0] == "function shop.minified.packed  shop/minified.py:1-2"
        assert first[1] == "references: 0 in 0 files; calls 0 indexed definitions"
        assert first[2] == "def packed():"
        assert first[3].startswith("    return [1, 1, ") and first[3].endswith(" ...[line cut: 60013 bytes]")
        assert len(first) == 4
        assert len("\n".join(first).encode()) <= DEFAULT_MAX_BYTES
    finally:
        tools.close()


def test_definitions_sharing_a_full_name_are_told_apart_by_path_and_line(own_corpus: Indexed) -> None:
    # Alternatives (not a property's accessors, which are answered as one: tests/test_answers.py).
    (own_corpus.root / "shop" / "temp.py").write_text(
        "class Temp:\n    @cached\n    def c(self):\n        return 1\n\n    @c.other\n    def c(self, value):\n        pass\n"
    )
    tools = Tools(own_corpus.url, [own_corpus.root])  # serving the root: a miss re-indexes it
    try:
        server = build_server(tools)
        assert ask(server, "get_symbol", name="Temp.c").text == (
            "'Temp.c' is ambiguous: 2 definitions match. Call get_symbol again with one of these full names:\n"
            "method shop.temp.Temp.c  shop/temp.py:2-4\n"
            "method shop.temp.Temp.c  shop/temp.py:6-8\n"
            "(where full names repeat, name one by path and line, e.g. shop/temp.py:7)"
        )
        assert ask(server, "get_symbol", name="shop/temp.py:7").text == (
            "method shop.temp.Temp.c  shop/temp.py:6-8\nreferences: 1 in 1 file; calls 0 indexed definitions\n    @c.other\n    def c(self, value):\n        pass"
        )
    finally:
        tools.close()


def test_a_lookup_miss_brings_the_root_up_to_date_within_its_recorded_excludes(own_corpus: Indexed) -> None:
    with connect(own_corpus.url, autocommit=True) as conn:
        index_repository(conn, own_corpus.root, excludes=["scratch/"])
    (own_corpus.root / "scratch").mkdir()
    (own_corpus.root / "scratch" / "late.py").write_text("def late_excluded():\n    pass\n")
    (own_corpus.root / "shop" / "late.py").write_text("def late_kept():\n    pass\n")
    tools = Tools(own_corpus.url, [own_corpus.root])  # serving the root: a miss re-indexes it
    try:
        server = build_server(tools)
        assert ask(server, "find_symbol", query="late_kept").text == (
            "1 definition matches 'late_kept':\nfunction shop.late.late_kept  shop/late.py:1-2\n  def late_kept()"
        )
        excluded = ask(server, "get_symbol", name="late_excluded")
        assert excluded.is_error and "No definition matches 'late_excluded'" in excluded.text
    finally:
        tools.close()


def test_a_repository_whose_root_is_gone_is_answered_as_indexed(own_corpus: Indexed, tmp_path: Path) -> None:
    own_corpus.root.rename(tmp_path / "moved")
    tools = Tools(own_corpus.url)
    try:
        assert ask(build_server(tools), "get_symbol", name="Base.save").text == (
            "method shop.models.Base.save  shop/models.py:8-10\n"
            "references: 1 in 1 file; calls 0 indexed definitions\n"
            "    def save(self):\n"
            '        """Store the object."""\n'
            "        return True"
        )
    finally:
        tools.close()


def test_index_status_lists_files_that_did_not_parse_and_files_changed_since(own_corpus: Indexed) -> None:
    (own_corpus.root / "shop" / "broken.py").write_text("def broken(:\n    pass\n")
    index(own_corpus.url, own_corpus.root)
    with (own_corpus.root / "shop" / "billing.py").open("a") as billing:
        billing.write("\n# edited\n")
    tools = Tools(own_corpus.url)
    try:
        lines = ask(build_server(tools), "index_status").text.splitlines()
    finally:
        tools.close()
    assert lines[0] == f"repo corpus  {own_corpus.root}"
    assert lines[1].startswith("  9 files, 48 definitions, last indexed 20")
    assert lines[2:] == [
        "  1 file changed on disk since indexed (refreshed when a tool reads them): shop/billing.py",
        "  1 file not parsed cleanly:",
        "    partial shop/broken.py  SyntaxError: invalid syntax (line 1)",
    ]


# --- find_references and the class relations of get_outline -----------------------------


def test_find_references_lists_resolved_uses_by_file_with_their_lines(server: MCPServer) -> None:
    assert ask(server, "find_references", name="shop.models.Order").text == (
        "class shop.models.Order  shop/models.py:13-38: 2 resolved uses in 2 files\n"
        "shop/__init__.py\n"
        "  2:25  import  in shop  | from shop.models import Order\n"
        "shop/models.py\n"
        "  47:12  call  in shop.models.make_order  | return Order(normalise(customer))"
    )


def test_find_references_follows_super_and_counts_name_matches_apart(server: MCPServer) -> None:
    assert ask(server, "find_references", name="shop.models.Base.save").text == (
        "method shop.models.Base.save  shop/models.py:8-10: 1 resolved use in 1 file\n"
        "shop/models.py\n"
        "  32:24  call  in shop.models.Order.save  | return super().save()\n"
        "not resolved: 1 use of the name 'save' on objects of unknown type, in 1 file (may or may not be this one): "
        "run_sql(\"SELECT path, line, name, source_full_name FROM usages WHERE short_name = 'save' AND target IS NULL\")"
    )


def test_find_references_of_an_ambiguous_name_lists_the_candidates(server: MCPServer) -> None:
    assert ask(server, "find_references", name="save").text.startswith(
        "'save' is ambiguous: 3 definitions match. Call find_references again with one of these full names:"
    )


def test_get_outline_of_a_class_lists_subclasses_and_inherited_members_on_request(server: MCPServer) -> None:
    base = ask(server, "get_outline", target="shop.models.Base", subclasses=True).text.splitlines()
    assert base[3:5] == ["subclasses (1):", "  shop.models.Order  shop/models.py:13-38"]
    # Order's only candidate, Base.save, is overridden by Order.save: nothing is inherited.
    order = ask(server, "get_outline", target="shop.models.Order", inherited=True).text.splitlines()
    assert "inherited: nothing from indexed bases" in order


def test_the_repo_argument_restricts_answers_to_one_repository(own_corpus: Indexed, tmp_path: Path) -> None:
    other = tmp_path / "other"
    (other / "shop").mkdir(parents=True)
    (other / "shop" / "models.py").write_text("class Order:\n    pass\n")
    index(own_corpus.url, other)
    tools = Tools(own_corpus.url)
    try:
        server = build_server(tools)
        assert ask(server, "get_symbol", name="shop.models.Order", include_body=False).text.startswith(
            "'shop.models.Order' is ambiguous: 2 definitions match in 2 repositories."
        )
        assert ask(server, "get_symbol", name="shop.models.Order", repo="other").text.splitlines()[0] == (
            "class shop.models.Order  shop/models.py:1-2"
        )
        assert ask(server, "find_symbol", query="Order", repo=str(other.resolve())).text == (
            "1 definition matches 'Order':\nclass shop.models.Order  shop/models.py:1-2\n  class Order"
        )
    finally:
        tools.close()


# --- bounded input and output (issue 13, item 6) ------------------------------------

LONG_NAME = "x" * 1_500_000  # the review's 1.5 MB name: 27-32 s of server time, a 3 MB answer


def tool_schemas(server: MCPServer) -> dict[str, dict]:
    async def session() -> dict[str, dict]:
        async with Client(server) as client:
            return {tool.name: tool.input_schema["properties"] for tool in (await client.list_tools()).tools}

    return run(session)


def test_every_string_argument_declares_a_length_limit_in_the_schema(server: MCPServer) -> None:
    limits = {}
    for tool, properties in tool_schemas(server).items():
        for name, schema in properties.items():
            for choice in schema.get("anyOf", [schema]):
                if choice.get("type") == "string" and "enum" not in choice:
                    limits[f"{tool}.{name}"] = choice.get("maxLength")
    assert {key: value for key, value in limits.items() if key != "run_sql.query"} == {
        "find_symbol.query": 1000,
        "find_symbol.module": 1000,
        "find_symbol.repo": 1000,
        "get_symbol.name": 1000,
        "get_symbol.repo": 1000,
        "get_outline.target": 1000,
        "get_outline.repo": 1000,
        "search_code.query": 1000,
        "search_code.repo": 1000,
        "find_references.name": 1000,
        "find_references.repo": 1000,
        "index_status.repo": 1000,
    }


def test_every_offset_declares_a_maximum_in_the_schema(server: MCPServer) -> None:
    offsets = {tool: properties["offset"].get("maximum") for tool, properties in tool_schemas(server).items() if "offset" in properties}
    assert offsets == dict.fromkeys(["find_symbol", "get_symbol", "get_outline", "search_code", "find_references"], 1_000_000_000)


@pytest.mark.parametrize(
    ("tool", "argument"),
    [("find_symbol", "query"), ("get_symbol", "name"), ("get_outline", "target"), ("search_code", "query"), ("find_references", "name")],
)
def test_a_megabyte_argument_is_refused_at_once_with_one_short_line(server: MCPServer, tool: str, argument: str) -> None:
    import time

    started = time.monotonic()
    answer = ask(server, tool, **{argument: LONG_NAME})
    assert time.monotonic() - started < 5  # was 27-32 s; 5 leaves room for a loaded machine
    assert answer.is_error
    assert answer.text == (
        f"Error executing tool {tool}: argument '{argument}': String should have at most 1000 characters"
    )


def test_an_undeclared_string_over_100000_characters_is_refused_with_one_line(server: MCPServer) -> None:
    answer = ask(server, "run_sql", query="SELECT 1 -- " + "y" * 100_000)
    assert answer.is_error
    assert answer.text == (
        "Error executing tool run_sql: argument 'query' is 100,012 characters long, at most 100,000 are "
        "accepted (it starts 'SELECT 1 -- yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy...')"
    )


def test_an_offset_past_bigint_is_refused_with_one_line(server: MCPServer) -> None:
    answer = ask(server, "find_symbol", query="save", offset=2**63)
    assert answer.is_error
    assert answer.text == (
        "Error executing tool find_symbol: argument 'offset': Input should be less than or equal to 1000000000"
    )


def test_a_wrongly_typed_argument_is_refused_with_one_line(server: MCPServer) -> None:
    answer = ask(server, "find_symbol", query="save", limit="many")
    assert answer.text == (
        "Error executing tool find_symbol: argument 'limit': Input should be a valid integer, unable to parse "
        "string as an integer"
    )


def test_a_not_found_answer_for_the_longest_name_stays_within_the_budget(server: MCPServer) -> None:
    answer = ask(server, "get_symbol", name="q" * 1000)
    assert answer.is_error
    assert answer.text.startswith("Error executing tool get_symbol: No definition matches 'qqq")
    assert len(answer.text.encode()) <= DEFAULT_MAX_BYTES


def test_a_paged_answer_with_the_longest_arguments_keeps_its_paging_line_within_the_budget(
    own_corpus: Indexed,
) -> None:
    (own_corpus.root / "many.py").write_text("".join(f"def function_{i:03d}():\n    pass\n" for i in range(600)))
    index(own_corpus.url, own_corpus.root)
    tools = Tools(own_corpus.url)
    try:
        pattern = "function_*" + "*" * 990  # 1,000 characters, all repeated by the paging line
        answer = ask(build_server(tools), "find_symbol", query=pattern, limit=500)
    finally:
        tools.close()
    lines = answer.text.splitlines()
    shown = sum(line.startswith("  def function_") for line in lines)  # complete entries: header and signature
    assert len(answer.text.encode()) <= DEFAULT_MAX_BYTES
    assert 100 < shown < 500
    assert lines[-1] == (
        f"[cut: showed definitions 1-{shown} of 600; next page: find_symbol(query={pattern!r}, limit=500, offset={shown})]"
    )


def test_an_error_quoting_a_huge_value_is_cut_at_the_budget(server: MCPServer) -> None:
    # PostgreSQL quotes the whole literal it could not cast: 60,000 characters.
    answer = ask(server, "run_sql", query="SELECT '" + "z" * 60_000 + "'::int")
    assert answer.is_error
    assert len(answer.text.encode()) <= DEFAULT_MAX_BYTES
    assert answer.text.endswith(" bytes in all]")
    assert "\n[cut at the 16,000-byte answer limit: " in answer.text


def test_the_server_reports_its_package_version(server: MCPServer) -> None:
    from importlib.metadata import version

    async def session() -> str:
        async with Client(server) as client:
            return client.server_info.version  # type: ignore[attr-defined]

    assert run(session) == version("coderows") != ""
