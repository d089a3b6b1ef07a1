"""Which repositories an answer comes from: the server's scope.

One database holds many repositories (projects, checkouts, git worktrees). A server
answers from the repositories of the roots it serves, unless a tool call names another
with `repo`: a repository's name, its root path, or `*` for every repository. A server
started without roots answers from every repository.

Whenever more than one repository is in scope, answers name each definition's
repository (render.py groups by it) and every follow-up call they suggest carries
`repo=...`, so that it works as written.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import psycopg

from coderows.common.files import read_file

EVERY_REPOSITORY = "*"


class UnknownRepository(ValueError):
    """`repo` names no indexed repository; the message lists those that exist."""


@dataclass(frozen=True)
class Scope:
    """The repositories one tool call answers from."""

    repo_ids: tuple[int, ...] | None  # None: every repository in the database
    many: bool  # more than one repository: answers name each definition's repository
    shared: bool  # the database holds other repositories too: SQL hints filter by repo_id

    @property
    def ids(self) -> list[int] | None:
        return None if self.repo_ids is None else list(self.repo_ids)


def resolve_scope(conn: psycopg.Connection, repo: str | None, roots: Sequence[Path]) -> Scope:
    """The scope of a call: `repo` when given, else the served roots' repositories,
    else (a server without roots) every repository."""
    repos = conn.execute("SELECT id, name, root FROM repos ORDER BY id").fetchall()
    if (repo is not None and repo.strip() == EVERY_REPOSITORY) or (repo is None and not roots):
        return Scope(None, len(repos) > 1, len(repos) > 1)
    if repo is not None:
        wanted = repo.strip()
        as_path = _resolved(wanted)
        ids = tuple(rid for rid, name, root in repos if wanted in (name, root) or as_path == root)
        if not ids:
            known = ", ".join(name for _, name, _ in repos) or "none yet"
            raise UnknownRepository(
                f"no indexed repository is named {_shown(wanted)} (by name or root path); "
                f"repositories: {known}; repo='*' searches them all"
            )
        return Scope(ids, len(ids) > 1, len(repos) > 1)
    served = {str(root) for root in roots}
    ids = tuple(rid for rid, _, root in repos if root in served)
    return Scope(ids, len(ids) > 1, len(repos) > 1)


def _resolved(path: str) -> str | None:
    """`path` as repos.root stores roots (absolute, symlinks resolved), if it is a path."""
    if os.sep not in path:
        return None
    try:
        return str(Path(path).expanduser().resolve())
    except (OSError, RuntimeError):
        return None


def _shown(text: str, limit: int = 200) -> str:
    """User input echoed in an error, cut so that a huge argument cannot bloat the answer."""
    return repr(text if len(text) <= limit else text[:limit] + "...")


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
