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

from coderows.db.connection import (
    SCHEMA_LOCK_KEY,
    SEARCH_PATH_OPTION,
    DatabaseError,
    first_line,
    redact,
)

READER_ROLE = "coderows_reader"
READONLY_DATABASE_URL_ENV = "CODEROWS_READONLY_DATABASE_URL"
SCHEMA = "coderows"

# The reader's limits, the one list of them: per-role defaults (so a reader session is
# bounded when someone uses the reader URL with psql), startup options of every session
# coderows opens (a client's options outrank the role's, so a tampered role cannot lift
# them), and per-transaction settings of each query (coderows.db.sandbox).
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
# Settings only a superuser may set: never sent as a session's startup option.
_SUPERUSER_SETTINGS = frozenset({"temp_file_limit"})
# Role settings a reader may carry without harm: those its sessions set again at start.
_HARMLESS_ROLE_SETTINGS = frozenset({*READER_SETTINGS, "search_path"})

# EXPLAIN can be neither a subquery nor a cursor; this function runs one and returns its
# lines as rows, so that EXPLAIN goes through the same extended protocol, subquery and
# byte budget as any query (coderows.db.sandbox). It runs with its caller's rights.
EXPLAIN_FUNCTION = "coderows.explain_lines"
_EXPLAIN_SOURCE = """
DECLARE line text;
BEGIN
    IF statement !~* '^\\s*explain\\M' THEN
        RAISE EXCEPTION 'explain_lines runs one EXPLAIN statement, not %', left(statement, 40);
    END IF;
    FOR line IN EXECUTE statement LOOP
        RETURN NEXT line;
    END LOOP;
END
"""

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


def reader_url_for(main_url: str, role: str = READER_ROLE, *, dbname: str | None = None) -> str:
    """The main URL logging in as `role` instead, without the main user's password, on
    `dbname`: the database the main connection actually reached (a URL without one
    leaves libpq to default it to the user's name, which differs for the reader)."""
    params = conninfo_to_dict(main_url)
    params.pop("password", None)
    params["user"] = role
    if dbname:
        params["dbname"] = dbname
    return make_conninfo("", **params)


def prepare_reader(main_url: str, main_conn: psycopg.Connection, role: str = READER_ROLE) -> str:
    """The URL to run typed queries with: CODEROWS_READONLY_DATABASE_URL, else the
    coderows_reader login on the main server, created and granted here if need be."""
    configured = configured_reader_url()
    try:
        if configured:
            with main_conn.transaction():
                main_conn.execute("SELECT pg_advisory_xact_lock(%s)", [SCHEMA_LOCK_KEY])
                _install_explain_if_allowed(main_conn)
            return configured
        ensure_reader_role(main_conn, role)
    except psycopg.Error as error:
        raise ReaderUnavailable(
            f"cannot set up the read-only role {role} as {redact(main_url)}: {first_line(error)}; "
            f"{_how_to_fix(role)}"
        ) from error
    return reader_url_for(main_url, role, dbname=main_conn.info.dbname)


def ensure_reader_role(conn: psycopg.Connection, role: str = READER_ROLE) -> None:
    """Create `role` if missing (when allowed) and grant it what it lacks: USAGE on the
    coderows schema and SELECT on each of its tables and views. Grants are checked first
    and only the missing ones made, because concurrent GRANTs on one object fail with
    'tuple concurrently updated'; the schema lock serialises processes in one database."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", [SCHEMA_LOCK_KEY])
        if not _role_exists(conn, role):
            _create_role(conn, role)
        _assert_role_settings(conn, role)
        _grant_missing(conn, role)
        _install_explain_if_allowed(conn)


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


def _assert_role_settings(conn: psycopg.Connection, role: str) -> None:
    """Give the role exactly READER_SETTINGS as its defaults, whatever was done to it
    (a role may ALTER ROLE itself SET anything a user may set, in any database): settings
    of its own or other values are reset; missing ones are set where allowed."""
    rows = conn.execute(
        """
        SELECT coalesce(d.datname, ''), s.setconfig FROM pg_db_role_setting s
        JOIN pg_roles r ON r.oid = s.setrole LEFT JOIN pg_database d ON d.oid = s.setdatabase
        WHERE r.rolname = %s ORDER BY 1
        """,
        [role],
    ).fetchall()
    per_database = [datname for datname, _ in rows if datname]
    everywhere = _settings_dict(next((config for datname, config in rows if not datname), None))
    foreign = {name: value for name, value in everywhere.items() if READER_SETTINGS.get(name) != value}
    try:
        for datname in per_database:
            conn.execute(sql.SQL("ALTER ROLE {} IN DATABASE {} RESET ALL").format(sql.Identifier(role), sql.Identifier(datname)))
        if foreign:
            conn.execute(sql.SQL("ALTER ROLE {} RESET ALL").format(sql.Identifier(role)))
            everywhere = {}
    except psycopg.errors.InsufficientPrivilege:
        raise ReaderUnavailable(_tampered_message(role, [f"{k}={v}" for k, v in foreign.items()] + per_database)) from None
    for name, value in READER_SETTINGS.items():
        if everywhere.get(name) == value:
            continue
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


def _settings_dict(config: list[str] | None) -> dict[str, str]:
    """pg_db_role_setting's ['name=value', ...] as {name (lower case): value}."""
    pairs = (item.partition("=") for item in config or [])
    return {name.lower(): value for name, _, value in pairs}


def _tampered_message(role: str, found: list[str]) -> str:
    return (
        f"the read-only role {role} carries settings coderows did not give it ({', '.join(found)}); "
        f"repair it as a superuser: ALTER ROLE {role} RESET ALL (and ALTER ROLE {role} IN DATABASE <db> "
        "RESET ALL for each database named), then run coderows again, which sets its limits back"
    )


def _install_explain(conn: psycopg.Connection) -> None:
    """Create coderows.explain_lines, or bring it back to this source, when it differs."""
    row = conn.execute(
        "SELECT p.prosrc FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
        "WHERE n.nspname = %s AND p.proname = %s",
        EXPLAIN_FUNCTION.split("."),
    ).fetchone()
    if row and row[0] == _EXPLAIN_SOURCE:
        return
    conn.execute(
        sql.SQL(
            "CREATE OR REPLACE FUNCTION {}(statement text) RETURNS SETOF text "
            "LANGUAGE plpgsql VOLATILE SECURITY INVOKER AS {}"
        ).format(sql.Identifier(*EXPLAIN_FUNCTION.split(".")), sql.Literal(_EXPLAIN_SOURCE))
    )


def _install_explain_if_allowed(conn: psycopg.Connection) -> None:
    """coderows's user may lack the right to create in the coderows schema (a DBA set it
    up): EXPLAIN then says it is not available; everything else works."""
    try:
        with conn.transaction():  # a savepoint: the rest of the set-up stands
            _install_explain(conn)
    except psycopg.errors.InsufficientPrivilege:
        return


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
            url, autocommit=True, options=session_options(), connect_timeout=connect_timeout, prepare_threshold=None
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
        verify_role_settings(conn)
    except psycopg.Error as error:
        conn.close()
        raise DatabaseError(f"cannot check the read-only login {redact(url)}: {first_line(error)}") from None
    except BaseException:
        conn.close()
        raise
    return conn


def session_options() -> str:
    """Startup options of a reader session: search_path and READER_SETTINGS (but those
    only a superuser may set), which outrank whatever the role's defaults say."""
    limits = [f"-c {name}={value}" for name, value in READER_SETTINGS.items() if name not in _SUPERUSER_SETTINGS]
    return " ".join([SEARCH_PATH_OPTION, *limits])


def verify_role_settings(conn: psycopg.Connection) -> None:
    """Refuse a login whose role defaults hold settings its sessions do not set again at
    start (a role may ALTER ROLE itself SET DateStyle, transform_null_equals, ...)."""
    rows = conn.execute(
        """
        SELECT coalesce(d.datname, ''), s.setconfig FROM pg_db_role_setting s
        LEFT JOIN pg_database d ON d.oid = s.setdatabase
        WHERE s.setrole = (SELECT oid FROM pg_roles WHERE rolname = session_user)
          AND s.setdatabase IN (0, (SELECT oid FROM pg_database WHERE datname = current_database()))
        ORDER BY 1
        """
    ).fetchall()
    found = [
        f"{name}={value}" + (f" in database {datname}" if datname else "")
        for datname, config in rows
        for name, value in _settings_dict(config).items()
        if name not in _HARMLESS_ROLE_SETTINGS
    ]
    if found:
        raise ReaderUnavailable(_tampered_message(_current_user(conn), found))


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
