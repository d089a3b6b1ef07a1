"""Which repositories an answer comes from: the server's scope.

One database holds many repositories (projects, checkouts, git worktrees). A server
answers from the repositories of the roots it serves, unless a tool call names another
with `repo`: a repository's name, its root path, or `*` for every repository. A server
started without roots answers from every repository.

Whenever more than one repository is in scope, answers name each definition's
repository (render.py groups by it) and every follow-up call they suggest carries
`repo=...`, so that it works as written.

A tool call resolves its scope once, when it starts (`CallScope`). Only a catch-up (a
lookup that missed re-indexes the served roots) can register a served root mid-call,
so the lookup renews the scope after one.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import psycopg

from coderows.server.echo import shown

EVERY_REPOSITORY = "*"


class UnknownRepository(ValueError):
    """`repo` names no indexed repository; the message lists those that exist."""


@dataclass(frozen=True)
class Scope:
    """The repositories a call answers from."""

    repo_ids: tuple[int, ...] | None  # None: every repository in the database
    many: bool  # more than one repository: answers name each definition's repository
    shared: bool  # the database holds other repositories too: SQL hints filter by repo_id

    @property
    def ids(self) -> list[int] | None:
        return None if self.repo_ids is None else list(self.repo_ids)


@dataclass(frozen=True)
class KnownRepo:
    id: int
    name: str
    root: str


def known_repos(conn: psycopg.Connection) -> list[KnownRepo]:
    return [KnownRepo(*row) for row in conn.execute("SELECT id, name, root FROM repos ORDER BY id").fetchall()]


def resolve_scope(conn: psycopg.Connection, repo: str | None, roots: Sequence[Path]) -> Scope:
    return scope_of(known_repos(conn), repo, roots)


def scope_of(repos: Sequence[KnownRepo], repo: str | None, roots: Sequence[Path]) -> Scope:
    """The scope of a call: `repo` when given, else the served roots' repositories,
    else (a server without roots) every repository."""
    if (repo is not None and repo.strip() == EVERY_REPOSITORY) or (repo is None and not roots):
        return Scope(None, len(repos) > 1, len(repos) > 1)
    if repo is not None:
        wanted = repo.strip()
        as_path = _resolved(wanted)
        ids = tuple(r.id for r in repos if wanted in (r.name, r.root) or as_path == r.root)
        if not ids:
            known = ", ".join(r.name for r in repos) or "none yet"
            raise UnknownRepository(
                f"no indexed repository is named {shown(wanted)} (by name or root path); "
                f"repositories: {known}; repo='*' searches them all"
            )
        return Scope(ids, len(ids) > 1, len(repos) > 1)
    served = {str(root) for root in roots}
    ids = tuple(r.id for r in repos if r.root in served)
    return Scope(ids, len(ids) > 1, len(repos) > 1)


class CallScope:
    """One tool call's scope: resolved when the call starts, renewed only after a
    catch-up (see the module docstring). Fetches read it when they run."""

    def __init__(self, conn: psycopg.Connection, repo: str | None, roots: Sequence[Path]) -> None:
        self.repo = repo
        self.roots = roots
        self.scope = resolve_scope(conn, repo, roots)

    def renew(self, conn: psycopg.Connection) -> None:
        self.scope = resolve_scope(conn, self.repo, self.roots)

    @property
    def ids(self) -> list[int] | None:
        return self.scope.ids

    @property
    def many(self) -> bool:
        return self.scope.many

    @property
    def shared(self) -> bool:
        return self.scope.shared


def _resolved(path: str) -> str | None:
    """`path` as repos.root stores roots (absolute, symlinks resolved), if it is a path."""
    if os.sep not in path:
        return None
    try:
        return str(Path(path).expanduser().resolve())
    except (OSError, RuntimeError):
        return None
