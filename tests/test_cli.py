"""The `coderows` command, run as a user runs it: a subprocess of the installed script."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from coderows.db.connection import available_migrations, connect

CODEROWS = str(Path(sys.executable).with_name("coderows"))
MODULE = '"""Geometry."""\n\n\nclass Point:\n    def norm(self):\n        return 0\n\n    def scale(self, k):\n        return self\n'


def coderows(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k not in ("CODEROWS_DATABASE_URL", "CODEROWS_DATA_DIR")}
    return subprocess.run([CODEROWS, *args], capture_output=True, text=True, env={**base, **(env or {})}, timeout=timeout)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    (tmp_path / "geo").mkdir()
    (tmp_path / "geo/__init__.py").write_text("")
    (tmp_path / "geo/shapes.py").write_text(MODULE)
    return tmp_path


def test_index_prints_one_summary_line(db_url: str, repo: Path) -> None:
    result = coderows("index", "--database-url", db_url, str(repo))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"{repo}: 2 indexed, 0 unchanged, 0 removed, 0 failed; 3 definitions in ")
    assert result.stderr == ""


def test_sql_prints_an_aligned_table(db_url: str, repo: Path) -> None:
    coderows("index", "--database-url", db_url, str(repo))
    result = coderows(
        "sql", "--database-url", db_url,
        "SELECT name, start_line, end_line FROM methods WHERE class_name = 'Point' AND module = 'geo.shapes' ORDER BY start_line",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == (
        "name   start_line  end_line\n"
        "-----  ----------  --------\n"
        "norm   5           6\n"
        "scale  8           9\n"
        "(2 rows)\n"
    )


def test_sql_of_one_column_prints_raw_values(db_url: str, repo: Path) -> None:
    coderows("index", "--database-url", db_url, str(repo))
    result = coderows("sql", "--database-url", db_url, "SELECT body FROM methods WHERE name = 'norm'")
    assert result.stdout == "    def norm(self):\n        return 0\n"


def test_sql_json_prints_an_array_of_objects(db_url: str, repo: Path) -> None:
    coderows("index", "--database-url", db_url, str(repo))
    result = coderows("sql", "--json", "--database-url", db_url, "SELECT full_name, decorators, is_async FROM functions ORDER BY 1")
    assert json.loads(result.stdout) == [
        {"full_name": "geo.shapes.Point.norm", "decorators": [], "is_async": False},
        {"full_name": "geo.shapes.Point.scale", "decorators": [], "is_async": False},
    ]


def test_sql_refuses_a_write_with_one_line_and_changes_nothing(db_url: str, repo: Path) -> None:
    coderows("index", "--database-url", db_url, str(repo))
    result = coderows("sql", "--database-url", db_url, "DELETE FROM symbols")
    assert result.returncode == 1
    assert result.stderr.startswith("coderows: only one read-only query is allowed")
    assert result.stderr.count("\n") == 1
    assert coderows("sql", "--database-url", db_url, "SELECT count(*) FROM symbols").stdout == "3\n"


def test_sql_reports_a_postgres_error_in_one_line(db_url: str) -> None:
    result = coderows("sql", "--database-url", db_url, "SELECT no_such_column FROM symbols")
    assert result.returncode == 1
    assert result.stderr == 'coderows: column "no_such_column" does not exist\n'


def test_status_reports_counts_and_files_changed_since(db_url: str, repo: Path) -> None:
    coderows("index", "--database-url", db_url, str(repo))
    assert coderows("status", "--database-url", db_url).stdout.splitlines()[1] == "  up to date"
    (repo / "geo/extra.py").write_text("def f(): pass\n")
    lines = coderows("status", "--database-url", db_url).stdout.splitlines()
    assert lines[0].startswith(f"{repo}: 2 files, 3 definitions, 0 not ok; indexed 20")
    assert lines[1] == f"  changed on disk since: 1 new or modified, 0 deleted (run coderows index {repo})"


def test_status_counts_apart_the_files_an_older_coderows_indexed(db_url: str, repo: Path) -> None:
    coderows("index", "--database-url", db_url, str(repo))
    with connect(db_url, autocommit=True) as conn:
        conn.execute("UPDATE contents SET parser_version = 0")
    (repo / "geo/extra.py").write_text("def f(): pass\n")
    lines = coderows("status", "--database-url", db_url).stdout.splitlines()
    assert lines[1:] == [
        f"  changed on disk since: 1 new or modified, 0 deleted (run coderows index {repo})",
        f"  to parse again: 2 files an older coderows indexed (run coderows index {repo})",
    ]


def test_status_names_the_recorded_excludes_and_does_not_count_their_files_as_changed(db_url: str, repo: Path) -> None:
    (repo / "build").mkdir()
    (repo / "build/gen.py").write_text("def gen(): pass\n")
    coderows("index", "--database-url", db_url, "--exclude", "build/", str(repo))
    lines = coderows("status", "--database-url", db_url).stdout.splitlines()
    assert lines[1:] == ["  excluding: build/ (coderows index --clear-excludes forgets them)", "  up to date"]


def test_index_with_clear_excludes_indexes_the_excluded_files_again(db_url: str, repo: Path) -> None:
    (repo / "build").mkdir()
    (repo / "build/gen.py").write_text("def gen(): pass\n")
    coderows("index", "--database-url", db_url, "--exclude", "build/", str(repo))
    assert coderows("index", "--database-url", db_url, str(repo)).stdout.startswith(f"{repo}: 0 indexed, 2 unchanged, ")
    result = coderows("index", "--database-url", db_url, "--clear-excludes", str(repo))
    assert result.stdout.startswith(f"{repo}: 1 indexed, 2 unchanged, 0 removed, 0 failed; 1 definitions in ")
    assert coderows("status", "--database-url", db_url).stdout.splitlines()[1] == "  up to date"


def test_index_of_a_missing_folder_fails_with_one_line(db_url: str, tmp_path: Path) -> None:
    result = coderows("index", "--database-url", db_url, str(tmp_path / "nowhere"))
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == f"coderows: not a folder: {tmp_path / 'nowhere'}\n"


def test_unreachable_database_fails_fast_with_one_line(repo: Path) -> None:
    result = coderows("index", "--database-url", "postgresql://nobody@127.0.0.1:1/none", str(repo), timeout=30)
    assert result.returncode == 1
    assert result.stderr.startswith("coderows: cannot connect to PostgreSQL at nobody@127.0.0.1:1/none: ")
    assert result.stderr.count("\n") == 1


@pytest.fixture
def data_dir() -> Iterator[Path]:
    """A private embedded server's data folder (under /tmp: see conftest)."""
    folder = Path(tempfile.mkdtemp(prefix="coderows-cli-", dir="/tmp"))
    yield folder
    coderows("db", "stop", env={"CODEROWS_DATA_DIR": str(folder)})
    shutil.rmtree(folder, ignore_errors=True)


def test_embedded_server_starts_on_first_use_and_stops_on_request(data_dir: Path, repo: Path) -> None:
    env = {"CODEROWS_DATA_DIR": str(data_dir)}
    assert coderows("db", "status", env=env).stdout.splitlines()[1] == "running: no (starts on first use)"
    indexed = coderows("index", str(repo), env=env)
    assert indexed.returncode == 0, indexed.stderr
    assert coderows("db", "status", env=env).stdout.splitlines()[1].startswith("running: pid ")
    assert coderows("sql", "SELECT count(*) FROM symbols", env=env).stdout == "3\n"
    assert coderows("db", "stop", env=env).stdout == "stopped\n"
    assert coderows("db", "status", env=env).stdout.splitlines()[1] == "running: no (starts on first use)"
    assert coderows("sql", "SELECT count(*) FROM symbols", env=env).stdout == "3\n"  # restarted, data kept


@pytest.mark.skipif(shutil.which("psql") is None, reason="psql is not installed")
def test_db_url_is_accepted_by_psql_with_unqualified_names(data_dir: Path, repo: Path) -> None:
    env = {"CODEROWS_DATA_DIR": str(data_dir)}
    coderows("index", str(repo), env=env)
    url = coderows("db", "url", env=env).stdout.strip()
    result = subprocess.run(["psql", url, "-Atc", "SELECT name FROM classes"], capture_output=True, text=True, timeout=30)
    assert (result.returncode, result.stdout) == (0, "Point\n"), result.stderr


def test_a_database_of_a_newer_coderows_is_refused_with_one_line_and_nothing_written(db_url: str, repo: Path) -> None:
    assert coderows("index", "--database-url", db_url, str(repo)).returncode == 0
    (repo / "geo/more.py").write_text("def extra():\n    pass\n")
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("UPDATE coderows.schema_version SET version = 99")
    result = coderows("index", "--database-url", db_url, str(repo))
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == (
        "coderows: this database holds coderows schema version 99, written by a newer coderows; this coderows"
        f" knows up to version {available_migrations()[-1][0]}: upgrade this coderows, or point it at another database\n"
    )
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT count(*) FROM coderows.modules").fetchone() == (2,)


# --- one-line errors before any database work (issue 13, item 10) --------------------


@pytest.mark.parametrize(
    ("source", "args", "env"),
    [
        ("--database-url", ["status", "--database-url", "host=127.0.0.1 port"], {}),
        ("CODEROWS_DATABASE_URL", ["status"], {"CODEROWS_DATABASE_URL": "host=127.0.0.1 port"}),
    ],
)
def test_a_malformed_database_url_is_one_line(source: str, args: list[str], env: dict[str, str]) -> None:
    result = coderows(*args, env=env)
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == (
        f'coderows: {source} is not a valid PostgreSQL URL: missing "=" after "port" in connection info string\n'
    )


@pytest.mark.parametrize("command", ["index", "serve", "watch"])
def test_a_missing_folder_fails_at_once_without_starting_the_embedded_server(command: str, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"  # the embedded server would create data/postgres
    result = coderows(command, str(tmp_path / "nowhere"), env={"CODEROWS_DATA_DIR": str(data_dir)}, timeout=60)
    assert (result.returncode, result.stdout, result.stderr) == (1, "", f"coderows: not a folder: {tmp_path / 'nowhere'}\n")
    assert not data_dir.exists()
