"""The CLI's fast paths load only what they use (issue 18: `coderows --help` <= 0.15 s,
a no-op `coderows index` <= 0.25 s for the whole process).

Timing a process would depend on the machine's load, so these tests pin the mechanism
instead: the modules each path imports, read from the installed script run under
`python -X importtime`. psycopg alone costs about 0.1 s to import, the parser (tree-sitter,
its compiled queries, ast) about 0.05 s. bench/bench_index.py measures the times.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

CODEROWS = str(Path(sys.executable).with_name("coderows"))
IMPORT_LINE = re.compile(r"^import time:\s+\d+ \|\s+\d+ \| *(\S+)$", re.MULTILINE)
PARSER_MODULES = {"tree_sitter", "tree_sitter_python", "coderows.indexer.parse", "coderows.indexer.extract_uses"}


def run_importing(*args: str) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    """Run the installed `coderows` script; (the finished process, every module it imported)."""
    env = {k: v for k, v in os.environ.items() if k not in ("CODEROWS_DATABASE_URL", "CODEROWS_DATA_DIR")}
    done = subprocess.run(
        [sys.executable, "-X", "importtime", CODEROWS, *args], capture_output=True, text=True, env=env, timeout=120, check=False
    )
    return done, set(IMPORT_LINE.findall(done.stderr))


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    (tmp_path / "geo").mkdir()
    (tmp_path / "geo/__init__.py").write_text("")
    (tmp_path / "geo/shapes.py").write_text("class Point:\n    def norm(self):\n        return 0\n")
    return tmp_path


def test_help_imports_neither_psycopg_nor_the_indexer() -> None:
    done, imported = run_importing("--help")
    assert done.returncode == 0
    assert "Usage: coderows [OPTIONS] COMMAND [ARGS]..." in done.stdout
    assert imported & {"psycopg", "coderows.db.connection", "coderows.indexer.pipeline", *PARSER_MODULES} == set()


def test_index_with_nothing_to_do_does_not_import_the_parser(db_url: str, repo: Path) -> None:
    first, _ = run_importing("index", "--database-url", db_url, str(repo))
    assert first.returncode == 0, first.stderr
    again, imported = run_importing("index", "--database-url", db_url, str(repo))
    assert again.returncode == 0
    assert again.stdout.startswith(f"{repo}: 0 indexed, 2 unchanged, 0 removed, 0 failed; 0 definitions in ")
    assert imported & PARSER_MODULES == set()


def test_index_with_nothing_to_do_starts_no_worker_machinery(db_url: str, repo: Path) -> None:
    """multiprocessing and the process pool (~13 ms to import) come only with files to parse."""
    run_importing("index", "--database-url", db_url, str(repo))
    again, imported = run_importing("index", "--database-url", db_url, str(repo))
    assert again.returncode == 0, again.stderr
    assert {"multiprocessing", "concurrent.futures.process"} & imported == set()


def test_index_after_nothing_changed_notices_an_added_file(db_url: str, repo: Path) -> None:
    run_importing("index", "--database-url", db_url, str(repo))
    run_importing("index", "--database-url", db_url, str(repo))
    (repo / "geo/lines.py").write_text("def length():\n    return 1\n")
    done, _ = run_importing("index", "--database-url", db_url, str(repo))
    assert done.stdout.startswith(f"{repo}: 1 indexed, 2 unchanged, 0 removed, 0 failed; 1 definitions in ")


def test_index_after_nothing_changed_notices_a_deleted_file(db_url: str, repo: Path) -> None:
    run_importing("index", "--database-url", db_url, str(repo))
    run_importing("index", "--database-url", db_url, str(repo))
    (repo / "geo/shapes.py").unlink()
    done, _ = run_importing("index", "--database-url", db_url, str(repo))
    assert done.stdout.startswith(f"{repo}: 0 indexed, 1 unchanged, 1 removed, 0 failed; 0 definitions in ")


def test_index_after_nothing_changed_notices_a_file_changed_in_the_same_size(db_url: str, repo: Path) -> None:
    """Same size, new mtime: the stamp comparison reads both."""
    run_importing("index", "--database-url", db_url, str(repo))
    run_importing("index", "--database-url", db_url, str(repo))
    shapes = repo / "geo/shapes.py"
    before = shapes.stat()
    shapes.write_text(shapes.read_text().replace("norm", "size"))
    os.utime(shapes, ns=(before.st_atime_ns, before.st_mtime_ns + 1_000_000))
    done, _ = run_importing("index", "--database-url", db_url, str(repo))
    assert done.stdout.startswith(f"{repo}: 1 indexed, 1 unchanged, 0 removed, 0 failed; 2 definitions in ")


def test_connecting_to_a_current_schema_leaves_no_transaction_open(db_url: str) -> None:
    """connect() reads the schema version outside a transaction block: a connection that is
    not autocommit comes back idle, as it did when ensure_schema ran every time."""
    from coderows.db.connection import _prepared_urls, connect

    _prepared_urls.discard(db_url)  # as a new process: the version is read again
    with connect(db_url) as conn:
        assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
        conn.autocommit = True  # refused inside a transaction


def test_index_does_not_import_the_setup_command(db_url: str, repo: Path) -> None:
    """`coderows setup` is the CLI's biggest module; only it and --help load it."""
    done, imported = run_importing("index", "--database-url", db_url, str(repo))
    assert done.returncode == 0, done.stderr
    assert {"coderows.cli.setup_claude", "coderows.cli.json_text"} & imported == set()


def test_the_setup_command_is_loaded_when_asked_for() -> None:
    done, _ = run_importing("setup", "--help")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[2] == "  Connect a coding agent to coderows."


def test_index_of_a_changed_file_imports_the_parser(db_url: str, repo: Path) -> None:
    """The other side of the test above: the parser is there when a file needs it."""
    run_importing("index", "--database-url", db_url, str(repo))
    (repo / "geo/shapes.py").write_text("class Point:\n    def norm(self):\n        return 0\n\n\ndef origin():\n    return Point()\n")
    done, imported = run_importing("index", "--database-url", db_url, str(repo))
    assert done.stdout.startswith(f"{repo}: 1 indexed, 1 unchanged, 0 removed, 0 failed; 3 definitions in ")
    assert PARSER_MODULES <= imported


def test_status_imports_neither_the_server_nor_the_mcp_sdk(db_url: str, repo: Path) -> None:
    """`coderows status` reads what index_status reads through db/repo_status.py, below both."""
    run_importing("index", "--database-url", db_url, str(repo))
    done, imported = run_importing("status", "--database-url", db_url)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[1] == "  up to date"
    assert {name for name in imported if name == "mcp" or name.startswith("coderows.server")} == set()
