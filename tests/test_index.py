"""Indexing a repository into PostgreSQL: rows, incremental runs, bad input, crashes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from coderows.db.connection import connect
from coderows.indexer import load
from coderows.indexer.discover import SourceFile
from coderows.indexer.pipeline import (
    DEFER_INDEXES_FILES,
    IndexSummary,
    Vanished,
    index_repository,
    read_and_parse,
    refresh_paths,
)

SHOP = {
    "shop/__init__.py": '"""A tiny shop."""\nfrom .cart import Cart\n',
    "shop/cart.py": textwrap.dedent(
        '''\
        """Carts."""
        import decimal as d
        from . import prices


        class Cart:
            """Items to buy."""

            def __init__(self):
                self.items = []

            @property
            def total(self) -> d.Decimal:
                return sum(prices.price(i) for i in self.items)
                # trailing comment, not part of the method


        async def checkout(cart: Cart) -> None:
            def audit():
                pass
        '''
    ),
    "shop/prices.py": "def price(item):\n    return 1\n",
}


def write_tree(root: Path, files: dict[str, str | bytes]) -> None:
    for path, content in files.items():
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(content)


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    write_tree(tmp_path, SHOP)
    return tmp_path


def symbols(conn: psycopg.Connection) -> list[tuple]:
    return conn.execute(
        "SELECT path, qualname, kind, class_name, start_line, end_line FROM symbols ORDER BY path, start_line, qualname"
    ).fetchall()


def modules(conn: psycopg.Connection) -> list[tuple]:
    return conn.execute("SELECT path, name, is_package, parse_status FROM modules ORDER BY path").fetchall()


def counts(summary: IndexSummary) -> tuple[int, int, int, int]:
    return summary.files_indexed, summary.files_unchanged, summary.files_deleted, summary.files_failed


def bump_mtime(path: Path) -> None:
    """Make the stat differ even on file systems with coarse timestamps."""
    info = path.stat()
    os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns + 1_000_000_000))


# --- what one run loads -----------------------------------------------------------


def test_index_loads_every_module_with_its_dotted_name(conn: psycopg.Connection, shop: Path) -> None:
    index_repository(conn, shop)
    assert modules(conn) == [
        ("shop/__init__.py", "shop", True, "ok"),
        ("shop/cart.py", "shop.cart", False, "ok"),
        ("shop/prices.py", "shop.prices", False, "ok"),
    ]


def test_index_loads_every_definition_with_qualname_kind_and_lines(conn: psycopg.Connection, shop: Path) -> None:
    index_repository(conn, shop)
    assert symbols(conn) == [
        ("shop/cart.py", "Cart", "class", None, 6, 14),
        ("shop/cart.py", "Cart.__init__", "method", "Cart", 9, 10),
        ("shop/cart.py", "Cart.total", "method", "Cart", 12, 14),
        ("shop/cart.py", "checkout", "function", None, 18, 20),
        ("shop/cart.py", "checkout.<locals>.audit", "function", None, 19, 20),
        ("shop/prices.py", "price", "function", None, 1, 2),
    ]


def test_symbol_rows_carry_signature_docstring_body_and_parent(conn: psycopg.Connection, shop: Path) -> None:
    index_repository(conn, shop)
    row = conn.execute(
        "SELECT s.full_name, s.signature, s.decorators, s.is_async, s.docstring, s.body, p.qualname"
        " FROM symbols s LEFT JOIN symbols p ON p.id = s.parent_id WHERE s.qualname = 'Cart.total'"
    ).fetchone()
    assert row == (
        "shop.cart.Cart.total",
        "def total(self) -> d.Decimal",
        ["property"],
        False,
        None,
        "    @property\n    def total(self) -> d.Decimal:\n        return sum(prices.price(i) for i in self.items)",
        "Cart",
    )


def test_contract_methods_query_lists_a_class_methods(conn: psycopg.Connection, shop: Path) -> None:
    index_repository(conn, shop)
    rows = conn.execute(
        "SELECT name, start_line, end_line FROM methods WHERE class_name = 'Cart' AND module = 'shop.cart' ORDER BY start_line"
    ).fetchall()
    assert rows == [("__init__", 9, 10), ("total", 12, 14)]


def test_functions_view_holds_functions_and_methods(conn: psycopg.Connection, shop: Path) -> None:
    index_repository(conn, shop)
    assert conn.execute("SELECT count(*) FROM functions").fetchone() == (5,)
    assert conn.execute("SELECT count(*) FROM classes").fetchone() == (1,)


def test_imports_are_recorded_with_their_absolute_target(conn: psycopg.Connection, shop: Path) -> None:
    index_repository(conn, shop)
    rows = conn.execute(
        "SELECT module, line, imported_module, imported_name, alias, level, target_module FROM imports ORDER BY module, line"
    ).fetchall()
    assert rows == [
        ("shop", 2, "cart", "Cart", None, 1, "shop.cart"),
        ("shop.cart", 2, "decimal", None, "d", 0, "decimal"),
        ("shop.cart", 3, None, "prices", None, 1, "shop"),
    ]


def test_repository_row_has_resolved_root_and_index_time(conn: psycopg.Connection, shop: Path) -> None:
    link = shop.parent / f"{shop.name}-link"
    link.symlink_to(shop)
    index_repository(conn, link)
    root, name, indexed = conn.execute("SELECT root, name, indexed_at IS NOT NULL FROM repos").fetchone()
    assert (root, name, indexed) == (str(shop.resolve()), shop.name, True)


def test_src_layout_and_namespace_packages_are_named_by_path(conn: psycopg.Connection, tmp_path: Path) -> None:
    write_tree(tmp_path, {"src/app/__init__.py": "", "src/app/core.py": "", "plugins/extra/tool.py": "", "setup.py": ""})
    index_repository(conn, tmp_path)
    assert [row[:3] for row in modules(conn)] == [
        ("plugins/extra/tool.py", "plugins.extra.tool", False),
        ("setup.py", "setup", False),
        ("src/app/__init__.py", "app", True),
        ("src/app/core.py", "app.core", False),
    ]


# --- incremental runs ----------------------------------------------------------------


def test_second_run_reads_nothing_when_nothing_changed(conn: psycopg.Connection, shop: Path) -> None:
    index_repository(conn, shop)
    assert counts(index_repository(conn, shop)) == (0, 3, 0, 0)


def test_edited_file_is_reparsed_and_its_rows_replaced(conn: psycopg.Connection, shop: Path) -> None:
    index_repository(conn, shop)
    (shop / "shop/prices.py").write_text("def price(item):\n    return 2\n\n\ndef discount():\n    return 0\n")
    bump_mtime(shop / "shop/prices.py")
    assert counts(index_repository(conn, shop)) == (1, 2, 0, 0)
    rows = conn.execute("SELECT qualname, start_line, end_line FROM symbols WHERE path = 'shop/prices.py' ORDER BY start_line").fetchall()
    assert rows == [("price", 1, 2), ("discount", 5, 6)]


def test_touched_file_with_same_content_keeps_its_rows_and_records_the_new_mtime(conn: psycopg.Connection, shop: Path) -> None:
    index_repository(conn, shop)
    ids_before = conn.execute("SELECT id FROM symbols ORDER BY id").fetchall()
    bump_mtime(shop / "shop/cart.py")
    assert counts(index_repository(conn, shop)) == (0, 3, 0, 0)
    assert conn.execute("SELECT id FROM symbols ORDER BY id").fetchall() == ids_before
    stored = conn.execute("SELECT mtime_ns FROM modules WHERE path = 'shop/cart.py'").fetchone()
    assert stored == ((shop / "shop/cart.py").stat().st_mtime_ns,)
    assert counts(index_repository(conn, shop)) == (0, 3, 0, 0)


def test_added_file_is_indexed(conn: psycopg.Connection, shop: Path) -> None:
    index_repository(conn, shop)
    (shop / "shop/tax.py").write_text("RATE = 0.2\n\ndef tax(x):\n    return x * RATE\n")
    assert counts(index_repository(conn, shop)) == (1, 3, 0, 0)
    assert conn.execute("SELECT full_name FROM symbols WHERE path = 'shop/tax.py'").fetchall() == [("shop.tax.tax",)]


def test_deleted_file_loses_its_rows(conn: psycopg.Connection, shop: Path) -> None:
    index_repository(conn, shop)
    (shop / "shop/prices.py").unlink()
    assert counts(index_repository(conn, shop)) == (0, 2, 1, 0)
    assert conn.execute("SELECT count(*) FROM symbols WHERE path = 'shop/prices.py'").fetchone() == (0,)
    assert conn.execute("SELECT count(*) FROM modules WHERE path = 'shop/prices.py'").fetchone() == (0,)


def test_renamed_file_moves_its_rows_to_the_new_module_name(conn: psycopg.Connection, shop: Path) -> None:
    index_repository(conn, shop)
    (shop / "shop/prices.py").rename(shop / "shop/pricing.py")
    assert counts(index_repository(conn, shop)) == (1, 2, 1, 0)
    assert conn.execute("SELECT full_name, path FROM symbols WHERE name = 'price'").fetchall() == [
        ("shop.pricing.price", "shop/pricing.py")
    ]


def test_a_deletion_decided_before_another_writer_reindexed_the_file_keeps_the_new_rows(
    conn: psycopg.Connection, shop: Path
) -> None:
    """A run decides to delete prices.py; before it writes, the file is re-created and
    another writer indexes it. The stale decision must not remove the new rows."""
    from coderows.indexer import load

    index_repository(conn, shop)
    repo_id = conn.execute("SELECT id FROM repos").fetchone()[0]
    decided_on = load.known_files(conn, repo_id, ["shop/prices.py"])["shop/prices.py"]
    (shop / "shop/prices.py").write_text("def price(item):\n    return 3\n")
    bump_mtime(shop / "shop/prices.py")
    refresh_paths(conn, shop, ["shop/prices.py"])  # the other writer
    load.write_batch(conn, repo_id, deleted=[("shop/prices.py", decided_on)])
    assert conn.execute("SELECT body FROM symbols WHERE name = 'price'").fetchall() == [("def price(item):\n    return 3",)]


def test_a_batch_that_fails_leaves_the_repository_to_the_next_writer(conn: psycopg.Connection, db_url: str, shop: Path) -> None:
    """write_batch holds the repository's lock for its session while it decides and
    writes (load.repositories_held): a failed write must not keep it."""
    from coderows.indexer.encode import FileVersion, encode

    index_repository(conn, shop)
    repo_id = conn.execute("SELECT id FROM repos").fetchone()[0]
    version = read_and_parse(str(shop), SourceFile("shop/prices.py", -1, -1), None, 1 << 20)
    assert isinstance(version, FileVersion)
    twice = [encode(module_id, repo_id, version) for module_id in load.reserve_module_ids(conn, 2)]
    with pytest.raises(psycopg.errors.UniqueViolation):
        load.write_batch(conn, repo_id, twice)  # one path written twice: files' primary key refuses
    with connect(db_url, autocommit=True) as other:
        lock = "SELECT pg_try_advisory_xact_lock(%s, %s)"
        assert other.execute(lock, [load.REPO_LOCK_NAMESPACE, repo_id]).fetchone() == (True,)
    assert [row[0] for row in conn.execute("SELECT path FROM modules ORDER BY path")] == [
        "shop/__init__.py", "shop/cart.py", "shop/prices.py",
    ]


def test_index_leaves_planner_statistics_on_the_tables_it_filled(conn: psycopg.Connection, shop: Path) -> None:
    # Servers without autovacuum (this machine's PostgreSQL 15) would otherwise plan
    # every lookup from no statistics at all.
    index_repository(conn, shop)
    estimated = dict(
        conn.execute(
            "SELECT relname, reltuples::bigint FROM pg_class WHERE relnamespace = 'coderows'::regnamespace"
            " AND relname IN ('content_definitions', 'contents', 'content_uses', 'files', 'answers', 'repo_answers')"
        ).fetchall()
    )
    exact = {
        table: conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))).fetchone()[0]
        for table in ("content_definitions", "contents", "content_uses", "files", "answers", "repo_answers")
    }
    assert exact == {"content_definitions": 6, "contents": 3, "content_uses": 9, "files": 3, "answers": 6, "repo_answers": 6}
    assert estimated == exact


def test_statistics_are_not_taken_again_while_the_tables_keep_their_size(conn: psycopg.Connection, shop: Path) -> None:
    index_repository(conn, shop)
    (shop / "shop/prices.py").write_text("def price(item):\n    return 2\n")
    index_repository(conn, shop)
    assert load.refresh_statistics(conn) == []


def test_full_run_reparses_every_file(conn: psycopg.Connection, shop: Path) -> None:
    index_repository(conn, shop)
    assert counts(index_repository(conn, shop, full=True)) == (3, 0, 0, 0)
    assert len(symbols(conn)) == 6


def test_newly_ignored_file_is_removed(conn: psycopg.Connection, shop: Path) -> None:
    index_repository(conn, shop)
    (shop / ".gitignore").write_text("prices.py\n")
    assert counts(index_repository(conn, shop)) == (0, 2, 1, 0)


def test_excluded_glob_is_not_indexed(conn: psycopg.Connection, shop: Path) -> None:
    summary = index_repository(conn, shop, excludes=["cart.py"])
    assert counts(summary) == (2, 0, 0, 0)
    assert [row[0] for row in modules(conn)] == ["shop/__init__.py", "shop/prices.py"]


def test_excludes_given_once_are_kept_by_later_runs_given_none(conn: psycopg.Connection, shop: Path) -> None:
    index_repository(conn, shop, excludes=["cart.py"])
    (shop / "shop/cart.py").write_text("def edited():\n    pass\n")
    summary = index_repository(conn, shop)
    assert summary.excludes == ("cart.py",)
    assert counts(summary) == (0, 2, 0, 0)
    assert [row[0] for row in modules(conn)] == ["shop/__init__.py", "shop/prices.py"]
    assert conn.execute("SELECT excludes FROM repos").fetchall() == [(["cart.py"],)]


def test_excludes_given_again_replace_the_recorded_ones(conn: psycopg.Connection, shop: Path) -> None:
    index_repository(conn, shop, excludes=["cart.py"])
    index_repository(conn, shop, excludes=["prices.py"])
    assert [row[0] for row in modules(conn)] == ["shop/__init__.py", "shop/cart.py"]
    assert conn.execute("SELECT excludes FROM repos").fetchall() == [(["prices.py"],)]


def test_no_excludes_given_as_an_empty_list_clears_them(conn: psycopg.Connection, shop: Path) -> None:
    index_repository(conn, shop, excludes=["cart.py"])
    summary = index_repository(conn, shop, excludes=[])
    assert counts(summary) == (1, 2, 0, 0)
    assert [row[0] for row in modules(conn)] == ["shop/__init__.py", "shop/cart.py", "shop/prices.py"]
    assert conn.execute("SELECT excludes FROM repos").fetchall() == [([],)]


def test_refresh_paths_rereads_exactly_the_given_files(conn: psycopg.Connection, shop: Path) -> None:
    index_repository(conn, shop)
    (shop / "shop/prices.py").write_text("def cost(item):\n    return 1\n")
    (shop / "shop/cart.py").unlink()
    summary = refresh_paths(conn, shop, ["shop/prices.py", "shop/cart.py"])
    assert counts(summary) == (1, 0, 1, 0)
    assert symbols(conn) == [("shop/prices.py", "cost", "function", None, 1, 2)]


def test_two_repositories_keep_separate_rows(conn: psycopg.Connection, tmp_path: Path) -> None:
    write_tree(tmp_path / "a", {"m.py": "def f(): pass\n"})
    write_tree(tmp_path / "b", {"m.py": "def g(): pass\n"})
    index_repository(conn, tmp_path / "a")
    index_repository(conn, tmp_path / "b")
    (tmp_path / "a/m.py").unlink()
    index_repository(conn, tmp_path / "a")
    assert conn.execute("SELECT r.name, s.full_name FROM symbols s JOIN repos r ON r.id = s.repo_id").fetchall() == [("b", "m.g")]


# --- bad input never stops a run ---------------------------------------------------------


def test_bad_files_each_get_a_status_and_the_run_finishes(conn: psycopg.Connection, tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {
            "good.py": "def ok(): pass\n",
            "empty.py": "",
            "binary.py": b"\x00\x01\x02def x(): pass\n",
            "broken.py": "def good():\n    pass\n\ndef bad(:\n    pass\n",
            "latin.py": b"# -*- coding: latin-1 -*-\ndef caf\xe9_name(): '''d\xe9j\xe0'''\n",
            "mojibake.py": b"def f():\n    '''bad \xff byte'''\n",
            "big.py": "x = 1\n" * 400,
        },
    )
    summary = index_repository(conn, tmp_path, max_file_bytes=2000)
    assert counts(summary) == (7, 0, 0, 3)
    rows = conn.execute("SELECT path, parse_status, parse_error, line_count FROM modules ORDER BY path").fetchall()
    assert rows == [
        ("big.py", "skipped", "too large: 2400 bytes, over the 2000-byte limit (--max-file-size)", 0),
        ("binary.py", "skipped", "binary file: it contains NUL bytes", 0),
        ("broken.py", "partial", "SyntaxError: invalid syntax (line 4)", 5),
        ("empty.py", "ok", None, 0),
        ("good.py", "ok", None, 1),
        ("latin.py", "ok", None, 2),
        ("mojibake.py", "ok", "undecodable bytes replaced with U+FFFD (utf-8: invalid start byte at byte 20)", 2),
    ]
    assert conn.execute("SELECT path, qualname, docstring FROM symbols ORDER BY path, qualname").fetchall() == [
        ("broken.py", "bad", None),  # tree-sitter recovers the broken definition too
        ("broken.py", "good", None),
        ("good.py", "ok", None),
        ("latin.py", "café_name", "déjà"),
        ("mojibake.py", "f", "bad \ufffd byte"),
    ]


def test_file_name_that_is_not_utf8_is_reported_and_the_run_goes_on(conn: psycopg.Connection, tmp_path: Path) -> None:
    (tmp_path / "good.py").write_text("def ok(): pass\n")
    with open(os.path.join(os.fsencode(tmp_path), b"caf\xe9.py"), "wb") as handle:
        handle.write(b"def f(): pass\n")
    summary = index_repository(conn, tmp_path)
    assert counts(summary) == (1, 0, 0, 1)
    assert summary.failures == [("caf\\xe9.py", "skipped", "file name is not valid UTF-8: not indexed")]
    assert [row[0] for row in modules(conn)] == ["good.py"]


def test_a_file_that_crashes_a_parser_worker_is_skipped_and_the_run_finishes(
    conn: psycopg.Connection, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real native crash: tree-sitter-python#350 segfaults on this file, once the guard
    that keeps such files away from tree-sitter is off (forked workers inherit that)."""
    from coderows.indexer import parse

    monkeypatch.setattr(parse, "too_many_indent_widths", lambda data: False)
    (tmp_path / "boom.py").write_bytes(b'"""\n' + b"".join(b" " * (i + 1) + b"class C%d:\n" % i for i in range(600)))
    for number in range(60):
        (tmp_path / f"ok{number}.py").write_text(f"def f{number}(): pass\n")
    summary = index_repository(conn, tmp_path, jobs=2)
    assert counts(summary) == (61, 0, 0, 1)
    assert summary.failures == [("boom.py", "skipped", "the parser crashed on this file (its process died of signal 11)")]
    assert conn.execute("SELECT count(*) FROM symbols").fetchone() == (60,)


def test_file_that_vanishes_before_it_is_read_is_reported_vanished(tmp_path: Path) -> None:
    assert read_and_parse(str(tmp_path), SourceFile("gone.py", 10, 1), None, 1000) == Vanished("gone.py")


def test_fifo_named_like_a_module_is_not_read(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.py")
    assert read_and_parse(str(tmp_path), SourceFile("pipe.py", 0, 1), None, 1000) == Vanished("pipe.py")


def test_unreadable_file_is_skipped_with_the_reason(tmp_path: Path) -> None:
    """Read in a forked child that dropped to an unprivileged user: root reads anything."""
    folder = Path(tempfile.mkdtemp(dir="/tmp"))
    os.chmod(folder, 0o755)
    (folder / "secret.py").write_text("def f(): pass\n")
    os.chmod(folder / "secret.py", 0o000)
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report the result through the pipe, never return into pytest
        try:
            if os.geteuid() == 0:
                os.setuid(65534)
            result = read_and_parse(str(folder), SourceFile("secret.py", 14, 1), None, 1000)
            os.write(writer, f"{result.module.parse_status}: {result.module.parse_error}".encode())
        finally:
            os._exit(0)
    os.close(writer)
    os.waitpid(pid, 0)
    with os.fdopen(reader) as pipe:
        assert pipe.read() == "skipped: unreadable: Permission denied"


def test_index_of_a_missing_folder_says_so(conn: psycopg.Connection, tmp_path: Path) -> None:
    from coderows.indexer.pipeline import IndexingError

    with pytest.raises(IndexingError, match="not a folder: .*/nowhere"):
        index_repository(conn, tmp_path / "nowhere")


# --- crash safety ----------------------------------------------------------------------


def dump(conn: psycopg.Connection) -> dict[str, list[tuple]]:
    """The index's content, without ids and times (they differ between equal runs)."""
    return {
        "modules": conn.execute(
            "SELECT path, name, is_package, md5(source), content_hash, size, mtime_ns, parse_status, parse_error"
            " FROM modules ORDER BY path"
        ).fetchall(),
        "symbols": conn.execute(
            "SELECT s.path, s.qualname, s.kind, s.def_line, s.start_line, s.end_line, s.signature, md5(s.body), p.qualname"
            " FROM symbols s LEFT JOIN symbols p ON p.id = s.parent_id ORDER BY 1, 2, 4"
        ).fetchall(),
        "imports": conn.execute("SELECT path, line, imported_module, imported_name, alias FROM imports ORDER BY 1, 2, 3, 4").fetchall(),
        "usages": conn.execute(
            "SELECT path, line, col, kind, name, source_full_name, target_full_name FROM usages ORDER BY 1, 2, 3, 5"
        ).fetchall(),
    }


@pytest.mark.slow
def test_run_killed_mid_way_converges_to_a_clean_index(db_url: str, database_factories, request: pytest.FixtureRequest) -> None:
    """kill -9 once the first batches are committed; the next run must equal a clean index."""
    import sysconfig

    stdlib = Path(sysconfig.get_paths()["stdlib"])
    excludes = ["site-packages/", "test/"]
    child = subprocess.Popen(
        [sys.executable, "-c", "import sys; from coderows.cli.main import run; sys.argv[0] = 'coderows'; run()",
         "index", "--jobs", "1", "--exclude", "site-packages/", "--exclude", "test/", "--database-url", db_url, str(stdlib)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    with connect(db_url, autocommit=True) as conn:
        deadline = time.monotonic() + 60
        while conn.execute("SELECT count(*) FROM modules").fetchone()[0] == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        child.send_signal(signal.SIGKILL)
        child.wait()
        partial = conn.execute("SELECT count(*) FROM modules").fetchone()[0]
        summary = index_repository(conn, stdlib, excludes=excludes)
        resumed = dump(conn)
    assert partial > 0 and summary.files_unchanged >= partial
    clean_url = database_factories[request.node.callspec.params["db_url"]].create()
    with connect(clean_url, autocommit=True) as clean:
        index_repository(clean, stdlib, excludes=excludes)
        assert resumed == dump(clean)


def test_a_docstring_holding_a_nul_character_is_stored_with_it_spelled_out(tmp_path: Path, conn: psycopg.Connection) -> None:
    # PostgreSQL text cannot hold NUL; such a file once failed its whole batch.
    write_tree(tmp_path / "r", {"m.py": 'def f():\n    "before \\0 after"\n', "ok.py": "def g():\n    pass\n"})
    summary = index_repository(conn, tmp_path / "r", jobs=1)
    assert summary.files_failed == 0
    assert conn.execute("SELECT docstring FROM symbols WHERE name = 'f'").fetchone() == ("before \\x00 after",)
    assert conn.execute("SELECT count(*) FROM symbols").fetchone() == (2,)


def test_a_contents_pieces_are_the_ones_schema_sql_source_chunks_makes_of_its_source(
    tmp_path: Path, conn: psycopg.Connection
) -> None:
    # The loader writes content_chunks itself (encode.pieces_copy_text); schema.sql's
    # source_chunks defines them, and wrote those of contents older than version 7.
    escapes = 'def f():\n\treturn "\\\\t\\\\n\\\\x00"  # a \\ back\\slash\n'  # backslashes and a tab
    write_tree(tmp_path / "r", {
        "crlf.py": b"".join(b"x%d = 1\r\n" % n for n in range(70)) + b"y = 2\rz = 3\n",
        "sixty_four.py": "".join(f"a{n} = {n}\n" for n in range(64)),  # a last piece that is empty
        "escapes.py": escapes,
        "nul.py": b"x = 1\n\x00\n",  # skipped (null bytes): no source, no pieces
        "empty.py": "",
        "blank.py": "\n",
        "no_break.py": "x = 1",
    })
    index_repository(conn, tmp_path / "r", jobs=1)
    written = conn.execute(
        "SELECT c.path, k.first_line, k.text FROM content_chunks k JOIN contents c ON c.id = k.content_id ORDER BY 1, 2"
    ).fetchall()
    made = conn.execute("SELECT c.path, s.first_line, s.text FROM contents c, source_chunks(c.source) s ORDER BY 1, 2").fetchall()
    assert written == made
    assert [(path, first_line) for path, first_line, _ in written] == [
        ("blank.py", 1), ("crlf.py", 1), ("crlf.py", 65), ("escapes.py", 1), ("no_break.py", 1),
        ("sixty_four.py", 1), ("sixty_four.py", 65),
    ]
    assert written[0][2] == "\n"
    assert written[2][2] == "x64 = 1\nx65 = 1\nx66 = 1\nx67 = 1\nx68 = 1\nx69 = 1\ny = 2\nz = 3\n"
    assert written[3][2] == escapes
    assert written[4][2] == "x = 1"
    assert written[6][2] == ""


# --- a first bulk load builds the content tables' indexes after its rows --------------

CONTENT_TABLES = ("content_chunks", "content_definitions", "content_imports", "content_uses")


def content_indexes(conn: psycopg.Connection) -> list[tuple[str, str]]:
    return conn.execute(
        "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'coderows' AND tablename = ANY(%s) ORDER BY 1",
        [list(CONTENT_TABLES)],
    ).fetchall()


def test_a_first_large_index_ends_with_every_index_it_started_with(conn: psycopg.Connection, tmp_path: Path) -> None:
    before = content_indexes(conn)
    files = {f"pkg/m{n}.py": f"def f{n}():\n    return g{n - 1}()\n\n\ndef g{n}():\n    pass\n" for n in range(DEFER_INDEXES_FILES)}
    write_tree(tmp_path / "r", files)
    summary = index_repository(conn, tmp_path / "r", jobs=2)
    assert summary.files_indexed == DEFER_INDEXES_FILES
    assert content_indexes(conn) == before
    assert len(before) == 16  # 14 deferred, 2 primary keys kept
    assert conn.execute("SELECT count(*) FROM deferred_indexes").fetchone() == (0,)
    assert conn.execute("SELECT count(*) FROM symbols").fetchone() == (2 * DEFER_INDEXES_FILES,)
    assert conn.execute(
        "SELECT source_full_name, target_full_name FROM usages WHERE path = 'pkg/m7.py' AND kind = 'call'"
    ).fetchall() == [("pkg.m7.f7", None)]  # g6 is another module's: not imported, unresolved


def test_a_first_large_index_leaves_statistics_on_the_tables_whose_indexes_it_built(
    conn: psycopg.Connection, tmp_path: Path
) -> None:
    # Building an index sets reltuples and relpages as ANALYZE does, without statistics:
    # resolution and lookups would be planned from none.
    # The expression indexes' statistics are taken once those indexes exist.
    files = {f"pkg/m{n}.py": f"import os\n\n\ndef f{n}(p):\n    return os.getcwd(), p.x\n" for n in range(DEFER_INDEXES_FILES)}
    write_tree(tmp_path / "r", files)
    index_repository(conn, tmp_path / "r", jobs=2)
    analyzed = conn.execute(
        "SELECT DISTINCT tablename FROM pg_stats WHERE schemaname = 'coderows' AND tablename = ANY(%s) ORDER BY 1",
        [[*CONTENT_TABLES, "content_definitions_full_name_idx", "content_uses_unknown_idx"]],
    ).fetchall()
    assert analyzed == [
        ("content_definitions",), ("content_definitions_full_name_idx",), ("content_imports",), ("content_uses",),
        ("content_uses_unknown_idx",),
    ]


def test_indexes_left_deferred_by_a_killed_run_are_built_by_the_next_run(conn: psycopg.Connection, shop: Path) -> None:
    before = content_indexes(conn)
    dropped = load.defer_indexes(conn)  # as a run killed during its load leaves them
    assert len(dropped) == 14
    assert [name for name, _ in content_indexes(conn)] == ["content_chunks_pkey", "content_definitions_pkey"]
    index_repository(conn, shop)
    assert content_indexes(conn) == before
    assert conn.execute("SELECT count(*) FROM deferred_indexes").fetchone() == (0,)


def test_indexes_restored_by_name_leave_the_others_deferred(conn: psycopg.Connection) -> None:
    before = content_indexes(conn)
    load.defer_indexes(conn)
    assert load.restore_indexes(conn, load.RESOLUTION_INDEXES) == sorted(load.RESOLUTION_INDEXES)
    left = [
        "content_chunks_text_trgm_idx", "content_definitions_module_idx", "content_definitions_name_idx",
        "content_definitions_name_trgm_idx", "content_definitions_qualname_idx", "content_imports_module_idx",
        "content_imports_target_module_idx", "content_uses_target_idx", "content_uses_unknown_idx",
    ]
    assert conn.execute("SELECT name FROM deferred_indexes ORDER BY name").fetchall() == [(name,) for name in left]
    assert load.restore_indexes(conn) == left
    assert content_indexes(conn) == before


def test_indexes_are_built_meanwhile_on_a_second_connection_only_outside_a_transaction(conn: psycopg.Connection) -> None:
    load.defer_indexes(conn)
    with conn.transaction(), load.restoring_indexes_meanwhile(conn):
        pass  # (a second connection would wait for this transaction's locks)
    assert conn.execute("SELECT count(*) FROM deferred_indexes").fetchone() == (14,)
    with load.restoring_indexes_meanwhile(conn):
        pass
    assert conn.execute("SELECT count(*) FROM deferred_indexes").fetchone() == (0,)
    assert len(content_indexes(conn)) == 16


def defer_a_slow_index(conn: psycopg.Connection, seconds: int) -> None:
    """List an index whose build takes `seconds` (one second per row) among the deferred."""
    conn.execute("CREATE TABLE slow_rows AS SELECT g FROM generate_series(1, %s) AS g", [seconds])
    conn.execute(
        "CREATE FUNCTION slow_key(integer) RETURNS integer LANGUAGE plpgsql IMMUTABLE"
        " AS 'BEGIN PERFORM pg_sleep(1); RETURN $1; END'"
    )
    conn.execute(
        "INSERT INTO deferred_indexes VALUES ('slow_rows_idx', 'CREATE INDEX slow_rows_idx ON coderows.slow_rows (coderows.slow_key(g))')"
    )


def test_the_run_builds_the_indexes_it_resolves_through_without_waiting_for_the_second_connections_build(
    conn: psycopg.Connection,
) -> None:
    before = content_indexes(conn)
    load.defer_indexes(conn)
    defer_a_slow_index(conn, 12)
    with load.restoring_indexes_meanwhile(conn, leaving=load.RESOLUTION_INDEXES):
        time.sleep(1)  # the second connection's build is under way
        started = time.monotonic()
        assert load.restore_indexes(conn, load.RESOLUTION_INDEXES) == sorted(load.RESOLUTION_INDEXES)
        assert time.monotonic() - started < 8  # not waiting for the slow index's 12 s
    assert conn.execute("SELECT count(*) FROM deferred_indexes").fetchone() == (0,)
    assert content_indexes(conn) == before


def test_an_index_asked_for_while_another_connection_builds_it_is_built_once(conn: psycopg.Connection) -> None:
    defer_a_slow_index(conn, 3)
    with load.restoring_indexes_meanwhile(conn):
        time.sleep(1)  # the build is under way (else this connection builds it, and the other finds it built)
        assert load.restore_indexes(conn, ["slow_rows_idx"]) in ([], ["slow_rows_idx"])
    assert conn.execute("SELECT count(*) FROM deferred_indexes").fetchone() == (0,)
    assert conn.execute("SELECT to_regclass('coderows.slow_rows_idx') IS NOT NULL").fetchone() == (True,)


def test_two_connections_sharing_the_deferred_indexes_build_each_once(conn: psycopg.Connection) -> None:
    before = content_indexes(conn)
    deferred = load.defer_indexes(conn)
    with load.restoring_indexes_meanwhile(conn):
        mine = load.restore_indexes_shared(conn)
    assert set(mine) <= set(deferred)  # the rest, the second connection's (which of them, timing decides)
    assert conn.execute("SELECT count(*) FROM deferred_indexes").fetchone() == (0,)
    assert content_indexes(conn) == before


def test_a_connection_sharing_the_deferred_indexes_passes_over_the_one_another_is_building(
    conn: psycopg.Connection,
) -> None:
    defer_a_slow_index(conn, 8)
    conn.execute("CREATE TABLE quick_rows AS SELECT 1 AS g")
    conn.execute("INSERT INTO deferred_indexes VALUES ('z_quick_idx', 'CREATE INDEX z_quick_idx ON coderows.quick_rows (g)')")
    with load.restoring_indexes_meanwhile(conn):
        time.sleep(2)  # the second connection took slow_rows_idx (first by name) at once
        started = time.monotonic()
        assert load.restore_indexes_shared(conn) == ["z_quick_idx"]
        assert time.monotonic() - started < 5  # not the slow index's 8 s
    assert conn.execute("SELECT count(*) FROM deferred_indexes").fetchone() == (0,)


def test_a_run_interrupted_while_indexes_are_built_meanwhile_cancels_the_build_and_leaves_them_deferred(
    conn: psycopg.Connection,
) -> None:
    defer_a_slow_index(conn, 60)
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt), load.restoring_indexes_meanwhile(conn):
        time.sleep(2)  # the build is under way
        raise KeyboardInterrupt
    assert time.monotonic() - started < 40  # not the build's 60 s
    assert conn.execute("SELECT name FROM deferred_indexes").fetchall() == [("slow_rows_idx",)]
    assert conn.execute("SELECT to_regclass('coderows.slow_rows_idx')").fetchone() == (None,)


def test_indexes_are_not_deferred_once_the_database_holds_contents(conn: psycopg.Connection, shop: Path) -> None:
    index_repository(conn, shop)
    before = content_indexes(conn)
    assert load.defer_indexes(conn) == []
    assert content_indexes(conn) == before


def test_a_refresh_of_changed_paths_leaves_no_entries_pending_in_the_pieces_index(conn: psycopg.Connection, shop: Path) -> None:
    # Searches read a GIN index's pending list in full (indexer/load.py, flush_pending_index_entries).
    index_repository(conn, shop)
    (shop / "shop" / "cart.py").write_text("class Cart:\n    def total(self):\n        return 42\n")
    assert refresh_paths(conn, shop, ["shop/cart.py"]).files_indexed == 1
    assert conn.execute("SELECT gin_clean_pending_list('coderows.content_chunks_text_trgm_idx'::regclass)").fetchone() == (0,)
