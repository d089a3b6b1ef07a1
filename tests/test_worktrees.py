"""Checkouts and worktrees of one project in one database: what they have in common is
stored once, each keeps its own answers, and a repository can be forgotten."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from coderows.db.connection import available_migrations, connect, ensure_schema
from coderows.indexer import load
from coderows.indexer.discover import SourceFile
from coderows.indexer.load import SharedFile
from coderows.indexer.parser_version import PARSER_VERSION
from coderows.indexer.pipeline import index_repository, read_and_parse, refresh_paths

CODEROWS = str(Path(sys.executable).with_name("coderows"))
NEWEST = available_migrations()[-1][0]
SCHEMA_V4 = Path(__file__).parent / "data" / "schema_v4.sql"

SHOP = {
    "shop/__init__.py": "from .models import Model\n",
    "shop/models.py": """\
        class Base:
            def save(self):
                pass

            def helper(self):
                pass


        class Model(Base):
            def save(self):
                super().save()


        def make():
            return Model()
        """,
    "shop/orders.py": """\
        from shop import Model
        from shop.models import make


        class Order(Model):
            def save(self):
                make().save()

            def run(self):
                self.helper()
        """,
}
EXTRA = "from shop.util import tidy\n\n\ndef go():\n    tidy()\n"
# shop/models.py changed in one worktree: Model no longer inherits from Base, so the
# unchanged (shared) orders.py resolves self.helper() to nothing there.
MODELS_WITHOUT_BASE = """\
class Base:
    def save(self):
        pass

    def helper(self):
        pass


class Model:
    def save(self):
        pass


def make():
    return Model()
"""

# What each view answers for one repository, without ids (they differ between databases).
ANSWERS = {
    "modules": "SELECT path, name, is_package, docstring, source, line_count, content_hash, parse_status,"
    " parse_error, names_hash FROM modules WHERE repo_id = %s",
    "symbols": "SELECT path, kind, qualname, full_name, class_name, def_line, start_line, end_line, signature,"
    " decorators, bases, is_async, docstring, body FROM symbols WHERE repo_id = %s",
    "methods": "SELECT full_name, class_name FROM methods WHERE repo_id = %s",
    "imports": "SELECT path, line, imported_module, imported_name, alias, level, target_module FROM imports"
    " WHERE repo_id = %s",
    "usages": "SELECT path, line, col, kind, name, source_full_name, target_full_name, resolved, target FROM usages"
    " WHERE repo_id = %s",
    "calls": "SELECT path, line, col, caller_full_name, callee_full_name FROM calls WHERE repo_id = %s",
    "subclasses": "SELECT base_full_name, subclass_full_name, depth FROM subclasses WHERE repo_id = %s",
    "overrides": "SELECT method_full_name, overridden_full_name, depth FROM overrides WHERE repo_id = %s",
    "resolutions": "SELECT target, via_super, full_name, consulted, stale FROM resolutions WHERE repo_id = %s",
}


def write_tree(root: Path, files: dict[str, str]) -> Path:
    for path, text in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(textwrap.dedent(text))
    return root


def answers(conn: psycopg.Connection, root: Path) -> dict[str, list[tuple]]:
    repo_id = load.find_repo(conn, root)
    assert repo_id is not None
    return {view: sorted(conn.execute(query, [repo_id]).fetchall(), key=repr) for view, query in ANSWERS.items()}


def count(conn: psycopg.Connection, table: str) -> int:
    return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # table: this file's constants


def coderows(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CODEROWS, *args], capture_output=True, text=True, timeout=120)


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    return write_tree(tmp_path / "one" / "shop-repo", SHOP)


@pytest.fixture
def worktree(tmp_path: Path, checkout: Path) -> Path:
    """A second root with the same files (another checkout, a git worktree)."""
    return Path(shutil.copytree(checkout, tmp_path / "two" / "shop-repo"))


@pytest.fixture
def alone(db_url: str, database_factories: dict) -> Iterator[psycopg.Connection]:
    """A connection to a second database of the same server, for one repository alone."""
    name = psycopg.conninfo.conninfo_to_dict(db_url)["dbname"]
    factory = next(f for f in database_factories.values() if name in f.created)
    url = factory.create()
    with connect(url, autocommit=True) as conn:
        yield conn
    factory.drop(url)


def test_a_second_root_with_the_same_files_shares_their_contents(
    conn: psycopg.Connection, checkout: Path, worktree: Path
) -> None:
    index_repository(conn, checkout, jobs=1)
    stored = {table: count(conn, table) for table in ("contents", "content_definitions", "content_imports", "content_uses")}
    summary = index_repository(conn, worktree, jobs=1)
    assert (summary.files_indexed, summary.files_shared, summary.definitions) == (3, 3, 0)
    assert {table: count(conn, table) for table in stored} == stored == {
        "contents": 3, "content_definitions": 9, "content_imports": 3, "content_uses": 10,
    }
    assert count(conn, "files") == 6
    assert answers(conn, worktree) == answers(conn, checkout)


def test_rows_another_parser_version_made_are_parsed_again_though_no_file_changed(
    conn: psycopg.Connection, checkout: Path
) -> None:
    index_repository(conn, checkout, jobs=1)
    # As an older coderows would have left them: an older version, and (say) no uses.
    conn.execute("UPDATE contents SET parser_version = %s", [PARSER_VERSION - 1])
    conn.execute("DELETE FROM content_uses")
    (checkout / "shop/__init__.py").unlink()  # and one file gone meanwhile
    again = index_repository(conn, checkout, jobs=1)
    then = index_repository(conn, checkout, jobs=1)
    assert (again.files_indexed, again.files_unchanged, again.files_deleted) == (2, 0, 1)
    assert (then.files_indexed, then.files_unchanged) == (0, 2)
    assert conn.execute("SELECT parser_version, count(*) FROM contents GROUP BY 1").fetchall() == [(PARSER_VERSION, 2)]
    assert count(conn, "content_uses") == 9


def test_rows_a_newer_parser_made_are_kept_and_shared(conn: psycopg.Connection, checkout: Path, worktree: Path) -> None:
    # An older coderows sharing the database neither re-parses nor refuses a newer one's rows.
    index_repository(conn, checkout, jobs=1)
    conn.execute("UPDATE contents SET parser_version = %s", [PARSER_VERSION + 1])
    again = index_repository(conn, checkout, jobs=1)
    other = index_repository(conn, worktree, jobs=1)
    assert (again.files_indexed, again.files_unchanged) == (0, 3)
    assert (other.files_indexed, other.files_shared) == (3, 3)


def test_a_content_an_older_parser_made_is_not_shared(
    conn: psycopg.Connection, checkout: Path, worktree: Path
) -> None:
    index_repository(conn, checkout, jobs=1)
    conn.execute("UPDATE contents SET parser_version = %s", [PARSER_VERSION - 1])
    summary = index_repository(conn, worktree, jobs=1)
    assert (summary.files_indexed, summary.files_shared) == (3, 0)
    assert conn.execute("SELECT parser_version, count(*) FROM contents GROUP BY 1 ORDER BY 1").fetchall() == [
        (PARSER_VERSION - 1, 3), (PARSER_VERSION, 3),
    ]


def test_a_file_written_by_an_older_parser_is_parsed_again_when_refreshed_by_path(
    conn: psycopg.Connection, checkout: Path
) -> None:
    index_repository(conn, checkout, jobs=1)
    conn.execute("UPDATE contents SET parser_version = %s", [PARSER_VERSION - 1])
    summary = refresh_paths(conn, checkout, ["shop/models.py"])
    assert (summary.files_indexed, summary.files_unchanged) == (1, 0)
    assert conn.execute(
        "SELECT m.path, c.parser_version FROM modules m JOIN contents c ON c.id = m.id ORDER BY m.path"
    ).fetchall() == [
        ("shop/__init__.py", PARSER_VERSION - 1), ("shop/models.py", PARSER_VERSION), ("shop/orders.py", PARSER_VERSION - 1),
    ]


def test_the_same_bytes_at_another_path_are_not_shared(conn: psycopg.Connection, checkout: Path, tmp_path: Path) -> None:
    index_repository(conn, checkout, jobs=1)
    other = write_tree(tmp_path / "other", {"lib/" + path: text for path, text in SHOP.items()})
    summary = index_repository(conn, other, jobs=1)
    assert (summary.files_indexed, summary.files_shared) == (3, 0)
    assert count(conn, "contents") == 6


def test_a_file_changed_in_one_root_changes_only_that_roots_answers(
    conn: psycopg.Connection, alone: psycopg.Connection, checkout: Path, worktree: Path
) -> None:
    index_repository(conn, checkout, jobs=1)
    index_repository(conn, worktree, jobs=1)
    (worktree / "shop/models.py").write_text(MODELS_WITHOUT_BASE)
    summary = index_repository(conn, worktree, jobs=1)
    assert (summary.files_indexed, summary.files_unchanged) == (1, 2)
    index_repository(alone, checkout, jobs=1)
    assert answers(conn, checkout) == answers(alone, checkout)
    helper = "SELECT target_full_name FROM usages WHERE repo_id = %s AND name = 'self.helper'"
    assert conn.execute(helper, [load.find_repo(conn, checkout)]).fetchall() == [("shop.models.Base.helper",)]
    assert conn.execute(helper, [load.find_repo(conn, worktree)]).fetchall() == [(None,)]
    assert count(conn, "contents") == 4  # orders.py and __init__.py still held once


def test_the_changed_root_answers_as_a_database_holding_it_alone(
    conn: psycopg.Connection, alone: psycopg.Connection, checkout: Path, worktree: Path
) -> None:
    index_repository(conn, checkout, jobs=1)
    (worktree / "shop/models.py").write_text(MODELS_WITHOUT_BASE)
    index_repository(conn, worktree, jobs=1)
    index_repository(alone, worktree, jobs=1)
    assert answers(conn, worktree) == answers(alone, worktree)


def test_a_worktree_takes_from_its_sibling_only_the_answers_its_own_modules_give(
    conn: psycopg.Connection, alone: psycopg.Connection, checkout: Path, worktree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """shop.orders.Order.helper consulted shop.models, changed in the worktree: resolved
    again there (to nothing); shop.util.tidy consulted only shop.util: taken as it is."""
    monkeypatch.setattr(load, "INHERIT_FILES", 1)  # a small project inherits as a big one does
    for root in (checkout, worktree):
        write_tree(root, {"shop/util.py": "def tidy():\n    pass\n", "shop/extra.py": EXTRA})
    index_repository(conn, checkout, jobs=1)
    (worktree / "shop/models.py").write_text(MODELS_WITHOUT_BASE)
    index_repository(conn, worktree, jobs=1)
    index_repository(alone, worktree, jobs=1)
    assert answers(conn, worktree) == answers(alone, worktree)
    shared = conn.execute(
        "SELECT a.target FROM answers a JOIN repo_answers p ON p.answer_id = a.id GROUP BY a.id HAVING count(*) = 2"
        " ORDER BY 1"
    ).fetchall()
    # make().save resolves to nothing in both roots (make has no return annotation): the
    # same answer, reached in each, is one row.
    assert shared == [
        ("shop.Model",), ("shop.models.Model",), ("shop.models.make",), ("shop.models.make().save",), ("shop.util.tidy",)
    ]
    assert count(conn, "answers") == count(alone, "answers") + len(answers(conn, checkout)["resolutions"]) - 5


LISTS = "SELECT l.modules, array_agg(a.target ORDER BY a.target) FROM consulted_lists l" \
    " LEFT JOIN answers a ON a.consulted_id = l.id GROUP BY l.id ORDER BY l.modules COLLATE \"C\""
CHECKOUT_LISTS = [
    (["shop", "shop.models"], ["shop.Model"]),
    (["shop", "shop.models", "shop.orders", "shop.orders.Order"], ["shop.orders.Order.helper"]),
    (["shop.models"], ["shop.models.Base", "shop.models.Model", "shop.models.make", "shop.models.make().save"]),
    (["shop.models", "shop.models.Model"], ["shop.models.Model.save"]),
]


def test_each_list_of_consulted_modules_is_stored_once_for_every_answer_and_repository(
    conn: psycopg.Connection, checkout: Path, worktree: Path
) -> None:
    """Order.helper resolves to Base.helper in the checkout and to nothing in the
    worktree (its Model has no base): two answers, one list of the modules consulted."""
    index_repository(conn, checkout, jobs=1)
    (worktree / "shop/models.py").write_text(MODELS_WITHOUT_BASE)
    index_repository(conn, worktree, jobs=1)
    assert conn.execute("SELECT full_name FROM answers WHERE target = 'shop.orders.Order.helper' ORDER BY 1").fetchall() == [
        ("shop.models.Base.helper",), (None,),
    ]
    helper = (["shop", "shop.models", "shop.orders", "shop.orders.Order"], ["shop.orders.Order.helper"] * 2)
    assert conn.execute(LISTS).fetchall() == [CHECKOUT_LISTS[0], helper, *CHECKOUT_LISTS[2:]]
    assert (count(conn, "answers"), count(conn, "consulted_lists")) == (8, 4)


def test_a_list_of_consulted_modules_goes_with_its_last_answer(
    conn: psycopg.Connection, checkout: Path, worktree: Path
) -> None:
    write_tree(worktree, {"shop/util.py": "def tidy():\n    pass\n", "shop/extra.py": EXTRA})
    index_repository(conn, checkout, jobs=1)
    index_repository(conn, worktree, jobs=1)
    assert conn.execute(LISTS).fetchall() == sorted([*CHECKOUT_LISTS, (["shop.util"], ["shop.util.tidy"])])
    # shop.util gone: shop.util.tidy is resolved again, consulting the package too.
    (worktree / "shop/util.py").unlink()
    index_repository(conn, worktree, jobs=1)
    assert conn.execute(LISTS).fetchall() == sorted([*CHECKOUT_LISTS, (["shop", "shop.util"], ["shop.util.tidy"])])
    load.forget_repository(conn, load.find_repo(conn, worktree))
    assert conn.execute(LISTS).fetchall() == CHECKOUT_LISTS


@pytest.mark.parametrize("inherit_files", [1, 100], ids=["inheriting", "resolving"])
def test_a_module_only_the_other_root_holds_resolves_nothing_here(
    conn: psycopg.Connection,
    alone: psycopg.Connection,
    checkout: Path,
    worktree: Path,
    monkeypatch: pytest.MonkeyPatch,
    inherit_files: int,
) -> None:
    """Resolution reads modules and definitions by name from the contents of every
    repository, and keeps those of its own: shop.util, only in the checkout, is not the
    worktree's."""
    monkeypatch.setattr(load, "INHERIT_FILES", inherit_files)
    write_tree(checkout, {"shop/util.py": "def tidy():\n    pass\n", "shop/extra.py": EXTRA})
    write_tree(worktree, {"shop/extra.py": EXTRA})
    index_repository(conn, checkout, jobs=1)
    index_repository(conn, worktree, jobs=1)
    index_repository(alone, worktree, jobs=1)
    assert answers(conn, worktree) == answers(alone, worktree)
    tidy = "SELECT target_full_name FROM usages WHERE repo_id = %s AND name = 'tidy' AND kind = 'call'"
    assert conn.execute(tidy, [load.find_repo(conn, checkout)]).fetchall() == [("shop.util.tidy",)]
    assert conn.execute(tidy, [load.find_repo(conn, worktree)]).fetchall() == [(None,)]


def test_a_file_deleted_in_one_root_stays_in_the_other(
    conn: psycopg.Connection, alone: psycopg.Connection, checkout: Path, worktree: Path
) -> None:
    index_repository(conn, checkout, jobs=1)
    index_repository(conn, worktree, jobs=1)
    (worktree / "shop/orders.py").unlink()
    assert index_repository(conn, worktree, jobs=1).files_deleted == 1
    index_repository(alone, checkout, jobs=1)
    assert answers(conn, checkout) == answers(alone, checkout)
    assert count(conn, "contents") == 3


def test_a_shared_content_freed_before_the_write_is_parsed_instead(
    conn: psycopg.Connection, db_url: str, alone: psycopg.Connection, checkout: Path, worktree: Path
) -> None:
    """The worktree's run plans to share models.py; before it writes, the checkout changes
    that file and frees the content: the worktree parses its own copy instead."""
    index_repository(conn, checkout, jobs=1)
    (checkout / "shop/models.py").write_text(MODELS_WITHOUT_BASE)
    with connect(db_url, autocommit=True) as other:
        freed = []

        def checkout_changes_first(done: int, total: int) -> None:
            if not freed:
                freed.append(refresh_paths(other, checkout, ["shop/models.py"]).files_indexed)

        summary = index_repository(conn, worktree, jobs=1, progress=checkout_changes_first)
    assert freed == [1]
    assert (summary.files_indexed, summary.files_shared, summary.definitions) == (3, 2, 6)
    index_repository(alone, worktree, jobs=1)
    assert answers(conn, worktree) == answers(alone, worktree)


def test_a_write_pointing_at_a_freed_content_leaves_the_file_as_it_was(
    conn: psycopg.Connection, checkout: Path, worktree: Path
) -> None:
    index_repository(conn, checkout, jobs=1)
    before = load.known_files(conn, load.ensure_repo(conn, checkout))
    found = load.shareable_contents(conn, {"shop/models.py": "shop.models"})["shop/models.py"]
    shared = read_and_parse(str(worktree), SourceFile("shop/models.py", -1, -1), None, 1 << 20, shared=found)
    assert isinstance(shared, SharedFile)
    (checkout / "shop/models.py").write_text(MODELS_WITHOUT_BASE)
    refresh_paths(conn, checkout, ["shop/models.py"])  # frees the content the worktree found
    repo_id = load.ensure_repo(conn, worktree)
    assert load.write_batch(conn, repo_id, shared=[shared]) == [shared]
    assert load.known_files(conn, repo_id) == {}
    assert load.known_files(conn, load.ensure_repo(conn, checkout)).keys() == before.keys()


def test_forget_frees_the_contents_only_its_repository_held(
    db_url: str, conn: psycopg.Connection, alone: psycopg.Connection, checkout: Path, worktree: Path
) -> None:
    index_repository(conn, checkout, jobs=1)
    (worktree / "shop/models.py").write_text(MODELS_WITHOUT_BASE)
    index_repository(conn, worktree, jobs=1)
    result = coderows("forget", "--database-url", db_url, str(worktree))
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout == f"forgot {worktree}: 3 files, 1 of their contents freed (no other repository held them)\n"
    assert conn.execute("SELECT root FROM repos").fetchall() == [(str(checkout),)]
    for table in ("files", "resolutions", "unresolved_modules"):
        assert conn.execute(f"SELECT count(*) FROM {table} WHERE repo_id <> %s", [load.find_repo(conn, checkout)]).fetchone() == (0,)
    index_repository(alone, checkout, jobs=1)
    assert answers(conn, checkout) == answers(alone, checkout)
    assert {table: count(conn, table) for table in ("contents", "content_definitions", "content_uses")} == {
        table: count(alone, table) for table in ("contents", "content_definitions", "content_uses")
    }


def test_a_vanished_root_is_reported_by_status_and_can_be_forgotten(db_url: str, checkout: Path) -> None:
    assert coderows("index", "--database-url", db_url, str(checkout)).returncode == 0
    shutil.rmtree(checkout)
    status = coderows("status", "--database-url", db_url)
    assert status.returncode == 0, status.stderr
    assert [line for line in status.stdout.splitlines() if line.startswith(str(checkout))][0].endswith(
        "[root no longer on disk: `coderows forget ROOT` removes it]"
    )
    result = coderows("forget", "--database-url", db_url, str(checkout))
    assert result.stdout == f"forgot {checkout}: 3 files, 3 of their contents freed (no other repository held them)\n"
    assert coderows("status", "--database-url", db_url).stdout == "no repositories indexed yet: run `coderows index PATH`\n"


def test_forget_of_a_path_never_indexed_removes_nothing_and_says_so(db_url: str, checkout: Path, tmp_path: Path) -> None:
    assert coderows("index", "--database-url", db_url, str(checkout)).returncode == 0
    result = coderows("forget", "--database-url", db_url, str(checkout), str(tmp_path / "nowhere"))
    assert (result.returncode, result.stdout, len(result.stderr.splitlines())) == (1, "", 1)
    assert result.stderr.endswith(f": not an indexed repository: {tmp_path / 'nowhere'} (coderows status lists them)\n")
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT count(*) FROM coderows.files").fetchone() == (3,)


# -- a database made by the previous version (schema 4) -----------------------------------

# The tables of version 4, each with the columns that the view of the same name now has.
V4_TABLES = ("repos", "modules", "definitions", "imports", "name_uses", "resolutions", "unresolved_modules")


def test_a_version_4_database_keeps_its_rows_and_answers(
    conn: psycopg.Connection, checkout: Path, tmp_path: Path
) -> None:
    """Rows as version 4 stored them (its schema.sql from git, one row per module and
    repository) are carried over by the migration: every answer is the same, ids too.
    The next run parses them again (no version recorded which parser made them), with
    the same answers, and later runs share what they can."""
    other = write_tree(tmp_path / "other", {"tools/" + path.split("/", 1)[1]: text for path, text in SHOP.items()})
    index_repository(conn, checkout, jobs=1)
    index_repository(conn, other, jobs=1)
    before = {root: answers(conn, root) for root in (checkout, other)}
    ids = conn.execute("SELECT id, module_id, parent_id, repo_id FROM symbols ORDER BY id").fetchall()
    rows = {table: _rows(conn, table) for table in V4_TABLES}
    next_id = conn.execute("SELECT last_value FROM modules_id_seq").fetchone()[0]

    conn.execute("DROP SCHEMA coderows CASCADE")
    conn.execute(SCHEMA_V4.read_text(encoding="utf-8"))
    for table, (columns, values) in rows.items():
        _insert(conn, table, columns, values)
    conn.execute("SELECT setval('coderows.modules_id_seq', %s)", [next_id])
    conn.execute("SELECT setval(pg_get_serial_sequence('coderows.repos', 'id'), (SELECT max(id) FROM coderows.repos))")
    assert conn.execute("SELECT version FROM coderows.schema_version").fetchone() == (4,)

    assert ensure_schema(conn) == NEWEST
    assert {root: answers(conn, root) for root in (checkout, other)} == before
    assert conn.execute("SELECT id, module_id, parent_id, repo_id FROM symbols ORDER BY id").fetchall() == ids
    again = index_repository(conn, checkout, jobs=1)
    assert (again.files_indexed, again.files_unchanged) == (3, 0)
    assert answers(conn, checkout) == before[checkout]
    assert index_repository(conn, checkout, jobs=1).files_unchanged == 3
    worktree = Path(shutil.copytree(checkout, tmp_path / "two" / "shop-repo"))
    assert index_repository(conn, worktree, jobs=1).files_shared == 3
    assert conn.execute("SELECT nextval('modules_id_seq') > %s", [next_id]).fetchone() == (True,)


def _rows(conn: psycopg.Connection, table: str) -> tuple[list[str], list[tuple]]:
    cursor = conn.execute(f"SELECT * FROM {table}")  # table: V4_TABLES
    return [column.name for column in cursor.description], cursor.fetchall()


def _insert(conn: psycopg.Connection, table: str, columns: list[str], values: list[tuple]) -> None:
    if table == "modules":  # version 4's modules has no column the view lacks, and all of them
        assert columns == [
            "id", "repo_id", "path", "name", "is_package", "docstring", "source", "line_count", "content_hash",
            "size", "mtime_ns", "encoding", "parse_status", "parse_error", "indexed_at", "names_hash",
        ]
    overriding = " OVERRIDING SYSTEM VALUE" if table == "repos" else ""
    placeholders = ", ".join(["%s"] * len(columns))
    with conn.cursor() as cursor:
        cursor.executemany(
            f"INSERT INTO coderows.{table} ({', '.join(columns)}){overriding} VALUES ({placeholders})", values
        )
