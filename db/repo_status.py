"""What each indexed repository is: its counts in the database, and where its root
stands on disk now (gone, or its git branch and commit).

`coderows status` and the index_status tool both show it, each in its own words; this
module is below both (the CLI does not reach into the server for it).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import psycopg
from psycopg.rows import class_row

from coderows.common.files import read_file


@dataclass(frozen=True)
class RepoStatus:
    id: int
    root: str
    name: str
    indexed_at: datetime | None  # None until an index run of it completes
    modules: int
    symbols: int
    not_ok: int
    excludes: list[str]

    @property
    def last_indexed(self) -> str:
        return self.indexed_at.isoformat(timespec="seconds") if self.indexed_at else "never completed"


def repo_statuses(conn: psycopg.Connection) -> list[RepoStatus]:
    # One pass over each table for all repositories (a count per repository would scan
    # definitions once per repository: 1.4 s for eight of them, 4.5M lines).
    sql = """
        WITH counted AS (
            SELECT repo_id, count(*) AS modules, count(*) FILTER (WHERE parse_status <> 'ok') AS not_ok
            FROM modules GROUP BY repo_id
        ), defined AS (
            SELECT repo_id, count(*) AS symbols FROM definitions GROUP BY repo_id
        )
        SELECT r.id, r.root, r.name, r.indexed_at, coalesce(f.modules, 0) AS modules,
               coalesce(d.symbols, 0) AS symbols, coalesce(f.not_ok, 0) AS not_ok, r.excludes
        FROM repos r LEFT JOIN counted f ON f.repo_id = r.id LEFT JOIN defined d ON d.repo_id = r.id
        ORDER BY r.root
    """
    with conn.cursor(row_factory=class_row(RepoStatus)) as cur:
        return cur.execute(sql).fetchall()


@dataclass(frozen=True)
class GitCheckout:
    """Where a repository root stands in git: its branch (None when detached) and commit."""

    branch: str | None
    commit: str | None


def git_checkout(root: str) -> GitCheckout | None:
    """The branch and commit of a root that is a git checkout or worktree, read from
    .git (a folder, or for a worktree a file naming its git dir); None otherwise. Reads
    only small regular files, so a hostile .git cannot hang or flood us."""
    git_dir = _git_dir(Path(root))
    if git_dir is None:
        return None
    head = _small_text(git_dir / "HEAD")
    if head is None:
        return None
    head = head.strip()
    if not head.startswith("ref: "):
        return GitCheckout(None, head[:40] or None)
    ref = head[5:].strip()
    branch = ref.removeprefix("refs/heads/")
    common = _common_dir(git_dir)
    commit = _small_text(git_dir / ref) or _small_text(common / ref) or _packed_ref(common, ref)
    return GitCheckout(branch, commit.strip()[:40] if commit else None)


def _git_dir(root: Path) -> Path | None:
    dot_git = root / ".git"
    if dot_git.is_dir() and not dot_git.is_symlink():
        return dot_git
    text = _small_text(dot_git)
    if text and text.startswith("gitdir: "):
        target = Path(text[8:].strip())
        return target if target.is_absolute() else (root / target)
    return None


def _common_dir(git_dir: Path) -> Path:
    """A worktree's git dir names the main repository's in `commondir`."""
    text = _small_text(git_dir / "commondir")
    if not text:
        return git_dir
    common = Path(text.strip())
    return common if common.is_absolute() else git_dir / common


def _packed_ref(common: Path, ref: str) -> str | None:
    text = _small_text(common / "packed-refs", limit=4 * 1024 * 1024)
    for line in (text or "").splitlines():
        commit, _, name = line.partition(" ")
        if name == ref:
            return commit
    return None


def _small_text(path: Path, limit: int = 64 * 1024) -> str | None:
    """The text of a regular file of at most `limit` bytes; None for anything else (a
    FIFO would block a plain open, /dev/zero would never end)."""
    try:
        data, _ = read_file(str(path), limit)
    except OSError:  # missing, unreadable, not a regular file, or too large
        return None
    return data.decode("utf-8", errors="replace")


@dataclass(frozen=True)
class RepoPlace:
    """A repository root as it is on disk now: whether it still exists, and its git
    checkout. Status answers show it beside what the database holds."""

    exists: bool
    git: GitCheckout | None


def repo_place(root: str) -> RepoPlace:
    exists = os.path.isdir(root)
    return RepoPlace(exists, git_checkout(root) if exists else None)


def place_note(place: RepoPlace | None) -> str:
    """`  [git main @ 1a2b3c4d]`, or a note that the root is gone from disk."""
    if place is None:
        return ""
    if not place.exists:
        return "  [root no longer on disk: `coderows forget ROOT` removes it]"
    if place.git is None:
        return ""
    commit = (place.git.commit or "?")[:10]
    return f"  [git {place.git.branch} @ {commit}]" if place.git.branch else f"  [git detached @ {commit}]"
