"""Index a repository: discover files -> read and parse them (worker processes) -> load.

    index_repository(conn, Path("~/src/django"))   # a whole root, incrementally
    refresh_paths(conn, root, ["pkg/mod.py"])      # exactly these files, now, in-process

A file is re-read only when its size or mtime differs from what the database holds (or
an older parser made its rows: indexer/parser_version.py), and re-parsed only when its
content hash differs too. Parsed files reach the database in
batches, one transaction each, so an interrupted run leaves every file either at its old
rows or its new ones; the next run picks up whatever is still out of date.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import psycopg

from coderows.common.files import FileTooLargeError, NotRegularFileError, OutsideRootError, read_file
from coderows.indexer import load
from coderows.indexer.discover import SourceFile, discover
from coderows.indexer.encode import EncodedFile, FileVersion, encode
from coderows.indexer.load import KnownFile, SharedFile
from coderows.indexer.naming import PATH_ONLY_ROOTS, PackageRoots, module_name
from coderows.indexer.packaging import package_roots

# The parser (tree-sitter, its queries, ast) is imported where a file is read, and the
# worker machinery (multiprocessing, concurrent.futures, ctypes: ~13 ms) where a pool is
# started: a run with nothing to do, the common case, must not pay for loading them.
if TYPE_CHECKING:
    import multiprocessing.connection
    import multiprocessing.context
    from concurrent.futures import ProcessPoolExecutor

    from coderows.indexer.parse import ParsedModule

DEFAULT_MAX_FILE_BYTES = 5 * 1024 * 1024
# Small enough that the last batch, written after the workers finish, is short.
BATCH_FILES = 64
BATCH_SOURCE_BYTES = 4 * 1024 * 1024
CHEAP_ROWS_PER_FILE = 16  # shared files or stat updates that weigh as much as one parsed file
# Below this many files to parse, starting worker processes costs more than it saves.
IN_PROCESS_LIMIT = 48
# From this many files to parse into an empty database, the content tables' secondary
# indexes are built after the load instead of row by row (load.defer_indexes).
DEFER_INDEXES_FILES = 500
PR_SET_PDEATHSIG = 1  # prctl(2) option: the signal a process gets when its parent dies
PARENT_POLL_SECONDS = 0.2  # how often a worker checks that the indexer is still alive
_live_pools: set[ProcessPoolExecutor] = set()  # worker pools of runs in progress
_POOLS_OWNER = os.getpid()  # the process whose pools _live_pools holds
_live_pools_lock = threading.Lock()

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]  # (files done, files to do)


class IndexingError(ValueError):
    """The run cannot start: the message says why (e.g. the root is not a folder)."""


@dataclass(slots=True)
class Unchanged:
    """Stat changed, content did not: only the stat is recorded."""

    path: str
    size: int
    mtime_ns: int


@dataclass(slots=True)
class Vanished:
    """Listed, then gone before it could be read."""

    path: str


ReadResult = FileVersion | Unchanged | Vanished | SharedFile
TaskResult = EncodedFile | Unchanged | Vanished | SharedFile


@dataclass(frozen=True, slots=True)
class Task:
    """One file for a worker: read it, and parse and encode it unless unchanged."""

    root: str
    file: SourceFile
    known_hash: str | None
    max_file_bytes: int
    module_id: int  # reserved in advance, so workers can number the file's rows
    repo_id: int
    package_roots: PackageRoots  # the repository's, which module names follow
    # content hash -> id of a content the database holds at this path under this module
    # name (load.shareable_contents): bytes that hash to one are not parsed again
    shared: Mapping[str, int] = field(default_factory=dict)


@dataclass(slots=True)
class IndexSummary:
    root: Path
    files_indexed: int = 0  # read, parsed and written, or shared
    files_shared: int = 0  # of those, files whose content the database held for another repository
    files_unchanged: int = 0  # no re-parse needed
    files_deleted: int = 0  # rows removed: deleted or vanished files
    files_failed: int = 0  # written, but status partial or skipped
    definitions: int = 0  # definitions written by this run
    seconds: float = 0.0
    statuses: Counter[str] = field(default_factory=Counter)
    failures: list[tuple[str, str, str]] = field(default_factory=list)  # (path, status, reason)
    excludes: tuple[str, ...] = ()  # the --exclude patterns index_repository kept to

    def line(self) -> str:
        """The one-line summary the CLI prints."""
        return (
            f"{self.root}: {self.files_indexed} indexed, {self.files_unchanged} unchanged, "
            f"{self.files_deleted} removed, {self.files_failed} failed; "
            f"{self.definitions} definitions in {self.seconds:.2f} s"
            + (f"; {self.files_shared} shared with other repositories" if self.files_shared else "")
        )


@dataclass(slots=True)
class Plan:
    """What a run must do to bring one repository up to date."""

    listed: int  # files on disk that are indexable
    to_read: list[SourceFile]  # new, size / mtime differ from the database, or an older parser's rows
    deleted: list[str]  # in the database, no longer on disk (or now ignored)
    known: dict[str, KnownFile]
    unnamed: list[str]  # file names that are not valid UTF-8: a text column cannot hold them
    excludes: tuple[str, ...]  # the --exclude patterns it keeps to
    package_roots: PackageRoots
    renamed: set[str]  # indexed under another module name than the package roots now give


def plan(
    conn: psycopg.Connection, repo_id: int, root: Path, *, full: bool = False, excludes: Sequence[str] | None = None
) -> Plan:
    """What to read and delete; `excludes` None: the patterns the repository was last given."""
    excludes = load.recorded_excludes(conn, repo_id) if excludes is None else tuple(excludes)
    found = discover(root, excludes)
    files = [file for file in found if is_utf8_path(file.path)]
    known = load.settled_known_files(conn, repo_id)  # after an edit in progress has indexed what it wrote
    listed = {file.path for file in files}
    roots = package_roots(root)
    renamed = _renamed(conn, repo_id, files, roots)
    return Plan(
        listed=len(files),
        to_read=[file for file in files if full or file.path in renamed or _changed(file, known.get(file.path))],
        deleted=[path for path in known if path not in listed],
        known=known,
        unnamed=[file.path for file in found if not is_utf8_path(file.path)],
        excludes=excludes,
        package_roots=roots,
        renamed=renamed,
    )


def plans_of_indexed(conn: psycopg.Connection, roots: Sequence[Path], excludes: Sequence[str] | None = None) -> dict[Path, Plan]:
    """The plans of the `roots` already indexed, made before indexing them (a server's
    first pass shows whether it will write anything); hand each to index_repository."""
    found = {root: load.find_repo(conn, root) for root in roots}
    return {root: plan(conn, repo_id, root, excludes=excludes) for root, repo_id in found.items() if repo_id is not None}


def _renamed(conn: psycopg.Connection, repo_id: int, files: list[SourceFile], roots: PackageRoots) -> set[str]:
    """Indexed files whose stored module name differs from the one `roots` give: the
    packaging configuration (or a layout folder's __init__.py) changed since they were
    parsed, so they are parsed again under their new name even if their bytes did not change."""
    stored: dict[str, str] = dict(conn.execute("SELECT path, name FROM modules WHERE repo_id = %s", [repo_id]).fetchall())
    return {file.path for file in files if file.path in stored and stored[file.path] != module_name(file.path, roots).name}


def is_utf8_path(path: str) -> bool:
    """False for a name holding bytes that are not UTF-8: os.scandir and watchdog hand
    them back as lone surrogates (PEP 383), which no text column can store."""
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def index_repository(
    conn: psycopg.Connection,
    root: str | Path,
    *,
    full: bool = False,
    excludes: Sequence[str] | None = None,
    jobs: int | None = None,
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
    progress: Progress | None = None,
    work: Plan | None = None,
) -> IndexSummary:
    """Bring the index of one repository root up to date (`full`: re-parse every file).
    `excludes` are recorded for the repository and replace what it had (`()` clears
    them); None keeps to the recorded ones. `work`: its plan, made a moment ago with
    the same `full` and `excludes` (plans_of_indexed); None: made here."""
    started = time.perf_counter()
    root = resolve_root(root)
    load.prefer_speed_to_durability(conn)
    repo_id = load.ensure_repo(conn, root)
    work = plan(conn, repo_id, root, full=full, excludes=excludes) if work is None else work  # a bad pattern stops the run here
    if excludes is not None:
        load.record_excludes(conn, repo_id, work.excludes)
    summary = IndexSummary(root, files_unchanged=work.listed - len(work.to_read), excludes=work.excludes)
    for path in work.unnamed:
        summary.files_failed += 1
        readable = path.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
        summary.failures.append((readable, "skipped", "file name is not valid UTF-8: not indexed"))
    ids = load.reserve_module_ids(conn, len(work.to_read))
    tasks = [
        Task(str(root), file, _reusable_hash(work, file.path, full), max_file_bytes, module_id, repo_id, work.package_roots)
        for file, module_id in zip(work.to_read, ids, strict=True)
    ]
    if not full:  # a full run re-parses every file, whoever else holds its content
        tasks = _with_shared(conn, tasks)
    load.restore_indexes(conn)  # deferred by a run killed before it built them again
    deferred = load.defer_indexes(conn) if len(tasks) >= DEFER_INDEXES_FILES else []
    results = _read_all(tasks, jobs or os.cpu_count() or 1)
    try:
        _write(conn, repo_id, results, work.deleted, work.known, summary, len(tasks), progress, _reparser(tasks), deferred)
    finally:
        if deferred and not (conn.closed or conn.broken):
            if conn.info.transaction_status == psycopg.pq.TransactionStatus.INERROR:
                conn.rollback()
            load.restore_indexes(conn)  # (after a failure; _write built them by its end)
    load.mark_indexed(conn, repo_id)
    if summary.files_indexed or summary.files_deleted:
        load.refresh_statistics(conn)  # lookups right after a big index plan well
        load.flush_pending_index_entries(conn)  # and read no list of entries still pending
    summary.seconds = time.perf_counter() - started
    return summary


def refresh_paths(
    conn: psycopg.Connection,
    root: str | Path,
    paths: Iterable[str],
    *,
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
) -> IndexSummary:
    """Re-read exactly these repository-relative paths now: changed files re-parsed,
    missing ones removed. For callers that know what changed (watchers, servers)."""
    started = time.perf_counter()
    root = resolve_root(root)
    repo_id = load.ensure_repo(conn, root)
    wanted = sorted(set(paths))
    known = load.settled_known_files(conn, repo_id, wanted)  # after an edit in progress has indexed what it wrote
    summary = IndexSummary(root)
    roots = package_roots(root)
    ids = load.reserve_module_ids(conn, len(wanted))
    tasks = [
        Task(str(root), SourceFile(path, -1, -1), _hash_of(known.get(path)), max_file_bytes, module_id, repo_id, roots)
        for path, module_id in zip(wanted, ids, strict=True)
    ]
    tasks = _with_shared(conn, tasks)
    _write(conn, repo_id, map(_run_task, tasks), [], known, summary, len(wanted), None, _reparser(tasks), [])
    if summary.files_indexed or summary.files_deleted:
        load.flush_pending_index_entries(conn)  # searches read no pending list: edits add up over a watch
    summary.seconds = time.perf_counter() - started
    return summary


def resolve_root(root: str | Path) -> Path:
    resolved = Path(root).expanduser().resolve()
    if not resolved.is_dir():
        raise IndexingError(f"not a folder: {root}")
    return resolved


def read_and_parse(
    root: str,
    file: SourceFile,
    known_hash: str | None,
    max_file_bytes: int,
    package_roots: PackageRoots = PATH_ONLY_ROOTS,
    shared: Mapping[str, int] | None = None,
) -> ReadResult:
    """Read one file and parse it, unless its content hash shows it is unchanged. Runs in
    worker processes: every failure becomes a result, never an exception. A file that is
    not a regular file, or whose real path (links followed) leaves the root, is treated
    as gone: its rows are removed, and nothing outside the root is ever read."""
    from coderows.indexer.parse import content_hash, parse_module, skipped_module

    path = os.path.join(root, file.path)
    try:
        data, info = read_file(path, max_file_bytes, root=root)
    except (FileNotFoundError, NotADirectoryError, NotRegularFileError):
        return Vanished(file.path)
    except OutsideRootError as error:
        log.warning("%s: not read, treated as removed: %s", file.path, error)
        return Vanished(file.path)
    except FileTooLargeError as error:
        reason = f"too large: {error.size} bytes, over the {max_file_bytes}-byte limit (--max-file-size)"
        return FileVersion(skipped_module(file.path, reason, package_roots=package_roots), error.info.st_size, error.info.st_mtime_ns)
    except OSError as error:
        unreadable = skipped_module(file.path, f"unreadable: {error.strerror}", package_roots=package_roots)
        return FileVersion(unreadable, *_current_stat(path, file))
    known = _known_content(file.path, content_hash(data), info, known_hash, shared)
    if known is not None:
        return known
    return FileVersion(parse_module(file.path, data, package_roots), info.st_size, info.st_mtime_ns)


def _known_content(
    path: str, digest: str, info: os.stat_result, known_hash: str | None, shared: Mapping[str, int] | None
) -> Unchanged | SharedFile | None:
    """What a file whose bytes hash to `digest` is when it needs no parsing: unchanged
    (the repository holds these bytes), or shared (the database holds them under this
    path and name); None when it must be parsed."""
    if known_hash is not None and digest == known_hash:
        return Unchanged(path, info.st_size, info.st_mtime_ns)
    if shared and digest in shared:
        return SharedFile(path, shared[digest], info.st_size, info.st_mtime_ns)
    return None


def _current_stat(path: str, file: SourceFile) -> tuple[int, int]:
    """(size, mtime_ns) of a file that could not be read, for its skipped row; what the
    walk saw when even stat fails."""
    try:
        info = os.stat(path)
    except OSError:
        return max(file.size, 0), max(file.mtime_ns, 0)
    return info.st_size, info.st_mtime_ns


def _changed(file: SourceFile, known: KnownFile | None) -> bool:
    """Whether the file must be read: new, its stat changed, or its rows made by an older
    parser (however old the stat)."""
    return known is None or not known.current or _stat_differs(file, known)


def only_an_older_parsers(file: SourceFile, known: KnownFile | None) -> bool:
    """Whether the file is to be read only because an older parser made its rows: its
    stat is what the database holds (coderows status counts these apart)."""
    return known is not None and not known.current and not _stat_differs(file, known)


def _stat_differs(file: SourceFile, known: KnownFile) -> bool:
    return known.size != file.size or known.mtime_ns != file.mtime_ns


def _reusable_hash(work: Plan, path: str, full: bool) -> str | None:
    """The stored hash a worker may skip an unchanged file by; None when it must parse."""
    return None if full or path in work.renamed else _hash_of(work.known.get(path))


def _hash_of(known: KnownFile | None) -> str | None:
    """The hash a worker may skip the file by: none when an older parser made its rows."""
    return known.content_hash if known is not None and known.current else None


def _with_shared(conn: psycopg.Connection, tasks: list[Task]) -> list[Task]:
    """The tasks, each knowing which contents the database holds for its path under the
    module name this repository gives it: a worker that reads one of them does not parse."""
    names = {task.file.path: module_name(task.file.path, task.package_roots).name for task in tasks}
    shareable = load.shareable_contents(conn, names)
    return [replace(task, shared=shareable[task.file.path]) if task.file.path in shareable else task for task in tasks]


def _reparser(tasks: list[Task]) -> Callable[[str], TaskResult]:
    """Runs a path's task again, parsing whatever contents it was told of: for a shared
    file whose content another repository freed before the write."""
    by_path = {task.file.path: task for task in tasks}
    return lambda path: _run_task(replace(by_path[path], shared={}))


def _run_task(task: Task) -> TaskResult:
    result = read_and_parse(task.root, task.file, task.known_hash, task.max_file_bytes, task.package_roots, task.shared)
    if isinstance(result, FileVersion):
        return encode(task.module_id, task.repo_id, result)
    return result


def _run_chunk(chunk: list[Task]) -> list[TaskResult]:
    return [_run_task(task) for task in chunk]


def _read_all(tasks: list[Task], jobs: int) -> Iterator[TaskResult]:
    """Results of all tasks, in worker processes when there are enough of them.

    A worker can die of a native crash in a parser (tree-sitter-python#350 was one): its
    tasks are then run again one file per throwaway process, so the run finishes and the
    file that kills its process is recorded as skipped, never waited for forever."""
    if jobs <= 1 or len(tasks) < IN_PROCESS_LIMIT:
        yield from map(_run_task, tasks)
        return
    import coderows.indexer.parse  # noqa: F401  # once, here: forked workers inherit it loaded

    tasks = yield from _unparsed_in_process(tasks)
    if len(tasks) < IN_PROCESS_LIMIT:
        yield from map(_run_task, tasks)
        return

    from concurrent.futures import ProcessPoolExecutor, as_completed
    from concurrent.futures.process import BrokenProcessPool

    _drop_queued_work_at_exit()  # registered after the imports above: see its docstring
    context = _worker_context()
    parent = os.getpid()  # every worker is our own child: it watches for our death
    size = max(1, min(16, len(tasks) // (jobs * 8)))
    chunks = [tasks[start : start + size] for start in range(0, len(tasks), size)]
    lost: list[Task] = []
    pool = ProcessPoolExecutor(min(jobs, len(chunks)), mp_context=context, initializer=_die_with_parent, initargs=(parent,))
    with _live_pools_lock:
        _live_pools.add(pool)
    try:
        pending = {pool.submit(_run_chunk, chunk): chunk for chunk in chunks}  # until consumed
        for future in as_completed(list(pending)):
            if future.cancelled():  # only _drop_queued_work cancels
                raise IndexingError("indexing stopped: coderows is exiting; the next run finishes it")
            results = future.result()
            del pending[future]  # its results are passed on: let them go
            yield from results
    except BrokenProcessPool:
        lost = [task for chunk in pending.values() for task in chunk]
    finally:
        # Also when the caller stops early (a database error, Ctrl-C): drop queued work.
        pool.shutdown(wait=True, cancel_futures=True)
        with _live_pools_lock:
            _live_pools.discard(pool)
    for task in lost:
        yield _run_isolated(task, context)


def _unparsed_in_process(tasks: list[Task]) -> Generator[TaskResult, None, list[Task]]:
    """Yields the results of the tasks whose file turns out to need no parsing (its
    bytes are the content the database holds for it, or that another repository holds
    at its path); returns the others. Reading and hashing here costs less than a trip
    through the workers: a second Django checkout's 2,823 files (2,813 shared) are read
    in 0.44 s here, 0.60 s through two workers (medians of 5, side by side, load 11)."""
    from coderows.indexer.parse import content_hash

    left = []
    for task in tasks:
        if task.known_hash is None and not task.shared:
            left.append(task)  # nothing to compare with: parsed
            continue
        try:
            data, info = read_file(os.path.join(task.root, task.file.path), task.max_file_bytes, root=task.root)
        except OSError:  # gone, unsafe, too large or unreadable: read_and_parse says which
            left.append(task)
            continue
        known = _known_content(task.file.path, content_hash(data), info, task.known_hash, task.shared)
        if known is None:
            left.append(task)  # read again by its worker: a changed file costs one more read, not a parse
        else:
            yield known
    return left


def _drop_queued_work() -> None:
    """At interpreter exit, cancel the chunks still queued in every pool: concurrent.futures
    joins its pools at exit, so a run on a daemon thread (a watcher, a server's first
    pass) would otherwise keep the exiting process, and its workers, parsing to the end."""
    if os.getpid() != _POOLS_OWNER:
        # A forked worker inherits this hook and a copy of the parent's pools, whose locks
        # may have been held at the fork: touching them would hang the worker's exit (and
        # the parent's shutdown waiting for it).
        return
    with _live_pools_lock:
        pools = list(_live_pools)
    for pool in pools:
        pool.shutdown(wait=False, cancel_futures=True)


_drop_hook_registered = False


def _drop_queued_work_at_exit() -> None:
    """Register _drop_queued_work, once, after concurrent.futures.process is imported:
    threading's exit hooks run last-registered first, so it runs before the one that
    module registers on import, which joins the pools. (Registered on the first run that
    starts workers, not at import: a run with nothing to do does not import the pools.)"""
    global _drop_hook_registered
    with _live_pools_lock:
        if not _drop_hook_registered:
            threading._register_atexit(_drop_queued_work)  # type: ignore[attr-defined]
            _drop_hook_registered = True


if TYPE_CHECKING:
    WorkerContext = multiprocessing.context.ForkContext | multiprocessing.context.SpawnContext


def _worker_context() -> WorkerContext:
    """fork is fastest, but forking a multi-threaded process (an MCP server, a watcher)
    can deadlock: those spawn. Never forkserver: its server process and the workers it
    forks outlive a killed indexer (each holds the pipe whose end would stop the other)."""
    import multiprocessing

    if threading.active_count() == 1:
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


def _die_with_parent(parent: int) -> None:
    """Make a worker end when the indexer process `parent` ends, however it ends (SIGKILL
    included): an orphaned worker of a ProcessPoolExecutor would otherwise wait for work
    forever, and keep multiprocessing's resource tracker alive with it. Linux kills us at
    once (PR_SET_PDEATHSIG); everywhere a thread also notices our parent is gone.
    A parser crash in a worker is expected and handled (its files are retried one per
    process and recorded as skipped), so no fault handler inherited from the parent (pytest,
    python -X faulthandler) prints a "Fatal Python error" stack for it."""
    import faulthandler

    faulthandler.disable()
    if sys.platform.startswith("linux"):
        import ctypes
        import signal

        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # it died before the line above took effect
        os._exit(1)
    threading.Thread(target=_exit_when_orphaned, args=(parent,), name="coderows-parent-watch", daemon=True).start()


def _exit_when_orphaned(parent: int) -> None:
    """Poll the parent pid: an orphan is re-parented (to init or a subreaper), so a change
    means the indexer died. PR_SET_PDEATHSIG alone also fires when the forking *thread*
    ends, and is Linux-only."""
    while os.getppid() == parent:
        time.sleep(PARENT_POLL_SECONDS)
    os._exit(1)


def _run_isolated(task: Task, context: WorkerContext) -> TaskResult:
    """_run_task in a process of its own, so that a crash costs only this file."""
    reader, writer = context.Pipe(duplex=False)
    process = context.Process(target=_run_into_pipe, args=(task, writer, os.getpid()), daemon=True)
    process.start()
    writer.close()
    try:
        result: TaskResult | None = reader.recv()
    except EOFError:  # the process died before answering
        result = None
    finally:
        reader.close()
        process.join()
    if result is not None:
        return result
    if process.exitcode is None or process.exitcode >= 0:
        # Not killed by a signal: the process could not run at all (not this file's fault).
        # Fail the run rather than record every file as skipped under its current stat.
        raise IndexingError(f"a parser process failed to run (exit code {process.exitcode}) on {task.file.path}")
    from coderows.indexer.parse import skipped_module

    reason = f"the parser crashed on this file (its process died of signal {-process.exitcode})"
    crashed = skipped_module(task.file.path, reason, package_roots=task.package_roots)
    return encode(task.module_id, task.repo_id, _stat_version(task, crashed))


def _run_into_pipe(task: Task, writer: multiprocessing.connection.Connection, parent: int) -> None:
    _die_with_parent(parent)
    writer.send(_run_task(task))
    writer.close()


def _stat_version(task: Task, module: ParsedModule) -> FileVersion:
    """`module` under the file's current stat: an unchanged crasher is not retried."""
    try:
        info = os.stat(os.path.join(task.root, task.file.path))
    except OSError:
        return FileVersion(module, max(task.file.size, 0), max(task.file.mtime_ns, 0))
    return FileVersion(module, info.st_size, info.st_mtime_ns)


def _write(
    conn: psycopg.Connection,
    repo_id: int,
    results: Iterable[TaskResult],
    deleted: list[str],
    known: dict[str, KnownFile],
    summary: IndexSummary,
    total: int,
    progress: Progress | None,
    reparse: Callable[[str], TaskResult],
    deferred: list[str],
) -> None:
    """Write results in batches, one transaction each; deletions go with the first. A
    single batch resolves its names in its own transaction (read-your-writes for
    watchers); more batches resolve once, after the last.
    `known` is what the database held when the run was planned: a deletion only applies
    to rows that are still those (load.write_batch checks under the lock). A shared file
    whose content was freed before its batch was written is parsed (`reparse`) and goes
    with the next batch."""
    batch = _Batch(gone=[(path, known.get(path)) for path in deleted])
    batches = 0
    for done, result in enumerate(results, 1):
        batch.add(result, known, summary)
        if batch.is_full():
            batch = _flush(conn, repo_id, batch, known, summary, reparse, resolve=False)
            batches += 1
        if progress is not None:
            progress(done, total)
    while not batch.is_empty():
        batch = _flush(conn, repo_id, batch, known, summary, reparse, resolve=batches == 0)
        batches += 1
    if not deferred:
        # What batches written with resolve=False left, or a run killed before its end did.
        load.resolve_stale(conn, repo_id)
        return
    # Indexes dropped for the load (load.defer_indexes): resolving reads through some,
    # built here first; the others at the same time on a second connection. Resolved,
    # this connection builds what that one has not started yet; the statistics are
    # taken by whichever is done first (ANALYZE before would wait for the other's locks).
    with load.restoring_indexes_meanwhile(conn, leaving=load.RESOLUTION_INDEXES):
        load.restore_indexes(conn, load.RESOLUTION_INDEXES)
        load.resolve_stale(conn, repo_id, statistics=False)
        load.restore_indexes_shared(conn)
        load.refresh_content_statistics(conn)
    load.restore_indexes(conn)  # those the second connection could not build


@dataclass(slots=True)
class _Batch:
    """Results waiting to be written in one transaction."""

    parsed: list[EncodedFile] = field(default_factory=list)
    shared: list[SharedFile] = field(default_factory=list)
    touched: list[tuple[str, int, int]] = field(default_factory=list)
    gone: list[tuple[str, KnownFile | None]] = field(default_factory=list)
    source_chars: int = 0

    def add(self, result: TaskResult, known: dict[str, KnownFile], summary: IndexSummary) -> None:
        if isinstance(result, EncodedFile):
            self.parsed.append(result)
            self.source_chars += result.source_chars
            _count(summary, result)
        elif isinstance(result, SharedFile):
            self.shared.append(result)  # counted once written: its content may be gone by then
        elif isinstance(result, Unchanged):
            self.touched.append((result.path, result.size, result.mtime_ns))
            summary.files_unchanged += 1
        else:
            self.gone.append((result.path, known.get(result.path)))

    def is_full(self) -> bool:
        # A shared file or a new stat is one short row, not a file's parsed rows: a batch
        # takes CHEAP_ROWS_PER_FILE of them for each parsed file it could hold (a second
        # Django checkout wrote its 2,813 shared files in 45 transactions, 0.45 s of 1.5 s).
        cheap = len(self.shared) + len(self.touched)
        files = len(self.parsed) + cheap / CHEAP_ROWS_PER_FILE
        return files >= BATCH_FILES or self.source_chars >= BATCH_SOURCE_BYTES

    def is_empty(self) -> bool:
        return not (self.parsed or self.shared or self.touched or self.gone)


def _flush(
    conn: psycopg.Connection,
    repo_id: int,
    batch: _Batch,
    known: dict[str, KnownFile],
    summary: IndexSummary,
    reparse: Callable[[str], TaskResult],
    *,
    resolve: bool,
) -> _Batch:
    """Write the batch; returns the next one, holding the shared files it could not write,
    parsed now."""
    missing = load.write_batch(conn, repo_id, batch.parsed, batch.touched, batch.gone, shared=batch.shared, resolve=resolve)
    summary.files_deleted += _had_rows(batch.gone)
    summary.files_indexed += len(batch.shared) - len(missing)
    summary.files_shared += len(batch.shared) - len(missing)
    following = _Batch()
    for file in missing:
        following.add(reparse(file.path), known, summary)
    return following


def _had_rows(gone: list[tuple[str, KnownFile | None]]) -> int:
    return sum(1 for _, decided_on in gone if decided_on is not None)


def _count(summary: IndexSummary, file: EncodedFile) -> None:
    summary.files_indexed += 1
    summary.definitions += file.definition_count
    summary.statuses[file.parse_status] += 1
    if file.parse_status in ("partial", "skipped"):
        summary.files_failed += 1
        summary.failures.append((file.path, file.parse_status, file.parse_error or ""))
