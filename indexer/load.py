"""Write parsed files into the database: one transaction per batch of files.

Every write for a repository holds that repository's advisory lock for its transaction,
so concurrent indexers, watchers and servers replace a file's rows one at a time and
never interleave. A batch deletes the rows of its files and inserts the new ones with
COPY; readers see either the old rows or the new ones, never a mix.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import psycopg

from coderows.indexer.parse import ParsedModule

# A symbol's id is (module id << SYMBOL_ID_BITS) | its ordinal in the file, so a file's
# rows can reference their parents before they reach the database. 2^20 definitions
# per file is far above what the file size limit allows.
SYMBOL_ID_BITS = 20

# First key of pg_advisory_xact_lock(int, int); the second is the repository id.
REPO_LOCK_NAMESPACE = 0x63_72  # "cr"

MODULE_COLUMNS = (
    "id", "repo_id", "path", "name", "is_package", "docstring", "source", "line_count",
    "content_hash", "size", "mtime_ns", "encoding", "parse_status", "parse_error",
)
SYMBOL_COLUMNS = (
    "id", "module_id", "parent_id", "repo_id", "module", "path", "kind", "name", "qualname",
    "full_name", "class_name", "def_line", "start_line", "end_line", "signature", "decorators",
    "bases", "is_async", "docstring", "body",
)
IMPORT_COLUMNS = (
    "module_id", "repo_id", "module", "path", "line", "imported_module", "imported_name",
    "alias", "level", "target_module",
)


@dataclass(frozen=True, slots=True)
class KnownFile:
    """What the database holds about one file: enough to decide whether to re-read it."""

    size: int
    mtime_ns: int
    content_hash: str


@dataclass(frozen=True, slots=True)
class FileVersion:
    """A parsed file together with the stat it was read under."""

    module: ParsedModule
    size: int
    mtime_ns: int


def ensure_repo(conn: psycopg.Connection, root: Path) -> int:
    """The id of the repository at `root`, registering it if new."""
    row = conn.execute(
        "INSERT INTO repos (root, name) VALUES (%s, %s)"
        " ON CONFLICT (root) DO UPDATE SET name = EXCLUDED.name RETURNING id",
        [str(root), root.name],
    ).fetchone()
    assert row is not None
    return int(row[0])


def known_files(conn: psycopg.Connection, repo_id: int, paths: Sequence[str] | None = None) -> dict[str, KnownFile]:
    """Stat and hash of the repository's indexed files (or of just `paths`)."""
    if paths is None:
        cursor = conn.execute("SELECT path, size, mtime_ns, content_hash FROM modules WHERE repo_id = %s", [repo_id])
    else:
        cursor = conn.execute(
            "SELECT path, size, mtime_ns, content_hash FROM modules WHERE repo_id = %s AND path = ANY(%s)",
            [repo_id, list(paths)],
        )
    return {path: KnownFile(size, mtime_ns, content_hash) for path, size, mtime_ns, content_hash in cursor}


def write_batch(
    conn: psycopg.Connection,
    repo_id: int,
    parsed: Sequence[FileVersion] = (),
    touched: Sequence[tuple[str, int, int]] = (),
    deleted: Iterable[str] = (),
) -> None:
    """In one transaction: replace the rows of `parsed` files, record the new stat of
    `touched` files (path, size, mtime_ns: content unchanged), drop `deleted` files."""
    deleted = list(deleted)
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s, %s)", [REPO_LOCK_NAMESPACE, repo_id])
        stale = deleted + [version.module.path for version in parsed]
        if stale:
            conn.execute("DELETE FROM modules WHERE repo_id = %s AND path = ANY(%s)", [repo_id, stale])
        if touched:
            _update_stats(conn, repo_id, touched)
        if parsed:
            _insert(conn, repo_id, parsed)


def mark_indexed(conn: psycopg.Connection, repo_id: int) -> None:
    conn.execute("UPDATE repos SET indexed_at = now() WHERE id = %s", [repo_id])


def _update_stats(conn: psycopg.Connection, repo_id: int, touched: Sequence[tuple[str, int, int]]) -> None:
    paths, sizes, mtimes = zip(*touched)
    conn.execute(
        "UPDATE modules SET size = t.size, mtime_ns = t.mtime_ns"
        " FROM unnest(%s::text[], %s::bigint[], %s::bigint[]) AS t (path, size, mtime_ns)"
        " WHERE modules.repo_id = %s AND modules.path = t.path",
        [list(paths), list(sizes), list(mtimes), repo_id],
    )


def _insert(conn: psycopg.Connection, repo_id: int, parsed: Sequence[FileVersion]) -> None:
    module_ids = [
        row[0]
        for row in conn.execute("SELECT nextval('modules_id_seq') FROM generate_series(1, %s)", [len(parsed)])
    ]
    with conn.cursor() as cursor:
        with cursor.copy(f"COPY modules ({', '.join(MODULE_COLUMNS)}) FROM STDIN") as copy:
            for module_id, version in zip(module_ids, parsed):
                copy.write_row(_module_row(module_id, repo_id, version))
        with cursor.copy(f"COPY symbols ({', '.join(SYMBOL_COLUMNS)}) FROM STDIN") as copy:
            for module_id, version in zip(module_ids, parsed):
                for row in _symbol_rows(module_id, repo_id, version.module):
                    copy.write_row(row)
        with cursor.copy(f"COPY imports ({', '.join(IMPORT_COLUMNS)}) FROM STDIN") as copy:
            for module_id, version in zip(module_ids, parsed):
                module = version.module
                for imp in module.imports:
                    copy.write_row((
                        module_id, repo_id, module.name, module.path, imp.line, imp.imported_module,
                        imp.imported_name, imp.alias, imp.level, imp.target_module,
                    ))


def _module_row(module_id: int, repo_id: int, version: FileVersion) -> tuple:
    m = version.module
    return (
        module_id, repo_id, m.path, m.name, m.is_package, m.docstring, m.source, m.line_count,
        m.content_hash, version.size, version.mtime_ns, m.encoding, m.parse_status, m.parse_error,
    )


def _symbol_rows(module_id: int, repo_id: int, module: ParsedModule) -> Iterable[tuple]:
    base = module_id << SYMBOL_ID_BITS
    for d in module.definitions:
        yield (
            base | d.ordinal,
            module_id,
            None if d.parent_ordinal is None else base | d.parent_ordinal,
            repo_id, module.name, module.path, d.kind, d.name, d.qualname,
            f"{module.name}.{d.qualname}", d.class_name, d.def_line, d.start_line, d.end_line,
            d.signature, d.decorators, d.bases, d.is_async, d.docstring, d.body,
        )
