"""Never stale: the server's one boundary to the indexer (the write side).

Everything the server needs the indexer for goes through this module, so that the rest
of the server only reads:
- `refresh`: compare the files behind rows with disk before answering from them. A row is
  trusted when its file's size and mtime_ns still equal what the indexer saw; that costs
  one stat per file. Files that differ or vanished are re-read through the indexer
  (refresh_paths), and the caller runs its query again, so an agent that has just edited
  a file with its own tools reads its edit in the very next answer.
- `BackgroundIndexer`: bring the served roots up to date at start, follow their changes
  (the indexer's Watcher), and catch up when a lookup misses.
- `targets_through_variables`: the resolver asked at query time about uses the index
  left unresolved because they go through a variable (it keeps no rows for variables).
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import psycopg

from coderows.common.files import inside
from coderows.db.connection import DatabaseError, connect, first_line
from coderows.server.rows import FileStamp

if TYPE_CHECKING:
    from coderows.indexer.pipeline import Plan
    from coderows.indexer.watch import BatchReport, Watcher

log = logging.getLogger(__name__)

# Two tool calls that notice the same edit must not re-index the same file at once.
_refresh_lock = threading.Lock()


def stale_paths(stamps: Iterable[FileStamp]) -> dict[str, list[str]]:
    """Repository root -> repo-relative paths whose file changed or vanished on disk."""
    stale: dict[str, list[str]] = {}
    for stamp in set(stamps):
        if not _matches_disk(stamp):
            stale.setdefault(stamp.root, []).append(stamp.path)
    return {root: sorted(paths) for root, paths in stale.items()}


def _matches_disk(stamp: FileStamp) -> bool:
    try:
        info = os.stat(os.path.join(stamp.root, stamp.path))
    except OSError:  # vanished or unreadable: either way the rows must go
        return False
    return info.st_size == stamp.size and info.st_mtime_ns == stamp.mtime_ns


def refresh(conn: psycopg.Connection, stamps: Iterable[FileStamp]) -> bool:
    """Re-index the files behind `stamps` that changed on disk; True if any did."""
    stale = stale_paths(stamps)
    if not stale:
        return False
    from coderows.indexer.pipeline import index_repository, refresh_paths  # the indexer is heavy to import

    refreshed = False
    with _refresh_lock:
        for root, paths in stale.items():
            if not os.path.isdir(root) or os.path.realpath(root) != root:
                # The whole repository moved, is on another machine, or its folder is now a
                # link to somewhere else: its rows are all there is, so they are answered as
                # indexed (index_status shows the root); nothing is read through the link.
                continue
            leaving = [path for path in paths if not _inside(root, path)]
            if leaving:
                # A file or folder became a link out of the repository since it was indexed
                # (a checkout can do that): reading it would return text from outside the
                # indexed roots. The indexer's walk never follows a link out of the root, so
                # re-indexing the root drops those rows (and re-reads the other changed files).
                log.warning("%s: %s now lead(s) outside the repository: dropping their rows", root, ", ".join(leaving[:5]))
                index_repository(conn, Path(root))
            else:
                log.info("re-indexing %d changed file(s) under %s: %s", len(paths), root, ", ".join(paths[:5]))
                refresh_paths(conn, Path(root), paths)
            refreshed = True
    return refreshed


def _inside(root: str, path: str) -> bool:
    """Whether root/path, every symbolic link followed, is still a file under `root`."""
    return inside(os.path.realpath(os.path.join(root, path)), root)


# How long an answer waits for the first pass to learn whether it will write anything.
CHECK_WAIT_SECONDS = 5.0


@dataclass
class RootProgress:
    """What the background indexer has done for one root."""

    root: Path
    state: Literal["waiting", "indexing", "done", "failed"] = "waiting"
    started: float | None = None
    finished: float | None = None
    detail: str = ""
    last_change: str = ""
    unchanged: bool = False  # the first pass found the index already matching the disk


@dataclass
class BackgroundIndexer:
    """Brings the served roots up to date, then follows their changes on disk (the
    indexer's Watcher), so that tools answer meanwhile from what is already indexed and
    the index stays live while the server runs; index_status reports where it is."""

    database_url: str
    roots: list[Path]
    watch: bool = True  # follow changes after the first pass (coderows serve --no-watch: False)
    progress: list[RootProgress] = field(default_factory=list)
    _thread: threading.Thread | None = None
    _watcher: Watcher | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _catch_up_lock: threading.Lock = field(default_factory=threading.Lock)
    _checked: threading.Event = field(default_factory=threading.Event)  # the first pass knows what it will do
    _indexed_ahead: set[tuple[Path, str]] = field(default_factory=set)  # index_wanted's files, this first pass

    def __post_init__(self) -> None:
        self.progress = [RootProgress(root) for root in self.roots]

    def start(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._first_pass, name="coderows-index", daemon=True)
                self._thread.start()

    @property
    def running(self) -> bool:
        """True during the first pass over the roots."""
        return self._thread is not None and self._thread.is_alive()

    def _first_pass(self) -> None:
        usable = []
        try:
            for item in self.progress:
                if item.root.is_dir():
                    item.state, item.started = "indexing", time.time()
                    usable.append(item)
                else:
                    item.state, item.detail, item.finished = "failed", f"not a folder: {item.root}", time.time()
            if usable:
                self._note_new_roots(usable)
                self._index(usable)
        finally:
            self._checked.set()  # whatever happened, answers stop waiting for _on_plans

    def _note_new_roots(self, usable: list[RootProgress]) -> None:
        """When no root is indexed yet, the first pass will write to each: answers need not
        wait for its plans to know that (they come after the roots are watched, which on a
        large tree takes a while, and the first answer would wait for it)."""
        from coderows.indexer import load

        try:
            with connect(self.database_url, autocommit=True) as conn:
                new = all(load.find_repo(conn, item.root) is None for item in usable)
        except (DatabaseError, psycopg.Error):  # the plans will tell
            return
        if new:
            self._checked.set()

    def _index(self, usable: list[RootProgress]) -> None:
        from coderows.indexer.watch import Watcher

        if not self.watch:
            self._index_once(usable)
            return
        try:
            # The Watcher indexes each root first, keeping the events that arrive meanwhile;
            # while the database is down it waits for it, then catches up.
            roots = [item.root for item in usable]
            self._watcher = Watcher(self.database_url, roots, on_batch=self._on_batch, on_plans=self._on_plans)
            self._watcher.start()
            self._watcher.wait_ready()
        except Exception as error:  # reported by index_status; lookups still catch up on misses
            log.warning("cannot follow changes under %s: %s", ", ".join(str(i.root) for i in usable), error)
            for item in usable:
                item.state, item.detail, item.finished = "failed", first_line(error), time.time()
            return
        for item in usable:
            item.state, item.finished = "done", time.time()

    def _on_plans(self, plans: dict[Path, Plan]) -> None:
        """The first pass's plans, before it writes: a root whose index already matches the
        disk makes its pass a no-op, so answers need no "still indexing" note meanwhile (the
        pass still runs: the watcher follows changes from its end, and index_status says
        so only then). A root without a plan (new, or it could not be planned) counts as
        being indexed."""
        for item in self.progress:
            work = plans.get(item.root)
            item.unchanged = work is not None and not (work.to_read or work.deleted or work.renamed)
        self._checked.set()

    def _index_once(self, usable: list[RootProgress]) -> None:
        """The first pass without a watcher: one incremental index of each root, by the
        plans _on_plans was shown."""
        from coderows.indexer.pipeline import IndexingError, index_repository, plans_of_indexed

        plans: dict[Path, Plan] = {}
        try:
            with connect(self.database_url, autocommit=True) as conn:
                plans = plans_of_indexed(conn, [item.root for item in usable])
        except (DatabaseError, psycopg.Error, OSError, ValueError) as error:  # each run plans (and reports) itself
            log.info("cannot plan the first pass: %s", first_line(error))
        self._on_plans(plans)
        for item in usable:
            try:
                with connect(self.database_url, autocommit=True) as conn:
                    summary = index_repository(conn, item.root, work=plans.get(item.root))
            except (DatabaseError, IndexingError, psycopg.Error) as error:
                item.state, item.detail, item.finished = "failed", first_line(error), time.time()
                continue
            item.state, item.finished = "done", time.time()
            item.detail = f"{summary.files_indexed} files (re)indexed, {summary.files_deleted} deleted, {summary.files_failed} failed in {summary.seconds:.1f} s"

    def _on_batch(self, report: BatchReport) -> None:
        """Runs on the watcher's thread for every batch that wrote rows."""
        summary = report.summary
        text = (
            f"{summary.files_indexed} files (re)indexed, {summary.files_deleted} deleted, "
            f"{summary.files_failed} failed in {summary.seconds:.1f} s"
        )
        for item in self.progress:
            if item.root == report.root:
                if report.reason == "start":
                    item.detail = text
                else:
                    item.last_change = f"{time.strftime('%H:%M:%S')}: {text} ({report.reason})"

    def stop(self) -> None:
        if self._watcher is not None:
            self._watcher.stop()

    def catch_up(self, conn: psycopg.Connection, wanted: str | None = None) -> bool:
        """Incrementally re-index the served roots now, after a lookup of `wanted` (a name
        or path as the agent wrote it) missed: a definition the agent has just written is
        then found. Over an unchanged repository this is a walk and a stat per file (0.1 s
        for django's 2,800 files): cheap enough for every miss, and throttling it would
        hide a file written between two quick calls. While the first pass is still going,
        only the file `wanted` names is indexed (index_wanted); False when there is none."""
        if not self.roots:
            return False
        if self.running:
            return self.index_wanted(conn, wanted)
        from coderows.indexer.pipeline import IndexingError, index_repository

        with self._catch_up_lock:  # concurrent misses walk the tree one after the other
            for root in self.roots:
                try:
                    index_repository(conn, root)
                except IndexingError as error:  # e.g. the root was removed: answer from the index
                    log.warning("cannot bring %s up to date: %s", root, error)
        return True

    def index_wanted(self, conn: psycopg.Connection, wanted: str | None) -> bool:
        """Index now, ahead of the first pass, the file that `wanted` names (wanted_files),
        so that the first answer does not wait for the whole pass: a served root's file
        not indexed by this server yet, not ignored, reached through no symbolic link.
        True when one was indexed. The first pass writes it again later (the same rows,
        its cross-references resolved with the rest)."""
        if not wanted:
            return False
        from coderows.indexer.pipeline import refresh_paths

        found = [(root, path) for root in self.roots if (path := self._wanted_file(conn, root, wanted)) is not None]
        with _refresh_lock:
            for root, path in found:
                log.info("indexing %s under %s ahead of the first pass: an answer needs it", path, root)
                refresh_paths(conn, root, [path])
                self._indexed_ahead.add((root, path))
        return bool(found)

    def _wanted_file(self, conn: psycopg.Connection, root: Path, wanted: str) -> str | None:
        """The first of wanted_files(wanted) that is a file the first pass will index under
        `root` (by the excludes the root was last indexed with), unless already done."""
        from coderows.indexer import load
        from coderows.indexer.discover import IgnoreRules

        rules: IgnoreRules | None = None
        for path in wanted_files(wanted):
            if (root, path) in self._indexed_ahead:
                return None
            full = os.path.join(root, path)
            if not os.path.isfile(full) or os.path.realpath(full) != full:
                continue
            if rules is None:
                repo_id = load.find_repo(conn, root)
                rules = IgnoreRules(root, () if repo_id is None else load.recorded_excludes(conn, repo_id))
            return None if rules.is_ignored(path, False) else path
        return None

    def progress_note(self) -> str:
        """A last line for every answer while the initial index is still writing rows
        (not while it only finds that nothing changed). Waits for that finding (a walk and a
        stat per file), so that whether an answer carries the note never depends on timing."""
        if not self.running:
            return ""
        self._checked.wait(CHECK_WAIT_SECONDS)
        indexing = [str(p.root) for p in self.progress if p.state == "indexing" and not p.unchanged]
        if not indexing or not self.running:
            return ""
        return f"\n[note: still indexing {', '.join(indexing)}; this answer may be incomplete (index_status shows progress)]"

    def status_lines(self) -> list[str]:
        lines = []
        now = time.time()
        for item in self.progress:
            if item.state == "indexing":
                lines.append(
                    f"indexing {item.root} in the background for {now - (item.started or now):.0f} s: "
                    "answers come from what is indexed so far"
                )
            elif item.state == "failed":
                lines.append(f"indexing {item.root} failed: {item.detail}")
            elif item.state == "waiting":
                lines.append(f"waiting to index {item.root}")
            else:
                done = item.detail or "nothing had changed since the last index"
                following = "following changes" if self.watch else "not following changes (--no-watch)"
                lines.append(f"up to date since the server started, {following}: {item.root} ({done})")
                if item.last_change:
                    lines.append(f"  last change applied at {item.last_change}")
        return lines


_PATH_LINE = re.compile(r"^(.+\.py):\d+$")


def wanted_files(wanted: str) -> list[str]:
    """Repository-relative paths of the files a name or path, as the agent wrote it, can
    be defined in, most specific first: `pkg/mod.py` or `pkg/mod.py:LINE` is that file;
    `pkg.mod.Class.meth` or `pkg.mod:Class.meth` is the module of each leading part of the
    dotted name, longest first, as `pkg/mod.py`, `pkg/mod/__init__.py` or under `src/`.
    A name without a dot says nothing of its file."""
    text = wanted.strip().strip("`").removesuffix("()")
    at_line = _PATH_LINE.match(text)
    if at_line or text.endswith(".py"):
        path = at_line.group(1) if at_line else text
        return [path.removeprefix("./")] if _plain_path(path) else []
    module = text.partition(":")[0] if ":" in text else text
    parts = module.split(".")
    if (len(parts) < 2 and ":" not in text) or not all(part.isidentifier() for part in parts):
        return []
    found = []
    for end in range(len(parts), 0, -1):
        folder = "/".join(parts[:end])
        found += [f"{folder}.py", f"{folder}/__init__.py", f"src/{folder}.py", f"src/{folder}/__init__.py"]
    return found


def _plain_path(path: str) -> bool:
    """A relative path that stays below the folder it is relative to."""
    parts = path.removeprefix("./").split("/")
    return not path.startswith("/") and all(part not in ("", ".", "..") for part in parts)


def refresh_changed(conn: psycopg.Connection, root: str, paths: Iterable[str]) -> None:
    """Re-index files an edit found changed on disk since their rows were read, before it
    decides again (what an edit writes itself goes through write_and_refresh)."""
    from coderows.indexer.pipeline import refresh_paths

    with _refresh_lock:
        refresh_paths(conn, Path(root), list(paths))


def write_and_refresh(conn: psycopg.Connection, written: Mapping[str, Sequence[str]], write: Callable[[], None]) -> None:
    """Run `write` (coderows's own edit writing files) and re-index what it wrote (root ->
    paths) as one step to every other indexer: the repositories' locks are held on `conn`
    from before the first byte is written until the last file's rows are committed, and
    indexers read what is indexed only under them (load.settled_known_files), so the
    watcher finds the edit indexed and does not parse it again. Lock order: load.py."""
    from coderows.indexer import load
    from coderows.indexer.pipeline import refresh_paths, resolve_root

    with _refresh_lock:
        roots = {root: resolve_root(root) for root in sorted(written)}
        with load.repositories_held(conn, [load.ensure_repo(conn, resolved) for resolved in roots.values()]):
            write()
            for root, resolved in roots.items():
                refresh_paths(conn, resolved, list(written[root]))


def catch_up_repository(conn: psycopg.Connection, root: str) -> None:
    """Bring one repository's rows up to date with its folder (an incremental index: a
    walk and a stat per file), before a decision that needs every use of a name."""
    from coderows.indexer.pipeline import index_repository

    with _refresh_lock:
        index_repository(conn, Path(root))


def targets_through_variables(conn: psycopg.Connection, repo_id: int, full_names: list[str], name: str) -> list[str]:
    """Targets used in the repository that the index left unresolved and that reach one
    of `full_names` through a variable (`current_app.make_response`): indexer/variables.py."""
    from coderows.indexer.variables import targets_through_variables as through_variables

    return through_variables(conn, repo_id, full_names, name)
