"""The schema: created once, idempotent, versioned, with the contract's names."""

import psycopg

from coderows.db.connection import ensure_schema, read_schema_sql


def test_schema_has_the_contract_tables_and_views(db: psycopg.Connection) -> None:
    rows = db.execute(
        "SELECT table_name, table_type FROM information_schema.tables"
        " WHERE table_schema = 'coderows' ORDER BY table_name"
    ).fetchall()
    assert rows == [
        ("classes", "VIEW"),
        ("definitions", "BASE TABLE"),
        ("functions", "VIEW"),
        ("imports", "BASE TABLE"),
        ("methods", "VIEW"),
        ("modules", "BASE TABLE"),
        ("repos", "BASE TABLE"),
        ("schema_version", "BASE TABLE"),
        ("symbols", "VIEW"),
    ]


def test_symbols_has_the_contract_columns(db: psycopg.Connection) -> None:
    columns = [
        row[0]
        for row in db.execute(
            "SELECT column_name FROM information_schema.columns"
            " WHERE table_schema = 'coderows' AND table_name = 'methods' ORDER BY ordinal_position"
        )
    ]
    contract = [
        "id", "module_id", "parent_id", "module", "path", "kind", "name", "qualname", "full_name",
        "class_name", "def_line", "start_line", "end_line", "signature", "decorators", "bases",
        "is_async", "docstring", "body",
    ]
    assert [c for c in columns if c in contract] == contract


def test_schema_version_is_one(db: psycopg.Connection) -> None:
    assert db.execute("SELECT version FROM schema_version").fetchall() == [(1,)]


def test_applying_the_schema_again_changes_nothing(db: psycopg.Connection) -> None:
    db.execute(read_schema_sql())
    assert ensure_schema(db) == 1
    assert db.execute("SELECT count(*) FROM schema_version").fetchone() == (1,)


def test_ensure_schema_creates_it_in_an_empty_database(db: psycopg.Connection) -> None:
    db.execute("DROP SCHEMA coderows CASCADE")
    assert ensure_schema(db) == 1
    assert db.execute("SELECT count(*) FROM coderows.symbols").fetchone() == (0,)


def test_a_symbols_query_without_body_does_not_join_modules(db: psycopg.Connection) -> None:
    plan = "\n".join(row[0] for row in db.execute("EXPLAIN SELECT full_name FROM symbols WHERE name = 'x'"))
    assert "modules" not in plan
