"""A few reusable database connections for the tools, that survive the database going away.

Connections come from coderows.db.connect (search_path, schema checks) with a short
connect timeout, so a stopped database is reported within about two seconds instead of
hanging the agent. A connection that breaks is thrown away, and the next call simply
connects again: when the database comes back, the server works again without a restart.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

import psycopg

from coderows.db.connection import DatabaseError, connect, first_line, redact

T = TypeVar("T")

CONNECT_TIMEOUT_SECONDS = 2
# Every tool query is an index lookup or one file's rows; anything slower is a runaway.
TOOL_STATEMENT_TIMEOUT = "15s"


class DatabaseUnavailable(DatabaseError):
    """The database could not be reached or dropped the connection mid-call."""


class Connections:
    """Idle connections kept for reuse; at most `keep` are kept, more are made on demand."""

    def __init__(self, url: str, keep: int = 4) -> None:
        self.url = url
        self.keep = keep
        self._idle: list[psycopg.Connection] = []
        self._lock = threading.Lock()

    def _new(self) -> psycopg.Connection:
        conn = connect(self.url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_SECONDS)
        conn.execute("SELECT set_config('statement_timeout', %s, false)", [TOOL_STATEMENT_TIMEOUT])
        return conn

    def _take(self) -> tuple[psycopg.Connection, bool]:
        """A connection, and whether it was reused (and so may have gone stale)."""
        with self._lock:
            while self._idle:
                conn = self._idle.pop()
                if not conn.closed:
                    return conn, True
        return self._new(), False

    def _give_back(self, conn: psycopg.Connection) -> None:
        if conn.closed or conn.broken or conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            conn.close()
            return
        with self._lock:
            if len(self._idle) < self.keep:
                self._idle.append(conn)
                return
        conn.close()

    def run(self, work: Callable[[psycopg.Connection], T]) -> T:
        """work(conn) on a live connection. A reused connection that turns out dead (the
        database restarted since) is replaced once; a database that is down raises
        DatabaseUnavailable with a message for the agent."""
        for attempt in (1, 2):
            conn, reused = self._take()
            try:
                result = work(conn)
            except psycopg.OperationalError as error:
                broken = conn.broken  # read before close(), which clears it
                conn.close()
                if reused and attempt == 1 and broken:
                    continue  # stale connection from before a restart: try a fresh one
                if broken:
                    raise DatabaseUnavailable(
                        f"lost the connection to PostgreSQL at {redact(self.url)}: {first_line(error)}"
                    ) from error
                raise
            except BaseException:
                self._give_back(conn)
                raise
            self._give_back(conn)
            return result
        raise AssertionError("unreachable")

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()


class ReaderConnections(Connections):
    """Sessions of the read-only login (coderows.db.readonly) for typed queries. The
    reader's URL is worked out on first use through a main connection (which creates and
    grants the role if need be); each session is reset before reuse, so that nothing a
    query left behind (a session-level advisory lock, a setting) outlives it."""

    def __init__(self, main: Connections, keep: int = 2) -> None:
        super().__init__(main.url, keep)
        self.main = main
        self.reader_url: str | None = None

    def _new(self) -> psycopg.Connection:
        from coderows.db import readonly

        if self.reader_url is None:
            self.reader_url = self.main.run(lambda conn: readonly.prepare_reader(self.main.url, conn))
        return readonly.connect_reader(self.reader_url, connect_timeout=CONNECT_TIMEOUT_SECONDS)

    def _give_back(self, conn: psycopg.Connection) -> None:
        from coderows.db import readonly

        if not conn.closed and not conn.broken and conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE:
            try:
                readonly.reset_reader(conn)
            except psycopg.Error:
                conn.close()
        super()._give_back(conn)
