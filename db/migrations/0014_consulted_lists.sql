-- Version 14: a smaller database (issue 18); the views show the same columns and values.
-- Each distinct list of consulted modules is stored once, in consulted_lists (schema.sql
-- has just made it, empty), and an answer names its list by id. answers' rows are copied
-- into a new table, keeping every id (repo_answers points to them), rather than altered
-- in place: a dropped column keeps its bytes in every row written before, and the point
-- is a row without them. The views that read answers go first and come back from
-- create_views(). A database of version 4 or older got the new tables from schema.sql
-- and their rows from migration 0005: nothing to do here.
DO $lists$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_attribute WHERE attrelid = 'coderows.answers'::regclass
                   AND attname = 'consulted' AND NOT attisdropped) THEN
        RETURN;
    END IF;
    -- From a database of version 12 or older, migration 0013 left the views to this one.
    DROP VIEW IF EXISTS coderows.overrides, coderows.subclasses, coderows.calls, coderows.usages,
        coderows.resolutions;

    INSERT INTO coderows.consulted_lists (modules)
    SELECT consulted FROM coderows.answers GROUP BY consulted ORDER BY min(id);

    CREATE TABLE coderows.answers_14 (
        id           bigint  NOT NULL,
        consulted_id bigint  NOT NULL,
        target       text COLLATE "C" NOT NULL,
        via_super    boolean NOT NULL,
        full_name    text COLLATE "C"
    );
    INSERT INTO coderows.answers_14 (id, consulted_id, target, via_super, full_name)
    SELECT a.id, l.id, a.target, a.via_super, a.full_name
    FROM coderows.answers a JOIN coderows.consulted_lists l ON l.modules = a.consulted
    ORDER BY a.id;
    DROP TABLE coderows.answers;
    ALTER TABLE coderows.answers_14 RENAME TO answers;
    -- The ids go on from the last one given (a new identity starts at 1).
    ALTER TABLE coderows.answers ADD CONSTRAINT answers_pkey PRIMARY KEY (id),
        ALTER id ADD GENERATED ALWAYS AS IDENTITY;
    PERFORM setval(pg_get_serial_sequence('coderows.answers', 'id'), max(id)) FROM coderows.answers
    HAVING max(id) IS NOT NULL;
    CREATE INDEX answers_target_idx ON coderows.answers USING hash (target);
    CREATE INDEX answers_full_name_idx ON coderows.answers (full_name);
    CREATE INDEX answers_consulted_idx ON coderows.answers (consulted_id);
    ANALYZE coderows.answers, coderows.consulted_lists;

    PERFORM coderows.create_views();
END
$lists$;
