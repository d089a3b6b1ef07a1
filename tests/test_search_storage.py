"""How search_code's pieces (content_chunks) are stored: compressed with lz4 where the
server has it, since a common text's search decompresses them by the thousand."""

import psycopg

from coderows.db.connection import ensure_schema

# 100 lines of 38 bytes: one piece of 64 lines (2,431 bytes, past the ~2 KB from which
# PostgreSQL compresses a row's text) and one of the other 36 (and the empty last line).
SOURCE = "".join(f"value_{n:04d} = compute(value_{n:04d}, 'a')\n" for n in range(100))


def has_lz4(db: psycopg.Connection) -> bool:
    row = db.execute("SELECT 'lz4' = ANY (enumvals) FROM pg_settings WHERE name = 'default_toast_compression'").fetchone()
    return bool(row and row[0])


def write_pieces(db: psycopg.Connection) -> None:
    db.execute(
        "INSERT INTO content_chunks (content_id, first_line, text) SELECT 1, first_line, text FROM source_chunks(%s)",
        [SOURCE],
    )


def test_a_large_piece_is_compressed_with_lz4_where_the_server_has_it(db: psycopg.Connection) -> None:
    write_pieces(db)
    stored = db.execute(
        "SELECT first_line, pg_column_compression(text), octet_length(text) FROM content_chunks ORDER BY first_line"
    ).fetchall()
    # Without lz4 (the embedded server) PostgreSQL's default, pglz.
    assert stored == [(1, "lz4" if has_lz4(db) else "pglz", 2431), (65, None, 1368)]


def test_a_version_10_database_compresses_the_pieces_it_writes_from_then_on_with_lz4(db: psycopg.Connection) -> None:
    db.execute("ALTER TABLE content_chunks ALTER COLUMN text SET COMPRESSION DEFAULT")
    db.execute("UPDATE schema_version SET version = 10")
    ensure_schema(db)
    write_pieces(db)
    (method,) = db.execute("SELECT pg_column_compression(text) FROM content_chunks WHERE first_line = 1").fetchone()
    assert method == ("lz4" if has_lz4(db) else "pglz")
