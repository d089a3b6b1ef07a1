-- Version 13: a smaller database (issue 18); the views show the same columns and values.
-- content_uses loses short_name (the views derive it from name) and keeps its kind in one
-- byte (schema.sql's use_kind() spells it out); content_definitions loses path and
-- full_name, content_imports path (the views take the path from files and make full_name
-- from module and qualname, which an index on that expression serves).
-- content_uses' rows are copied into a new table rather than altered in place: a dropped
-- column still counts in every row's null bitmap, and the point there is a row of 8
-- columns (a header of 24 bytes, not 32). The other two lose their columns in place
-- (their bitmaps keep their size): rows already written keep those bytes until their
-- content is written again, or a VACUUM FULL.
-- The views read the columns that go, so they go first and come back from create_views();
-- schema.sql, which has just run, defined use_kind() but left the views of version 12
-- alone (and so did create_views() of version 14, whose resolutions view reads what
-- migration 0014 makes). A database of version 4 or older got the new tables from schema.sql and their
-- rows from migration 0005: nothing to do here.
DO $slim$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_attribute WHERE attrelid = 'coderows.content_uses'::regclass
                   AND attname = 'short_name' AND NOT attisdropped) THEN
        RETURN;
    END IF;
    DROP VIEW coderows.overrides, coderows.subclasses, coderows.calls, coderows.usages, coderows.name_uses,
        coderows.imports, coderows.methods, coderows.functions, coderows.classes, coderows.symbols,
        coderows.definitions;

    CREATE TABLE coderows.content_uses_13 (
        content_id bigint  NOT NULL,
        source_id  bigint,
        line       integer NOT NULL,
        col        integer NOT NULL,
        kind       "char"  NOT NULL CONSTRAINT content_uses_kind_check CHECK (kind IN ('c', 'r', 'i', 'b', 'd')),
        via_super  boolean NOT NULL,
        name       text COLLATE "C" NOT NULL,
        target     text COLLATE "C"
    );
    INSERT INTO coderows.content_uses_13 (content_id, source_id, line, col, kind, via_super, name, target)
    SELECT content_id, source_id, line, col,
           CASE kind WHEN 'call' THEN 'c' WHEN 'reference' THEN 'r' WHEN 'import' THEN 'i'
                     WHEN 'inherit' THEN 'b' WHEN 'decorator' THEN 'd' END::"char",
           via_super, name, target
    FROM coderows.content_uses;
    DROP TABLE coderows.content_uses;
    ALTER TABLE coderows.content_uses_13 RENAME TO content_uses;
    -- Indexes a bulk load had dropped to build later are made here, in their new form.
    DELETE FROM coderows.deferred_indexes WHERE name LIKE 'content\_uses\_%' OR name = 'content_definitions_full_name_idx';
    CREATE INDEX content_uses_content_source_idx ON coderows.content_uses (content_id, source_id);
    CREATE INDEX content_uses_target_idx ON coderows.content_uses (target, via_super);
    CREATE INDEX content_uses_unknown_idx ON coderows.content_uses (split_part(name, '.', -1)) WHERE target IS NULL;
    CREATE STATISTICS coderows.content_uses_kind_stats ON (coderows.use_kind(kind)) FROM coderows.content_uses;
    ANALYZE coderows.content_uses;

    ALTER TABLE coderows.content_definitions DROP COLUMN path, DROP COLUMN full_name;
    DROP INDEX IF EXISTS coderows.content_definitions_full_name_idx;  -- of version 9 or older, made by 0010
    CREATE INDEX content_definitions_full_name_idx ON coderows.content_definitions
        USING hash ((module || '.' || qualname));
    ALTER TABLE coderows.content_imports DROP COLUMN path;

    -- Unless answers still hold their consulted lists (version 13): then migration 0014,
    -- next, creates the views once it has moved them (see the rule atop schema.sql).
    IF NOT EXISTS (SELECT FROM pg_attribute WHERE attrelid = 'coderows.answers'::regclass
                   AND attname = 'consulted' AND NOT attisdropped) THEN
        PERFORM coderows.create_views();
    END IF;
END
$slim$;
