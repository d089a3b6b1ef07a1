"""Protocol and multi-statement tricks against `coderows sql` and MCP `run_sql`, behind
every first word the sandbox allows, and what a reader could do to its own role.

Each attack goes through both real interfaces (the CLI as a subprocess, the MCP server
through a real MCP client) and must be refused or harmless: the database digest is
unchanged, no advisory lock outlives the call, and a later call answers the same, as
fast, with the reader's settings intact.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from mcp import Client
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from coderows.db import readonly
from coderows.db.connection import connect
from coderows.indexer.pipeline import index_repository
from coderows.server.app import build_server
from coderows.server.tools import Tools
from conftest import BACKENDS
from server_fixtures import call, run
from test_sql_sandbox import corpus, digest

CODEROWS = str(Path(sys.executable).with_name("coderows"))
ONE_STATEMENT = "only one statement is allowed; remove the ';' and what follows"
PARENTHESES = "the parentheses must balance"
# What a later call must still see: the limits coderows gives every reader session.
SETTINGS_PROBE = (
    "SELECT current_setting('idle_session_timeout') AS ist, current_setting('work_mem') AS wm, "
    "current_setting('DateStyle') AS ds, current_setting('transform_null_equals') AS tne, count(*) AS repos FROM repos"
)
SETTINGS_ROW = "10min | 32MB | ISO, MDY | off | 1"

# (case, query, what the answer says): a second statement hidden behind each allowed
# first word and each lexical trick, and single statements that try to outlive the call.
ATTACKS = [
    ("explain-then-sleep", "EXPLAIN SELECT 1; COMMIT; SET statement_timeout=0; SELECT pg_sleep(8)", ONE_STATEMENT),
    ("explain-then-alter-role", "EXPLAIN SELECT 1; COMMIT; ALTER ROLE coderows_reader SET statement_timeout='1ms'", ONE_STATEMENT),
    ("explain-analyze-then-lo", "EXPLAIN ANALYZE SELECT 1; COMMIT; SELECT lo_from_bytea(0, 'x')", ONE_STATEMENT),
    ("select-then-reset-all", "SELECT 1; COMMIT; ALTER ROLE coderows_reader RESET ALL", ONE_STATEMENT),
    ("with-then-lock", "WITH x AS (SELECT 1) SELECT * FROM x; COMMIT; SELECT pg_advisory_lock(1)", ONE_STATEMENT),
    ("values-then-notify", "VALUES (1); COMMIT; NOTIFY coderows_changes, '{\"repo_id\": 1}'", ONE_STATEMENT),
    ("table-then-password", "TABLE repos; COMMIT; ALTER ROLE coderows_reader PASSWORD 'x'", ONE_STATEMENT),
    ("parenthesised-then-set", "(SELECT 1); COMMIT; ALTER ROLE coderows_reader SET DateStyle = 'SQL'", ONE_STATEMENT),
    ("explain-parenthesised-options", "EXPLAIN (COSTS OFF) SELECT 1; COMMIT; SELECT lo_from_bytea(0, 'x')", ONE_STATEMENT),
    ("comment-before-semicolon", "SELECT 1 /* ; */ ; COMMIT; ALTER ROLE coderows_reader SET work_mem = '1GB'", ONE_STATEMENT),
    ("line-comment-then-semicolon", "SELECT 1 -- x\n; COMMIT; SELECT lo_from_bytea(0, 'x')", ONE_STATEMENT),
    ("dollar-quote-then-statement", "SELECT $$;$$; COMMIT; ALTER ROLE coderows_reader IN DATABASE postgres SET transform_null_equals = on", ONE_STATEMENT),
    ("escape-string-then-statement", "SELECT E'\\';'; COMMIT; SELECT pg_advisory_lock(2)", ONE_STATEMENT),
    ("nested-comment-then-statement", "SELECT 1 /* /* */ ; */ ; DO $$BEGIN PERFORM pg_advisory_lock(3); END$$", ONE_STATEMENT),
    ("explain-then-do", "EXPLAIN VALUES (1); DO $$BEGIN PERFORM lo_from_bytea(0, 'x'); END$$", ONE_STATEMENT),
    ("explain-then-listen", "EXPLAIN TABLE repos; LISTEN coderows_changes", ONE_STATEMENT),
    ("explain-then-hold-cursor", "EXPLAIN SELECT 1; DECLARE c CURSOR WITH HOLD FOR SELECT 1", ONE_STATEMENT),
    ("explain-then-prepare", "EXPLAIN SELECT 1; PREPARE p AS SELECT 1", ONE_STATEMENT),
    ("explain-then-temp-table", "EXPLAIN SELECT 1; CREATE TEMP TABLE t AS SELECT 1", ONE_STATEMENT),
    ("explain-then-session-authorization", "EXPLAIN SELECT 1; SET SESSION AUTHORIZATION coderows_reader", ONE_STATEMENT),
    # Closing the subquery the statement runs in, to add columns the budget never measures.
    ("close-the-wrapper", "SELECT 1) AS agent_query LIMIT 1) AS sized CROSS JOIN (SELECT repeat('x', 100000000)", PARENTHESES),
    # The EXPLAIN statement travels as a parameter: a quote in it closes nothing.
    ("explain-close-the-function-call", "EXPLAIN SELECT 1') AS line; SELECT ('x", "syntax error at or near"),
    # One statement each, trying to outlive the call.
    ("explain-analyze-writable-cte", "EXPLAIN ANALYZE WITH d AS (DELETE FROM repos RETURNING 1) SELECT * FROM d", "in a read-only transaction"),
    ("explain-analyze-advisory-lock", "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) SELECT pg_advisory_lock(4)", "Result (actual rows=1"),
    ("explain-analyze-set-config", "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) SELECT set_config('statement_timeout', '1ms', false)", "Result (actual rows=1"),
    ("explain-analyze-notify", "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) SELECT pg_notify('coderows_changes', '{\"repo_id\": 1}')", "Result (actual rows=1"),
    ("shared-advisory-lock", "SELECT pg_advisory_lock_shared(5)", "pg_advisory_lock_shared\n\n(1 row)"),
    ("explain-function-called-directly", "SELECT * FROM coderows.explain_lines('SHOW work_mem')", "explain_lines runs one EXPLAIN statement, not SHOW work_mem"),
]


@dataclass
class Target:
    url: str
    tools: Tools
    baseline: str


@pytest.fixture(scope="module", params=BACKENDS)
def target(request: pytest.FixtureRequest, database_factories: dict, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    factory = database_factories[request.param]
    url = factory.create()
    with connect(url, autocommit=True) as conn:
        index_repository(conn, corpus(tmp_path_factory.mktemp("attacks")), jobs=1)
    tools = Tools(url)
    tools.run_sql("SELECT 1")  # creates and grants the reader before the baseline is taken
    yield Target(url, tools, digest(url))
    tools.close()
    factory.drop(url)


def coderows(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("CODEROWS_")}
    return subprocess.run(
        [CODEROWS, *args], capture_output=True, text=True, env={**base, **(env or {})}, timeout=timeout, check=False
    )


def mcp_run_sql(tools: Tools, text: str) -> str:
    async def body() -> str:
        async with Client(build_server(tools)) as client:
            return (await call(client, "run_sql", query=text)).text

    return run(body)


def advisory_locks(url: str) -> list[tuple[int, int]]:
    """Advisory locks that reader sessions hold (coderows's own connections take some)."""
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute(
            "SELECT l.classid::int, l.objid::int FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE l.locktype = 'advisory' AND a.usename = %s ORDER BY 1, 2",
            [readonly.READER_ROLE],
        ).fetchall()


def assert_nothing_outlived(target: Target) -> None:
    assert digest(target.url) == target.baseline
    assert advisory_locks(target.url) == []
    started = time.monotonic()
    probe = coderows("sql", "--database-url", target.url, SETTINGS_PROBE)
    assert (probe.returncode, probe.stderr) == (0, "")
    assert probe.stdout.splitlines()[2].split() == SETTINGS_ROW.replace("|", "").split()
    assert mcp_run_sql(target.tools, SETTINGS_PROBE).splitlines()[1] == SETTINGS_ROW
    assert time.monotonic() - started < 30  # a lock or a 1 ms timeout left behind would show here


@pytest.mark.parametrize(("case", "text", "expected"), ATTACKS, ids=[case for case, _, _ in ATTACKS])
def test_attack_through_coderows_sql_is_refused_or_harmless(target: Target, case: str, text: str, expected: str) -> None:
    started = time.monotonic()
    result = coderows("sql", "--database-url", target.url, text)
    assert time.monotonic() - started < 30
    if expected.startswith("Result"):  # a plan: PostgreSQL 18 counts rows as 1.00
        assert (result.returncode, result.stdout.startswith(expected), result.stderr) == (0, True, "")
    elif "\n" in expected:  # a harmless answer: run_sql's header and row count, the CLI's bare value
        assert (result.returncode, result.stdout, result.stderr) == (0, "\n".join(expected.splitlines()[1:-1]) + "\n", "")
    else:
        assert (result.returncode, result.stdout, result.stderr.count("\n")) == (1, "", 1)
        assert expected in result.stderr
    assert_nothing_outlived(target)


@pytest.mark.parametrize(("case", "text", "expected"), ATTACKS, ids=[case for case, _, _ in ATTACKS])
def test_attack_through_mcp_run_sql_is_refused_or_harmless(target: Target, case: str, text: str, expected: str) -> None:
    started = time.monotonic()
    answer = mcp_run_sql(target.tools, text)
    assert time.monotonic() - started < 30
    assert expected in answer, answer
    assert_nothing_outlived(target)


def test_a_forged_notify_never_reaches_a_listener(target: Target) -> None:
    with psycopg.connect(target.url, autocommit=True) as listener:
        listener.execute("LISTEN coderows_changes")
        coderows("sql", "--database-url", target.url, "EXPLAIN SELECT 1; COMMIT; NOTIFY coderows_changes, 'forged'")
        mcp_run_sql(target.tools, "SELECT pg_notify('coderows_changes', 'forged')")
        mcp_run_sql(target.tools, "EXPLAIN ANALYZE SELECT pg_notify('coderows_changes', 'forged')")
        listener.execute("SELECT 1")  # delivers whatever arrived
        assert [n.payload for n in listener.notifies(timeout=0.5, stop_after=1)] == []


# --- the reader's own role ------------------------------------------------------------


def role_settings(url: str) -> list[tuple[str, list[str]]]:
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute(
            "SELECT coalesce(d.datname, ''), s.setconfig FROM pg_db_role_setting s LEFT JOIN pg_database d "
            "ON d.oid = s.setdatabase WHERE s.setrole = %s::regrole ORDER BY 1",
            [readonly.READER_ROLE],
        ).fetchall()


def test_coderows_repairs_a_tampered_reader_role(db_url: str) -> None:
    assert coderows("sql", "--database-url", db_url, "SELECT 1").returncode == 0  # creates the reader
    before = role_settings(db_url)
    dbname = conninfo_to_dict(db_url)["dbname"]
    with psycopg.connect(db_url, autocommit=True) as admin:  # what the EXPLAIN breach let a reader do
        admin.execute("ALTER ROLE coderows_reader SET idle_session_timeout = '1ms'")
        admin.execute("ALTER ROLE coderows_reader SET DateStyle = 'SQL, DMY'")
        admin.execute(sql.SQL("ALTER ROLE coderows_reader IN DATABASE {} SET transform_null_equals = on").format(sql.Identifier(dbname)))
    result = coderows("sql", "--database-url", db_url, SETTINGS_PROBE)
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.splitlines()[2].split() == ["10min", "32MB", "ISO,", "MDY", "off", "0"]
    assert role_settings(db_url) == before


def test_a_provided_reader_with_foreign_settings_is_refused_in_one_line(db_url: str) -> None:
    role = "coderows_attack_reader"
    with psycopg.connect(db_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
    try:
        with psycopg.connect(db_url, autocommit=True) as admin:
            admin.execute(sql.SQL("GRANT USAGE ON SCHEMA coderows TO {}").format(sql.Identifier(role)))
            admin.execute(sql.SQL("GRANT SELECT ON ALL TABLES IN SCHEMA coderows TO {}").format(sql.Identifier(role)))
        # A role may do this to itself: no privilege is needed.
        with psycopg.connect(make_conninfo(db_url, user=role), autocommit=True) as own:
            own.execute(sql.SQL("ALTER ROLE {} SET transform_null_equals = on").format(sql.Identifier(role)))
        result = coderows(
            "sql", "--database-url", db_url, "SELECT 1",
            env={readonly.READONLY_DATABASE_URL_ENV: make_conninfo(db_url, user=role)},
        )
        assert (result.returncode, result.stdout) == (1, "")
        assert result.stderr == (
            f"coderows: the read-only role {role} carries settings coderows did not give it (transform_null_equals=on); "
            f"repair it as a superuser: ALTER ROLE {role} RESET ALL (and ALTER ROLE {role} IN DATABASE <db> RESET ALL "
            "for each database named), then run coderows again, which sets its limits back\n"
        )
    finally:
        with psycopg.connect(db_url, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
            admin.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


# --- answers the size of what is received ---------------------------------------------

WIDE_NUMERIC_ARRAY = "SELECT ARRAY(SELECT 1e131071::numeric FROM generate_series(1, 1000))"


def test_coderows_sql_does_not_print_or_hold_a_value_far_larger_as_text_than_stored(db_url: str) -> None:
    # 12 KB by pg_column_size, 131 MB as text: the CLI printed all of it.
    measured = subprocess.run(
        ["/usr/bin/time", "-f", "maxrss_kb=%M", CODEROWS, "sql", "--database-url", db_url, WIDE_NUMERIC_ARRAY],
        capture_output=True, text=True, timeout=120, check=False,
        env={k: v for k, v in os.environ.items() if not k.startswith("CODEROWS_")},
    )
    note, rss = measured.stderr.splitlines()
    assert (measured.returncode, measured.stdout) == (0, "\n")
    assert note == "(cut after 0 rows: at most 10000 rows, 128 MB, 8 MB a row; add LIMIT / OFFSET or select fewer columns)"
    assert int(rss.removeprefix("maxrss_kb=")) < 150_000


def test_one_long_cell_does_not_pad_every_row_of_the_table(db_url: str) -> None:
    result = coderows(
        "sql", "--database-url", db_url,
        "SELECT CASE WHEN g = 1 THEN repeat('x', 100000) ELSE 'y' END AS a, g FROM generate_series(1, 3) g",
    )
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout == "a  g\n-  -\n" + "x" * 100000 + "  1\ny  2\ny  3\n(3 rows)\n"


def test_run_sql_sends_no_more_than_its_budget_of_text(target: Target) -> None:
    answer = mcp_run_sql(target.tools, WIDE_NUMERIC_ARRAY)
    assert answer.startswith("array\n(0 rows) [cut at")
    assert len(answer.encode()) < 1000


# --- one-line errors ------------------------------------------------------------------


def test_a_misspelt_keyword_is_a_syntax_error_not_a_refused_write(db_url: str) -> None:
    result = coderows("sql", "--database-url", db_url, "SELEC 1")
    assert (result.returncode, result.stderr) == (1, 'coderows: syntax error at or near "SELEC"\n')


def test_a_misspelt_keyword_through_run_sql_is_the_servers_syntax_error(target: Target) -> None:
    assert mcp_run_sql(target.tools, "SELEC 1") == 'Error executing tool run_sql: PostgreSQL: syntax error at or near "SELEC"'


@pytest.mark.skipif("external" not in BACKENDS, reason="needs a server reachable over TCP")
def test_the_reader_uses_the_database_the_main_connection_reached(database_factories: dict) -> None:
    # A URL without a database name: libpq defaults it to the user's name, which for the
    # reader is coderows_reader, a database that does not exist.
    factory = database_factories["external"]
    url = factory.create()
    dbname = conninfo_to_dict(url)["dbname"]
    try:
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute(sql.SQL("CREATE ROLE {} LOGIN SUPERUSER").format(sql.Identifier(dbname)))
        params = {**conninfo_to_dict(url), "user": dbname}
        params.pop("dbname")
        no_dbname = make_conninfo(**params)
        result = coderows("sql", "--database-url", no_dbname, "SELECT current_database() AS db, session_user AS u")
        assert (result.returncode, result.stderr) == (0, "")
        assert result.stdout.splitlines()[2].split() == [dbname, "coderows_reader"]
    finally:
        factory.drop(url)
        with psycopg.connect(factory.server_url, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(dbname)))
