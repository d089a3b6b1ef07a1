"""Edits by symbol (issue 17): replace_symbol, insert_symbol, delete_symbol and
rename_symbol through a real MCP client over a real index, and `coderows rename` as a
subprocess; every safety rule: files changed since indexing, read-only files, results
that do not compile, links out of the root, ignored files, line endings and encodings,
all-or-nothing multi-file writes (a failure and a SIGKILL midway), dry runs, and HTTP
without --allow-edits."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from coderows.db.connection import connect
from coderows.edit.write import PAUSE_ENV
from coderows.indexer import load
from coderows.indexer.pipeline import IndexSummary, refresh_paths
from coderows.indexer.watch import BatchReport, Watcher
from coderows.server.app import build_server
from coderows.server.tools import Tools
from server_fixtures import CODEROWS, Answer, Indexed, call, http_server, index, own_corpus, run, server_env  # noqa: F401 (fixture)

EDIT_TOOLS = ["replace_symbol", "insert_symbol", "delete_symbol", "rename_symbol"]


def ask(indexed: Indexed, *calls: tuple[str, dict[str, Any]]) -> list[Answer]:
    """Each (tool, arguments) in turn through one in-process MCP session with edits on."""
    tools = Tools(indexed.url, [indexed.root])

    async def session() -> list[Answer]:
        async with Client(build_server(tools, allow_edits=True)) as client:
            return [await call(client, tool, **arguments) for tool, arguments in calls]

    try:
        return run(session)
    finally:
        tools.close()


def edit(indexed: Indexed, tool: str, **arguments: Any) -> Answer:
    return ask(indexed, (tool, arguments))[0]


def text_of(indexed: Indexed, path: str) -> str:
    return (indexed.root / path).read_bytes().decode("utf-8")


def write(root: Path, files: dict[str, str | bytes]) -> None:
    for relative, content in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))


@pytest.fixture
def small(db_url: str, tmp_path: Path) -> Callable[[dict[str, str | bytes]], Indexed]:
    """A repository of the test's own files, indexed."""

    def make(files: dict[str, str | bytes]) -> Indexed:
        root = tmp_path / "repo"
        write(root, files)
        index(db_url, root)
        return Indexed(db_url, root.resolve())

    return make


PACKAGE = {
    "pkg/__init__.py": 'from pkg.impl import helper as helper, Widget\n\n__all__ = ["helper", "Widget"]\n',
    "pkg/impl.py": (
        "class Widget:\n"
        "    def spin(self):\n"
        "        return self.turn()\n"
        "\n"
        "    def turn(self):\n"
        "        return 1\n"
        "\n"
        "\n"
        "class Gadget(Widget):\n"
        "    def turn(self):\n"
        "        return super().turn() + 1\n"
        "\n"
        "\n"
        "def helper(thing):\n"
        '    """Calls helper-like things; getattr(thing, "helper") is a string use."""\n'
        "    return thing.helper()\n"
    ),
    "app.py": (
        "from pkg import helper\n"
        "from pkg.impl import helper as h, Gadget\n"
        "\n"
        "\n"
        "def main():\n"
        "    g = Gadget()\n"
        "    g.turn()\n"
        "    return helper(g), h(g)\n"
    ),
}


# --- the tools are offered, and say they are destructive ----------------------------


def test_edit_tools_are_listed_as_destructive_when_edits_are_allowed(own_corpus: Indexed) -> None:
    tools = Tools(own_corpus.url, [own_corpus.root])

    async def session() -> dict[str, Any]:
        async with Client(build_server(tools, allow_edits=True)) as client:
            return {t.name: t.annotations for t in (await client.list_tools()).tools}

    try:
        listed = run(session)
    finally:
        tools.close()
    assert [name for name in listed if name in EDIT_TOOLS] == EDIT_TOOLS
    assert [(listed[name].destructive_hint, listed[name].read_only_hint) for name in EDIT_TOOLS] == [(True, False)] * 4


def test_http_server_offers_edit_tools_only_with_allow_edits(own_corpus: Indexed) -> None:
    async def names(endpoint: str) -> list[str]:
        async with Client(endpoint) as client:
            return [t.name for t in (await client.list_tools()).tools]

    with http_server(own_corpus.url, own_corpus.root) as (_, endpoint):
        plain = run(names, endpoint)
    with http_server(own_corpus.url, own_corpus.root, options=("--allow-edits",)) as (_, endpoint):
        allowed = run(names, endpoint)
    assert [name for name in plain if name in EDIT_TOOLS] == []
    assert [name for name in allowed if name in EDIT_TOOLS] == EDIT_TOOLS


# --- replace, insert, delete ---------------------------------------------------------


def test_replace_symbol_places_source_at_the_definitions_indentation(own_corpus: Indexed) -> None:
    answer, after = ask(
        own_corpus,
        ("replace_symbol", {"name": "Order.save", "source": "def save(self):\n    '''Store nothing.'''\n    return False\n"}),
        ("get_symbol", {"name": "Order.save"}),
    )
    assert answer.text == (
        "replaced method shop.models.Order.save (shop/models.py:28-32); now shop/models.py:28-30\n"
        "    def save(self):\n"
        "        '''Store nothing.'''\n"
        "        return False"
    )
    assert "    def save(self):\n        '''Store nothing.'''\n        return False\n\n    class Status:" in text_of(
        own_corpus, "shop/models.py"
    )
    assert after.text.endswith("\n    def save(self):\n        '''Store nothing.'''\n        return False")


def test_replace_symbol_leaves_lines_inside_multiline_strings_as_written(small: Callable[..., Indexed]) -> None:
    repo = small({"m.py": "class A:\n    def f(self):\n        return 1\n"})
    source = '        def f(self):\n            return """one\ntwo"""\n'
    assert not edit(repo, "replace_symbol", name="A.f", source=source).is_error
    assert text_of(repo, "m.py") == 'class A:\n    def f(self):\n        return """one\ntwo"""\n'


def test_replace_symbol_keeps_crlf_line_endings(small: Callable[..., Indexed]) -> None:
    repo = small({"m.py": b"def f():\r\n    return 1\r\n\r\n\r\ndef g():\r\n    return 2\r\n"})
    assert not edit(repo, "replace_symbol", name="f", source="def f():\n    x = 3\n    return x\n").is_error
    assert (repo.root / "m.py").read_bytes() == b"def f():\r\n    x = 3\r\n    return x\r\n\r\n\r\ndef g():\r\n    return 2\r\n"


def test_replace_symbol_keeps_the_files_declared_encoding(small: Callable[..., Indexed]) -> None:
    repo = small({"m.py": "# -*- coding: latin-1 -*-\ndef f():\n    return 'caf\u00e9'\n".encode("latin-1")})
    assert not edit(repo, "replace_symbol", name="f", source="def f():\n    return 'na\u00efve'\n").is_error
    assert (repo.root / "m.py").read_bytes() == "# -*- coding: latin-1 -*-\ndef f():\n    return 'na\u00efve'\n".encode("latin-1")


def test_insert_symbol_after_a_function_with_pep8_blank_lines(own_corpus: Indexed) -> None:
    answer = edit(own_corpus, "insert_symbol", anchor="shop.billing.save", source="def load(path):\n    return path", position="after")
    assert answer.text == "inserted after function shop.billing.save: shop/billing.py:9-10\ndef load(path):\n    return path"
    assert text_of(own_corpus, "shop/billing.py").startswith(
        '"""Invoices."""\n\n\ndef save(invoice):\n    """Write an invoice to disk."""\n    return invoice\n\n\n'
        "def load(path):\n    return path\n\n\nasync def send_invoice("
    )


def test_insert_symbol_before_a_method_at_its_indentation(own_corpus: Indexed) -> None:
    assert not edit(own_corpus, "insert_symbol", anchor="Base.save", source="def load(self):\n    return self", position="before").is_error
    assert '    """Common base of every model."""\n\n    def load(self):\n        return self\n\n    def save(self):\n' in text_of(
        own_corpus, "shop/models.py"
    )


def test_insert_symbol_at_the_end_of_a_class_and_of_a_module(own_corpus: Indexed) -> None:
    first, second, outline = ask(
        own_corpus,
        ("insert_symbol", {"anchor": "shop.models.Base", "source": "def load(self):\n    return self", "position": "end"}),
        ("insert_symbol", {"anchor": "shop/__init__.py", "source": "VERSION = 1", "position": "end"}),
        ("get_outline", {"target": "shop.models.Base"}),
    )
    assert first.text == "inserted at the end of class shop.models.Base: shop/models.py:12-13\n    def load(self):\n        return self"
    assert second.text == "inserted at the end of module shop/__init__.py: shop/__init__.py:5-5\nVERSION = 1"
    assert text_of(own_corpus, "shop/__init__.py") == (
        '"""A tiny shop: the test corpus of the coderows server."""\nfrom shop.models import Order\n\n\nVERSION = 1\n'
    )
    assert "load(self)" in outline.text


def test_delete_symbol_removes_decorators_and_docstring(own_corpus: Indexed) -> None:
    before = text_of(own_corpus, "shop/models.py")
    answer, found = ask(own_corpus, ("delete_symbol", {"name": "Order.total"}), ("find_symbol", {"query": "Order.total"}))
    assert answer.text == "deleted method shop.models.Order.total (shop/models.py:23-26)"
    removed = '    @property\n    def total(self) -> int:\n        """Sum of the line amounts."""\n        return sum(line.amount for line in self.lines)\n\n'
    assert text_of(own_corpus, "shop/models.py") == before.replace(removed, "")
    assert found.text.startswith("No definition matches 'Order.total'")


def test_delete_symbol_leaves_pass_in_a_block_it_was_alone_in(small: Callable[..., Indexed]) -> None:
    repo = small({"m.py": "class A:\n    def f(self):\n        return 1\n"})
    answer = edit(repo, "delete_symbol", name="A.f")
    assert answer.text == "deleted method m.A.f (m.py:2-3); `pass` stands in its place, the only statement of its block"
    assert text_of(repo, "m.py") == "class A:\n    pass\n"


def test_ambiguous_name_edits_nothing_and_lists_the_candidates(own_corpus: Indexed) -> None:
    before = {p: text_of(own_corpus, p) for p in ("shop/models.py", "shop/billing.py")}
    answer = edit(own_corpus, "delete_symbol", name="save")
    assert answer.text.startswith("'save' is ambiguous: 3 definitions match. Call delete_symbol again with one of these full names:")
    assert {p: text_of(own_corpus, p) for p in before} == before


# --- rename ------------------------------------------------------------------------


def test_rename_symbol_changes_the_definition_and_every_resolved_use(own_corpus: Indexed) -> None:
    answer, references = ask(
        own_corpus,
        ("rename_symbol", {"name": "shop.models.Order", "new_name": "Purchase"}),
        ("find_references", {"name": "shop.models.Purchase"}),
    )
    assert answer.text == (
        "renamed class shop.models.Order -> Purchase: 3 changes on 3 lines in 2 files\n"
        "shop/__init__.py\n"
        "  2: from shop.models import Order  ->  from shop.models import Purchase\n"
        "shop/models.py\n"
        "  13: class Order(Base):  ->  class Purchase(Base):\n"
        "  47: return Order(normalise(customer))  ->  return Purchase(normalise(customer))"
    )
    assert "shop/__init__.py" in references.text and "shop/models.py" in references.text
    assert "Order" not in text_of(own_corpus, "shop/__init__.py").replace('"""', "")


def test_rename_follows_reexports_all_and_same_name_aliases_but_keeps_other_aliases(small: Callable[..., Indexed]) -> None:
    repo = small(PACKAGE)
    answer = edit(repo, "rename_symbol", name="pkg.impl.helper", new_name="assist")
    assert text_of(repo, "pkg/__init__.py") == 'from pkg.impl import assist as assist, Widget\n\n__all__ = ["assist", "Widget"]\n'
    assert text_of(repo, "app.py").startswith("from pkg import assist\nfrom pkg.impl import assist as h, Gadget\n")
    assert "    return assist(g), h(g)\n" in text_of(repo, "app.py")
    assert "def assist(thing):" in text_of(repo, "pkg/impl.py")
    assert answer.text.splitlines()[0] == "renamed function pkg.impl.helper -> assist: 7 changes on 6 lines in 3 files"
    assert "1 use through another name (an `as` alias) unchanged: the alias still binds" in answer.text
    assert "left alone, known by name only (objects of unknown type; 1):\n  pkg/impl.py:16: return thing.helper()" in answer.text
    assert (
        "left alone, strings and comments holding 'helper' (1):\n"
        '  pkg/impl.py:15: """Calls helper-like things; getattr(thing, "helper") is a string use."""'
    ) in answer.text


def test_rename_method_names_its_overrides_and_renames_them_only_when_asked(small: Callable[..., Indexed]) -> None:
    repo = small(PACKAGE)
    dry = edit(repo, "rename_symbol", name="Widget.turn", new_name="rotate", dry_run=True)
    assert dry.text.splitlines() == [
        "dry run, nothing written: would rename method pkg.impl.Widget.turn -> rotate: 3 changes on 3 lines in 1 file",
        "pkg/impl.py",
        "  3: return self.turn()  ->  return self.rotate()",
        "  5: def turn(self):  ->  def rotate(self):",
        "  11: return super().turn() + 1  ->  return super().rotate() + 1",
        "methods of the same name in the class hierarchy, not renamed (include_overrides=true renames them too): "
        "pkg.impl.Gadget.turn (overrides it)",
    ]
    answer = edit(repo, "rename_symbol", name="Widget.turn", new_name="rotate", include_overrides=True)
    assert answer.text.splitlines()[0] == "renamed method pkg.impl.Widget.turn -> rotate: 5 changes on 5 lines in 2 files"
    assert "    g.rotate()\n" in text_of(repo, "app.py")
    assert "class Gadget(Widget):\n    def rotate(self):\n        return super().rotate() + 1\n" in text_of(repo, "pkg/impl.py")


def test_rename_changes_a_method_called_on_what_a_call_returns(small: Callable[..., Indexed]) -> None:
    repo = small({
        "shop.py": (
            "class Cart:\n"
            "    def total(self):\n"
            "        return 0\n"
            "\n"
            "    def copy(self) -> 'Cart':\n"
            "        return Cart()\n"
            "\n"
            "\n"
            "def fresh():\n"
            "    return Cart().total() + Cart().copy().total()\n"
        ),
    })
    answer, references = ask(
        repo,
        ("rename_symbol", {"name": "shop.Cart.total", "new_name": "amount"}),
        ("find_references", {"name": "shop.Cart.amount"}),
    )
    assert answer.text.splitlines() == [
        "renamed method shop.Cart.total -> amount: 3 changes on 2 lines in 1 file",
        "shop.py",
        "  2: def total(self):  ->  def amount(self):",
        "  10: return Cart().total() + Cart().copy().total()  ->  return Cart().amount() + Cart().copy().amount()",
    ]
    assert references.text.splitlines()[0] == "method shop.Cart.amount  shop.py:2-3: 2 resolved uses in 1 file"


def test_rename_changes_uses_through_an_annotated_module_name_and_an_instance_attribute(
    small: Callable[..., Indexed],
) -> None:
    repo = small({
        "eng/__init__.py": "",
        "eng/core.py": (
            "class Engine:\n"
            "    def start(self):\n"
            "        return 1\n"
            "\n"
            "\n"
            "class Car:\n"
            "    def __init__(self):\n"
            "        self.engine = Engine()\n"
        ),
        "eng/globals.py": (
            "import typing as t\n"
            "\n"
            "if t.TYPE_CHECKING:\n"
            "    from eng.core import Engine\n"
            "\n"
            "current: 'Engine' = object()  # a proxy, as flask's current_app\n"
        ),
        "eng/use.py": (
            "from eng.core import Car\n"
            "from eng.globals import current\n"
            "\n"
            "\n"
            "def go():\n"
            "    return current.start() + Car().engine.start()\n"
        ),
    })
    answer, references = ask(
        repo,
        ("rename_symbol", {"name": "eng.core.Engine.start", "new_name": "run"}),
        ("find_references", {"name": "eng.core.Engine.run"}),
    )
    assert answer.text.splitlines() == [
        "renamed method eng.core.Engine.start -> run: 3 changes on 2 lines in 2 files",
        "eng/core.py",
        "  2: def start(self):  ->  def run(self):",
        "eng/use.py",
        "  6: return current.start() + Car().engine.start()  ->  return current.run() + Car().engine.run()",
    ]
    assert references.text.splitlines()[0] == "method eng.core.Engine.run  eng/core.py:2-3: 2 resolved uses in 1 file"


def test_rename_lists_attributes_on_a_path_it_cannot_follow_as_left_alone(small: Callable[..., Indexed]) -> None:
    repo = small({
        "m.py": (
            "import os\n"
            "\n"
            "\n"
            "class Door:\n"
            "    def open(self):\n"
            "        return 1\n"
            "\n"
            "\n"
            "class House:\n"
            "    def __init__(self, door):\n"
            "        self.door = door\n"
            "\n"
            "    def enter(self):\n"
            "        return self.door.open() + os.open\n"
        ),
    })
    answer = edit(repo, "rename_symbol", name="m.Door.open", new_name="unlock", dry_run=True)
    assert answer.text.splitlines()[-2:] == [
        "left alone, known by name only (objects of unknown type; 1):",
        "  m.py:14: return self.door.open() + os.open",
    ]


def test_rename_dry_run_writes_nothing(small: Callable[..., Indexed]) -> None:
    repo = small(PACKAGE)
    before = {path: text_of(repo, path) for path in PACKAGE}
    answer = edit(repo, "rename_symbol", name="pkg.impl.helper", new_name="assist", dry_run=True)
    assert answer.text.startswith("dry run, nothing written: would rename function pkg.impl.helper -> assist: 7 changes")
    assert {path: text_of(repo, path) for path in PACKAGE} == before


def test_rename_to_a_name_taken_in_the_same_scope_is_refused(small: Callable[..., Indexed]) -> None:
    repo = small(PACKAGE)
    answer = edit(repo, "rename_symbol", name="Widget.turn", new_name="spin")
    assert answer.is_error
    assert answer.text == "Error executing tool rename_symbol: pkg/impl.py:2 already defines spin in the same scope; nothing was written"


# --- safety ------------------------------------------------------------------------


def test_file_changed_on_disk_after_indexing_is_edited_on_its_current_text(small: Callable[..., Indexed]) -> None:
    # The change keeps size and mtime, so only the content hash can tell: the rows were
    # decided on the old text, the edit is decided again on the new one.
    repo = small({"m.py": "def f():\n    return 1\n\n\ndef g():\n    return 2\n"})
    path = repo.root / "m.py"
    info = path.stat()
    path.write_text("def f():\n    return 7\n\n\ndef g():\n    return 2\n")
    os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns))
    answer = edit(repo, "replace_symbol", name="g", source="def g():\n    return 3\n")
    assert answer.text.startswith("replaced function m.g (m.py:5-6)")
    assert path.read_text() == "def f():\n    return 7\n\n\ndef g():\n    return 3\n"


def test_read_only_file_is_refused(small: Callable[..., Indexed]) -> None:
    repo = small({"m.py": "def f():\n    return 1\n"})
    (repo.root / "m.py").chmod(0o444)
    answer = edit(repo, "replace_symbol", name="f", source="def f():\n    return 2\n")
    assert answer.text == "Error executing tool replace_symbol: m.py is read-only; nothing was written"
    assert (repo.root / "m.py").read_text() == "def f():\n    return 1\n"


def test_result_that_does_not_compile_is_refused_naming_the_line(own_corpus: Indexed) -> None:
    before = text_of(own_corpus, "shop/models.py")
    answer = edit(own_corpus, "insert_symbol", anchor="shop.models.Base", source="from __future__ import annotations", position="after")
    assert answer.text == (
        "Error executing tool insert_symbol: shop/models.py:13: the edited file would not compile "
        "(from __future__ imports must occur at the beginning of the file); nothing was written"
    )
    assert text_of(own_corpus, "shop/models.py") == before


def test_edit_through_a_link_leading_outside_the_root_is_refused(small: Callable[..., Indexed], tmp_path: Path) -> None:
    repo = small({"m.py": "def f():\n    return 1\n"})
    inside = repo.root / "m.py"
    outside = tmp_path / "elsewhere.py"
    outside.write_bytes(inside.read_bytes())
    info = inside.stat()
    os.utime(outside, ns=(info.st_atime_ns, info.st_mtime_ns))  # same size and mtime: only the path differs
    inside.unlink()
    inside.symlink_to(outside)
    answer = edit(repo, "replace_symbol", name="f", source="def f():\n    return 2\n")
    assert answer.text == (
        f"Error executing tool replace_symbol: m.py leads outside the repository root {repo.root} (through a link); "
        "nothing was written"
    )
    assert outside.read_text() == "def f():\n    return 1\n"


def test_ignored_file_is_refused(small: Callable[..., Indexed]) -> None:
    repo = small({"m.py": "def f():\n    return 1\n"})
    (repo.root / ".gitignore").write_text("m.py\n")
    answer = edit(repo, "replace_symbol", name="f", source="def f():\n    return 2\n")
    assert answer.text == (
        "Error executing tool replace_symbol: m.py is ignored or excluded (.gitignore, .git/info/exclude, --exclude); "
        "nothing was written"
    )
    assert (repo.root / "m.py").read_text() == "def f():\n    return 1\n"


def test_the_watcher_does_not_index_an_edit_again(small: Callable[..., Indexed]) -> None:
    repo = small({"m.py": "def f():\n    return 1\n"})
    reports: list[BatchReport] = []
    watcher = Watcher(repo.url, [repo.root], on_batch=reports.append)
    watcher.start()
    try:
        assert watcher.wait_ready(120)
        reports.clear()
        assert not edit(repo, "replace_symbol", name="f", source="def f():\n    return 2\n").is_error
        # Events arrive in order: the marker's after the edit's. Moved into place whole, so
        # that the watcher can never read it half-written (and parse it twice).
        (repo.root / "marker.txt").write_text("def marker():\n    pass\n")
        os.replace(repo.root / "marker.txt", repo.root / "marker.py")
        deadline = time.monotonic() + 120
        with connect(repo.url, autocommit=True) as conn:
            while not conn.execute("SELECT 1 FROM symbols WHERE name = 'marker'").fetchone():
                assert time.monotonic() < deadline, "the watcher did not index marker.py"
                time.sleep(0.1)
    finally:
        watcher.stop(timeout=120)  # finishes the marker's batch (its report comes after its commit)
    assert sum(report.summary.files_indexed for report in reports) == 1  # marker.py alone


def test_an_indexer_reads_the_index_only_after_an_edit_has_indexed_what_it_wrote(small: Callable[..., Indexed]) -> None:
    repo = small({"m.py": "def f():\n    return 1\n"})
    summaries: list[IndexSummary] = []
    with connect(repo.url, autocommit=True) as editing, connect(repo.url, autocommit=True) as watching:
        repo_id = load.find_repo(editing, repo.root)
        assert repo_id is not None
        with load.repositories_held(editing, [repo_id]):  # as an edit holds it: from its first write to its rows
            (repo.root / "m.py").write_text("def f():\n    return 2\n")
            other = threading.Thread(target=lambda: summaries.append(refresh_paths(watching, repo.root, ["m.py"])))
            other.start()
            deadline = time.monotonic() + 120
            while not editing.execute(
                "SELECT 1 FROM pg_locks WHERE pid = %s AND locktype = 'advisory' AND NOT granted", [watching.info.backend_pid]
            ).fetchone():
                assert other.is_alive() and time.monotonic() < deadline, "the other indexer did not wait for the edit"
                time.sleep(0.05)
            assert refresh_paths(editing, repo.root, ["m.py"]).files_indexed == 1
        other.join(120)
    assert [(s.files_indexed, s.files_unchanged) for s in summaries] == [(0, 1)]


# --- coderows rename: the CLI, all or nothing ----------------------------------------


def rename_command(repo: Indexed, *arguments: str) -> list[str]:
    return [CODEROWS, "rename", "--database-url", repo.url, *arguments]


def test_cli_rename_prints_every_change_and_writes_them(small: Callable[..., Indexed]) -> None:
    repo = small(PACKAGE)
    done = subprocess.run(
        rename_command(repo, "Gadget", "Gizmo"), cwd=repo.root, capture_output=True, text=True, env=server_env(), timeout=120
    )
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout == (
        "renamed class pkg.impl.Gadget -> Gizmo: 3 changes on 3 lines in 2 files\n"
        "app.py\n"
        "  2: from pkg.impl import helper as h, Gadget  ->  from pkg.impl import helper as h, Gizmo\n"
        "  6: g = Gadget()  ->  g = Gizmo()\n"
        "pkg/impl.py\n"
        "  9: class Gadget(Widget):  ->  class Gizmo(Widget):\n"
    )
    assert "    g = Gizmo()\n" in text_of(repo, "app.py")


def start_paused_rename(repo: Indexed, marker: Path) -> subprocess.Popen[str]:
    """`coderows rename helper assist` (three files), paused after its first file is replaced."""
    process = subprocess.Popen(
        rename_command(repo, "pkg.impl.helper", "assist"),
        cwd=repo.root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=server_env(**{PAUSE_ENV: str(marker)}),
    )
    deadline = time.monotonic() + 120
    while not marker.exists():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the rename did not reach its first replaced file"
        time.sleep(0.05)
    return process


RENAMED = {
    "app.py": PACKAGE["app.py"].replace("import helper\n", "import assist\n").replace("helper as h", "assist as h").replace(
        "return helper(g)", "return assist(g)"
    ),
}


def test_a_file_changed_midway_through_a_rename_puts_back_the_files_already_written(
    small: Callable[..., Indexed], tmp_path: Path
) -> None:
    repo = small(PACKAGE)
    marker = tmp_path / "paused"
    process = start_paused_rename(repo, marker)
    assert text_of(repo, "app.py") == RENAMED["app.py"]  # the first file (by path) is replaced
    changed = PACKAGE["pkg/impl.py"] + "# edited meanwhile\n"
    (repo.root / "pkg/impl.py").write_text(changed)
    marker.unlink()
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 1
    assert stderr == (
        "coderows: pkg/impl.py changed on disk since it was indexed (its content hash differs); nothing was written: "
        "call again to decide the edit on its current text\n"
    )
    assert {path: text_of(repo, path) for path in PACKAGE} == {**PACKAGE, "pkg/impl.py": changed}
    assert sorted(p.name for p in repo.root.rglob("*.tmp")) == []


def test_sigkill_midway_through_a_rename_leaves_every_file_at_its_old_or_new_text(
    small: Callable[..., Indexed], tmp_path: Path
) -> None:
    repo = small(PACKAGE)
    marker = tmp_path / "paused"
    process = start_paused_rename(repo, marker)
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=60)
    assert {path: text_of(repo, path) for path in PACKAGE} == {**PACKAGE, **RENAMED}
    # The next rename finds the files as they are now and finishes the job, cleaning up.
    done = subprocess.run(
        rename_command(repo, "pkg.impl.helper", "assist"), cwd=repo.root, capture_output=True, text=True, env=server_env(), timeout=120
    )
    assert (done.returncode, done.stderr) == (0, "")
    assert "def assist(thing):" in text_of(repo, "pkg/impl.py")
    assert sorted(p.name for p in repo.root.rglob("*.tmp")) == []
