"""Which database coderows talks to, and connections that are ready to use.

The URL comes from --database-url, else CODEROWS_DATABASE_URL, else the embedded server.
Plain DATABASE_URL is never read: inside a user's project that is the application's own
database. Every connection made here has search_path set to the coderows schema, and the
schema is brought to the current version the first time a URL is used in a process.
"""

from __future__ import annotations

import os
from importlib import resources
from typing import TYPE_CHECKING

import psycopg

if TYPE_CHECKING:
    from importlib.abc import Traversable

DATABASE_URL_ENV = "CODEROWS_DATABASE_URL"
SEARCH_PATH_OPTION = "-c search_path=coderows,public"
# coderows' own sessions (indexer, server, edits) run short indexed statements, which a
# server with JIT (Debian's PostgreSQL builds) compiles whenever the planner estimates
# them dear: one of resolution's reads, run by hand on a database without statistics,
# spent 150-300 ms compiling for 6 ms of work. The sql tool's reader sessions (db/readonly.py) keep the
# server's setting: a user's own query may be the long one JIT is for.
SESSION_OPTIONS = SEARCH_PATH_OPTION + " -c jit=off"

# Key for pg_advisory_xact_lock while the schema is created or migrated, so that two
# processes connecting to a new database at once do not both run schema.sql.
SCHEMA_LOCK_KEY = 0x636F646572_01  # "coder" + 1


class DatabaseError(RuntimeError):
    """The database cannot be reached or prepared; the message says what to do."""


class CannotConnect(DatabaseError):
    """No connection could be made: the server is down, unreachable or refuses us."""


def resolve_database_url(explicit: str | None = None) -> str:
    """The URL to use: explicit, else CODEROWS_DATABASE_URL, else the embedded server's.
    A URL libpq cannot parse is refused here, before anything starts."""
    if explicit:
        return checked_url(explicit, "--database-url")
    configured = os.environ.get(DATABASE_URL_ENV)
    if configured:
        return checked_url(configured, DATABASE_URL_ENV)
    from coderows.db import embedded

    try:
        return embedded.start()
    except embedded.EmbeddedServerError as error:
        raise DatabaseError(str(error)) from error


def uses_embedded(explicit: str | None = None) -> bool:
    """Whether resolve_database_url(explicit) means coderows's own embedded server."""
    return not explicit and not os.environ.get(DATABASE_URL_ENV)


def checked_url(url: str, source: str) -> str:
    """`url` if libpq can parse it; else DatabaseError naming where it came from."""
    try:
        psycopg.conninfo.conninfo_to_dict(url)
    except psycopg.Error as error:
        raise DatabaseError(f"{source} is not a valid PostgreSQL URL: {first_line(error)}") from None
    return url


# SQLSTATE class 53, "insufficient resources": the server is up and the connection fine,
# but it cannot do the work until an operator frees something.
RESOURCE_ADVICE = {
    "53100": "the database server's disk is full: free space where PostgreSQL keeps its data, then run again",
    "53200": "the database server is out of memory: retry when it has more free, or lower its work_mem",
    "53300": "the database server has no free connection slot: close some sessions or raise max_connections",
    "53400": "the database server hit a configured limit",
}


def resource_problem(error: BaseException) -> str | None:
    """A one-line explanation when `error` is PostgreSQL running out of a resource
    (disk, memory, connections, a configured limit), else None."""
    sqlstate = getattr(error, "sqlstate", None)
    if not isinstance(sqlstate, str) or not sqlstate.startswith("53"):
        return None
    advice = RESOURCE_ADVICE.get(sqlstate, "the database server ran out of a resource")
    return f"{advice} (PostgreSQL: {first_line(error)})"


_prepared_urls: set[str] = set()


def connect(url: str, *, autocommit: bool = False, connect_timeout: int = 5) -> psycopg.Connection:
    """A connection with search_path = coderows, the schema created or migrated if needed."""
    try:
        conn = psycopg.connect(
            url, autocommit=autocommit, options=SESSION_OPTIONS, connect_timeout=connect_timeout
        )
    except psycopg.OperationalError as error:
        problem = resource_problem(error)
        if problem:
            raise DatabaseError(problem) from error
        raise CannotConnect(f"cannot connect to PostgreSQL at {redact(url)}: {first_line(error)}") from error
    except psycopg.ProgrammingError as error:  # a URL libpq cannot parse
        raise DatabaseError(f"not a valid PostgreSQL URL: {first_line(error)}") from error
    if url not in _prepared_urls:
        try:
            if not schema_is_current(conn):
                ensure_schema(conn)
        except psycopg.Error as error:
            conn.close()
            reason = resource_problem(error) or first_line(error)
            raise DatabaseError(f"cannot prepare the coderows schema in {redact(url)}: {reason}") from error
        except DatabaseError:
            conn.close()
            raise
        _prepared_urls.add(url)
    return conn


def schema_is_current(conn: psycopg.Connection) -> bool:
    """Whether the schema is at the newest version, read without a transaction or a lock:
    two short queries instead of ensure_schema's five round trips and reading every
    migration, on every command (a no-op `coderows index` is a few tens of ms in all).
    A schema being created or migrated right now is not yet visible (its transaction has
    not committed), so it reads as not current and ensure_schema waits for it."""
    current = schema_version(conn) == newest_version()
    if not conn.autocommit:
        conn.rollback()  # leave the connection as it came: no transaction open
    return current


def ensure_schema(conn: psycopg.Connection) -> int:
    """Create the schema, or apply the migrations it lacks; returns the version it is at."""
    migrations = available_migrations()
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", [SCHEMA_LOCK_KEY])
        version = schema_version(conn)
        newest = migrations[-1][0] if migrations else 1
        if version is not None and version > newest:
            # Older code would fail mid-run on a column that is gone (or write rows a newer
            # reader cannot read): refuse before touching anything.
            raise DatabaseError(
                f"this database holds coderows schema version {version}, written by a newer coderows;"
                f" this coderows knows up to version {newest}: upgrade this coderows, or point it at"
                " another database"
            )
        if version is None or version < newest:
            # schema.sql is idempotent: it creates what an older version lacks. A new
            # database (or one made by hand with psql -f schema.sql) gets the newest layout
            # from it and starts at the newest version, the last migration's number: the
            # one source of the version, so no migration runs on it.
            conn.execute(read_schema_sql())
            if version is None:  # schema.sql records no version: a new database's is the newest
                conn.execute("INSERT INTO coderows.schema_version (version) VALUES (%s)", [newest])
                version = newest
        for number, sql in migrations:
            if number > version:
                conn.execute(sql)
                conn.execute("UPDATE coderows.schema_version SET version = %s, applied_at = now()", [number])
                version = number
    return version


def schema_version(conn: psycopg.Connection) -> int | None:
    row = conn.execute("SELECT to_regclass('coderows.schema_version') IS NOT NULL").fetchone()
    if not row or not row[0]:
        return None
    row = conn.execute("SELECT version FROM coderows.schema_version").fetchone()
    return None if row is None else int(row[0])


def read_schema_sql() -> str:
    return resources.files("coderows.db").joinpath("schema.sql").read_text(encoding="utf-8")


def available_migrations() -> list[tuple[int, str]]:
    """(version, sql) for every db/migrations/NNNN_name.sql, oldest first."""
    return [(number, entry.read_text(encoding="utf-8")) for number, entry in _migration_files()]


def newest_version() -> int:
    """The schema version this coderows writes: the last migration's number (1 without
    any), as ensure_schema counts; read from the file names alone."""
    files = _migration_files()
    return files[-1][0] if files else 1


def _migration_files() -> list[tuple[int, Traversable]]:
    """(version, file) for every db/migrations/NNNN_name.sql, oldest first."""
    folder = resources.files("coderows.db").joinpath("migrations")
    if not folder.is_dir():  # an install that lost its migrations: nothing to apply
        return []
    found = []
    for entry in folder.iterdir():
        stem, dot, suffix = entry.name.partition(".")
        number = stem.split("_", 1)[0]
        if suffix == "sql" and number.isdigit():
            found.append((int(number), entry))
    return sorted(found, key=lambda pair: pair[0])


def redact(url: str) -> str:
    """The URL without its password, for messages."""
    try:
        info = psycopg.conninfo.conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "<unparsable database URL>"
    if "password" in info and info["password"]:
        info["password"] = "***"
    host = info.get("host", "")
    return f"{info.get('user', '')}@{host or 'localhost'}:{info.get('port', '5432')}/{info.get('dbname', '')}"


def first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
