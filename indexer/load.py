"""Write parsed files into the database: one transaction per batch of files.

Every write for a repository holds that repository's advisory lock (write_batch at
session level, from before its transaction to the end of it), so concurrent indexers,
watchers and servers replace a file's rows one at a time and never interleave. A batch
deletes the rows of its files and inserts the new ones with COPY; readers see either the
old rows or the new ones, never a mix. Under the lock, a file read before a change that
another writer has already committed is dropped from the batch, so a slow writer never
replaces newer rows with older ones. Each committed batch
that changed rows sends a NOTIFY on CHANGE_CHANNEL (README, "Live index").

Content sharing. A file's rows live in `contents` and the content_* tables, keyed by
content id; `files` says which repository holds which content at which path (schema.sql).
A file whose content the database already holds under the same path and module name,
for any repository, gets only a files row (SharedFile). Content that no files row points
to any more is deleted in the transaction that dropped the last pointer. Writers of
different repositories meet only on content rows, and each transaction locks the content
rows it will point to or may free in one statement, in id order (no deadlock): a writer
about to point to a content waits for one that may free it, and finds it gone once that
one commits; a writer freeing content waits for one about to point to it, and then sees
the new pointer.

Edits. coderows's own edits (edit/) hold the repository's lock at session level from
before they write the first file until the rows of the last one are committed, and every
indexer reads what is indexed (settled_known_files) only once it can take that lock. So a
watcher woken by an edit's writes finds the edit's rows, and never parses the files again.

Lock order, everywhere (deadlock-free because nobody takes an earlier one while holding a
later one): (1) in a process, server/freshness.py's _refresh_lock; (2) repository locks
(REPO_LOCK_NAMESPACE), several in repository id order; (3) inside a transaction that holds
its repository's lock: content rows in id order, then ANSWER_LOCK_KEY. A session that holds
a repository's lock at session level takes it again at transaction level at once.
INDEX_LOCK_KEY (defer_indexes) and STATISTICS_LOCK_KEY (refresh_content_statistics) are
taken holding no other lock; restore_indexes and restore_indexes_shared lock the
deferred_indexes rows they build (in name order; the latter one at a time), holding no
other lock.
"""

from __future__ import annotations

import heapq
import json
import logging
import os
import threading
from collections.abc import Collection, Iterable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

from coderows.db.rows import one_row
from coderows.indexer.encode import EncodedFile, copy_escape
from coderows.indexer.parser_version import PARSER_VERSION
from coderows.indexer.resolve import BATCH_TARGETS, resolve_batches

log = logging.getLogger(__name__)


# A symbol's id is (module id << SYMBOL_ID_BITS) | its ordinal in the file, so a file's
# rows can reference their parents before they reach the database. 2^20 definitions
# per file is far above what the file size limit allows.

# From this many new files on (a new checkout or worktree), resolution first takes what a
# sibling repository answered, wherever that cannot differ.
INHERIT_FILES = 100
# First key of pg_advisory_xact_lock(int, int); the second is the repository id.
REPO_LOCK_NAMESPACE = 0x63_72  # "cr"
# pg_advisory_xact_lock(bigint) key guarding shared answers: held shared by a transaction
# that points to answers it did not create, exclusively by one that deletes answers.
ANSWER_LOCK_KEY = 0x636F646572_02  # "coder" + 2 (db/connection.py has + 1)
INDEX_LOCK_KEY = 0x636F646572_03  # defer_indexes, one at a time; taken holding no other lock
STATISTICS_LOCK_KEY = 0x636F646572_04  # refresh_content_statistics, one at a time; taken holding no other lock

# LISTEN coderows_changes: one notification per committed batch that changed rows, with
# the payload {"repo_id", "root", "changed": [paths], "deleted": [paths]}; when the paths
# do not fit PostgreSQL's 8000-byte payload limit, counts and "truncated": true instead.
CHANGE_CHANNEL = "coderows_changes"
NOTIFY_PAYLOAD_LIMIT = 7900  # bytes; PostgreSQL refuses 8000 and more

# The tables whose statistics steer the plans of lookups and of resolution. A table is
# ANALYZEd when its size has moved by more than STATISTICS_DRIFT since its statistics
# were taken (autovacuum's own default rule is 10% of the rows), or it has none yet.
STATISTICS_TABLES = (
    "contents", "files", "content_definitions", "content_imports", "content_uses", "consulted_lists", "answers",
    "repo_answers",
)
STATISTICS_DRIFT = 0.1

CONTENT_COLUMNS = (
    "id", "path", "name", "is_package", "docstring", "source", "line_count", "content_hash",
    "encoding", "parse_status", "parse_error", "names_hash", "parser_version",
)
FILE_COLUMNS = ("repo_id", "path", "content_id", "size", "mtime_ns")
DEFINITION_COLUMNS = (
    "id", "content_id", "parent_id", "module", "kind", "name", "qualname", "class_name",
    "def_line", "start_line", "end_line", "signature", "decorators", "bases", "is_async", "docstring", "body_start", "body_length",
)
IMPORT_COLUMNS = (
    "content_id", "module", "line", "imported_module", "imported_name",
    "alias", "level", "target_module",
)
PIECE_COLUMNS = ("content_id", "first_line", "text")
USE_COLUMNS = ("content_id", "source_id", "line", "col", "kind", "name", "target", "via_super")


@dataclass(frozen=True, slots=True)
class KnownFile:
    """What the database holds about one file: enough to decide whether to re-read it."""

    size: int
    mtime_ns: int
    content_hash: str
    # Its content's rows were made by this coderows's parser or a newer one: an older
    # coderows sharing the database keeps a newer one's rows rather than the two parsing
    # each other's files again on every run.
    current: bool


def prefer_speed_to_durability(conn: psycopg.Connection) -> None:
    """Commit without waiting for the WAL flush. Safe: a crash can lose only the last
    commits, never corrupt, and the index is re-derived from disk by the next run."""
    conn.execute("SET synchronous_commit = off")


def ensure_repo(conn: psycopg.Connection, root: Path) -> int:
    """The id of the repository at `root`, registering it if new under a name that no
    other repository has (tools take it as `repo=`)."""
    row = conn.execute("SELECT id FROM repos WHERE root = %s", [str(root)]).fetchone()
    if row is not None:
        return int(row[0])
    taken = {name for (name,) in conn.execute("SELECT name FROM repos")}
    row = conn.execute(
        "INSERT INTO repos (root, name) VALUES (%s, %s)"
        " ON CONFLICT (root) DO UPDATE SET root = EXCLUDED.root RETURNING id",
        [str(root), distinct_name(root, taken)],
    ).fetchone()
    assert row is not None
    return int(row[0])


def distinct_name(root: Path, taken: set[str]) -> str:
    """The root folder's name, else as many of its parent folders as tell it apart from
    the names `taken` (two checkouts called httpx: `httpx`, then `work/httpx`)."""
    parts = root.parts[1:] or (str(root),)
    for count in range(1, len(parts) + 1):
        name = "/".join(parts[-count:])
        if name not in taken:
            return name
    return str(root)


def recorded_excludes(conn: psycopg.Connection, repo_id: int) -> tuple[str, ...]:
    """The --exclude patterns the repository was last given (repos.excludes)."""
    row = conn.execute("SELECT excludes FROM repos WHERE id = %s", [repo_id]).fetchone()
    return tuple(row[0]) if row is not None else ()


def record_excludes(conn: psycopg.Connection, repo_id: int, excludes: Sequence[str]) -> None:
    conn.execute(
        "UPDATE repos SET excludes = %s WHERE id = %s AND excludes IS DISTINCT FROM %s",
        [list(excludes), repo_id, list(excludes)],
    )


def known_files(conn: psycopg.Connection, repo_id: int, paths: Sequence[str] | None = None) -> dict[str, KnownFile]:
    """Stat and hash of the repository's indexed files (or of just `paths`)."""
    query = (
        "SELECT f.path, f.size, f.mtime_ns, c.content_hash, c.parser_version >= %s"
        " FROM files f JOIN contents c ON c.id = f.content_id WHERE f.repo_id = %s"
    )
    if paths is None:
        cursor = conn.execute(query, [PARSER_VERSION, repo_id])
    else:
        cursor = conn.execute(query + " AND f.path = ANY(%s)", [PARSER_VERSION, repo_id, list(paths)])
    return {path: KnownFile(*known) for path, *known in cursor}


def settled_known_files(conn: psycopg.Connection, repo_id: int, paths: Sequence[str] | None = None) -> dict[str, KnownFile]:
    """known_files, read once no other session holds the repository's lock: an edit
    holding it across its writes and their index is waited for, so what it wrote is
    found indexed (see the module's docstring, "Edits")."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s, %s)", [REPO_LOCK_NAMESPACE, repo_id])
        return known_files(conn, repo_id, paths)


@contextmanager
def repositories_held(conn: psycopg.Connection, repo_ids: Iterable[int]) -> Iterator[None]:
    """Hold these repositories' locks at session level, across several transactions (an
    edit's writes to disk and their index), taken in id order. The session's own
    write_batch calls meanwhile take them again at once; other writers and
    settled_known_files wait. A session that ends (a crash, a cut connection) releases them."""
    taken: list[int] = []
    try:
        for repo_id in sorted(set(repo_ids)):
            conn.execute("SELECT pg_advisory_lock(%s, %s)", [REPO_LOCK_NAMESPACE, repo_id])
            taken.append(repo_id)
        yield
    finally:
        if taken and not (conn.closed or conn.broken):
            if conn.info.transaction_status == psycopg.pq.TransactionStatus.INERROR:
                conn.rollback()  # an unlock cannot run in a failed transaction
            for repo_id in reversed(taken):
                conn.execute("SELECT pg_advisory_unlock(%s, %s)", [REPO_LOCK_NAMESPACE, repo_id])


def shareable_contents(conn: psycopg.Connection, wanted: dict[str, str]) -> dict[str, dict[str, int]]:
    """For each path of `wanted` ({path: the module name this repository gives it}), the
    contents any repository holds at that path under that name: {path: {content_hash:
    content id}}. A file whose bytes hash to one of these needs no parsing (SharedFile).
    Contents that were not read ('' hash: too large, unreadable) are never shared, nor
    those whose rows an older parser made (PARSER_VERSION)."""
    if not wanted:
        return {}
    paths, names = zip(*wanted.items(), strict=True)
    rows = conn.execute(
        "SELECT c.path, c.content_hash, min(c.id) FROM contents c"
        " JOIN unnest(%s::text[], %s::text[]) AS w (path, name) ON c.path = w.path AND c.name = w.name"
        " WHERE c.content_hash <> '' AND c.parser_version >= %s GROUP BY c.path, c.content_hash",
        [list(paths), list(names), PARSER_VERSION],
    )
    found: dict[str, dict[str, int]] = {}
    for path, digest, content_id in rows:
        found.setdefault(path, {})[digest] = content_id
    return found


@dataclass(frozen=True, slots=True)
class SharedFile:
    """A file whose content the database already holds: only its files row is written."""

    path: str
    content_id: int
    size: int  # the stat the file was read under
    mtime_ns: int


def reserve_module_ids(conn: psycopg.Connection, count: int) -> list[int]:
    """Ids for files about to be parsed; unused ones are harmless gaps."""
    if count == 0:
        return []
    return [row[0] for row in conn.execute("SELECT nextval('modules_id_seq') FROM generate_series(1, %s)", [count])]


def write_batch(
    conn: psycopg.Connection,
    repo_id: int,
    files: Sequence[EncodedFile] = (),
    touched: Sequence[tuple[str, int, int]] = (),
    deleted: Iterable[tuple[str, KnownFile | None]] = (),
    *,
    shared: Sequence[SharedFile] = (),
    resolve: bool = True,
) -> list[SharedFile]:
    """In one transaction: replace the rows of `files` (parsed) and `shared` (content the
    database holds), record the new stat of `touched` files (path, size, mtime_ns: content
    unchanged), drop `deleted` files (each with what the database held when its deletion
    was decided), free the contents no file holds any more, mark the resolutions that
    depended on these modules stale and (`resolve`) resolve them again; then NOTIFY
    CHANGE_CHANNEL (delivered at commit) if rows changed. A run of many batches passes
    resolve=False and calls resolve_stale once at its end: a module resolved early would
    only turn stale again when the modules it names arrive.
    Returns the shared files whose content was freed since it was found: they are left as
    they were, to be parsed and written again."""
    if any(file.repo_id != repo_id for file in files):
        raise ValueError(f"write_batch for repository {repo_id} was given files read for another repository")
    # The lock is held by the session: the decisions below, from the disk (a stat per
    # possibly superseded file) and from the rows, stay true until the transaction has
    # written, and the transaction does no file-system work.
    with repositories_held(conn, [repo_id]):
        root = _repo_root(conn, repo_id)
        deleted = list(deleted)
        held = _held_files(conn, repo_id, _paths(files, touched, shared) + [path for path, _ in deleted])
        superseded = _superseded(root, files, touched, shared, held)
        files = [file for file in files if file.path not in superseded]
        touched = [stat for stat in touched if stat[0] not in superseded]
        shared = [file for file in shared if file.path not in superseded]
        still_held = [path for path, decided_on in deleted if decided_on is not None and _known(held.get(path)) == decided_on]
        with conn.transaction():
            return _write_decided(conn, repo_id, root, files, touched, still_held, shared, held, resolve)


def _write_decided(
    conn: psycopg.Connection,
    repo_id: int,
    root: str,
    files: Sequence[EncodedFile],
    touched: Sequence[tuple[str, int, int]],
    deleted: list[str],
    shared: Sequence[SharedFile],
    held: dict[str, HeldFile],
    resolve: bool,
) -> list[SharedFile]:
    """write_batch's transaction, once what to write is decided: `deleted` are the paths
    whose rows are still the ones their deletion was decided on (a path with no rows
    then, or re-indexed since, is not ours to delete), `held` the repository's files
    rows of every path involved, read under the lock."""
    replaced = deleted + [file.path for file in files] + [file.path for file in shared]
    replaced_contents = {held[path].content_id for path in replaced if path in held}
    present = _lock_contents(conn, replaced_contents | {file.content_id for file in shared})
    missing = [file for file in shared if file.content_id not in present]
    if missing:
        shared = [file for file in shared if file.content_id in present]
        replaced = [path for path in replaced if path not in {file.path for file in missing}]
    removed = {path: (held[path].name, held[path].names_hash) for path in replaced if path in held}
    if removed:
        conn.execute("DELETE FROM files WHERE repo_id = %s AND path = ANY(%s)", [repo_id, list(removed)])
    if touched:
        _update_stats(conn, repo_id, touched)
    _insert(conn, repo_id, files, shared)
    _free_contents(conn, replaced_contents.difference(file.content_id for file in shared))
    arrived: list[tuple[str, str, str | None]] = [(file.path, file.module_name, file.names_hash) for file in files]
    arrived += [(file.path, *present[file.content_id]) for file in shared]
    changed = sorted(path for path, _, _ in arrived)
    gone = sorted(set(removed).difference(changed))  # a replaced file is changed, not deleted
    if changed or gone:
        _invalidate(conn, repo_id, _renamed_modules(removed, arrived))
        module_ids = [file.module_id for file in files] + [file.content_id for file in shared]
        if resolve:
            _resolve(conn, repo_id, module_ids)
        elif module_ids:
            conn.execute(
                "INSERT INTO unresolved_modules (repo_id, module_id) SELECT %s, unnest(%s::bigint[])",
                [repo_id, module_ids],
            )
        conn.execute("SELECT pg_notify(%s, %s)", [CHANGE_CHANNEL, change_payload(repo_id, root, changed, gone)])
    return missing


@dataclass(frozen=True, slots=True)
class ForgetSummary:
    root: str
    files: int  # files rows removed
    contents_freed: int  # contents no other repository held


def indexed_below(conn: psycopg.Connection, root: Path, folders: Iterable[str]) -> set[str]:
    """Indexed paths of the repository at `root` under any of these folders (a watcher's
    folder deleted or moved away)."""
    prefixes = [folder.rstrip("/") + "/" for folder in folders]
    rows = conn.execute(
        "SELECT m.path FROM modules m JOIN repos r ON r.id = m.repo_id"
        " WHERE r.root = %s AND EXISTS (SELECT FROM unnest(%s::text[]) AS p (prefix) WHERE starts_with(m.path, p.prefix))",
        [str(root), prefixes],
    )
    return {row[0] for row in rows}


def find_repo(conn: psycopg.Connection, path: str | Path) -> int | None:
    """The id of the repository rooted at `path`, if indexed. Roots are stored with
    symlinks resolved; a root gone from disk can only be named as stored (absolute)."""
    given = Path(path).expanduser()
    candidates = [str(given.resolve()), os.path.abspath(given)]
    row = conn.execute("SELECT id FROM repos WHERE root = ANY(%s) ORDER BY id LIMIT 1", [candidates]).fetchone()
    return None if row is None else int(row[0])


def forget_repository(conn: psycopg.Connection, repo_id: int) -> ForgetSummary:
    """Remove the repository and everything indexed from it, in one transaction: its
    files rows, resolutions and repos row, and the contents no other repository holds.
    Listeners get one NOTIFY with every path deleted."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s, %s)", [REPO_LOCK_NAMESPACE, repo_id])
        root = _repo_root(conn, repo_id)
        held: dict[str, int] = dict(
            conn.execute("SELECT path, content_id FROM files WHERE repo_id = %s", [repo_id]).fetchall()
        )
        _lock_contents(conn, set(held.values()))
        conn.execute("DELETE FROM files WHERE repo_id = %s", [repo_id])
        answers = conn.execute("DELETE FROM repo_answers WHERE repo_id = %s RETURNING answer_id", [repo_id]).fetchall()
        conn.execute("DELETE FROM unresolved_modules WHERE repo_id = %s", [repo_id])
        conn.execute("DELETE FROM repos WHERE id = %s", [repo_id])
        freed = _free_contents(conn, set(held.values()))
        _free_answers(conn, {answer_id for (answer_id,) in answers})
        if held:
            conn.execute("SELECT pg_notify(%s, %s)", [CHANGE_CHANNEL, change_payload(repo_id, root, [], sorted(held))])
    return ForgetSummary(root, len(held), freed)


def resolve_stale(conn: psycopg.Connection, repo_id: int, *, statistics: bool = True) -> None:
    """Resolve what batches written with resolve=False left: their files' targets and
    the rows they made stale (also after a run that was killed before its end).
    Statistics are refreshed first where the batches moved them: resolution's reads
    filter by repository, and planned from before a new checkout's files arrived they
    take the repository for one file (a generic plan probing all 2,823 files of a second
    Django checkout, per module read). statistics=False: not now (a first load into an
    empty database, where a second connection takes them once it has built the indexes;
    the stdlib resolved as fast without them)."""
    if statistics:
        refresh_statistics(conn)
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s, %s)", [REPO_LOCK_NAMESPACE, repo_id])
        pending = conn.execute(
            "DELETE FROM unresolved_modules WHERE repo_id = %s RETURNING module_id", [repo_id]
        ).fetchall()
        _resolve(conn, repo_id, [row[0] for row in pending])


def _invalidate(conn: psycopg.Connection, repo_id: int, module_names: set[str]) -> None:
    """Every resolution that consulted one of these modules may now differ."""
    if not module_names:
        return
    conn.execute(
        "UPDATE repo_answers p SET stale = true FROM consulted_lists l JOIN answers a ON a.consulted_id = l.id"
        " WHERE l.modules && %s::text[] AND p.answer_id = a.id AND p.repo_id = %s AND NOT p.stale",
        [sorted(module_names), repo_id],
    )


Target = tuple[str, bool]  # (target, via_super)
Resolved = tuple[str, bool, str | None, list[str]]  # (target, via_super, full_name, consulted)


def _resolve(conn: psycopg.Connection, repo_id: int, module_ids: list[int]) -> None:
    """Resolve (indexer/resolve.py) the targets of these new files that have no answer
    in the repository yet, and the stale ones that some use still needs; drop the other
    stale ones. Many new targets first take what a sibling repository (most contents in
    common) has answered, wherever the modules an answer consulted are the same in both."""
    released = [
        row[0]
        for row in conn.execute(
            "DELETE FROM repo_answers p USING answers a WHERE a.id = p.answer_id AND p.repo_id = %s AND p.stale"
            " AND NOT EXISTS (SELECT FROM content_uses u JOIN files f ON f.content_id = u.content_id"
            " WHERE f.repo_id = p.repo_id AND u.target = a.target AND u.via_super = a.via_super)"
            " RETURNING p.answer_id",
            [repo_id],
        )
    ]
    sibling = _sibling(conn, repo_id) if len(module_ids) >= INHERIT_FILES else None
    with ExitStack() as stack:
        new: Iterator[Target] = iter(())
        if sibling is not None:
            new = iter(sorted(_inherit_answers(conn, repo_id, sibling, module_ids)))
        elif module_ids:
            new = stack.enter_context(_unanswered(conn, repo_id, module_ids))
        stale = conn.execute(
            "SELECT a.target, a.via_super, a.id FROM repo_answers p JOIN answers a ON a.id = p.answer_id"
            " WHERE p.repo_id = %s AND p.stale",
            [repo_id],
        ).fetchall()
        # Resolution reads definitions, imports and uses, never repo_answers: the stale
        # rows can go first, and the answers be pointed to a batch at a time.
        if stale:
            conn.execute("DELETE FROM repo_answers WHERE repo_id = %s AND stale", [repo_id])
        targets = heapq.merge(sorted((target, via_super) for target, via_super, _ in stale), new)
        for rows in resolve_batches(conn, repo_id, targets):
            _point(conn, repo_id, rows)
        released += [answer_id for _, _, answer_id in stale]
    _free_answers(conn, set(released))


@contextmanager
def _unanswered(conn: psycopg.Connection, repo_id: int, module_ids: list[int]) -> Iterator[Iterator[Target]]:
    """The targets of these files that have no answer in the repository yet, sorted as
    resolve_batches takes them (a "C" collation orders text as Python orders str), read
    from a server-side cursor as resolution goes: held as a list, a first index of
    Django's 55k were ~9 MB of the server's peak. The cursor reads the rows as they were
    when it opened (the answers pointed to meanwhile do not change them), like a fetchall."""
    with conn.cursor(name="coderows_unanswered") as cursor:
        cursor.itersize = BATCH_TARGETS
        cursor.execute(_UNANSWERED_SQL + " ORDER BY u.target, u.via_super", {"repo": repo_id, "ids": module_ids})
        yield ((target, via_super) for target, via_super in cursor)


# The targets used in these files (ids) that have no answer in the repository yet. The
# uses are made distinct before they are matched with the answers: 54k targets matched
# instead of 305k uses for a second Django checkout (median 0.6 s against 0.95 s, loaded).
_UNANSWERED_SQL = (
    "SELECT u.target, u.via_super FROM ("
    "  SELECT DISTINCT target, via_super FROM content_uses WHERE content_id = ANY(%(ids)s) AND target IS NOT NULL"
    ") AS u WHERE NOT EXISTS ("
    "  SELECT FROM repo_answers p JOIN answers a ON a.id = p.answer_id"
    "  WHERE p.repo_id = %(repo)s AND a.target = u.target AND a.via_super = u.via_super)"
)


def _sibling(conn: psycopg.Connection, repo_id: int) -> int | None:
    """The other repository holding most of this one's contents, if any."""
    row = conn.execute(
        "SELECT o.repo_id FROM files f JOIN files o ON o.content_id = f.content_id AND o.repo_id <> f.repo_id"
        " WHERE f.repo_id = %s GROUP BY o.repo_id ORDER BY count(*) DESC, o.repo_id LIMIT 1",
        [repo_id],
    ).fetchone()
    return None if row is None else int(row[0])


def _inherit_answers(conn: psycopg.Connection, repo_id: int, sibling: int, module_ids: list[int]) -> list[Target]:
    """Point the repository to the answers its sibling has for the targets of these files
    that have none here yet, where every module the answer consulted holds the same
    contents in both: there it resolves the same. Returns the targets left to resolve.
    One statement, so that the files' uses are read once (a second Django checkout: 305k
    uses, 54k targets). Runs under ANSWER_LOCK_KEY (shared): no answer is freed between
    finding and pointing."""
    conn.execute("SELECT pg_advisory_xact_lock_shared(%s)", [ANSWER_LOCK_KEY])
    rows = conn.execute(_INHERIT_SQL, {"repo": repo_id, "sibling": sibling, "ids": module_ids}).fetchall()
    return [(target, via_super) for target, via_super in rows]


# `differing`: the module names whose files differ between the repository and its
# sibling, and `touched` the consulted lists naming one of them. `inherited` is written
# (pointed) and read (the targets not left) by the same statement: a data-modifying
# CTE's rows are not visible to the rest of the statement, so both read the
# materialized `inherited`.
_INHERIT_SQL = (
    f"WITH unanswered AS MATERIALIZED ({_UNANSWERED_SQL}"
    "), differing AS ("
    "  SELECT coalesce(array_agg(name), '{}') AS names FROM ("
    "    SELECT c.name FROM files f JOIN contents c ON c.id = f.content_id WHERE f.repo_id IN (%(repo)s, %(sibling)s)"
    "    GROUP BY c.name HAVING array_agg(f.content_id ORDER BY f.content_id) FILTER (WHERE f.repo_id = %(repo)s)"
    "      IS DISTINCT FROM array_agg(f.content_id ORDER BY f.content_id) FILTER (WHERE f.repo_id = %(sibling)s)"
    "  ) AS d"
    "), touched AS ("
    "  SELECT id FROM consulted_lists WHERE modules && (SELECT names FROM differing)"
    "), inherited AS MATERIALIZED ("
    "  SELECT w.target, w.via_super, a.id FROM unanswered w"
    "  JOIN answers a ON a.target = w.target AND a.via_super = w.via_super"
    "  JOIN repo_answers p ON p.answer_id = a.id AND p.repo_id = %(sibling)s AND NOT p.stale"
    "  WHERE a.consulted_id NOT IN (SELECT id FROM touched)"
    "), pointed AS ("
    "  INSERT INTO repo_answers (repo_id, answer_id) SELECT %(repo)s, id FROM inherited ORDER BY id"
    ")"
    " SELECT w.target, w.via_super FROM unanswered w"
    " WHERE NOT EXISTS (SELECT FROM inherited i WHERE i.target = w.target AND i.via_super = w.via_super)"
)


def _point(conn: psycopg.Connection, repo_id: int, rows: list[Resolved]) -> None:
    """Point the repository to these answers: existing ones (under ANSWER_LOCK_KEY, shared,
    so that none is freed under us), else new ones, with their consulted lists. One
    statement, so that the answers make one trip to the server and none back."""
    if not rows:
        return
    lists, answers = _answers_json(rows)
    conn.execute("SELECT pg_advisory_xact_lock_shared(%s)", [ANSWER_LOCK_KEY])
    conn.execute(_POINT_SQL, [lists, answers, repo_id, repo_id])


# Answers travel as JSON parameters: a target, and so a consulted name, may hold any
# character but NUL (`f(\n  x).y`), which no separator-joined text could carry. Each
# distinct consulted list travels once, numbered (k); an answer names its list's number.
_LIST_ROWS = "jsonb_to_recordset(%s::jsonb) AS l (k integer, modules text[])"
_ANSWER_ROWS = "jsonb_to_recordset(%s::jsonb) AS t (target text, via_super boolean, full_name text, k integer)"
# The batch's lists that exist (the oldest of equal ones: see consulted_lists), the
# others created; then the rows' answers that exist, the others created, and the
# repository pointed to both. `known` and `found` read the tables as they were before
# `made` and `created` add to them. consulted_id is compared with IS NOT DISTINCT FROM
# (it is never NULL) so that the match goes through answers_target_idx, not through
# answers_consulted_idx (a list is named by many answers; with a text array and `=`, the
# planner once probed its GIN index, 3-4 ms a row mid-run). Lists and rows are told apart
# by number, which a hash can match, so that every step is linear in the rows; the text
# arrays are compared only to find the lists.
_POINT_SQL = (
    f"WITH l AS MATERIALIZED (SELECT * FROM {_LIST_ROWS}"
    "), known AS ("
    "  SELECT l.k, min(c.id) AS id FROM l JOIN consulted_lists c ON c.modules = l.modules GROUP BY l.k"
    "), made AS ("
    "  INSERT INTO consulted_lists (modules)"
    "  SELECT l.modules FROM l WHERE NOT EXISTS (SELECT FROM known WHERE known.k = l.k)"
    "  RETURNING id, modules"
    "), lists AS MATERIALIZED ("
    "  SELECT k, id FROM known UNION ALL SELECT l.k, made.id FROM made JOIN l ON l.modules = made.modules"
    "), t AS MATERIALIZED ("
    "  SELECT row_number() OVER () AS n, d.target, d.via_super, d.full_name, lists.id AS consulted_id"
    f"  FROM (SELECT DISTINCT * FROM {_ANSWER_ROWS}) AS d JOIN lists ON lists.k = d.k"
    "), found AS ("
    "  SELECT DISTINCT ON (t.n) t.n, a.id FROM t JOIN answers a"
    "   ON a.target = t.target AND a.via_super = t.via_super"
    "   AND a.full_name IS NOT DISTINCT FROM t.full_name AND a.consulted_id IS NOT DISTINCT FROM t.consulted_id"
    "  ORDER BY t.n, a.id"
    "), created AS ("
    "  INSERT INTO answers (consulted_id, target, via_super, full_name)"
    "  SELECT t.consulted_id, t.target, t.via_super, t.full_name FROM t WHERE t.n NOT IN (SELECT n FROM found)"
    "  RETURNING id"
    ")"
    " INSERT INTO repo_answers (repo_id, answer_id) SELECT %s, id FROM found UNION SELECT %s, id FROM created"
)


def _answers_json(rows: list[Resolved]) -> tuple[str, str]:
    """The rows' distinct consulted lists, numbered, and the rows naming them by number."""
    numbers: dict[tuple[str, ...], int] = {}
    answers = []
    for target, via_super, full_name, consulted in rows:
        k = numbers.setdefault(tuple(consulted), len(numbers))
        answers.append({"target": target, "via_super": via_super, "full_name": full_name, "k": k})
    lists = [{"k": k, "modules": modules} for modules, k in numbers.items()]
    return json.dumps(lists, ensure_ascii=False), json.dumps(answers, ensure_ascii=False)


def _free_answers(conn: psycopg.Connection, candidates: set[int]) -> None:
    """Delete the answers among `candidates` that no repository points to, and the
    consulted lists no answer names any more, if no other transaction is pointing to
    answers right now (ANSWER_LOCK_KEY): never waited for, so no lock cycle can form;
    skipped answers stay until a later run frees them (and their lists with them)."""
    if not candidates:
        return
    if not one_row(conn.execute("SELECT pg_try_advisory_xact_lock(%s)", [ANSWER_LOCK_KEY]))[0]:
        return
    conn.execute(_FREE_SQL, [sorted(candidates)])


# The statement sees answers as they were before `freed` deleted from it: the lists'
# other answers are those not freed.
_FREE_SQL = (
    "WITH freed AS ("
    "  DELETE FROM answers a WHERE a.id = ANY(%s) AND NOT EXISTS (SELECT FROM repo_answers p WHERE p.answer_id = a.id)"
    "  RETURNING a.id, a.consulted_id"
    ")"
    " DELETE FROM consulted_lists l WHERE l.id IN (SELECT consulted_id FROM freed)"
    " AND NOT EXISTS (SELECT FROM answers a WHERE a.consulted_id = l.id AND a.id NOT IN (SELECT id FROM freed))"
)


def change_payload(repo_id: int, root: str, changed: list[str], deleted: list[str]) -> str:
    """The NOTIFY payload: the paths when they fit the limit, else only their counts."""
    payload = json.dumps({"repo_id": repo_id, "root": root, "changed": changed, "deleted": deleted}, ensure_ascii=False)
    if len(payload.encode("utf-8")) <= NOTIFY_PAYLOAD_LIMIT:
        return payload
    return json.dumps(
        {"repo_id": repo_id, "root": root, "changed_count": len(changed), "deleted_count": len(deleted), "truncated": True},
        ensure_ascii=False,
    )


def _repo_root(conn: psycopg.Connection, repo_id: int) -> str:
    row = conn.execute("SELECT root FROM repos WHERE id = %s", [repo_id]).fetchone()
    return "" if row is None else str(row[0])


@dataclass(frozen=True, slots=True)
class HeldFile:
    """A files row of the repository, with what its content says about names."""

    size: int
    mtime_ns: int
    content_hash: str
    content_id: int
    name: str  # module name
    names_hash: str | None
    current: bool  # as KnownFile.current


def _held_files(conn: psycopg.Connection, repo_id: int, paths: list[str]) -> dict[str, HeldFile]:
    """The repository's files rows at these paths, as the database holds them."""
    if not paths:
        return {}
    rows = conn.execute(
        "SELECT f.path, f.size, f.mtime_ns, c.content_hash, f.content_id, c.name, c.names_hash, c.parser_version >= %s"
        " FROM files f JOIN contents c ON c.id = f.content_id WHERE f.repo_id = %s AND f.path = ANY(%s)",
        [PARSER_VERSION, repo_id, paths],
    )
    return {path: HeldFile(*rest) for path, *rest in rows}


def _known(held: HeldFile | None) -> KnownFile | None:
    return None if held is None else KnownFile(held.size, held.mtime_ns, held.content_hash, held.current)


def _paths(files: Sequence[EncodedFile], touched: Sequence[tuple[str, int, int]], shared: Sequence[SharedFile]) -> list[str]:
    return [file.path for file in files] + [path for path, _, _ in touched] + [file.path for file in shared]


def _superseded(
    root: str,
    files: Sequence[EncodedFile],
    touched: Sequence[tuple[str, int, int]],
    shared: Sequence[SharedFile],
    held: dict[str, HeldFile],
) -> set[str]:
    """The paths whose version on disk is no longer the one we read while the database
    already holds exactly the version on disk: another writer read the file after us and
    committed first, and our older rows must not replace its newer ones. Decided under
    the repository's lock, so no writer commits between this look and our write."""
    read_under = {file.path: (file.size, file.mtime_ns) for file in files if file.size >= 0}
    read_under.update((file.path, (file.size, file.mtime_ns)) for file in shared)
    read_under.update((path, (size, mtime_ns)) for path, size, mtime_ns in touched)
    superseded = set()
    for path, ours in read_under.items():
        row = held.get(path)
        if row is None or not root or (row.size, row.mtime_ns) == ours:
            continue  # nothing newer held (a row read under our stat is our version)
        on_disk = _disk_stat(os.path.join(root, path))
        if on_disk != ours and on_disk == (row.size, row.mtime_ns):
            superseded.add(path)
    return superseded


def _disk_stat(path: str) -> tuple[int, int] | None:
    try:
        info = os.stat(path)
    except OSError:  # vanished or unreadable: no version on disk to compare with
        return None
    return info.st_size, info.st_mtime_ns


def _renamed_modules(removed: dict[str, tuple[str, str | None]], arrived: list[tuple[str, str, str | None]]) -> set[str]:
    """The modules whose names changed: gone, new, or with another names_hash. Only
    resolutions that consulted these can differ; a file edited inside its bodies
    invalidates nothing. `arrived`: (path, module name, names_hash) of the new rows."""
    changed = {name for path, (name, _) in removed.items()}
    for path, name, names_hash in arrived:
        before = removed.get(path)
        if before is not None and before == (name, names_hash):
            changed.discard(name)
        else:
            changed.add(name)
    return changed


def _lock_contents(conn: psycopg.Connection, ids: set[int]) -> dict[int, tuple[str, str | None]]:
    """Lock these contents rows until commit, in one statement and in id order (see the
    module's docstring); returns {id: (module name, names_hash)} of those that exist."""
    if not ids:
        return {}
    rows = conn.execute(
        "SELECT id, name, names_hash FROM contents WHERE id = ANY(%s) ORDER BY id FOR UPDATE", [sorted(ids)]
    )
    return {content_id: (name, names_hash) for content_id, name, names_hash in rows}


def _free_contents(conn: psycopg.Connection, candidates: set[int]) -> int:
    """Delete the contents among `candidates` (locked by this transaction) that no files
    row points to any more, with their definitions, imports and uses; returns how many.
    A statement of its own: it sees every pointer committed while we waited for the locks
    (schema.sql: no foreign keys cascade for us)."""
    if not candidates:
        return 0
    unused = [
        row[0]
        for row in conn.execute(
            "SELECT c.id FROM contents c WHERE c.id = ANY(%s)"
            " AND NOT EXISTS (SELECT FROM files f WHERE f.content_id = c.id)",
            [sorted(candidates)],
        )
    ]
    if unused:
        conn.execute("DELETE FROM content_definitions WHERE content_id = ANY(%s)", [unused])
        conn.execute("DELETE FROM content_imports WHERE content_id = ANY(%s)", [unused])
        conn.execute("DELETE FROM content_uses WHERE content_id = ANY(%s)", [unused])
        conn.execute("DELETE FROM contents WHERE id = ANY(%s)", [unused])
    return len(unused)


def _insert(conn: psycopg.Connection, repo_id: int, files: Sequence[EncodedFile], shared: Sequence[SharedFile]) -> None:
    """COPY the new contents with their rows, then the files rows pointing to them and to
    the shared contents."""
    pointers = [(file.path, file.module_id, file.size, file.mtime_ns) for file in files]
    pointers += [(file.path, file.content_id, file.size, file.mtime_ns) for file in shared]
    if not pointers:
        return
    with conn.cursor() as cursor:
        if files:
            _copy(cursor, "contents", CONTENT_COLUMNS, [file.content for file in files])
            _copy(cursor, "content_chunks", PIECE_COLUMNS, [file.pieces for file in files])
            _copy(cursor, "content_definitions", DEFINITION_COLUMNS, [file.definitions for file in files])
            _copy(cursor, "content_imports", IMPORT_COLUMNS, [file.imports for file in files])
            _copy(cursor, "content_uses", USE_COLUMNS, [file.uses for file in files])
        rows = "".join(
            f"{repo_id}\t{copy_escape(path)}\t{content_id}\t{size}\t{mtime_ns}\n" for path, content_id, size, mtime_ns in pointers
        )
        _copy(cursor, "files", FILE_COLUMNS, [rows.encode("utf-8")])


def refresh_statistics(conn: psycopg.Connection, tables: Sequence[str] = STATISTICS_TABLES) -> list[str]:
    """ANALYZE those of these tables that hold rows but no statistics, or grew or shrank by
    more than STATISTICS_DRIFT of their pages since their statistics were taken; returns
    their names. Without this, a server whose autovacuum is off (or has not come round yet)
    plans lookups on a freshly indexed repository from no statistics: a seq scan of
    resolutions made get_symbol's use count take 10 ms instead of 0.1 ms on the stdlib.
    Rows without statistics are told by pg_stats, not by relpages: building an index
    (restore_indexes) sets relpages and reltuples as ANALYZE does but takes no
    statistics, so a first load's content tables kept none. Planned without them, one
    read of 5,000 full names by hand took every definition for a match (a parallel seq
    scan, 89 ms against 7 ms once ANALYZEd; on a server with JIT, 150-300 ms more of
    compiling); the indexer's own resolution of the stdlib ran as fast either way
    (resolve_stale's statistics=False)."""
    drifted = [
        name
        for (name,) in conn.execute(
            "SELECT c.relname FROM pg_class c"
            " WHERE c.relnamespace = 'coderows'::regnamespace AND c.relkind = 'r' AND c.relname = ANY(%s)"
            " AND (c.reltuples < 0"
            "      OR (c.reltuples > 0 AND NOT EXISTS"
            "          (SELECT FROM pg_stats s WHERE s.schemaname = 'coderows' AND s.tablename = c.relname))"
            "      OR abs(pg_relation_size(c.oid) / current_setting('block_size')::bigint - c.relpages)"
            "      > %s * greatest(c.relpages, 8))"
            " ORDER BY c.relname",
            [list(tables), STATISTICS_DRIFT],
        )
    ]
    for name in drifted:
        conn.execute(sql.SQL("ANALYZE {}").format(sql.Identifier("coderows", name)))
    return drifted


def flush_pending_index_entries(conn: psycopg.Connection) -> int:
    """Move what the GIN indexes hold in their pending lists into the indexes proper;
    returns the pages moved. A load leaves up to gin_pending_list_limit (4 MB) there,
    read in full by every lookup through the index until autovacuum cleans it, if it is
    on: after indexing the stdlib, 469 pages made search_code 3-8x slower on rare texts
    (get_prep_value 31 -> 4 ms) and 460 pages did the same to names matched by trigram.
    Only the indexes this user owns (gin_clean_pending_list asks what VACUUM asks)."""
    row = conn.execute(
        "SELECT coalesce(sum(gin_clean_pending_list(c.oid)), 0) FROM pg_class c JOIN pg_am a ON a.oid = c.relam"
        " WHERE c.relnamespace = 'coderows'::regnamespace AND c.relkind = 'i' AND a.amname = 'gin'"
        " AND pg_has_role(c.relowner, 'USAGE')"
    ).fetchone()
    return int(row[0]) if row else 0


# The tables a bulk load fills row by row whose secondary indexes it may build after
# (defer_indexes): their primary keys stay (the loader relies on them). content_chunks'
# trigram index too: built after, it costs 3.0 CPU s for the stdlib against 4.0 inserted
# batch by batch, and takes 14 MB instead of 19. Resolution never reads it, so it is built
# on a second connection while the run resolves (restoring_indexes_meanwhile), on the
# core that resolution (Python and its backend taking turns) leaves idle.
DEFERRABLE_INDEX_TABLES = ("content_chunks", "content_definitions", "content_imports", "content_uses")


def defer_indexes(conn: psycopg.Connection) -> list[str]:
    """Before a bulk load into an empty database: drop the secondary indexes of
    DEFERRABLE_INDEX_TABLES, listed in deferred_indexes in the same transaction, so that
    restore_indexes builds each in one sort once the rows are in. Returns the indexes
    dropped: none unless the database holds no contents at all (with rows of other
    repositories present, their readers keep their indexes) and none are deferred already.
    Readers of the database meanwhile get the same answers, read without the indexes."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", [INDEX_LOCK_KEY])
        if conn.execute("SELECT EXISTS (SELECT FROM contents) OR EXISTS (SELECT FROM deferred_indexes)").fetchone() != (False,):
            return []
        tables = [f"coderows.{table}" for table in DEFERRABLE_INDEX_TABLES]
        # In the order the loader writes the tables (it takes their locks in that order).
        found = conn.execute(
            "SELECT c.relname, pg_get_indexdef(i.indexrelid) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
            " WHERE i.indrelid = ANY(%s::regclass[]) AND NOT i.indisprimary AND NOT i.indisunique"
            " ORDER BY array_position(%s::regclass[], i.indrelid), c.relname",
            [tables, tables],
        ).fetchall()
        names = [name for name, _ in found]
        with conn.cursor() as cursor:
            cursor.executemany("INSERT INTO deferred_indexes (name, definition) VALUES (%s, %s)", found)
        for name in names:
            conn.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier("coderows", name)))
    return names


# The deferred indexes resolution reads through (indexer/resolve.py: definitions by full
# name, a class's members by parent, a module's rows by content; the uses of a file and a
# class's bases), restored before it. The others (a content's definitions by name,
# qualname or module, imports by module, uses by target or known by name only) are built
# on the second connection while it resolves: for the stdlib, 8 indexes and 0.8-1.6 s
# that the run spent building them in line, one core idle.
RESOLUTION_INDEXES = (
    "content_definitions_content_id_idx", "content_definitions_full_name_idx", "content_definitions_parent_id_idx",
    "content_imports_content_id_idx", "content_uses_content_source_idx",
)


def restore_indexes(conn: psycopg.Connection, names: Collection[str] | None = None) -> list[str]:
    """Build the indexes defer_indexes dropped (this run's, or a run's killed before it
    built them) among these names (None: all of them), in one transaction; returns their
    names. Their deferred_indexes rows are locked while they are built: another
    connection builds other indexes meanwhile (restore_indexes_shared), and one asking
    for indexes another is building waits, then finds them built."""
    with conn.transaction():
        # Filtered here, not after: FOR UPDATE locks every row the query returns.
        rows = conn.execute(
            "SELECT name, definition FROM deferred_indexes"
            " WHERE %(all)s OR name = ANY(%(names)s) ORDER BY name FOR UPDATE",
            {"all": names is None, "names": sorted(names or ())},
        ).fetchall()
        for name, definition in rows:
            _build_deferred_index(conn, name, definition)
    return [name for name, _ in rows]


def _build_deferred_index(conn: psycopg.Connection, name: str, definition: str) -> None:
    """Inside the caller's transaction, which holds its deferred_indexes row: build the
    index unless it exists, and take it off the list."""
    conn.execute("DELETE FROM deferred_indexes WHERE name = %s", [name])
    if conn.execute("SELECT to_regclass(%s)", [f"coderows.{name}"]).fetchone() == (None,):
        conn.execute(definition)  # pg_get_indexdef's text, from the catalog


def restore_indexes_shared(
    conn: psycopg.Connection, *, excluding: Collection[str] = (), stopping: threading.Event | None = None
) -> list[str]:
    """Build the deferred indexes but those excluded one at a time, each in a transaction
    of its own, passing over those another connection is building (SKIP LOCKED): two
    connections calling this share what is left. GIN indexes first: the pieces' trigram
    index alone is most of the work (3 CPU s for the stdlib, against 0.1-0.5 s for each
    of the others), so the connection that starts first takes it. Stops before the next
    index once `stopping` is set. Returns their names."""
    built: list[str] = []
    while stopping is None or not stopping.is_set():
        with conn.transaction():
            row = conn.execute(
                "SELECT name, definition FROM deferred_indexes WHERE NOT name = ANY(%s)"
                " ORDER BY definition LIKE '%% USING gin %%' DESC, name LIMIT 1 FOR UPDATE SKIP LOCKED",
                [sorted(excluding)],
            ).fetchone()
            if row is None:
                return built
            name, definition = row
            _build_deferred_index(conn, name, definition)
        built.append(name)
    return built


def refresh_content_statistics(conn: psycopg.Connection) -> list[str]:
    """refresh_statistics of the content tables whose indexes a first load defers, by
    whichever of the run and its second connection is done building first: the other,
    coming after, finds the statistics taken (one at a time, under STATISTICS_LOCK_KEY).
    Called once every deferred index is built or being built: ANALYZE waits for an index
    under way on its table, and then takes its expression's statistics too."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", [STATISTICS_LOCK_KEY])
        return refresh_statistics(conn, [table for table in STATISTICS_TABLES if table in DEFERRABLE_INDEX_TABLES])


CANCEL_RETRY_SECONDS = 0.5


@contextmanager
def restoring_indexes_meanwhile(conn: psycopg.Connection, leaving: Collection[str] = ()) -> Iterator[None]:
    """Build the deferred indexes but those `leaving` (the block's own to build) on a
    second connection while the block runs (the run's resolution), then take the
    statistics of their tables unless the block took them first
    (refresh_content_statistics); on leaving the block, wait for them. Only when `conn`
    holds no open transaction (the rows must be visible to the second connection, and
    the build would wait for the locks of the block's writes): else, and when the build
    fails, they are left deferred, for the caller's restore_indexes(conn) to build. When the block
    raises (Ctrl-C, a signal, an error), the build is cancelled rather than waited for:
    the index under way rolls back and stays listed for the next run, with those not
    started; those built stay."""
    if not conn.autocommit or conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
        yield
        return
    failure: list[BaseException] = []
    builders: list[psycopg.Connection] = []
    stopping = threading.Event()

    def build() -> None:
        try:
            with psycopg.connect(_conninfo(conn), autocommit=True) as builder:
                builders.append(builder)
                if not stopping.is_set():
                    restore_indexes_shared(builder, excluding=leaving, stopping=stopping)
                    refresh_content_statistics(builder)
        except Exception as error:  # noqa: BLE001  # the caller builds them after, in-line
            failure.append(error)

    thread = threading.Thread(target=build, name="coderows-index-build", daemon=True)
    thread.start()
    try:
        yield
    except BaseException:
        stopping.set()
        while thread.is_alive():
            # Again until it ends: a cancel sent before the build's statement started is lost.
            for builder in builders:
                builder.cancel_safe()
            thread.join(CANCEL_RETRY_SECONDS)
        raise
    thread.join()
    if failure:
        log.warning("indexes not built on a second connection, built after: %s", failure[0])


def _conninfo(conn: psycopg.Connection) -> str:
    """What `conn` was opened with (password and options included), to open another."""
    options = {option.keyword.decode(): option.val.decode() for option in conn.pgconn.info if option.val is not None}
    return psycopg.conninfo.make_conninfo("", **options)


def mark_indexed(conn: psycopg.Connection, repo_id: int) -> None:
    conn.execute("UPDATE repos SET indexed_at = now() WHERE id = %s", [repo_id])


def _update_stats(conn: psycopg.Connection, repo_id: int, touched: Sequence[tuple[str, int, int]]) -> None:
    paths, sizes, mtimes = zip(*touched, strict=True)
    conn.execute(
        "UPDATE files SET size = t.size, mtime_ns = t.mtime_ns"
        " FROM unnest(%s::text[], %s::bigint[], %s::bigint[]) AS t (path, size, mtime_ns)"
        " WHERE files.repo_id = %s AND files.path = t.path",
        [list(paths), list(sizes), list(mtimes), repo_id],
    )


def _copy(cursor: psycopg.Cursor, table: str, columns: Sequence[str], chunks: Sequence[bytes]) -> None:
    data = b"".join(chunks)
    if data:
        # Table and column names are this module's constants, never input.
        with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            copy.write(data)

