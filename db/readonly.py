"""The read-only login that `run_sql` and `coderows sql` run agents' and users' queries as.

A READ ONLY transaction alone is not a sandbox: a superuser session can still read server
files, start programs (COPY ... PROGRAM), signal other backends, or undo a SET ROLE with
RESET ROLE / set_config('role', 'none', ...). So typed queries run in a session whose
*session user* is the role `coderows_reader`: it can log in, USAGE the coderows schema and
SELECT its tables and views, and nothing else (no superuser, no membership in any role),
so there is no role to escape to.

Where the reader's URL comes from:
- CODEROWS_READONLY_DATABASE_URL, when set (a DBA-provided read-only login);
- otherwise the main URL with user=coderows_reader and no password. coderows creates the
  role when it is missing and the main user may (superuser or CREATEROLE; always on the
  embedded server) and grants it SELECT on every coderows table it lacks.
Every reader connection is checked before use (verify_reader): a login that turns out to
be a superuser, able to write, or a member of another role is refused. When no reader can
be had, run_sql and coderows sql refuse with a message saying how to fix it; they never
fall back to running the query as the main user.
"""

from __future__ import annotations

import os

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from coderows.db.connection import SCHEMA_LOCK_KEY, SEARCH_PATH_OPTION, DatabaseError, first_line, redact

READER_ROLE = "coderows_reader"
READONLY_DATABASE_URL_ENV = "CODEROWS_READONLY_DATABASE_URL"
SCHEMA = "coderows"

# Per-role defaults, so that a reader session is bounded even before run_readonly sets
# its own per-transaction limits (and when someone uses the reader URL with psql).
# temp_file_limit may only be set by a superuser: skipped when the main user cannot.
READER_SETTINGS: dict[str, str] = {
    "default_transaction_read_only": "on",
    "statement_timeout": "5s",
    "lock_timeout": "1s",
    "idle_in_transaction_session_timeout": "10s",
    "idle_session_timeout": "10min",
    "work_mem": "32MB",
    "temp_file_limit": "256MB",
}

# Built-in roles that read or write beyond the index, run programs or signal backends.
_DANGEROUS_BUILTIN_ROLES = (
    "pg_read_all_data",
    "pg_write_all_data",
    "pg_read_server_files",
    "pg_write_server_files",
    "pg_execute_server_program",
    "pg_signal_backend",
    "pg_read_all_settings",
    "pg_read_all_stats",
    "pg_monitor",
)


class ReaderUnavailable(DatabaseError):
    """No read-only login can be had for typed queries; the message says how to fix it."""


def configured_reader_url() -> str | None:
    return os.environ.get(READONLY_DATABASE_URL_ENV) or None


def reader_url_for(main_url: str, role: str = READER_ROLE) -> str:
    """The main URL logging in as `role` instead, without the main user's password."""
    params = conninfo_to_dict(main_url)
    params.pop("password", None)
    params["user"] = role
    return make_conninfo(**params)


def prepare_reader(main_url: str, main_conn: psycopg.Connection, role: str = READER_ROLE) -> str:
    """The URL to run typed queries with: CODEROWS_READONLY_DATABASE_URL, else the
    coderows_reader login on the main server, created and granted here if need be."""
    configured = configured_reader_url()
    if configured:
        return configured
    try:
        ensure_reader_role(main_conn, role)
    except psycopg.Error as error:
        raise ReaderUnavailable(
            f"cannot set up the read-only role {role} as {redact(main_url)}: {first_line(error)}; "
            f"{_how_to_fix(role)}"
        ) from error
    return reader_url_for(main_url, role)


def ensure_reader_role(conn: psycopg.Connection, role: str = READER_ROLE) -> None:
    """Create `role` if missing (when allowed) and grant it what it lacks: USAGE on the
    coderows schema and SELECT on each of its tables and views. Grants are checked first
    and only the missing ones made, because concurrent GRANTs on one object fail with
    'tuple concurrently updated'; the schema lock serialises processes in one database."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", [SCHEMA_LOCK_KEY])
        if not _role_exists(conn, role):
            _create_role(conn, role)
        _grant_missing(conn, role)


def _role_exists(conn: psycopg.Connection, role: str) -> bool:
    return conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role]).fetchone() is not None


def _create_role(conn: psycopg.Connection, role: str) -> None:
    row = conn.execute("SELECT rolsuper, rolcreaterole FROM pg_roles WHERE rolname = current_user").fetchone()
    is_super, can_create = bool(row and row[0]), bool(row and row[1])
    if not (is_super or can_create):
        raise ReaderUnavailable(f"the read-only role {role} does not exist and {_current_user(conn)} may not create it; {_how_to_fix(role)}")
    try:
        # A savepoint: another process (maybe on another database of this cluster, which
        # our advisory lock does not cover) may create the role at the same moment.
        with conn.transaction():
            conn.execute(
                sql.SQL(
                    "CREATE ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT NOREPLICATION NOBYPASSRLS"
                ).format(sql.Identifier(role))
            )
    except (psycopg.errors.DuplicateObject, psycopg.errors.UniqueViolation):
        return  # created by the other process, which also sets its defaults
    for name, value in READER_SETTINGS.items():
        try:
            # One savepoint each: temp_file_limit needs a superuser (or, from PostgreSQL 15,
            # GRANT SET ON PARAMETER), and an older server may lack a setting; the rest stand.
            with conn.transaction():
                conn.execute(
                    sql.SQL("ALTER ROLE {} SET {} = {}").format(
                        sql.Identifier(role), sql.Identifier(name), sql.Literal(value)
                    )
                )
        except (psycopg.errors.InsufficientPrivilege, psycopg.errors.UndefinedObject):
            continue


def _grant_missing(conn: psycopg.Connection, role: str) -> None:
    row = conn.execute("SELECT has_schema_privilege(%s, %s, 'USAGE')", [role, SCHEMA]).fetchone()
    if not (row and row[0]):
        conn.execute(sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(sql.Identifier(SCHEMA), sql.Identifier(role)))
    missing = conn.execute(
        """
        SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = %s AND c.relkind IN ('r', 'p', 'v', 'm')
          AND NOT has_table_privilege(%s, c.oid, 'SELECT')
        ORDER BY c.relname
        """,
        [SCHEMA, role],
    ).fetchall()
    for (table,) in missing:
        conn.execute(
            sql.SQL("GRANT SELECT ON {} TO {}").format(sql.Identifier(SCHEMA, table), sql.Identifier(role))
        )


def connect_reader(url: str, *, connect_timeout: int = 5) -> psycopg.Connection:
    """An autocommit reader session (search_path = coderows), verified to be read-only."""
    try:
        # No automatic server-side prepares: pooled sessions are reset with DISCARD ALL.
        conn = psycopg.connect(
            url, autocommit=True, options=SEARCH_PATH_OPTION, connect_timeout=connect_timeout, prepare_threshold=None
        )
    except psycopg.OperationalError as error:
        message = first_line(error)
        if "authentication" in message or "password" in message:
            raise ReaderUnavailable(
                f"the read-only login {redact(url)} was refused: {message}; give it a password and set "
                f"{READONLY_DATABASE_URL_ENV} to a URL holding it (or add it to ~/.pgpass)"
            ) from error
        raise DatabaseError(f"cannot connect to PostgreSQL at {redact(url)}: {message}") from error
    try:
        verify_reader(conn)
    except BaseException:
        conn.close()
        raise
    return conn


def verify_reader(conn: psycopg.Connection) -> None:
    """Refuse a session that could change anything: its session user, or any role it may
    become, is a superuser, may create roles or databases, holds a dangerous built-in
    role, owns or may create in the coderows schema, or may write to any of its tables."""
    problem = conn.execute(
        """
        WITH reachable AS (
            SELECT r.oid, r.rolname, r.rolsuper, r.rolcreaterole, r.rolcreatedb, r.rolbypassrls
            FROM pg_roles r WHERE pg_has_role(session_user, r.oid, 'MEMBER')
        )
        SELECT problem FROM reachable, LATERAL (SELECT CASE
            WHEN rolsuper THEN rolname || ' is a superuser'
            WHEN rolcreaterole OR rolcreatedb THEN rolname || ' may create roles or databases'
            WHEN rolname = ANY (%(dangerous)s) THEN 'it is a member of ' || rolname
            WHEN rolname <> session_user THEN 'it is a member of role ' || rolname
            WHEN EXISTS (SELECT FROM pg_namespace n WHERE n.nspname = %(schema)s
                         AND (n.nspowner = reachable.oid OR has_schema_privilege(reachable.oid, n.oid, 'CREATE')))
                THEN rolname || ' owns or may create objects in schema ' || %(schema)s
            WHEN EXISTS (SELECT FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                         WHERE n.nspname = %(schema)s
                           AND has_table_privilege(reachable.oid, c.oid, 'INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER'))
                THEN rolname || ' may write to tables of schema ' || %(schema)s
            END AS problem) AS found
        WHERE problem IS NOT NULL
        -- the gravest first: a superuser among the roles explains more than a membership
        ORDER BY rolsuper DESC, (rolcreaterole OR rolcreatedb) DESC, problem LIMIT 1
        """,
        {"dangerous": list(_DANGEROUS_BUILTIN_ROLES), "schema": SCHEMA},
    ).fetchone()
    if problem and problem[0]:
        raise ReaderUnavailable(
            f"refusing to run typed SQL as {_current_user(conn)}: {problem[0]}; "
            f"{READONLY_DATABASE_URL_ENV} must name a login that can only SELECT the coderows schema"
        )


def reset_reader(conn: psycopg.Connection) -> None:
    """Drop whatever session state a query left behind (session-level advisory locks,
    settings, LISTEN), so a pooled reader session can be reused safely."""
    conn.execute("DISCARD ALL")


def _current_user(conn: psycopg.Connection) -> str:
    row = conn.execute("SELECT session_user").fetchone()
    return str(row[0]) if row else "?"


def _how_to_fix(role: str) -> str:
    return (
        f"create it as a superuser (CREATE ROLE {role} LOGIN; GRANT USAGE ON SCHEMA coderows TO {role}; "
        f"GRANT SELECT ON ALL TABLES IN SCHEMA coderows TO {role}), grant CREATEROLE to the coderows user, "
        f"or set {READONLY_DATABASE_URL_ENV} to a login that can only SELECT the coderows schema"
    )
