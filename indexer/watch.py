"""Keep the index live from file-system events: watchdog (inotify) -> debounce -> refresh.

    with Watcher(database_url, ["~/src/app"]) as watcher:   # threads, for a server
        ...
    Watcher(database_url, roots).run()                        # blocking, until Ctrl-C

Two threads per watcher. watchdog's observer thread only records what changed (string
work, no I/O), so it never falls behind the kernel queue. One worker thread owns the
database connection: it waits until events have been quiet for DEBOUNCE_SECONDS (or
MAX_WAIT_SECONDS have passed since the first one), then turns everything recorded into
one `refresh_paths` call per root, which writes in batches of up to 64 files, one
transaction each. A git checkout touching a thousand files becomes a few batches.

What an event means:
- a ``*.py`` file created, modified, closed after writing, chmod-ed, deleted, or moved
  (editors' atomic saves arrive as a move onto the target): re-read that path; the
  indexer removes it when it is gone;
- a folder created or moved in: its subtree is walked with the indexer's ignore rules;
  a folder deleted or moved away: every indexed path below it is re-read (and so removed);
- a ``.gitignore``, ``.git/info/exclude`` or ``pyvenv.cfg`` changing: what is ignored
  changed, so the root is re-indexed incrementally (``index_repository``); likewise for
  ``pyproject.toml``, ``setup.cfg``, ``src/__init__.py`` or ``lib/__init__.py``, which can
  change every module name (indexer/packaging.py);
- a symbolic link appearing (any name: a link to a folder arrives as a file event), or
  any change under a root whose last walk met a link: the root is re-indexed
  incrementally, since a link lists files under paths no event names (a folder swapped
  for a link to ``/elsewhere`` is dropped, never read: files.read_file refuses any file
  whose real path leaves the root, whoever asks); another entry deleted or moved away
  may have been a link to a folder, so indexed paths below it are re-read;
- anything the indexer ignores (``.git``, ``__pycache__``, ignored paths) is dropped, and
  our own reads (opened / closed-without-writing events) are never even delivered.

Lost events (inotify queue overflow, watch limit reached) and a database that went away
are caught up by an incremental ``index_repository`` of the roots, announced by one log
line. Every write goes through ``load.write_batch``: the repository's advisory lock, one
transaction per batch, stale reads dropped, and a NOTIFY on ``CHANGE_CHANNEL``.
"""

from __future__ import annotations

import errno
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import psycopg
from watchdog.events import (
    DirCreatedEvent,
    DirDeletedEvent,
    DirMovedEvent,
    FileAttribEvent,
    FileClosedEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers.api import DEFAULT_OBSERVER_TIMEOUT, BaseObserver
from watchdog.observers.inotify import InotifyEmitter, InotifyObserver
from watchdog.observers.inotify_c import InotifyEvent, InotifyFD

from coderows.db.connection import DatabaseError, connect, first_line
from coderows.indexer import load
from coderows.indexer.discover import ALWAYS_SKIPPED_DIRS, GITIGNORE, PY_SUFFIX, VENV_MARKER, IgnoreRules
from coderows.indexer.load import CHANGE_CHANNEL
from coderows.indexer.packaging import is_packaging_input
from coderows.indexer.pipeline import (
    IndexingError,
    IndexSummary,
    Plan,
    index_repository,
    is_utf8_path,
    plans_of_indexed,
    refresh_paths,
    resolve_root,
)

__all__ = ["CHANGE_CHANNEL", "BatchReport", "Watcher"]

log = logging.getLogger(__name__)

# A single save is visible ~30 ms later; a stream of events (a checkout) is still cut into
# a batch at least every MAX_WAIT_SECONDS, so rows keep arriving while it runs.
DEBOUNCE_SECONDS = 0.02
MAX_WAIT_SECONDS = 0.25
# Waits between attempts to reach a database that went away.
RETRY_SECONDS = (0.25, 0.5, 1.0, 2.0, 5.0)
# Without inotify (limits reached), each root is re-scanned this often instead.
POLL_SECONDS = 2.0
# Files that failed to parse, logged one line each, per batch (a first pass may find many).
MAX_FAILURE_LINES = 10

# The events worth a look. Leaving out FileOpenedEvent and FileClosedNoWriteEvent keeps
# the indexer's own reads from waking the watcher; DirModifiedEvent says nothing the
# events for the entries themselves do not.
EVENT_FILTER: list[type[FileSystemEvent]] = [
    FileCreatedEvent, FileModifiedEvent, FileAttribEvent, FileClosedEvent, FileDeletedEvent, FileMovedEvent,
    DirCreatedEvent, DirDeletedEvent, DirMovedEvent,
]
# Files whose change alters what is ignored, relative to the folder holding them
# (.git/info/exclude only at the root).
RULE_FILES = frozenset({GITIGNORE, VENV_MARKER})
INFO_EXCLUDE = ".git/info/exclude"


@dataclass(slots=True)
class Changes:
    """What happened under one root since the last batch; merged from many events."""

    files: set[str] = field(default_factory=set)  # *.py paths to re-read
    new_dirs: set[str] = field(default_factory=set)  # folders created or moved in: walk them
    gone_dirs: set[str] = field(default_factory=set)  # folders deleted or moved away
    # other entries created or moved in: a symbolic link to a folder arrives as a file
    maybe_links: set[str] = field(default_factory=set)
    rescan: str | None = None  # why the whole root must be re-indexed, if it must

    def __bool__(self) -> bool:
        return bool(self.files or self.new_dirs or self.gone_dirs or self.maybe_links or self.rescan)

    def merge(self, other: Changes) -> None:
        self.files |= other.files
        self.new_dirs |= other.new_dirs
        self.gone_dirs |= other.gone_dirs
        self.maybe_links |= other.maybe_links
        self.rescan = self.rescan or other.rescan


@dataclass(frozen=True, slots=True)
class BatchReport:
    """One root brought up to date by the watcher: what it wrote, and why."""

    root: Path
    reason: str  # "changes", "start", or why the root was re-scanned
    summary: IndexSummary

    @property
    def wrote(self) -> bool:
        return bool(self.summary.files_indexed or self.summary.files_deleted)

    def line(self) -> str:
        s = self.summary
        return (
            f"{self.root}: {s.files_indexed} indexed, {s.files_deleted} removed, {s.files_failed} failed"
            f" in {s.seconds * 1000:.0f} ms ({self.reason})"
        )


def changes_from_event(root: str, event: FileSystemEvent) -> Changes:
    """What one watchdog event under `root` (absolute, resolved) asks the indexer to do."""
    changes = Changes()
    src = _relative(root, _text(event.src_path))
    dest = _relative(root, _text(event.dest_path)) if event.event_type == "moved" else None
    if event.is_directory:
        if event.event_type in ("deleted", "moved") and src:
            changes.gone_dirs.add(src)
        if event.event_type == "created" and src:
            changes.new_dirs.add(src)
        if dest:
            changes.new_dirs.add(dest)
        changes.new_dirs = {path for path in changes.new_dirs if not _skipped_by_name(path, is_dir=True)}
        return changes
    for path in (src, dest):
        if not path or _skipped_by_name(path, is_dir=False):
            if path == INFO_EXCLUDE:
                changes.rescan = f"{path} changed"
            continue
        name = path.rpartition("/")[2]
        if name in RULE_FILES or is_packaging_input(path):  # what is ignored, or module names, may change
            changes.rescan = f"{path} changed"
        elif name.endswith(PY_SUFFIX):
            changes.files.add(path)
        elif event.event_type == "created" or path == dest:
            changes.maybe_links.add(path)  # the worker looks whether it is a link
        elif event.event_type == "deleted" or (event.event_type == "moved" and path == src):
            # it may have been a link to a folder: the rows listed through it must go
            changes.gone_dirs.add(path)
    return changes


def _text(path: bytes | str) -> str:
    return os.fsdecode(path)


def _relative(root: str, path: str) -> str | None:
    """`path` relative to `root`; None outside it (a move's far end) or for the root itself."""
    if path.startswith(root + "/"):
        return path[len(root) + 1 :]
    return None


def _skipped_by_name(rel: str, *, is_dir: bool) -> bool:
    """Below a folder the indexer never enters (.git, __pycache__, ...): the cheap test
    that keeps a git operation's thousands of events inside .git off the worker."""
    parts = rel.split("/")
    folders = parts if is_dir else parts[:-1]
    return any(part in ALWAYS_SKIPPED_DIRS for part in folders)


class _Handler(FileSystemEventHandler):
    """Runs on watchdog's thread: classify the event and hand it over, nothing more."""

    def __init__(self, watcher: Watcher, root: Path) -> None:
        self._watcher = watcher
        self._root = root
        self._prefix = str(root)

    def dispatch(self, event: FileSystemEvent) -> None:
        changes = changes_from_event(self._prefix, event)
        if changes:
            self._watcher._record(self._root, changes)


class _Inotify(InotifyFD):
    """watchdog's inotify reader, plus a call when events are lost: the kernel queue
    overflowed, or a folder could not be watched (fs.inotify.max_user_watches). watchdog
    logs the first and silently skips the second; either way we must re-scan."""

    def __init__(self, on_lost: Callable[[str, bool], None]) -> None:
        super().__init__()
        self._on_lost = on_lost  # (reason, lasting)

    def handle_event(self, event: InotifyEvent) -> None:
        if event.is_queue_overflow:
            self._on_lost("the inotify event queue overflowed", False)
        super().handle_event(event)

    def add_callback(self, path: bytes, mask, callback, id_):  # type: ignore[no-untyped-def]  # watchdog's signature
        try:
            return super().add_callback(path, mask, callback, id_)
        except OSError as error:
            if error.errno == errno.ENOSPC:
                # from now on folders may go unwatched: a one-off re-scan would not be enough
                self._on_lost("the inotify watch limit is reached (fs.inotify.max_user_watches)", True)
            raise


class _Observer(InotifyObserver):
    """InotifyObserver with our reader. Its __init__ would create a plain InotifyFD, so
    this does what it does with ours instead."""

    def __init__(self, on_lost: Callable[[str, bool], None]) -> None:
        self._inotify_fd = _Inotify(on_lost)
        self._inotify_fd.start()
        BaseObserver.__init__(self, InotifyEmitter, timeout=DEFAULT_OBSERVER_TIMEOUT, inotify_fd=self._inotify_fd)


class Watcher:
    """Follow file-system changes under `roots` and keep their index rows current.

    `start()` returns once the roots are watched; unless `initial_index=False`, the
    worker then first brings each root up to date with `index_repository` (events that
    arrive meanwhile are kept, so nothing slips between the two). `wait_ready()` blocks
    until that first pass is done. `on_batch` is called (on the worker thread) for every
    root the watcher wrote to; `on_plans` once, before the first pass writes, with the
    plans it will follow (those of roots already indexed; pipeline.plans_of_indexed,
    made after the roots are watched, so no change slips between). Thread-safe: `stop()` may be called from any thread.
    """

    def __init__(
        self,
        database_url: str,
        roots: Iterable[str | Path],
        excludes: Sequence[str] | None = None,
        *,
        initial_index: bool = True,
        on_batch: Callable[[BatchReport], None] | None = None,
        on_plans: Callable[[dict[Path, Plan]], None] | None = None,
        debounce: float = DEBOUNCE_SECONDS,
        max_wait: float = MAX_WAIT_SECONDS,
    ) -> None:
        self.database_url = database_url
        self.roots: list[Path] = list(dict.fromkeys(resolve_root(root) for root in roots))
        # None: each root keeps to the patterns it was last indexed with (repos.excludes)
        self.excludes = None if excludes is None else tuple(excludes)
        self.initial_index = initial_index
        self.on_batch = on_batch
        self.on_plans = on_plans
        self.debounce = debounce
        self.max_wait = max_wait
        # Each root's rules: from the excludes given (a bad pattern fails here), else from
        # its first full pass, which reads the recorded ones.
        self._rules: dict[Path, IgnoreRules] = (
            {} if self.excludes is None else {root: IgnoreRules(root, self.excludes) for root in self.roots}
        )
        # Roots whose last walk met a symbolic link: every change re-walks them (see _refresh).
        self._linked: set[Path] = set()
        self._pending: dict[Path, Changes] = {}
        self._first_event = 0.0
        self._last_event = 0.0
        self._cond = threading.Condition()
        self._stopping = threading.Event()
        self._ready = threading.Event()
        self._observer: _Observer | None = None
        self._polling = False  # no inotify: re-scan every POLL_SECONDS instead
        self._loss_announced = False  # a loss was logged and its re-scan has not started yet
        self._thread: threading.Thread | None = None
        self._conn: psycopg.Connection | None = None

    # -- life cycle -------------------------------------------------------------------------

    def start(self) -> Watcher:
        if self._thread is not None:
            raise RuntimeError("a Watcher can be started once")
        self._observer = self._start_observer()
        self._thread = threading.Thread(target=self._work, name="coderows-watch", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float | None = 10.0) -> None:
        """Stop watching; the batch being written is finished first."""
        self._stopping.set()
        with self._cond:
            self._cond.notify_all()
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(timeout)
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def wait_ready(self, timeout: float | None = None) -> bool:
        """Block until the first pass over the roots is done; False on timeout."""
        return self._ready.wait(timeout)

    def run(self) -> None:
        """Start (unless started), then block until stop() or Ctrl-C (KeyboardInterrupt is
        re-raised after stopping)."""
        if self._thread is None:
            self.start()
        try:
            while not self._stopping.wait(0.5):
                if self._thread is not None and not self._thread.is_alive():
                    break
        finally:
            self.stop()

    def __enter__(self) -> Watcher:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    @property
    def polling(self) -> bool:
        """True when inotify could not be used and roots are re-scanned periodically."""
        return self._polling

    def rescan(self, reason: str) -> None:
        """Re-index every root incrementally on the next batch: for when events were lost."""
        for root in self.roots:
            self._record(root, Changes(rescan=reason))

    # -- the observer's side ----------------------------------------------------------------

    def _start_observer(self) -> _Observer | None:
        observer: _Observer | None = None
        try:
            observer = _Observer(self._events_lost)
            for root in self.roots:
                observer.schedule(_Handler(self, root), str(root), recursive=True, event_filter=EVENT_FILTER)
            observer.start()
        except OSError as error:
            if observer is not None:
                observer.stop()  # closes its inotify instance: there are only 128 per user
            # inotify instance or watch limits: keep the index fresh by re-scanning instead
            self._start_polling(f"cannot use inotify: {error.strerror or error}")
            return None
        return observer

    def _events_lost(self, reason: str, lasting: bool) -> None:
        """Called on watchdog's thread. One log line per loss; the worker re-scans."""
        if lasting:
            self._start_polling(reason)
            return
        with self._cond:
            already_announced, self._loss_announced = self._loss_announced, True
        if not already_announced:  # several losses before the re-scan runs: one line
            log.warning("watch: %s: events were lost, re-scanning %s", reason, ", ".join(map(str, self.roots)))
        self.rescan(reason)

    def _start_polling(self, reason: str) -> None:
        with self._cond:
            if self._polling:
                return
            self._polling = True
        log.warning("watch: %s; re-scanning every %.0f s from now on", reason, POLL_SECONDS)
        self.rescan(reason)

    def _record(self, root: Path, changes: Changes) -> None:
        now = time.monotonic()
        with self._cond:
            if not self._pending:
                self._first_event = now
            self._last_event = now
            self._pending.setdefault(root, Changes()).merge(changes)
            self._cond.notify_all()

    # -- the worker -------------------------------------------------------------------------

    def _work(self) -> None:
        try:
            if self.initial_index:
                self._first_pass()
            self._ready.set()
            while True:
                batch = self._next_batch()
                if batch is None:
                    return
                for root, changes in batch.items():
                    self._apply(root, changes)
        finally:
            self._ready.set()
            self._close_connection()

    def _next_batch(self) -> dict[Path, Changes] | None:
        """Wait for events, then until they have been quiet for `debounce` seconds (or
        `max_wait` passed since the first); None when stopping."""
        with self._cond:
            while not self._pending:
                if self._stopping.is_set():
                    return None
                woke = self._cond.wait(POLL_SECONDS if self._polling else None)
                if self._polling and not woke and not self._pending:
                    self._pending = {root: Changes(rescan="polling") for root in self.roots}
                    self._first_event = self._last_event = time.monotonic() - self.max_wait
            while not self._stopping.is_set():
                now = time.monotonic()
                left = min(self._last_event + self.debounce, self._first_event + self.max_wait) - now
                if left <= 0:
                    break
                self._cond.wait(left)
            if self._stopping.is_set():
                return None
            batch, self._pending = self._pending, {}
            self._loss_announced = False
            return batch

    def _first_pass(self) -> None:
        """Every root brought up to date, each by the plan on_plans was shown."""
        plans: dict[Path, Plan] = {}
        try:
            plans = plans_of_indexed(self._connection(), self.roots, self.excludes)
        except (psycopg.Error, DatabaseError, OSError, ValueError) as error:  # each run plans (and reports) itself
            log.info("watch: cannot plan the first pass: %s", first_line(error))
        if self.on_plans is not None:
            self.on_plans(plans)
        for root in self.roots:
            self._apply(root, Changes(rescan="start"), plans.get(root))

    def _apply(self, root: Path, changes: Changes, work: Plan | None = None) -> None:
        """Bring `root` up to date with `changes` (a rescan by `work` when given); survive
        whatever goes wrong."""
        try:
            if changes.rescan:
                self._reindex(root, changes.rescan, work)
            else:
                self._refresh(root, changes)
        except (psycopg.OperationalError, DatabaseError) as error:
            self._reconnect(error)
        except IndexingError as error:  # the root itself was removed or replaced
            log.warning("watch: %s", error)
        except (psycopg.Error, OSError) as error:
            log.warning("watch: %s: could not apply changes: %s", root, first_line(error))
        except Exception:  # noqa: BLE001  # a bug must not end the watching: log it with its traceback
            log.exception("watch: %s: unexpected error; re-scanning", root)
            self._record(root, Changes(rescan="after an error"))
            self._stopping.wait(1.0)  # do not spin on a persistent bug

    def _refresh(self, root: Path, changes: Changes) -> None:
        rules = self._rules.get(root)
        if rules is None:  # no full pass yet (initial_index=False): it learns the excludes
            self._reindex(root, "first change")
            return
        if root in self._linked:
            # Events name the path that changed, not the other paths a link lists the same
            # file under, nor a dangling link's target appearing: only a walk sees those.
            self._reindex(root, "changes under a root holding symbolic links")
            return
        conn = self._connection()
        paths = {path for path in changes.files if not _ignored(rules, path, is_dir=False)}
        if changes.gone_dirs:
            paths |= load.indexed_below(conn, root, changes.gone_dirs)
        for folder in changes.new_dirs:
            found = _walk_subtree(root, folder, rules)
            if found is None:  # symbolic links: only a full walk follows them like discover()
                self._reindex(root, f"{folder}/ holds symbolic links")
                return
            paths |= found
        candidates = paths | {path for path in changes.maybe_links if not _ignored(rules, path, is_dir=False)}
        if any(os.path.islink(os.path.join(root, path)) for path in candidates):
            # discover() follows a link only into the root and not into ignored paths
            self._reindex(root, "a symbolic link changed")
            return
        if any(not is_utf8_path(path) for path in paths):
            # a text column cannot hold such a name; the full pass reports it as skipped
            self._reindex(root, "a file name is not valid UTF-8")
            return
        if paths:
            self._report(root, "changes", refresh_paths(conn, root, sorted(paths)))

    def _reindex(self, root: Path, reason: str, work: Plan | None = None) -> None:
        summary = index_repository(self._connection(), root, excludes=self.excludes, work=work)
        # Ignore rules may have changed: every .gitignore is read afresh.
        rules = IgnoreRules(root, summary.excludes)
        self._rules[root] = rules
        if rules.has_links():
            self._linked.add(root)
        else:
            self._linked.discard(root)
        self._report(root, reason, summary)

    def _report(self, root: Path, reason: str, summary: IndexSummary) -> None:
        for path, status, why in summary.failures[:MAX_FAILURE_LINES]:
            log.warning("watch: %s: %s: %s", path, status, why)
        if len(summary.failures) > MAX_FAILURE_LINES:
            log.warning("watch: ... and %d more files that did not parse cleanly under %s", len(summary.failures) - MAX_FAILURE_LINES, root)
        report = BatchReport(root, reason, summary)
        if self.on_batch is not None and report.wrote:
            self.on_batch(report)

    # -- the database -----------------------------------------------------------------------

    def _connection(self) -> psycopg.Connection:
        if self._conn is None or self._conn.closed:
            self._conn = connect(self.database_url, autocommit=True)
            # the index is re-derived from disk after a crash; commits need not wait for fsync
            load.prefer_speed_to_durability(self._conn)
        return self._conn

    def _close_connection(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _reconnect(self, error: BaseException) -> None:
        """The connection broke: reconnect and catch up on everything (the batch in flight
        and whatever changed meanwhile). One line if the database is right back (a server
        restart while we were idle, an idle-session timeout); else one line now, retries
        with backoff, and one line when it is back."""
        self._close_connection()
        if self._try_catch_up():
            log.warning("watch: reconnected after losing the database connection (%s); caught up", first_line(error))
            return
        log.warning("watch: lost the database (%s); retrying, will catch up when it is back", first_line(error))
        attempt = 0
        while not self._stopping.wait(RETRY_SECONDS[min(attempt, len(RETRY_SECONDS) - 1)]):
            if self._try_catch_up():
                log.warning("watch: the database is back; caught up")
                return
            attempt += 1

    def _try_catch_up(self) -> bool:
        """Connect and re-index every root incrementally; False if the database is away."""
        try:
            self._connection()
            for root in self.roots:
                try:
                    self._reindex(root, "caught up after the database came back")
                except IndexingError as error:
                    log.warning("watch: %s", error)
        except (psycopg.OperationalError, DatabaseError):
            self._close_connection()
            return False
        return True


def _ignored(rules: IgnoreRules, rel: str, *, is_dir: bool) -> bool:
    try:
        return rules.is_ignored(rel, is_dir)
    except ValueError:  # not a path below the root
        return True


def _walk_subtree(root: Path, folder: str, rules: IgnoreRules) -> set[str] | None:
    """The indexable *.py paths under `folder` (created or moved in), by the same rules as
    discover(); None when it holds a symbolic link (discover follows those into the root)."""
    if _ignored(rules, folder, is_dir=True):
        return set()
    found: set[str] = set()
    for current, dirs, files in os.walk(os.path.join(root, folder), onerror=_log_walk_error):
        rel = os.path.relpath(current, root).replace(os.sep, "/")
        if any(os.path.islink(os.path.join(current, name)) for name in (*dirs, *files)):
            return None
        dirs[:] = [name for name in dirs if not _ignored(rules, f"{rel}/{name}", is_dir=True)]
        for name in files:
            path = f"{rel}/{name}"
            if name.endswith(PY_SUFFIX) and not _ignored(rules, path, is_dir=False):
                found.add(path)
    return found


def _log_walk_error(error: OSError) -> None:
    log.warning("watch: cannot list %s: %s", error.filename, error.strerror)
