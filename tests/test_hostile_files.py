"""A hostile repository: files that lead outside the root, and files that block or never end.

Nothing coderows does may read a file whose real path lies outside the root it indexes,
whoever asks (the walk, a watcher, refresh_paths), and nothing it reads from a
repository may block (a FIFO) or read without bound (a link to /dev/zero). Driven
through the CLI as a subprocess, a real Watcher and real PostgreSQL.
"""

from __future__ import annotations

import logging
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from coderows.db.connection import connect
from coderows.indexer.discover import MAX_RULE_FILE_BYTES
from coderows.indexer.pipeline import index_repository, refresh_paths
from coderows.indexer.watch import Watcher

CODEROWS = str(Path(sys.executable).with_name("coderows"))
SECRET = "OUTSIDE_SECRET"
# A FIFO makes the old code wait forever: a minute is far beyond any honest run.
HANG_SECONDS = 60
# Reading /dev/zero to the end would take all memory; a cap on the address space turns
# that into a quick MemoryError instead of starving the machine.
ADDRESS_SPACE_BYTES = 2 * 1024**3
SETTLE_SECONDS = 60.0


def coderows(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("CODEROWS_DATABASE_URL", "CODEROWS_DATA_DIR")}
    return subprocess.run(
        [CODEROWS, *args], capture_output=True, text=True, env=env, timeout=HANG_SECONDS, preexec_fn=_cap_memory
    )


def _cap_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE_BYTES, ADDRESS_SPACE_BYTES))


def module_sources(conn: psycopg.Connection, root: Path) -> list[tuple[str, str]]:
    return conn.execute(
        "SELECT m.path, m.source FROM modules m JOIN repos r ON r.id = m.repo_id WHERE r.root = %s ORDER BY 1",
        [str(root)],
    ).fetchall()


def module_paths(conn: psycopg.Connection, root: Path) -> list[str]:
    return [path for path, _ in module_sources(conn, root)]


def leaked(conn: psycopg.Connection) -> list[str]:
    """Paths whose stored text came from outside any root."""
    rows = conn.execute("SELECT path FROM modules WHERE strpos(source, %s) > 0 ORDER BY 1", [SECRET])
    return [row[0] for row in rows]


def eventually(read: Callable[[], object], expected: object, deadline: float = SETTLE_SECONDS) -> None:
    """Poll `read` until it returns `expected`; fail with the last value at the deadline."""
    end = time.monotonic() + deadline
    while True:
        value = read()
        if value == expected or time.monotonic() > end:
            assert value == expected
            return
        time.sleep(0.02)


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A folder next to the root, holding text that must never reach the index."""
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "mod.py").write_text(f"def {SECRET}():\n    return 'private'\n")
    (folder / "__init__.py").write_text(f"{SECRET} = 1\n")
    return folder.resolve()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "pkg").mkdir(parents=True)
    (root / "app.py").write_text("def main():\n    pass\n")
    (root / "pkg/mod.py").write_text("def inside():\n    pass\n")
    return root.resolve()


def swap_for_link(folder: Path, target: Path, trash: Path) -> None:
    """`mv folder trash && ln -s target folder`: what a checkout or an attacker can do."""
    folder.rename(trash)
    folder.symlink_to(target)


# -- files outside the root -------------------------------------------------------------


def test_watcher_drops_a_folder_swapped_for_a_link_out_of_the_root_without_reading_it(
    conn: psycopg.Connection, db_url: str, repo: Path, outside: Path, tmp_path: Path
) -> None:
    with Watcher(db_url, [repo]) as watcher:
        assert watcher.wait_ready(SETTLE_SECONDS)
        assert module_paths(conn, repo) == ["app.py", "pkg/mod.py"]
        swap_for_link(repo / "pkg", outside, tmp_path / "moved-away")
        (repo / "marker.py").write_text("x = 1\n")  # written last: once it shows, the swap was seen
        eventually(lambda: module_paths(conn, repo), ["app.py", "marker.py"])
    assert leaked(conn) == []


def test_refresh_of_a_path_that_now_leads_out_of_the_root_removes_its_rows_and_says_so(
    conn: psycopg.Connection, repo: Path, outside: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """What the server's catch-up before an answer does with a path it saw change."""
    index_repository(conn, repo)
    swap_for_link(repo / "pkg", outside, tmp_path / "moved-away")
    with caplog.at_level(logging.WARNING, logger="coderows.indexer.pipeline"):
        summary = refresh_paths(conn, repo, ["pkg/mod.py"])
    assert (summary.files_indexed, summary.files_deleted) == (0, 1)
    assert module_paths(conn, repo) == ["app.py"]
    assert leaked(conn) == []
    assert [r.getMessage() for r in caplog.records] == [
        f"pkg/mod.py: not read, treated as removed: {repo}/pkg/mod.py: leads outside {repo} (to {outside}/mod.py)"
    ]


def test_refresh_of_a_module_that_became_a_link_out_of_the_root_removes_its_rows(
    conn: psycopg.Connection, repo: Path, outside: Path
) -> None:
    index_repository(conn, repo)
    (repo / "app.py").unlink()
    (repo / "app.py").symlink_to(outside / "mod.py")
    summary = refresh_paths(conn, repo, ["app.py"])
    assert (summary.files_indexed, summary.files_deleted) == (0, 1)
    assert module_paths(conn, repo) == ["pkg/mod.py"]
    assert leaked(conn) == []


def test_a_link_to_a_folder_inside_the_root_is_followed_by_the_watcher_like_a_fresh_index(
    conn: psycopg.Connection, db_url: str, repo: Path
) -> None:
    with Watcher(db_url, [repo]) as watcher:
        assert watcher.wait_ready(SETTLE_SECONDS)
        (repo / "alias").symlink_to(repo / "pkg")
        eventually(lambda: module_paths(conn, repo), ["alias/mod.py", "app.py", "pkg/mod.py"])
        (repo / "pkg/mod.py").write_text("def edited():\n    pass\n")  # seen under both paths
        eventually(
            lambda: [(path, "edited" in source) for path, source in module_sources(conn, repo)],
            [("alias/mod.py", True), ("app.py", False), ("pkg/mod.py", True)],
        )


# -- files that block or never end ------------------------------------------------------


def test_index_skips_a_fifo_named_gitignore_with_a_warning_instead_of_hanging(db_url: str, repo: Path) -> None:
    os.mkfifo(repo / ".gitignore")
    result = coderows("index", "--database-url", db_url, str(repo))
    assert (result.returncode, result.stderr) == (
        0,
        f"skipped {repo}/.gitignore: a FIFO, not a regular file: its rules are not applied\n",
    )
    assert result.stdout.startswith(f"{repo}: 2 indexed, 0 unchanged, 0 removed, 0 failed; 2 definitions in ")


def test_index_skips_a_fifo_at_git_info_exclude_instead_of_hanging(db_url: str, repo: Path) -> None:
    (repo / ".git/info").mkdir(parents=True)
    os.mkfifo(repo / ".git/info/exclude")
    result = coderows("index", "--database-url", db_url, str(repo))
    assert (result.returncode, result.stderr) == (
        0,
        f"skipped {repo}/.git/info/exclude: a FIFO, not a regular file: its rules are not applied\n",
    )
    assert result.stdout.startswith(f"{repo}: 2 indexed, ")


def test_index_skips_a_gitignore_linked_to_dev_zero_instead_of_reading_it_forever(db_url: str, repo: Path) -> None:
    (repo / "pkg/.gitignore").symlink_to("/dev/zero")
    result = coderows("index", "--database-url", db_url, str(repo))
    assert (result.returncode, result.stderr) == (
        0,
        f"skipped {repo}/pkg/.gitignore: a character device, not a regular file: its rules are not applied\n",
    )
    assert result.stdout.startswith(f"{repo}: 2 indexed, ")


def test_index_skips_a_dot_git_linked_to_dev_zero_instead_of_reading_it_forever(db_url: str, repo: Path) -> None:
    (repo / ".git").symlink_to("/dev/zero")
    result = coderows("index", "--database-url", db_url, str(repo))
    assert (result.returncode, result.stderr) == (
        0,
        f"skipped {repo}/.git: a character device, not a regular file: its rules are not applied\n",
    )
    assert result.stdout.startswith(f"{repo}: 2 indexed, ")


def test_a_gitignore_over_the_size_limit_is_skipped_with_a_warning(db_url: str, repo: Path) -> None:
    (repo / ".gitignore").write_text("app.py\n" + "#" * MAX_RULE_FILE_BYTES)
    result = coderows("index", "--database-url", db_url, str(repo))
    assert (result.returncode, result.stderr) == (
        0,
        (
            f"skipped {repo}/.gitignore: {MAX_RULE_FILE_BYTES + 7} bytes, over the {MAX_RULE_FILE_BYTES}-byte limit:"
            " its rules are not applied\n"
        ),
    )
    assert result.stdout.startswith(f"{repo}: 2 indexed, ")  # app.py too: the rules were not applied


def test_status_does_not_hang_on_a_fifo_named_gitignore(db_url: str, repo: Path) -> None:
    assert coderows("index", "--database-url", db_url, str(repo)).returncode == 0
    os.mkfifo(repo / ".gitignore")
    result = coderows("status", "--database-url", db_url)
    assert (result.returncode, result.stderr) == (
        0,
        f"skipped {repo}/.gitignore: a FIFO, not a regular file: its rules are not applied\n",
    )
    assert result.stdout.splitlines()[1:] == ["  up to date"]


def test_watcher_goes_on_after_a_fifo_named_gitignore_appears(conn: psycopg.Connection, db_url: str, repo: Path) -> None:
    with Watcher(db_url, [repo]) as watcher:
        assert watcher.wait_ready(SETTLE_SECONDS)
        os.mkfifo(repo / ".gitignore")  # a rule file changed: the root is walked again
        (repo / "later.py").write_text("def later():\n    pass\n")
        eventually(lambda: module_paths(conn, repo), ["app.py", "later.py", "pkg/mod.py"])


# -- property: whatever happens under a running watcher, it ends where a fresh index does --

FOLDERS = ["a", "b", "a/c"]
FILES = ["m.py", "n.py", "__init__.py"]
BODIES = ["def f():\n    pass\n", "class K:\n    def g(self):\n        pass\n", "x = (\n", ""]
IGNORES = ["", "b/\n", "m.py\n", "*.py\n!n.py\n", "a/c\n"]

operation = st.one_of(
    st.tuples(st.just("write"), st.sampled_from(FOLDERS + [""]), st.sampled_from(FILES), st.sampled_from(BODIES)),
    st.tuples(st.just("delete"), st.sampled_from(FOLDERS + [""]), st.sampled_from(FILES)),
    st.tuples(st.just("mkdir"), st.sampled_from(FOLDERS)),
    st.tuples(st.just("rename"), st.sampled_from(FOLDERS), st.sampled_from(FOLDERS)),
    st.tuples(st.just("rmtree"), st.sampled_from(FOLDERS)),
    st.tuples(st.just("link_out"), st.sampled_from(FOLDERS)),
    st.tuples(st.just("link_in"), st.sampled_from(FOLDERS), st.sampled_from(FOLDERS)),
    st.tuples(st.just("gitignore"), st.sampled_from(["", "a"]), st.sampled_from(IGNORES)),
    st.tuples(st.just("fifo"), st.sampled_from([".gitignore", "a/.gitignore", "a/p.py", "q.py"])),
)


def apply(root: Path, outside: Path, trash: Path, op: tuple[str, ...]) -> None:
    """Carry out one operation; one that does not fit the tree as it is (a missing
    folder, an existing name) is simply a no-op, as it would be for a user."""
    kind, *args = op
    try:
        if kind == "write":
            folder, name, body = args
            target = root / folder / name
            temporary = target.with_name(f".{name}.tmp")
            temporary.write_text(body)
            os.replace(temporary, target)  # also over a FIFO, which a plain write would block on
        elif kind == "delete":
            (root / args[0] / args[1]).unlink()
        elif kind == "mkdir":
            (root / args[0]).mkdir()
        elif kind == "rename":
            (root / args[0]).rename(root / args[1])
        elif kind == "rmtree":
            path = root / args[0]
            path.unlink() if path.is_symlink() else shutil.rmtree(path)
        elif kind == "link_out":
            swap_for_link(root / args[0], outside, Path(tempfile.mkdtemp(dir=trash)) / "gone")
        elif kind == "link_in":
            (root / args[0]).symlink_to(root / args[1], target_is_directory=True)
        elif kind == "gitignore":
            target = root / args[0] / ".gitignore"
            temporary = target.with_name(".gitignore.tmp")
            temporary.write_text(args[1])
            os.replace(temporary, target)
        elif kind == "fifo":
            os.mkfifo(root / args[0])
    except OSError:
        pass


def index_state(conn: psycopg.Connection, root: Path) -> list[tuple[object, ...]]:
    """What an index of `root` holds: each module's path, text and status, and every
    definition with its lines."""
    modules = conn.execute(
        "SELECT m.path, m.name, m.content_hash, m.parse_status FROM modules m JOIN repos r ON r.id = m.repo_id"
        " WHERE r.root = %s ORDER BY 1",
        [str(root)],
    ).fetchall()
    symbols = conn.execute(
        "SELECT s.path, s.qualname, s.start_line, s.end_line FROM symbols s JOIN repos r ON r.id = s.repo_id"
        " WHERE r.root = %s ORDER BY 1, 2, 3",
        [str(root)],
    ).fetchall()
    return [*modules, *symbols]


@pytest.fixture
def fresh_db_url(database_factories: dict[str, Any]) -> Iterator[str]:
    """A second database on the same server, for the fresh index to compare with."""
    factory = next(iter(database_factories.values()))
    url = factory.create()
    yield url
    factory.drop(url)


# After an operation: none (the next one lands in the same batch), or long enough for the
# watcher to pick it up on its own, so that later operations meet what it did.
PAUSES = [0.0, 0.0, 0.2]


@example(operations=[(("link_out", "a"), 0.0)])  # the review's swap
@example(operations=[(("link_in", "b", "a"), 0.2), (("write", "a", "n.py", BODIES[1]), 0.0)])  # one file, two paths
@example(  # a dangling link whose target appears later
    operations=[(("link_in", "b", "a/c"), 0.2), (("mkdir", "a/c"), 0.2), (("write", "a/c", "m.py", BODIES[0]), 0.0)]
)
@example(operations=[(("fifo", ".gitignore"), 0.2), (("write", "", "n.py", BODIES[0]), 0.0)])
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(operations=st.lists(st.tuples(operation, st.sampled_from(PAUSES)), min_size=1, max_size=12))
def test_watcher_ends_where_a_fresh_index_does_and_never_reads_outside_the_root(
    operations: list[tuple[tuple[str, ...], float]], db_url: str, fresh_db_url: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    base = tmp_path_factory.mktemp("swap")
    root, outside, trash = base / "root", base / "outside", base / "trash"
    for folder in (root / "a", outside / "c", trash):
        folder.mkdir(parents=True)
    (root / "a/m.py").write_text("def start():\n    pass\n")
    (outside / "m.py").write_text(f"def {SECRET}():\n    pass\n")
    (outside / "c/n.py").write_text(f"{SECRET} = 2\n")
    root = root.resolve()
    with Watcher(db_url, [root]) as watcher, connect(db_url, autocommit=True) as conn:
        assert watcher.wait_ready(SETTLE_SECONDS)
        for op, pause in operations:
            apply(root, outside.resolve(), trash, op)
            time.sleep(pause)
        fresh = coderows("index", "--database-url", fresh_db_url, str(root))
        assert fresh.returncode == 0, fresh.stderr
        with connect(fresh_db_url, autocommit=True) as fresh_conn:
            expected = index_state(fresh_conn, root)
        eventually(lambda: index_state(conn, root), expected)
        assert leaked(conn) == []
