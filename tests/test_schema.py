"""The schema: created once, idempotent, versioned, with the contract's names."""

from pathlib import Path

import psycopg
import pytest

from coderows.db.connection import DatabaseError, available_migrations, connect, ensure_schema, read_schema_sql

NEWEST = available_migrations()[-1][0]
# schema.sql as version 4 left it (git show 80b9ba4:schema.sql): the layout before contents were shared.
SCHEMA_V4 = Path(__file__).parent / "data" / "schema_v4.sql"


def make_version_4(db: psycopg.Connection) -> None:
    """Replace the database's coderows schema by an empty one of version 4."""
    db.execute("DROP SCHEMA coderows CASCADE")
    db.execute(SCHEMA_V4.read_text(encoding="utf-8"))
    db.execute("SET search_path = coderows, public")


def test_schema_has_the_contract_tables_and_views(db: psycopg.Connection) -> None:
    rows = db.execute(
        "SELECT table_name, table_type FROM information_schema.tables"
        " WHERE table_schema = 'coderows' ORDER BY table_name"
    ).fetchall()
    assert rows == [
        ("answers", "BASE TABLE"),
        ("calls", "VIEW"),
        ("classes", "VIEW"),
        ("consulted_lists", "BASE TABLE"),
        ("content_chunks", "BASE TABLE"),
        ("content_definitions", "BASE TABLE"),
        ("content_imports", "BASE TABLE"),
        ("content_uses", "BASE TABLE"),
        ("contents", "BASE TABLE"),
        ("deferred_indexes", "BASE TABLE"),
        ("definitions", "VIEW"),
        ("files", "BASE TABLE"),
        ("functions", "VIEW"),
        ("imports", "VIEW"),
        ("methods", "VIEW"),
        ("modules", "VIEW"),
        ("name_uses", "VIEW"),
        ("overrides", "VIEW"),
        ("repo_answers", "BASE TABLE"),
        ("repos", "BASE TABLE"),
        ("resolutions", "VIEW"),
        ("schema_version", "BASE TABLE"),
        ("subclasses", "VIEW"),
        ("symbols", "VIEW"),
        ("unresolved_modules", "BASE TABLE"),
        ("usages", "VIEW"),
    ]


def test_usages_has_the_contract_columns(db: psycopg.Connection) -> None:
    columns = [
        row[0]
        for row in db.execute(
            "SELECT column_name FROM information_schema.columns"
            " WHERE table_schema = 'coderows' AND table_name = 'usages' ORDER BY ordinal_position"
        )
    ]
    contract = ["path", "line", "col", "kind", "name", "source_full_name", "target_full_name", "resolved"]
    assert [c for c in columns if c in contract] == contract


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


def test_a_new_database_starts_at_the_newest_version(db: psycopg.Connection) -> None:
    assert db.execute("SELECT version FROM schema_version").fetchall() == [(NEWEST,)]


def test_coderows_sessions_run_in_the_coderows_schema_without_jit(db_url: str) -> None:
    with connect(db_url, autocommit=True) as conn:
        assert conn.execute("SELECT current_setting('search_path'), current_setting('jit')").fetchone() == (
            "coderows,public", "off",
        )


def test_applying_the_schema_again_changes_nothing(db: psycopg.Connection) -> None:
    db.execute(read_schema_sql())
    assert ensure_schema(db) == NEWEST
    assert db.execute("SELECT count(*) FROM schema_version").fetchone() == (1,)


def test_ensure_schema_creates_it_in_an_empty_database(db: psycopg.Connection) -> None:
    db.execute("DROP SCHEMA coderows CASCADE")
    assert ensure_schema(db) == NEWEST
    assert db.execute("SELECT count(*) FROM coderows.symbols").fetchone() == (0,)


def test_a_database_made_by_hand_from_schema_sql_is_at_the_newest_version_once_connected(
    db: psycopg.Connection,
) -> None:
    # schema.sql holds no version number (db/migrations is its one source): coderows
    # records the newest when it first meets the database, and runs no migration on it.
    db.execute("DROP SCHEMA coderows CASCADE")
    db.execute(read_schema_sql())
    assert db.execute("SELECT count(*) FROM coderows.schema_version").fetchone() == (0,)
    assert ensure_schema(db) == NEWEST
    assert db.execute("SELECT version FROM coderows.schema_version").fetchall() == [(NEWEST,)]


def test_a_symbols_query_without_body_does_not_join_modules(db: psycopg.Connection) -> None:
    plan = "\n".join(row[0] for row in db.execute("EXPLAIN SELECT full_name FROM symbols WHERE name = 'x'"))
    assert " contents " not in plan


def test_a_query_of_resolutions_or_usages_without_consulted_does_not_join_the_lists(db: psycopg.Connection) -> None:
    for query in (
        "SELECT full_name FROM resolutions WHERE target = 'a.f'",
        "SELECT target_full_name FROM usages WHERE name = 'f'",
    ):
        assert "consulted_lists" not in "\n".join(row[0] for row in db.execute("EXPLAIN " + query))
    plan = "\n".join(row[0] for row in db.execute("EXPLAIN SELECT consulted FROM resolutions WHERE target = 'a.f'"))
    assert "consulted_lists" in plan


def test_every_table_and_view_has_repo_id_but_the_shared_contents(db: psycopg.Connection) -> None:
    without = db.execute(
        "SELECT t.table_name FROM information_schema.tables t WHERE t.table_schema = 'coderows'"
        " AND NOT EXISTS (SELECT FROM information_schema.columns c WHERE c.table_schema = t.table_schema"
        " AND c.table_name = t.table_name AND c.column_name = 'repo_id') ORDER BY 1"
    ).fetchall()
    assert without == [
        ("answers",), ("consulted_lists",), ("content_chunks",), ("content_definitions",), ("content_imports",), ("content_uses",), ("contents",), ("deferred_indexes",), ("repos",), ("schema_version",),
    ]


def test_a_version_1_database_gains_the_usages_tables_and_re_reads_every_file(db: psycopg.Connection) -> None:
    make_version_4(db)
    for name in ("usages", "calls", "overrides", "subclasses"):
        db.execute(f"DROP VIEW IF EXISTS coderows.{name} CASCADE")
    for name in ("name_uses", "resolutions", "unresolved_modules"):
        db.execute(f"DROP TABLE coderows.{name}")
    db.execute("UPDATE coderows.schema_version SET version = 1")
    repo = db.execute("INSERT INTO coderows.repos (root, name) VALUES ('/r', 'r') RETURNING id").fetchone()[0]
    db.execute(
        "INSERT INTO coderows.modules (id, repo_id, path, name, is_package, source, line_count, content_hash,"
        " size, mtime_ns, parse_status) VALUES (1, %s, 'a.py', 'a', false, '', 0, 'abc', 10, 20, 'ok')",
        [repo],
    )
    db.execute("ALTER TABLE coderows.modules DROP COLUMN names_hash")
    assert ensure_schema(db) == NEWEST
    assert db.execute("SELECT count(*) FROM coderows.usages").fetchone() == (0,)
    assert db.execute("SELECT mtime_ns, content_hash, names_hash FROM coderows.modules").fetchall() == [(-1, "", None)]


def test_a_version_2_database_gains_the_excludes_of_its_repositories(db: psycopg.Connection) -> None:
    make_version_4(db)
    db.execute("ALTER TABLE coderows.repos DROP COLUMN excludes")
    db.execute("UPDATE coderows.schema_version SET version = 2")
    db.execute("INSERT INTO coderows.repos (root, name) VALUES ('/r', 'r')")
    assert ensure_schema(db) == NEWEST
    assert db.execute("SELECT root, excludes FROM coderows.repos").fetchall() == [("/r", [])]


def test_a_version_14_database_records_its_contents_as_made_by_an_older_parser(db: psycopg.Connection) -> None:
    # Which parser made a version-14 database's rows is not recorded: 0, older than any
    # (tests/test_worktrees.py: such rows are parsed again).
    db.execute("ALTER TABLE coderows.contents DROP COLUMN parser_version")
    db.execute("UPDATE coderows.schema_version SET version = 14")
    db.execute(
        "INSERT INTO coderows.contents (id, path, name, is_package, source, line_count, content_hash, parse_status)"
        " VALUES (1, 'a.py', 'a', false, '', 0, 'abc', 'ok')"
    )
    assert ensure_schema(db) == NEWEST
    assert db.execute("SELECT id, parser_version FROM coderows.contents").fetchall() == [(1, 0)]


def test_a_version_3_database_keeps_its_uses_without_the_repeated_columns(db: psycopg.Connection) -> None:
    # Version 3's name_uses carried module, path and source_full_name, and usages read them.
    make_version_4(db)
    db.execute(
        'ALTER TABLE coderows.name_uses ADD COLUMN module text COLLATE "C",'
        ' ADD COLUMN path text COLLATE "C", ADD COLUMN source_full_name text COLLATE "C"'
    )
    db.execute(
        "CREATE OR REPLACE VIEW coderows.usages AS"
        " SELECT u.repo_id, u.module_id, u.source_id, u.module, u.path, u.line, u.col, u.kind, u.name,"
        " u.short_name, u.source_full_name, NULL::text COLLATE \"C\" AS target_full_name, false AS resolved, u.target"
        " FROM coderows.name_uses u"
    )
    db.execute("UPDATE coderows.schema_version SET version = 3")
    repo = db.execute("INSERT INTO coderows.repos (root, name) VALUES ('/r', 'r') RETURNING id").fetchone()[0]
    db.execute(
        "INSERT INTO coderows.modules (id, repo_id, path, name, is_package, source, line_count, content_hash,"
        " size, mtime_ns, parse_status) VALUES (1, %s, 'pkg/a.py', 'pkg.a', false, 'f()', 1, 'abc', 3, 20, 'ok')",
        [repo],
    )
    db.execute(
        "INSERT INTO coderows.name_uses (module_id, repo_id, source_id, module, path, line, col, kind, name,"
        " short_name, source_full_name, target, via_super)"
        " VALUES (1, %s, NULL, 'pkg.a', 'pkg/a.py', 1, 1, 'call', 'f', 'f', 'pkg.a', 'pkg.a.f', false)",
        [repo],
    )
    assert ensure_schema(db) == NEWEST
    columns = db.execute(
        "SELECT column_name FROM information_schema.columns"
        " WHERE table_schema = 'coderows' AND table_name = 'name_uses' ORDER BY ordinal_position"
    ).fetchall()
    assert [c for (c,) in columns] == [
        "module_id", "repo_id", "source_id", "line", "col", "kind", "name", "short_name", "target", "via_super",
    ]
    assert db.execute("SELECT module, path, line, source_full_name, name FROM coderows.usages").fetchall() == [
        ("pkg.a", "pkg/a.py", 1, "pkg.a", "f"),
    ]


def insert_content(db: psycopg.Connection, content_id: int, source: str, pieces: bool = True) -> None:
    """A contents row, with its pieces as the loader writes them (`pieces`)."""
    db.execute(
        "INSERT INTO coderows.contents (id, path, name, is_package, source, line_count, content_hash, parse_status)"
        " VALUES (%s, 'a.py', 'a', false, %s, 0, %s, 'ok')",
        [content_id, source, str(content_id)],
    )
    if pieces:
        db.execute(
            "INSERT INTO coderows.content_chunks (content_id, first_line, text)"
            " SELECT %s, first_line, text FROM coderows.source_chunks(%s)",
            [content_id, source],
        )


def test_a_source_is_cut_in_pieces_of_64_lines_with_line_breaks_as_newlines(db: psycopg.Connection) -> None:
    source = "".join(f"line {n}\r\n" for n in range(1, 65)) + "line 65\rline 66\n"
    assert db.execute("SELECT first_line, text FROM source_chunks(%s) ORDER BY first_line", [source]).fetchall() == [
        (1, "\n".join(f"line {n}" for n in range(1, 65))),
        (65, "line 65\nline 66\n"),  # the final break's empty piece, as common/lines.py splits
    ]


def test_a_deleted_or_truncated_content_leaves_no_pieces(db: psycopg.Connection) -> None:
    insert_content(db, 1, "a = 1\n")
    insert_content(db, 2, "b = 2\n")
    db.execute("DELETE FROM contents WHERE id = 1")
    assert db.execute("SELECT content_id FROM content_chunks").fetchall() == [(2,)]
    db.execute("TRUNCATE contents CASCADE")
    assert db.execute("SELECT count(*) FROM content_chunks").fetchone() == (0,)


def test_a_version_6_database_gains_the_pieces_of_its_contents_and_drops_the_whole_source_index(
    db: psycopg.Connection,
) -> None:
    # Version 6: no content_chunks (nor its triggers), a trigram index over whole sources.
    db.execute("DROP TRIGGER contents_unchunked ON coderows.contents")
    db.execute("DROP TRIGGER contents_truncated ON coderows.contents")
    db.execute("DROP TABLE coderows.content_chunks")
    db.execute("CREATE INDEX contents_source_trgm_idx ON coderows.contents USING gin (source coderows.gin_trgm_ops)")
    db.execute("UPDATE coderows.schema_version SET version = 6")
    insert_content(db, 1, "def f():\n    return 1\n", pieces=False)
    assert ensure_schema(db) == NEWEST
    assert db.execute("SELECT content_id, first_line, text FROM content_chunks").fetchall() == [
        (1, 1, "def f():\n    return 1\n"),
    ]
    assert db.execute("SELECT to_regclass('coderows.contents_source_trgm_idx')").fetchone() == (None,)


def test_a_version_8_database_loses_the_trigger_that_cut_new_contents_in_pieces(db: psycopg.Connection) -> None:
    # Versions 7 and 8 cut every inserted content in SQL; from version 9 the loader writes the pieces.
    db.execute(
        "CREATE FUNCTION coderows.chunk_new_contents() RETURNS trigger LANGUAGE plpgsql"
        " SET search_path = coderows, public AS $t$ BEGIN"
        " INSERT INTO content_chunks (content_id, first_line, text)"
        " SELECT n.id, s.first_line, s.text FROM new_contents n, source_chunks(n.source) s; RETURN NULL; END $t$"
    )
    db.execute(
        "CREATE TRIGGER contents_chunked AFTER INSERT ON coderows.contents REFERENCING NEW TABLE AS new_contents"
        " FOR EACH STATEMENT EXECUTE FUNCTION coderows.chunk_new_contents()"
    )
    db.execute("UPDATE coderows.schema_version SET version = 8")
    insert_content(db, 1, "x = 1", pieces=False)
    assert ensure_schema(db) == NEWEST
    assert db.execute("SELECT tgname FROM pg_trigger WHERE tgrelid = 'coderows.contents'::regclass AND NOT tgisinternal ORDER BY 1").fetchall() == [
        ("contents_truncated",), ("contents_unchunked",),
    ]
    assert db.execute("SELECT to_regprocedure('coderows.chunk_new_contents()')").fetchone() == (None,)
    assert db.execute("SELECT content_id, first_line, text FROM content_chunks").fetchall() == [(1, 1, "x = 1")]


def index_definitions(db: psycopg.Connection) -> dict[str, str]:
    rows = db.execute(
        "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'coderows'"
        " AND tablename IN ('content_definitions', 'answers')"
    ).fetchall()
    return dict(rows)


def source_storage(db: psycopg.Connection) -> tuple[str, str]:
    """contents.source's storage ('e' external, 'x' extended) and compression ('' default, 'l' lz4)."""
    row = db.execute(
        "SELECT attstorage, attcompression FROM pg_attribute WHERE attrelid = 'coderows.contents'::regclass"
        " AND attname = 'source'"
    ).fetchone()
    assert row is not None
    return row[0], row[1]


def make_version_7_indexes(db: psycopg.Connection) -> None:
    """The indexes and source storage version 7 had where version 8 has others."""
    db.execute("ALTER TABLE coderows.contents ALTER source SET STORAGE EXTERNAL, ALTER source SET COMPRESSION DEFAULT")
    db.execute("DROP INDEX coderows.content_definitions_module_idx")
    db.execute("CREATE INDEX content_definitions_module_idx ON coderows.content_definitions (module, qualname)")
    db.execute("DROP INDEX coderows.answers_target_idx")
    db.execute("CREATE INDEX answers_target_idx ON coderows.answers (target, via_super)")
    db.execute("UPDATE coderows.schema_version SET version = 7")


def test_a_version_7_database_gets_a_module_index_and_a_hash_index_of_answer_targets(db: psycopg.Connection) -> None:
    make_version_7_indexes(db)
    db.execute("INSERT INTO answers (target, via_super, full_name, consulted_id) VALUES ('a.f', false, 'a.f', 1)")
    assert ensure_schema(db) == NEWEST
    indexes = index_definitions(db)
    assert indexes["content_definitions_module_idx"] == (
        "CREATE INDEX content_definitions_module_idx ON coderows.content_definitions USING btree (module)"
    )
    assert indexes["answers_target_idx"] == "CREATE INDEX answers_target_idx ON coderows.answers USING hash (target)"
    db.execute("SET enable_seqscan = off")  # the one row is found through the new index
    assert db.execute("SELECT full_name FROM answers WHERE target = 'a.f'").fetchall() == [("a.f",)]


def test_a_new_database_has_the_same_indexes_and_source_storage_as_a_migrated_one(db: psycopg.Connection) -> None:
    new = (index_definitions(db), source_storage(db))
    make_version_7_indexes(db)
    ensure_schema(db)
    assert (index_definitions(db), source_storage(db)) == new


def test_a_version_9_database_gets_hash_indexes_of_qualnames_and_full_names(db: psycopg.Connection) -> None:
    # full_name as the expression it is from version 13 (the column of version 9 is gone).
    for column, expression in (("qualname", "qualname"), ("full_name", "(module || '.' || qualname)")):
        db.execute(f"DROP INDEX coderows.content_definitions_{column}_idx")
        db.execute(f"CREATE INDEX content_definitions_{column}_idx ON coderows.content_definitions ({expression})")
    db.execute("UPDATE coderows.schema_version SET version = 9")
    db.execute(
        "INSERT INTO content_definitions (id, content_id, module, kind, name, qualname, def_line,"
        " start_line, end_line, signature, decorators, bases, is_async, body_start, body_length)"
        " VALUES (1, 1, 'a', 'class', 'C', 'C', 1, 1, 1, 'class C', '{}', '{}', false, 1, 7)"
    )
    assert ensure_schema(db) == NEWEST
    indexes = index_definitions(db)
    assert indexes["content_definitions_qualname_idx"] == (
        "CREATE INDEX content_definitions_qualname_idx ON coderows.content_definitions USING hash (qualname)"
    )
    assert indexes["content_definitions_full_name_idx"] == (
        "CREATE INDEX content_definitions_full_name_idx ON coderows.content_definitions"
        " USING hash ((((module || '.'::text) || qualname)))"
    )
    db.execute("SET enable_seqscan = off")  # the one row is found through each new index
    assert db.execute("SELECT id FROM content_definitions WHERE qualname = 'C'").fetchall() == [(1,)]
    assert db.execute("SELECT id FROM definitions WHERE full_name = 'a.C'").fetchall() == []  # no files row
    assert db.execute("SELECT id FROM content_definitions WHERE module || '.' || qualname = 'a.C'").fetchall() == [(1,)]


def repo_answers_indexes(db: psycopg.Connection) -> list[tuple[str, str]]:
    return db.execute(
        "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'coderows' AND tablename = 'repo_answers'"
        " ORDER BY indexname"
    ).fetchall()


def test_a_version_11_database_points_to_answers_through_one_index_that_starts_with_the_answer(
    db: psycopg.Connection,
) -> None:
    new = repo_answers_indexes(db)
    db.execute("ALTER TABLE coderows.repo_answers DROP CONSTRAINT repo_answers_pkey, ADD PRIMARY KEY (repo_id, answer_id)")
    db.execute("CREATE INDEX repo_answers_answer_id_idx ON coderows.repo_answers (answer_id)")
    db.execute("UPDATE coderows.schema_version SET version = 11")
    db.execute("INSERT INTO repo_answers (repo_id, answer_id) VALUES (1, 7)")
    assert ensure_schema(db) == NEWEST
    assert repo_answers_indexes(db) == new == [
        ("repo_answers_pkey", "CREATE UNIQUE INDEX repo_answers_pkey ON coderows.repo_answers USING btree (answer_id, repo_id)"),
        ("repo_answers_stale_idx", "CREATE INDEX repo_answers_stale_idx ON coderows.repo_answers USING btree (repo_id) WHERE stale"),
    ]
    assert db.execute("SELECT repo_id, answer_id, stale FROM repo_answers").fetchall() == [(1, 7, False)]


def test_a_large_source_is_compressed_with_lz4_where_the_server_has_it(db: psycopg.Connection) -> None:
    (has_lz4,) = db.execute(
        "SELECT 'lz4' = ANY (enumvals) FROM pg_settings WHERE name = 'default_toast_compression'"
    ).fetchone()
    insert_content(db, 1, "x = 1\n" * 2000)
    stored = db.execute(
        "SELECT pg_column_compression(source), octet_length(source), pg_column_size(source) < 2000 FROM contents"
    ).fetchone()
    # Without lz4 (the embedded server) the source stays uncompressed (pglz would cost 4x the load CPU).
    assert stored == (("lz4", 12000, True) if has_lz4 else (None, 12000, False))
    assert db.execute("SELECT substr(source, 11995, 6) FROM contents").fetchone() == ("x = 1\n",)


def test_a_database_of_a_newer_coderows_is_refused_and_left_as_it_is(db: psycopg.Connection) -> None:
    db.execute("UPDATE coderows.schema_version SET version = 99")
    with pytest.raises(
        DatabaseError, match=rf"schema version 99, written by a newer coderows; this coderows knows up to version {NEWEST}"
    ):
        ensure_schema(db)
    assert db.execute("SELECT version FROM coderows.schema_version").fetchone() == (99,)


# schema.sql as older versions left it, in tests/data/schema_vN.sql: version 12 (git show
# fe169b8:schema.sql), whose content rows repeated what the views can make (short_name,
# path, full_name) and kept kind as text; version 13 (git show 6323bee:schema.sql), whose
# every answer held the list of modules it consulted.
def make_version(db: psycopg.Connection, version: int) -> None:
    """Replace the database's coderows schema by an empty one of `version`."""
    db.execute("DROP SCHEMA coderows CASCADE")
    db.execute((Path(__file__).parent / "data" / f"schema_v{version}.sql").read_text(encoding="utf-8"))
    db.execute("INSERT INTO coderows.schema_version (version) VALUES (%s)", [version])
    db.execute("SET search_path = coderows, public")


def columns(db: psycopg.Connection, table: str) -> list[tuple[str, str]]:
    return db.execute(
        "SELECT column_name, data_type FROM information_schema.columns"
        " WHERE table_schema = 'coderows' AND table_name = %s ORDER BY ordinal_position",
        [table],
    ).fetchall()


def content_indexes(db: psycopg.Connection) -> list[tuple[str, str]]:
    """The content tables' indexes and statistics objects."""
    indexes = db.execute(
        "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'coderows'"
        " AND tablename IN ('content_uses', 'content_definitions', 'content_imports') ORDER BY indexname"
    ).fetchall()
    statistics = db.execute(
        "SELECT stxname, pg_get_statisticsobjdef(oid) FROM pg_statistic_ext"
        " WHERE stxnamespace = 'coderows'::regnamespace ORDER BY stxname"
    ).fetchall()
    return indexes + statistics


def test_a_version_12_database_keeps_what_its_views_show_in_rows_without_what_they_repeat(
    db: psycopg.Connection,
) -> None:
    new = {table: columns(db, table) for table in ("content_uses", "content_definitions", "content_imports")}
    views = {view: columns(db, view) for view in ("usages", "name_uses", "symbols", "definitions", "imports")}
    indexes = content_indexes(db)
    make_version(db, 12)
    db.execute("INSERT INTO repos (root, name) VALUES ('/r', 'r')")
    insert_content(db, 1, "class C:\n    def f(self): C()\n")
    db.execute("INSERT INTO files (repo_id, path, content_id, size, mtime_ns) VALUES (1, 'a.py', 1, 31, 5)")
    db.execute(
        "INSERT INTO content_definitions (id, content_id, parent_id, module, path, kind, name, qualname, full_name,"
        " class_name, def_line, start_line, end_line, signature, decorators, bases, is_async, body_start, body_length)"
        " VALUES (1048576, 1, NULL, 'a', 'a.py', 'class', 'C', 'C', 'a.C', NULL, 1, 1, 2, 'class C', '{}', '{}',"
        " false, 1, 29),"
        " (1048577, 1, 1048576, 'a', 'a.py', 'method', 'f', 'C.f', 'a.C.f', 'C', 2, 2, 2, 'def f(self)', '{}', '{}',"
        " false, 10, 20)"
    )
    db.execute(
        "INSERT INTO content_imports (content_id, module, path, line, imported_module, imported_name, level,"
        " target_module) VALUES (1, 'a', 'a.py', 1, 'os', 'path', 0, 'os')"
    )
    db.execute(
        "INSERT INTO content_uses (content_id, source_id, line, col, kind, name, short_name, target, via_super)"
        " VALUES (1, 1048577, 2, 18, 'call', 'C', 'C', 'a.C', false),"
        " (1, 1048577, 2, 18, 'reference', 'self.g', 'g', NULL, false)"
    )
    assert ensure_schema(db) == NEWEST
    assert {table: columns(db, table) for table in new} == new
    assert {view: columns(db, view) for view in views} == views
    assert content_indexes(db) == indexes
    assert db.execute("SELECT kind, name, short_name, source_full_name, target FROM usages ORDER BY kind").fetchall() == [
        ("call", "C", "C", "a.C.f", "a.C"),
        ("reference", "self.g", "g", "a.C.f", None),
    ]
    assert db.execute("SELECT path, full_name, body FROM symbols ORDER BY id").fetchall() == [
        ("a.py", "a.C", "class C:\n    def f(self): C()"),
        ("a.py", "a.C.f", "    def f(self): C()"),
    ]
    assert db.execute("SELECT path, imported_module, imported_name FROM imports").fetchall() == [("a.py", "os", "path")]
    db.execute("SET enable_seqscan = off")  # found through the indexes of the new layout
    assert db.execute("SELECT name FROM name_uses WHERE short_name = 'g' AND target IS NULL").fetchall() == [("self.g",)]
    assert db.execute("SELECT id FROM definitions WHERE full_name = 'a.C.f'").fetchall() == [(1048577,)]


def answers_layout(db: psycopg.Connection) -> dict[str, object]:
    """The columns (with identity) and indexes of answers and consulted_lists."""
    return {
        table: (
            db.execute(
                "SELECT column_name, data_type, is_nullable, is_identity, collation_name FROM information_schema.columns"
                " WHERE table_schema = 'coderows' AND table_name = %s ORDER BY ordinal_position",
                [table],
            ).fetchall(),
            db.execute(
                "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'coderows' AND tablename = %s"
                " ORDER BY indexname",
                [table],
            ).fetchall(),
        )
        for table in ("answers", "consulted_lists")
    }


RESOLUTIONS = "SELECT repo_id, target, via_super, full_name, consulted, stale FROM resolutions ORDER BY 1, 2, 3"


def test_a_version_13_database_keeps_its_resolutions_with_each_consulted_list_stored_once(
    db: psycopg.Connection,
) -> None:
    new = answers_layout(db)
    make_version(db, 13)
    db.execute("INSERT INTO repos (root, name) VALUES ('/a', 'a'), ('/b', 'b')")
    db.execute(
        "INSERT INTO answers (target, via_super, full_name, consulted) VALUES"
        " ('a.f', false, 'a.f', '{a}'), ('a.g', false, NULL, '{a}'), ('b.C.m', true, 'a.C.m', '{a,b}')"
    )
    db.execute("INSERT INTO repo_answers (repo_id, answer_id, stale) VALUES (1, 1, false), (1, 2, false), (2, 1, false), (2, 3, true)")
    before = db.execute(RESOLUTIONS).fetchall()
    assert ensure_schema(db) == NEWEST
    assert db.execute(RESOLUTIONS).fetchall() == before == [
        (1, "a.f", False, "a.f", ["a"], False),
        (1, "a.g", False, None, ["a"], False),
        (2, "a.f", False, "a.f", ["a"], False),
        (2, "b.C.m", True, "a.C.m", ["a", "b"], True),
    ]
    assert db.execute("SELECT modules FROM consulted_lists ORDER BY id").fetchall() == [(["a"],), (["a", "b"],)]
    assert db.execute("SELECT id, target FROM answers ORDER BY id").fetchall() == [(1, "a.f"), (2, "a.g"), (3, "b.C.m")]
    assert answers_layout(db) == new
    # The ids go on from the last one, as in a database made at this version.
    assert db.execute("INSERT INTO answers (consulted_id, target, via_super) VALUES (1, 'a.h', false) RETURNING id").fetchone() == (4,)
    db.execute("SET enable_seqscan = off")  # staleness finds the answers through the new indexes
    assert db.execute(
        "SELECT a.target FROM consulted_lists l JOIN answers a ON a.consulted_id = l.id WHERE l.modules && '{b}' "
    ).fetchall() == [("b.C.m",)]
