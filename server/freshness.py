"""Never stale: compare the files behind rows with disk before answering from them.

A row is trusted when its file's size and mtime_ns still equal what the indexer saw;
that costs one stat per file. Files that differ or vanished are re-read through the
indexer (refresh_paths), and the caller runs its query again, so an agent that has
just edited a file with its own tools reads its edit in the very next answer.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterable
from pathlib import Path

import psycopg

from coderows.server.query import FileStamp

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
    real = os.path.realpath(os.path.join(root, path))
    return real.startswith(root.rstrip("/") + "/")
