"""run_sql and coderows sql against hostile input: every query is refused or harmless,
answers within its time limit, and leaves the database byte-for-byte as it was.

Typed queries run as the read-only login coderows_reader (coderows/db/readonly.py); these
tests pin that login down (who it is, what it may do, what a query leaves behind) and
throw at it every kind of write, DDL, escape and resource attack we know of.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from mcp.server.mcpserver.exceptions import ToolError
from psycopg import sql
from psycopg.conninfo import make_conninfo

from coderows.db import readonly
from coderows.db import sandbox as user_sql
from coderows.db.connection import connect
from coderows.indexer.load import REPO_LOCK_NAMESPACE
from coderows.indexer.pipeline import index_repository
from coderows.server.tools import Tools
from conftest import BACKENDS

# Hostile queries are stopped after this long here (5 s in production), to keep the suite
# quick; an answer must come within it plus a margin for a busy machine.
TEST_STATEMENT_TIMEOUT = "1s"
ANSWER_WITHIN_SECONDS = 4.0

CODEROWS = str(Path(sys.executable).with_name("coderows"))

REFUSED = "run_sql refused the query: only one read-only query is allowed"
ONE_STATEMENT = "run_sql refused the query: only one statement is allowed"
TIMED_OUT = "The query ran past its time limit and was cancelled"

# (case, query, what the answer contains): an error naming why, or a harmless answer;
# a tuple where PostgreSQL versions answer differently (either is right).
HOSTILE = [
    ('insert', "INSERT INTO repos (root, name) VALUES ('/evil', 'evil')", 'refused the query: only one read-only query is allowed'),
    ('update', "UPDATE modules SET source = ''", 'refused the query: only one read-only query is allowed'),
    ('delete', 'DELETE FROM definitions', 'refused the query: only one read-only query is allowed'),
    ('truncate', 'TRUNCATE repos CASCADE', 'refused the query: only one read-only query is allowed'),
    ('merge', "MERGE INTO repos r USING (SELECT 1) s ON false WHEN NOT MATCHED THEN INSERT (root, name) VALUES ('/m', 'm')", 'refused the query: only one read-only query is allowed'),
    ('drop-table', 'DROP TABLE modules', 'refused the query: only one read-only query is allowed'),
    ('drop-schema', 'DROP SCHEMA coderows CASCADE', 'refused the query: only one read-only query is allowed'),
    ('create-table', 'CREATE TABLE coderows.evil (x int)', 'refused the query: only one read-only query is allowed'),
    ('create-temp-table', 'CREATE TEMP TABLE evil AS SELECT 1', 'refused the query: only one read-only query is allowed'),
    ('alter-table', 'ALTER TABLE repos ADD COLUMN evil int', 'refused the query: only one read-only query is allowed'),
    ('create-role', 'CREATE ROLE evil SUPERUSER LOGIN', 'refused the query: only one read-only query is allowed'),
    ('alter-own-role', 'ALTER ROLE coderows_reader SUPERUSER', 'refused the query: only one read-only query is allowed'),
    ('grant', 'GRANT ALL ON ALL TABLES IN SCHEMA coderows TO PUBLIC', 'refused the query: only one read-only query is allowed'),
    ('create-function', "CREATE FUNCTION coderows.evil() RETURNS int LANGUAGE sql AS 'SELECT 1'", 'refused the query: only one read-only query is allowed'),
    ('create-extension', 'CREATE EXTENSION dblink', 'refused the query: only one read-only query is allowed'),
    ('vacuum-full', 'VACUUM FULL modules', 'refused the query: only one read-only query is allowed'),
    ('create-database', 'CREATE DATABASE evil', 'refused the query: only one read-only query is allowed'),
    ('comment-on', "COMMENT ON TABLE repos IS 'pwned'", 'refused the query: only one read-only query is allowed'),
    ('select-into', 'SELECT * INTO evil FROM repos', 'PostgreSQL: SELECT ... INTO is not allowed here'),
    ('lock-table', 'LOCK TABLE repos IN ACCESS EXCLUSIVE MODE', 'refused the query: only one read-only query is allowed'),
    ('second-statement', 'SELECT 1; DELETE FROM repos', 'refused the query: only one statement is allowed'),
    ('commit-then-write', 'SELECT 1; COMMIT; DELETE FROM repos', 'refused the query: only one statement is allowed'),
    ('close-the-wrapper', 'SELECT 1) AS agent_query; DELETE FROM repos; SELECT * FROM (SELECT 1', 'refused the query: only one statement is allowed'),
    ('explain-then-write', 'EXPLAIN SELECT 1; DELETE FROM repos', 'refused the query: only one statement is allowed'),
    ('explain-analyze-delete', 'EXPLAIN ANALYZE DELETE FROM repos', 'PostgreSQL: cannot execute DELETE in a read-only transaction'),
    ('explain-analyze-writable-cte', 'EXPLAIN (ANALYZE) WITH gone AS (DELETE FROM repos RETURNING 1) SELECT * FROM gone', 'in a read-only transaction'),
    ('table-then-truncate', 'TABLE repos; TRUNCATE repos', 'refused the query: only one statement is allowed'),
    ('cte-delete', 'WITH gone AS (DELETE FROM repos RETURNING *) SELECT * FROM gone', 'PostgreSQL: WITH clause containing a data-modifying statement must be at the top level'),
    ('cte-update', "WITH x AS (UPDATE modules SET source = '' RETURNING id) SELECT count(*) FROM x", 'PostgreSQL: WITH clause containing a data-modifying statement must be at the top level'),
    ('cte-insert', "WITH x AS (INSERT INTO repos (root, name) VALUES ('/w', 'w') RETURNING id) SELECT * FROM x", 'PostgreSQL: WITH clause containing a data-modifying statement must be at the top level'),
    ('with-then-delete', 'WITH x AS (SELECT 1) DELETE FROM repos', 'PostgreSQL: syntax error at or near "DELETE"'),
    ('for-update', 'SELECT * FROM repos FOR UPDATE', 'PostgreSQL: cannot execute SELECT FOR UPDATE in a read-only transaction'),
    ('for-share-nowait', 'SELECT path FROM files FOR SHARE NOWAIT', 'PostgreSQL: cannot execute SELECT FOR SHARE in a read-only transaction'),
    ('for-no-key-update-in-subquery', 'SELECT * FROM (SELECT id FROM repos FOR NO KEY UPDATE) r', 'PostgreSQL: cannot execute SELECT FOR NO KEY UPDATE in a read-only transaction'),
    ('copy-to-program', "COPY repos TO PROGRAM 'touch /tmp/coderows-pwned'", 'refused the query: only one read-only query is allowed'),
    ('copy-to-file', "COPY (SELECT 1) TO '/tmp/coderows-pwned'", 'refused the query: only one read-only query is allowed'),
    ('copy-from-program', "COPY repos FROM PROGRAM 'id'", 'refused the query: only one read-only query is allowed'),
    ('pg-read-file', "SELECT pg_read_file('/etc/passwd')", 'PostgreSQL: permission denied for function pg_read_file'),
    ('pg-read-binary-file', "SELECT pg_read_binary_file('postgresql.conf')", 'PostgreSQL: permission denied for function pg_read_binary_file'),
    ('pg-ls-dir', "SELECT pg_ls_dir('.')", 'PostgreSQL: permission denied for function pg_ls_dir'),
    ('pg-stat-file', "SELECT pg_stat_file('postgresql.conf')", 'PostgreSQL: permission denied for function pg_stat_file'),
    ('pg-ls-waldir', 'SELECT * FROM pg_ls_waldir()', 'PostgreSQL: permission denied for function pg_ls_waldir'),
    ('pg-current-logfile', 'SELECT pg_current_logfile()', 'PostgreSQL: permission denied for function pg_current_logfile'),
    ('lo-import', "SELECT lo_import('/etc/passwd')", 'PostgreSQL: permission denied for function lo_import'),
    ('lo-export', "SELECT lo_export(1, '/tmp/coderows-pwned')", 'PostgreSQL: permission denied for function lo_export'),
    # PostgreSQL 15 lets a read-only transaction create a large object (rolled back with
    # it); 16 and later refuse.
    ('lo-create', 'SELECT lo_create(0)', ('lo_create\n', 'cannot execute lo_create() in a read-only transaction')),
    ('lo-from-bytea', "SELECT lo_from_bytea(0, 'x')", ('lo_from_bytea\n', 'cannot execute lo_from_bytea() in a read-only transaction')),
    ('data-directory-setting', "SELECT current_setting('data_directory')", 'to examine "data_directory"'),
    ('pg-authid', 'SELECT rolname, rolpassword FROM pg_authid', 'PostgreSQL: permission denied for table pg_authid'),
    ('set-config-role', "SELECT set_config('role', 'postgres', false)", 'PostgreSQL: permission denied to set role "postgres"'),
    ('set-config-session-authorization', "SELECT set_config('session_authorization', 'postgres', false)", 'PostgreSQL: permission denied to set session authorization "postgres"'),
    ('set-role', 'SET ROLE postgres', 'refused the query: only one read-only query is allowed'),
    ('reset-role', 'RESET ROLE', 'refused the query: only one read-only query is allowed'),
    ('set-session-authorization', 'SET SESSION AUTHORIZATION postgres', 'refused the query: only one read-only query is allowed'),
    ('read-write-transaction', "SELECT set_config('transaction_read_only', 'off', true)", 'PostgreSQL: transaction read-write mode must be set before any query'),
    ('default-read-write', "SELECT set_config('default_transaction_read_only', 'off', false)", 'set_config\noff\n(1 row)'),
    ('no-statement-timeout-then-sleep', "SELECT set_config('statement_timeout', '0', false), pg_sleep(30)", 'ran past its time limit'),
    ('terminate-others', "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND datname = current_database()", ('pg_terminate_backend\n', 'permission denied to terminate process', 'must be a superuser to terminate superuser process')),
    ('cancel-others', "SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND datname = current_database()", ('pg_cancel_backend\n', 'permission denied to cancel query', 'must be a superuser to cancel superuser query')),
    ('terminate-self', 'SELECT pg_terminate_backend(pg_backend_pid())', 'lost the connection to PostgreSQL'),
    ('reload-conf', 'SELECT pg_reload_conf()', 'PostgreSQL: permission denied for function pg_reload_conf'),
    ('rotate-logfile', 'SELECT pg_rotate_logfile()', 'PostgreSQL: permission denied for function pg_rotate_logfile'),
    ('switch-wal', 'SELECT pg_switch_wal()', 'PostgreSQL: permission denied for function pg_switch_wal'),
    ('stat-reset', 'SELECT pg_stat_reset()', 'PostgreSQL: permission denied for function pg_stat_reset'),
    ('nextval', "SELECT nextval('modules_id_seq')", 'PostgreSQL: permission denied for sequence modules_id_seq'),
    ('setval', "SELECT setval('modules_id_seq', 1)", 'PostgreSQL: permission denied for sequence modules_id_seq'),
    ('notify', 'SELECT pg_notify(\'coderows_changes\', \'{"repo_id": 1}\')', 'pg_notify\n\n(1 row)'),
    ('listen', 'LISTEN coderows_changes', 'refused the query: only one read-only query is allowed'),
    ('advisory-lock', 'SELECT pg_advisory_lock(99)', 'pg_advisory_lock\n\n(1 row)'),
    ('advisory-lock-on-repos', 'SELECT pg_advisory_lock(25458, id::int) FROM repos', 'pg_advisory_lock\n\n(1 row)'),
    ('advisory-xact-lock', 'SELECT pg_advisory_xact_lock(99)', 'pg_advisory_xact_lock\n\n(1 row)'),
    ('pg-sleep', 'SELECT pg_sleep(60)', 'ran past its time limit'),
    ('pg-sleep-for', "SELECT pg_sleep_for('1 hour')", 'ran past its time limit'),
    ('sleep-per-row', 'SELECT pg_sleep(1) FROM generate_series(1, 100)', 'ran past its time limit'),
    ('cross-join-count', 'SELECT count(*) FROM generate_series(1, 100000) a, generate_series(1, 100000) b', 'ran past its time limit'),
    # 25M rows to sort: stopped by the time limit, or by temp_file_limit when it spills first
    # (9M rows once sorted within the 5 s on a quiet machine). PostgreSQL 16 and later quote
    # the setting's name in that message, 15 does not.
    ('cross-join-sorted', 'SELECT a.g, b.g FROM generate_series(1, 5000) a(g), generate_series(1, 5000) b(g) ORDER BY random()', ('ran past its time limit', 'temporary file size exceeds')),
    ('cross-join-rows', 'SELECT * FROM generate_series(1, 100000) a, generate_series(1, 100000) b', '(100 rows) [cut at limit=100'),
    ('huge-values', "SELECT repeat('x', 10000000) FROM generate_series(1, 1000)", '(0 rows) [cut at'),
    # Stopped by the time limit or by PostgreSQL's 1 GB limit on one value, whichever first.
    ('huge-aggregate', "SELECT length(string_agg(repeat('x', 1000000), '')) FROM generate_series(1, 3000)", ('ran past its time limit', 'Cannot enlarge string buffer')),
    # generate_series keeps its rows in a tuplestore that spills to disk: on a fast machine
    # its 256 MB temp_file_limit is reached before the 5 s are up.
    ('huge-array', 'SELECT cardinality(array_agg(g)) FROM generate_series(1, 300000000) g', ('ran past its time limit', 'temporary file size exceeds')),
    ('endless-recursion', 'WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT count(*) FROM r', 'ran past its time limit'),
    ('modules-cubed', 'SELECT md5(a.source || b.source || c.source) FROM modules a, modules b, modules c, generate_series(1, 1000) ORDER BY 1', '[cut at limit=100'),
    ('do-block', 'DO $$BEGIN DELETE FROM coderows.repos; END$$', 'refused the query: only one read-only query is allowed'),
    ('select-then-do', 'SELECT 1; DO $$BEGIN DELETE FROM coderows.repos; END$$', 'refused the query: only one statement is allowed'),
    ('query-to-xml-delete', "SELECT query_to_xml('DELETE FROM coderows.repos RETURNING 1', false, false, '')", 'PostgreSQL: DELETE is not allowed in a non-volatile function'),
    ('query-to-xml-set-role', "SELECT query_to_xml('SELECT set_config(''role'', ''postgres'', false)', false, false, '')", 'PostgreSQL: permission denied to set role "postgres"'),
    ('dblink', "SELECT * FROM dblink('dbname=postgres', 'DROP TABLE coderows.repos') AS t(x text)", 'PostgreSQL: function dblink(unknown, unknown) does not exist'),
    ('comment-hides-keyword', '/* SELECT */ DELETE FROM repos', 'refused the query: only one read-only query is allowed'),
    ('line-comment-hides-keyword', '-- SELECT\nDELETE FROM repos', 'refused the query: only one read-only query is allowed'),
    ('parenthesised-delete', '(DELETE FROM repos)', 'refused the query: only one read-only query is allowed'),
    ('comment-closes-wrapper', 'SELECT 1 -- ) AS agent_query; DELETE FROM repos; --', '?column?\n1\n(1 row)'),
    ('dollar-quote', 'SELECT $$ ) AS x; DELETE FROM repos; -- $$', '?column?\n ) AS x; DELETE FROM repos; -- \n(1 row)'),
    ('escaped-quote', "SELECT 'a'';DELETE FROM repos;--'", "?column?\na';DELETE FROM repos;--\n(1 row)"),
    ('comments-around-semicolon', 'SELECT 1 /* */; /* */ DELETE FROM repos', 'refused the query: only one statement is allowed'),
    ('nested-comment', 'SELECT 1 /* /* */ ; DELETE FROM repos; */', '?column?\n1\n(1 row)'),
    ('quoted-keyword', '"select" * FROM repos', 'refused the query: only one read-only query is allowed'),
    ('unicode-escape-keyword', 'U&"\\0053ELECT" 1', 'refused the query: only one read-only query is allowed'),
    ('values-closing-wrapper', 'VALUES (1)) AS q; DROP TABLE repos; SELECT * FROM (VALUES (1)', 'refused the query: only one statement is allowed'),
    ('declare-cursor-with-hold', 'DECLARE c CURSOR WITH HOLD FOR SELECT * FROM repos', 'refused the query: only one read-only query is allowed'),
    ('prepare', 'PREPARE evil AS DELETE FROM repos', 'refused the query: only one read-only query is allowed'),
]


@dataclass
class Sandbox:
    url: str
    tools: Tools
    baseline: str


def corpus(root: Path) -> Path:
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "__init__.py").write_text("", encoding="utf-8")
    (root / "pkg" / "mod.py").write_text(
        "def f():\n    return 1\n\n\nclass C:\n    def m(self):\n        pass\n", encoding="utf-8"
    )
    return root.resolve()


@pytest.fixture(scope="module", params=BACKENDS)
def sandbox(
    request: pytest.FixtureRequest, database_factories: dict, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Sandbox]:
    """An indexed database, the tools serving it, and its digest before any attack."""
    factory = database_factories[request.param]
    url = factory.create()
    with connect(url, autocommit=True) as conn:
        index_repository(conn, corpus(tmp_path_factory.mktemp("sandbox")), jobs=1)
    tools = Tools(url)
    tools.run_sql("SELECT 1")  # creates and grants the reader before the baseline is taken
    yield Sandbox(url, tools, digest(url))
    tools.close()
    factory.drop(url)


@pytest.fixture(autouse=True)
def quick_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(user_sql, "SQL_STATEMENT_TIMEOUT", TEST_STATEMENT_TIMEOUT)


def digest(url: str) -> str:
    """Every coderows table's rows, plus the catalog facts a query could have changed:
    roles that matter, schemas, relations and their grants, function grants, large
    objects, comments, the sequence, database and role settings."""
    with psycopg.connect(url, autocommit=True) as conn:
        tables = [row[0] for row in conn.execute(
            "SELECT relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'coderows' AND c.relkind = 'r' ORDER BY relname"
        )]
        parts = [f"tables {tables}"]
        for table in tables:
            row = conn.execute(
                sql.SQL("SELECT md5(coalesce(string_agg(t::text, E'\\n' ORDER BY t::text), '')) FROM {} t").format(
                    sql.Identifier("coderows", table)
                )
            ).fetchone()
            parts.append(f"{table} {row[0] if row else None}")
        for fact in (
            "SELECT rolname, rolsuper, rolcreaterole, rolcreatedb, rolcanlogin, rolbypassrls FROM pg_roles "
            "WHERE rolname = 'coderows_reader' OR rolname LIKE 'evil%' OR rolsuper ORDER BY rolname",
            "SELECT r.rolname, m.rolname FROM pg_auth_members a JOIN pg_roles r ON r.oid = a.roleid "
            "JOIN pg_roles m ON m.oid = a.member WHERE m.rolname = 'coderows_reader' ORDER BY 1",
            "SELECT setrole::regrole::text, setconfig FROM pg_db_role_setting "
            "WHERE setrole IN (SELECT oid FROM pg_roles WHERE rolname = 'coderows_reader') ORDER BY 1",
            "SELECT nspname, nspacl::text FROM pg_namespace ORDER BY nspname",
            "SELECT n.nspname, c.relname, c.relkind, c.relacl::text FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname NOT LIKE 'pg_toast%' "
            "AND n.nspname NOT LIKE 'pg_temp%' ORDER BY 1, 2",
            "SELECT p.oid::regprocedure::text, p.proacl::text FROM pg_proc p ORDER BY 1",
            "SELECT oid FROM pg_largeobject_metadata ORDER BY oid",
            "SELECT classoid::regclass::text, objoid, objsubid, description FROM pg_description "
            "WHERE objoid >= 16384 ORDER BY 1, 2, 3",
            "SELECT extname, extversion FROM pg_extension ORDER BY 1",
            "SELECT datname, datacl::text FROM pg_database WHERE datname = current_database()",
            "SELECT last_value, is_called FROM coderows.modules_id_seq",
        ):
            parts.append(repr(conn.execute(fact).fetchall()))
    return "\n".join(parts)


def answer(tools: Tools, text: str) -> tuple[str, float]:
    """The tool's text (an error's message included) and how long it took."""
    started = time.monotonic()
    try:
        result = tools.run_sql(text)
    except ToolError as error:
        result = str(error)
    return result, time.monotonic() - started


# --- the hostile suite ----------------------------------------------------------------


@pytest.mark.parametrize(("case", "text", "expected"), HOSTILE, ids=[case for case, _, _ in HOSTILE])
def test_hostile_query_is_refused_or_harmless_in_time_and_changes_nothing(
    sandbox: Sandbox, case: str, text: str, expected: str | tuple[str, ...]
) -> None:
    result, seconds = answer(sandbox.tools, text)
    assert any(one in result for one in ((expected,) if isinstance(expected, str) else expected)), result
    assert seconds < ANSWER_WITHIN_SECONDS
    assert digest(sandbox.url) == sandbox.baseline


def test_the_hostile_suite_has_at_least_fifty_cases() -> None:
    assert len(HOSTILE) >= 50


# --- who the queries run as -----------------------------------------------------------


def test_queries_run_as_the_reader_login(sandbox: Sandbox) -> None:
    assert sandbox.tools.run_sql("SELECT session_user, current_user") == (
        "session_user | current_user\ncoderows_reader | coderows_reader\n(1 row)"
    )


def test_the_reader_is_no_superuser_and_a_member_of_no_role(sandbox: Sandbox) -> None:
    with psycopg.connect(sandbox.url) as conn:
        role = conn.execute(
            "SELECT rolsuper, rolcreaterole, rolcreatedb, rolinherit, rolcanlogin, "
            "(SELECT count(*) FROM pg_auth_members WHERE member = r.oid) FROM pg_roles r WHERE rolname = %s",
            [readonly.READER_ROLE],
        ).fetchone()
    assert role == (False, False, False, False, True, 0)


def test_the_reader_may_only_select_the_coderows_tables(sandbox: Sandbox) -> None:
    with psycopg.connect(sandbox.url) as conn:
        grants = conn.execute(
            "SELECT DISTINCT table_schema, privilege_type FROM information_schema.role_table_grants "
            "WHERE grantee = %s AND table_catalog = current_database()",
            [readonly.READER_ROLE],
        ).fetchall()
        schema_create = conn.execute("SELECT has_schema_privilege(%s, 'coderows', 'CREATE')", [readonly.READER_ROLE]).fetchone()
    assert grants == [("coderows", "SELECT")]
    assert schema_create == (False,)


def test_the_reader_role_carries_its_limits_as_defaults(sandbox: Sandbox) -> None:
    assert sandbox.tools.run_sql(
        "SELECT current_setting('default_transaction_read_only') AS ro, current_setting('temp_file_limit') AS temp"
    ) == "ro | temp\non | 256MB\n(1 row)"


def test_each_query_gets_the_work_mem_and_lock_timeout_caps(sandbox: Sandbox) -> None:
    assert sandbox.tools.run_sql(
        "SELECT current_setting('work_mem') AS work_mem, current_setting('lock_timeout') AS lock_timeout"
    ) == "work_mem | lock_timeout\n32MB | 1s\n(1 row)"


# --- what a query leaves behind -------------------------------------------------------


def test_a_session_advisory_lock_taken_by_a_query_does_not_block_the_indexer(sandbox: Sandbox) -> None:
    sandbox.tools.run_sql(f"SELECT pg_advisory_lock({REPO_LOCK_NAMESPACE}, id::int) FROM repos")
    with psycopg.connect(sandbox.url) as conn:
        taken = conn.execute(
            "SELECT bool_and(pg_try_advisory_xact_lock(%s, id::int)) FROM coderows.repos", [REPO_LOCK_NAMESPACE]
        ).fetchone()
    assert taken == (True,)


def test_a_setting_changed_by_a_query_does_not_outlive_it(sandbox: Sandbox) -> None:
    sandbox.tools.run_sql("SELECT set_config('work_mem', '1GB', false), set_config('search_path', 'public', false)")
    assert sandbox.tools.run_sql("SELECT current_setting('work_mem') AS w, count(*) FROM repos") == "w | count\n32MB | 1\n(1 row)"


# --- caps on the answer ---------------------------------------------------------------


@pytest.fixture
def reader(sandbox: Sandbox) -> Iterator[psycopg.Connection]:
    with psycopg.connect(sandbox.url, autocommit=True) as main:
        url = readonly.prepare_reader(sandbox.url, main)
    with readonly.connect_reader(url) as conn:
        yield conn


def test_rows_stop_at_the_byte_budget(reader: psycopg.Connection) -> None:
    # Each row costs 168 bytes: its 40 characters as text, plus 64 for the cell and 64 for the row.
    columns, rows, more = user_sql.run_readonly(
        reader, "SELECT repeat('x', 40) AS x FROM generate_series(1, 100)", 1000, max_bytes=1600
    )
    assert (columns, len(rows), more) == (["x"], 9, True)


def test_a_row_larger_than_the_budget_is_not_sent(reader: psycopg.Connection) -> None:
    started = time.monotonic()
    columns, rows, more = user_sql.run_readonly(reader, "SELECT repeat('x', 20000000) AS x", 100, max_bytes=1_000_000)
    assert (columns, rows, more) == (["x"], [], True)
    assert time.monotonic() - started < ANSWER_WITHIN_SECONDS


def test_a_query_longer_than_the_cap_is_refused(reader: psycopg.Connection) -> None:
    with pytest.raises(user_sql.RejectedQuery, match="longer than 100000 characters"):
        user_sql.run_readonly(reader, "SELECT 1 -- " + "x" * user_sql.SQL_MAX_QUERY_CHARS, 10)


# --- configuration: the read-only URL, and no reader at all --------------------------


@pytest.fixture
def scratch_role(db_url: str) -> Iterator[str]:
    """A login role of the test's own, dropped afterwards with whatever it was granted."""
    name = f"coderows_test_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(name)))
    yield name
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(name)))
        conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(name)))


def test_a_superuser_readonly_url_is_refused(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(readonly.READONLY_DATABASE_URL_ENV, db_url)
    tools = Tools(db_url)
    try:
        result, _ = answer(tools, "SELECT 1")
    finally:
        tools.close()
    assert result == (
        "run_sql is not available: refusing to run typed SQL as postgres: postgres is a superuser; "
        "CODEROWS_READONLY_DATABASE_URL must name a login that can only SELECT the coderows schema."
    )


def test_the_readonly_url_is_used_when_set(db_url: str, scratch_role: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(sql.SQL("GRANT USAGE ON SCHEMA coderows TO {}").format(sql.Identifier(scratch_role)))
        conn.execute(sql.SQL("GRANT SELECT ON ALL TABLES IN SCHEMA coderows TO {}").format(sql.Identifier(scratch_role)))
    monkeypatch.setenv(readonly.READONLY_DATABASE_URL_ENV, make_conninfo(db_url, user=scratch_role))
    tools = Tools(db_url)
    try:
        result = tools.run_sql("SELECT session_user = %s AS mine, count(*) FROM repos".replace("%s", f"'{scratch_role}'"))
    finally:
        tools.close()
    assert result == "mine | count\nTrue | 0\n(1 row)"


def test_a_readonly_url_that_may_write_is_refused(db_url: str, scratch_role: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(sql.SQL("GRANT USAGE ON SCHEMA coderows TO {}").format(sql.Identifier(scratch_role)))
        conn.execute(sql.SQL("GRANT SELECT, DELETE ON coderows.repos TO {}").format(sql.Identifier(scratch_role)))
    monkeypatch.setenv(readonly.READONLY_DATABASE_URL_ENV, make_conninfo(db_url, user=scratch_role))
    tools = Tools(db_url)
    try:
        result, _ = answer(tools, "SELECT 1")
    finally:
        tools.close()
    assert result == (
        f"run_sql is not available: refusing to run typed SQL as {scratch_role}: {scratch_role} may write to "
        "tables of schema coderows; CODEROWS_READONLY_DATABASE_URL must name a login that can only SELECT "
        "the coderows schema."
    )


def test_without_a_reader_and_the_right_to_create_one_typed_sql_is_refused(db_url: str, scratch_role: str) -> None:
    # scratch_role may log in but not create roles; the reader it asks for does not exist.
    absent = f"{scratch_role}_reader"
    with psycopg.connect(make_conninfo(db_url, user=scratch_role), autocommit=True) as conn:
        with pytest.raises(readonly.ReaderUnavailable) as refused:
            readonly.prepare_reader(db_url, conn, role=absent)
    assert str(refused.value) == (
        f"the read-only role {absent} does not exist and {scratch_role} may not create it; create it as a "
        f"superuser (CREATE ROLE {absent} LOGIN; GRANT USAGE ON SCHEMA coderows TO {absent}; GRANT SELECT ON "
        f"ALL TABLES IN SCHEMA coderows TO {absent}), grant CREATEROLE to the coderows user, or set "
        "CODEROWS_READONLY_DATABASE_URL to a login that can only SELECT the coderows schema"
    )


def test_a_createrole_user_creates_the_reader_without_the_superuser_only_limit(db_url: str, scratch_role: str) -> None:
    # scratch_role: CREATEROLE, not superuser, may pass on SELECT; temp_file_limit is left unset.
    reader_role = f"{scratch_role}_reader"
    with psycopg.connect(db_url, autocommit=True) as admin:
        admin.execute(sql.SQL("ALTER ROLE {} CREATEROLE").format(sql.Identifier(scratch_role)))
        admin.execute(sql.SQL("GRANT USAGE ON SCHEMA coderows TO {} WITH GRANT OPTION").format(sql.Identifier(scratch_role)))
        admin.execute(
            sql.SQL("GRANT SELECT ON ALL TABLES IN SCHEMA coderows TO {} WITH GRANT OPTION").format(sql.Identifier(scratch_role))
        )
    try:
        with psycopg.connect(make_conninfo(db_url, user=scratch_role), autocommit=True) as conn:
            url = readonly.prepare_reader(make_conninfo(db_url, user=scratch_role), conn, role=reader_role)
        with readonly.connect_reader(url) as reader:
            settings = reader.execute(
                "SELECT session_user::text, current_setting('statement_timeout'), current_setting('temp_file_limit'), "
                "(SELECT count(*) FROM repos)"
            ).fetchone()
        assert settings == (reader_role, "5s", "-1", 0)
    finally:
        with psycopg.connect(db_url, autocommit=True) as admin:
            # Its grants came from scratch_role: dropping what both hold revokes them in cascade.
            admin.execute(sql.SQL("DROP OWNED BY {}, {}").format(sql.Identifier(scratch_role), sql.Identifier(reader_role)))
            admin.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(reader_role)))


def test_a_table_added_later_is_granted_to_the_reader(db_url: str) -> None:
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE coderows.added_later (x int)")
    tools = Tools(db_url)
    try:
        assert tools.run_sql("SELECT count(*) FROM added_later") == "count\n0\n(1 row)"
    finally:
        tools.close()


# --- coderows sql ---------------------------------------------------------------------


def coderows(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("CODEROWS_")}
    return subprocess.run([CODEROWS, *args], capture_output=True, text=True, env={**base, **(env or {})}, timeout=60)


def test_coderows_sql_runs_as_the_reader(db_url: str) -> None:
    result = coderows("sql", "--database-url", db_url, "SELECT session_user")
    assert (result.returncode, result.stdout) == (0, "coderows_reader\n")


def test_coderows_sql_refuses_a_superuser_readonly_url(db_url: str) -> None:
    result = coderows("sql", "--database-url", db_url, "SELECT 1", env={readonly.READONLY_DATABASE_URL_ENV: db_url})
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == (
        "coderows: refusing to run typed SQL as postgres: postgres is a superuser; "
        "CODEROWS_READONLY_DATABASE_URL must name a login that can only SELECT the coderows schema\n"
    )


def test_coderows_sql_prints_a_value_as_large_as_the_biggest_indexed_file(db_url: str) -> None:
    # Files up to 5 MB are indexed by default; one row of `coderows sql` may hold 8 MB.
    result = coderows("sql", "--database-url", db_url, "SELECT repeat('x', 6000000) AS source")
    assert (result.returncode, len(result.stdout), result.stderr) == (0, 6_000_001, "")


def test_coderows_sql_says_when_rows_were_cut_at_its_byte_budget(db_url: str) -> None:
    result = coderows("sql", "--database-url", db_url, "SELECT repeat('x', 10000000) AS x")
    assert (result.returncode, result.stdout) == (0, "\n")
    assert result.stderr == (
        "(cut after 0 rows: at most 10000 rows, 128 MB, 8 MB a row; add LIMIT / OFFSET or select fewer columns)\n"
    )
