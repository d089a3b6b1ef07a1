-- 0005: a file's content, and what a name resolves to, are stored once for every
-- repository holding them. schema.sql has just created files, contents, the content_*
-- tables, consulted_lists, answers and repo_answers (empty) beside the tables of
-- version 4; this moves the rows over, keeping every id (a content's id is its old
-- module's id, so definition ids stay as they were), drops the old tables and creates
-- the views that now carry their names. Contents two repositories already held twice
-- stay two rows; the next change to such a file shares it.

-- What versions 1 to 3 lacked, for the copies below: modules.names_hash, name_uses and
-- resolutions.
ALTER TABLE coderows.modules ADD COLUMN IF NOT EXISTS names_hash text;
CREATE TABLE IF NOT EXISTS coderows.name_uses (
    module_id bigint, source_id bigint, line integer, col integer, kind text, name text,
    short_name text, target text, via_super boolean
);
CREATE TABLE IF NOT EXISTS coderows.resolutions (
    repo_id bigint, target text, via_super boolean, full_name text, consulted text[], stale boolean
);

-- The old views read the old tables: schema.sql left them alone; create_views() remakes them.
DROP VIEW IF EXISTS coderows.overrides, coderows.subclasses, coderows.calls, coderows.usages,
    coderows.methods, coderows.functions, coderows.classes, coderows.symbols;

-- The id sequence carries on from the ids already given (dropping modules would drop it).
ALTER SEQUENCE coderows.modules_id_seq OWNED BY coderows.contents.id;

INSERT INTO coderows.contents (id, path, name, is_package, docstring, source, line_count, content_hash,
                               encoding, parse_status, parse_error, names_hash)
SELECT id, path, name, is_package, docstring, source, line_count, content_hash,
       encoding, parse_status, parse_error, names_hash
FROM coderows.modules;

INSERT INTO coderows.files (repo_id, path, content_id, size, mtime_ns, indexed_at)
SELECT repo_id, path, id, size, mtime_ns, indexed_at FROM coderows.modules;

-- The content tables in the layout of version 13 (schema.sql made them): without the
-- path and full_name that the views make, without short_name, and with kind in one byte.
INSERT INTO coderows.content_definitions (id, content_id, parent_id, module, kind, name, qualname,
                                          class_name, def_line, start_line, end_line, signature,
                                          decorators, bases, is_async, docstring, body_start, body_length)
SELECT id, module_id, parent_id, module, kind, name, qualname, class_name, def_line,
       start_line, end_line, signature, decorators, bases, is_async, docstring, body_start, body_length
FROM coderows.definitions;

INSERT INTO coderows.content_imports (content_id, module, line, imported_module, imported_name,
                                      alias, level, target_module)
SELECT module_id, module, line, imported_module, imported_name, alias, level, target_module
FROM coderows.imports;

INSERT INTO coderows.content_uses (content_id, source_id, line, col, kind, name, target, via_super)
SELECT module_id, source_id, line, col,
       CASE kind WHEN 'call' THEN 'c' WHEN 'reference' THEN 'r' WHEN 'import' THEN 'i'
                 WHEN 'inherit' THEN 'b' WHEN 'decorator' THEN 'd' END::"char",
       name, target, via_super
FROM coderows.name_uses;

-- Resolutions: each distinct consulted list once (the layout of version 14), one answer
-- per distinct (target, via_super, full_name, consulted), and each repository's row
-- pointing to it.
INSERT INTO coderows.consulted_lists (modules)
SELECT DISTINCT consulted FROM coderows.resolutions;

INSERT INTO coderows.answers (consulted_id, target, via_super, full_name)
SELECT DISTINCT l.id, r.target, r.via_super, r.full_name
FROM coderows.resolutions r JOIN coderows.consulted_lists l ON l.modules = r.consulted;

INSERT INTO coderows.repo_answers (repo_id, answer_id, stale)
SELECT r.repo_id, a.id, r.stale
FROM coderows.resolutions r
JOIN coderows.consulted_lists l ON l.modules = r.consulted
JOIN coderows.answers a ON a.target = r.target AND a.via_super = r.via_super
 AND a.full_name IS NOT DISTINCT FROM r.full_name AND a.consulted_id = l.id;

DROP TABLE coderows.resolutions, coderows.name_uses, coderows.imports, coderows.definitions, coderows.modules;

SELECT coderows.create_views();
