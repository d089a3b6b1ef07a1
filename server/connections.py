"""A few reusable database connections for the tools, that survive the database going away.

Connections come from coderows.db.connect (search_path, schema checks). A database that
is down, or that stops answering, is reported within about two seconds instead of
hanging the agent:
- a new connection that has not been made within CONNECT_WAIT_SECONDS is given up;
- a call whose query has waited STALL_SECONDS makes the server ask PostgreSQL, on a new
  connection, whether it answers at all; no answer within PROBE_SECONDS means it has
  stopped (a hung host, a frozen server, a dead network path), and the call's own
  connection is cut so that the call fails at once. A database that still answers is
  left to finish the query (statement_timeout bounds it).
A connection that breaks is thrown away, and the next call simply connects again: when
the database comes back, the server works again without a restart.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeVar

import psycopg

from coderows.db.connection import DatabaseError, connect, first_line, redact

T = TypeVar("T")

CONNECT_TIMEOUT_SECONDS = 2  # libpq's floor: it never gives up on a connection sooner
CONNECT_WAIT_SECONDS = 1.5
STALL_SECONDS = 0.5
PROBE_SECONDS = 1.0
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
        self._watchdog = StallWatchdog(url)

    def _new(self) -> psycopg.Connection:
        conn = connect(self.url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_SECONDS)
        conn.execute("SELECT set_config('statement_timeout', %s, false)", [TOOL_STATEMENT_TIMEOUT])
        return conn

    def _take(self, *, fresh: bool = False) -> tuple[psycopg.Connection, bool]:
        """A connection, and whether it was reused (and so may have gone stale);
        `fresh` skips the idle ones."""
        with self._lock:
            while self._idle and not fresh:
                conn = self._idle.pop()
                if not conn.closed:
                    return conn, True
        return self._new_within(CONNECT_WAIT_SECONDS), False

    def _discard_idle(self) -> None:
        """Close every idle connection: one was found dead (the database restarted, or
        an administrator ended coderows's sessions), so the others likely are too."""
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

    def _new_within(self, seconds: float) -> psycopg.Connection:
        """_new(), given up after `seconds`: libpq will not time out a connection attempt
        in under 2 s, so the attempt runs in a thread of its own and is abandoned (its
        connection closed, should it ever be made) when it takes longer."""
        outcome: list[psycopg.Connection | BaseException] = []
        abandoned = threading.Event()
        lock = threading.Lock()

        def attempt() -> None:
            try:
                conn: psycopg.Connection | BaseException = self._new()
            except BaseException as error:  # handed to the caller, re-raised there
                conn = error
            with lock:
                if not abandoned.is_set():
                    outcome.append(conn)
                    return
            if isinstance(conn, psycopg.Connection):
                conn.close()

        thread = threading.Thread(target=attempt, name="coderows-connect", daemon=True)
        thread.start()
        thread.join(seconds)
        with lock:
            if not outcome:
                abandoned.set()
                raise DatabaseUnavailable(
                    f"PostgreSQL at {redact(self.url)} did not accept a connection within {seconds:g} s"
                )
        if isinstance(outcome[0], BaseException):
            raise outcome[0]
        return outcome[0]

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
        """work(conn) on a live connection. A connection that turns out dead (the database
        restarted since, or pg_terminate_backend ended its session) is replaced once, by a
        new connection, never by another idle one that may be just as dead; a database
        that is down raises DatabaseUnavailable with a message for the agent."""
        for attempt in (1, 2):
            conn, reused = self._take(fresh=attempt == 2)
            try:
                with self._watchdog.watching(conn) as watch:
                    result = work(conn)
            except psycopg.OperationalError as error:
                broken = conn.broken  # read before close(), which clears it
                conn.close()
                if watch.cut:
                    raise DatabaseUnavailable(
                        f"PostgreSQL at {redact(self.url)} stopped answering: no reply for {STALL_SECONDS:g} s, "
                        f"and none to a new connection within {PROBE_SECONDS:g} s"
                    ) from error
                if attempt == 1 and broken and (reused or session_ended(error)):
                    # A stale connection from before a restart, or our own session ended
                    # by an administrator: the database itself may be fine.
                    self._discard_idle()
                    continue
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
        self._watchdog.stop()
        self._discard_idle()


def session_ended(error: psycopg.Error) -> bool:
    """Whether the server ended this one session (pg_terminate_backend, SQLSTATE 57P01),
    which says nothing about whether it accepts a new one."""
    return isinstance(error, psycopg.errors.AdminShutdown)


@dataclass(eq=False)
class WatchedCall:
    """A call in progress on `conn`, as the StallWatchdog sees it."""

    conn: psycopg.Connection
    check_at: float  # time.monotonic() at which to ask whether PostgreSQL still answers
    finished: bool = False
    cut: bool = False  # its connection was cut because PostgreSQL stopped answering


class StallWatchdog:
    """One thread that watches every call of a Connections: a call still running
    STALL_SECONDS after it started (or after the last check) makes it check that
    PostgreSQL answers a new connection within PROBE_SECONDS; if it does not, the
    connection of each such call is cut, so the call fails at once. Registering a call
    is a dictionary entry under a lock (nothing on the hot path wakes a thread): the
    thread wakes every STALL_SECONDS at most, and a call can only be due STALL_SECONDS
    after it started."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._calls: set[WatchedCall] = set()
        self._condition = threading.Condition()
        self._thread: threading.Thread | None = None
        self._stopped = False

    @contextmanager
    def watching(self, conn: psycopg.Connection) -> Iterator[WatchedCall]:
        call = WatchedCall(conn, time.monotonic() + STALL_SECONDS)
        with self._condition:
            self._calls.add(call)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="coderows-stall-watchdog", daemon=True)
                self._thread.start()
        try:
            yield call
        finally:
            with self._condition:
                call.finished = True
                self._calls.discard(call)

    def stop(self) -> None:
        with self._condition:
            self._stopped = True
            self._condition.notify()

    def _run(self) -> None:
        while True:
            with self._condition:
                if self._stopped:
                    return
                now = time.monotonic()
                due = [call for call in self._calls if call.check_at <= now]
                if not due:
                    next_check = min((call.check_at for call in self._calls), default=now + STALL_SECONDS)
                    self._condition.wait(next_check - now)
                    continue
            alive = database_answers(self.url, PROBE_SECONDS)  # not under the lock: it takes up to a second
            with self._condition:
                for call in due:
                    if call.finished:
                        continue
                    if alive:
                        call.check_at = time.monotonic() + STALL_SECONDS
                    else:
                        call.cut = True
                        sever(call.conn)


def database_answers(url: str, within: float) -> bool:
    """True when a new connection to `url` runs SELECT 1 within `within` seconds."""
    answered = threading.Event()

    def probe() -> None:
        try:
            with psycopg.connect(url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_SECONDS) as conn:
                conn.execute("SELECT 1")
        except psycopg.Error:
            return
        answered.set()

    threading.Thread(target=probe, name="coderows-db-probe", daemon=True).start()
    return answered.wait(within)


def sever(conn: psycopg.Connection) -> None:
    """Shut down the connection's socket under the call blocked on it: its wait ends
    with an OperationalError, in its own thread (closing the connection from here
    would race with it)."""
    try:
        fd = conn.pgconn.socket
    except psycopg.OperationalError:  # already closed
        return
    duplicate = socket.socket(fileno=os.dup(fd))
    try:
        duplicate.shutdown(socket.SHUT_RDWR)
    except OSError:  # already shut down
        pass
    finally:
        duplicate.close()


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
