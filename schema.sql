-- coderows database schema: the single source of truth for every table, view and index.
--
-- Applied automatically (and idempotently) the first time coderows connects to a
-- database; also applicable by hand:  psql "$URL" -v ON_ERROR_STOP=1 -f schema.sql
-- This file always describes the newest version in full, and is idempotent: a database
-- at an older version gets this file again, then the forward-only migrations in
-- db/migrations/NNNN_*.sql for what it cannot express (data), each raising schema_version.
--
-- The rule that follows: schema.sql stays valid against every older database. It only
-- creates what is missing; where an older version held something else under a name this
-- version uses (modules, definitions, imports, name_uses and resolutions were tables up
-- to version 4 and are views now), it leaves that name alone and the migration that converts the rows
-- creates the new object (here by calling create_views(), defined below).
--
-- Storage, from version 5: a file's content is stored once however many repositories
-- hold it (checkouts and git worktrees of one project share most files). `files` says
-- which repository holds which content at which path; `contents` and the content_*
-- tables hold what parsing the content gave. The views modules, definitions, imports and
-- name_uses join the two, so every view and table still has repo_id.
--
-- Conventions: lines are 1-based and inclusive; paths are POSIX, relative to the
-- repository root; dotted names follow Python (module "pkg.mod", qualname "C.meth").

CREATE SCHEMA IF NOT EXISTS coderows;
SET search_path = coderows, public;

-- Trigram matching for substring and "did you mean" name search. A trusted extension:
-- a database owner may create it without superuser rights.
CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA coderows;

-- schema_version: one row, the version of this schema that the database holds. The
-- newest version is the number of the last file in db/migrations/ (its one source):
-- coderows inserts it when it creates a database from this file (db/connection.py).
CREATE TABLE IF NOT EXISTS schema_version (
    version    integer     NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
);

-- repos: one row per indexed repository root. `excludes` are the --exclude patterns it
-- was last given: every later run that is given none (index, watch, serve, the server's
-- catch-up) keeps to them, so an excluded folder never comes back by itself.
CREATE TABLE IF NOT EXISTS repos (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    root       text        NOT NULL UNIQUE,  -- absolute path, symlinks resolved
    name       text        NOT NULL,         -- the root folder's name
    indexed_at timestamptz,                  -- end of the last complete index run
    excludes   text[]      NOT NULL DEFAULT '{}'  -- gitignore-style patterns, as given
);

-- contents: one row per distinct file content: the same bytes at the same path under
-- the same module name give the same rows, so a second repository holding them (another
-- checkout or worktree) points its files row here instead of parsing and storing them
-- again. A content row lives while some files row points to it; the loader removes the
-- rest (indexer/load.py, "content sharing").
CREATE TABLE IF NOT EXISTS contents (
    id           bigint      PRIMARY KEY,     -- from modules_id_seq, reserved by the loader
    path         text COLLATE "C" NOT NULL,   -- e.g. django/db/models/query.py
    name         text COLLATE "C" NOT NULL,   -- dotted import name, e.g. django.db.models.query
    is_package   boolean     NOT NULL,        -- the file is a package's __init__.py
    docstring    text,                        -- the module docstring's real string value
    source       text        NOT NULL,        -- the whole file as decoded text ('' when skipped)
    line_count   integer     NOT NULL,
    content_hash text        NOT NULL,        -- blake2b of the file's bytes, hex; '' when not read
    encoding     text,                        -- the codec the source was decoded with
    parse_status text        NOT NULL CHECK (parse_status IN ('ok', 'recovered', 'partial', 'skipped')),
    parse_error  text,                        -- why not ok; also notes such as replaced bytes
    names_hash   text,                        -- digest of what name resolution reads of the file (indexer/parse.py)
    -- indexer/parser_version.py's PARSER_VERSION when the rows were made; 0: by a coderows
    -- older than schema version 15, which did not record it. A content of an older version
    -- is parsed again by each repository's next index run (and never shared), so an upgrade
    -- does not leave the old parser's rows behind files whose bytes did not change.
    parser_version smallint   NOT NULL DEFAULT 0
);
-- Named for the modules table that held these ids up to version 4.
CREATE SEQUENCE IF NOT EXISTS modules_id_seq OWNED BY contents.id;
-- source is compressed with lz4 where the server has it (--with-lz4, PostgreSQL 14 or newer:
-- Debian's and most packages' builds): the stdlib's and Django's 47 MB of source take 19 MB
-- instead of 51 at no cost in load time (0.21 s of the backend's CPU against 0.22 s for the
-- COPY of them all), and a body's slice decompresses only the file's first part up to it.
-- pglz, the only method of a server without lz4 (the embedded one), costs 4x the load
-- CPU (0.95 s), so there the source stays uncompressed (EXTERNAL: a slice reads only the
-- pages it needs). Rows written before the change keep their form until rewritten.
DO $toast$
BEGIN
    IF EXISTS (SELECT FROM pg_settings WHERE name = 'default_toast_compression' AND 'lz4' = ANY (enumvals)) THEN
        ALTER TABLE contents ALTER COLUMN source SET STORAGE EXTENDED, ALTER COLUMN source SET COMPRESSION lz4;
    ELSE
        ALTER TABLE contents ALTER COLUMN source SET STORAGE EXTERNAL;
    END IF;
END
$toast$;
CREATE INDEX IF NOT EXISTS contents_path_idx ON contents (path, content_hash);  -- what can be shared
CREATE INDEX IF NOT EXISTS contents_name_idx ON contents (name);
-- content_chunks: each content's source again, in pieces of 64 lines, for search_code
-- (server/search.py). A trigram index over whole files finds too much: a big file holds
-- nearly every trigram, and pg_trgm splits words at underscores, so `get_prep_value`
-- made 442 of the 4,613 files of the stdlib + Django candidates for 26 that hold it, each
-- read whole to check. Over pieces of 64 lines the index narrows it to 139 pieces of ~2 KB.
-- `text` is collated "C": ILIKE then folds ASCII letters only, 3x faster than the
-- database's locale (other letters match as written). Line breaks are \n here whatever
-- they were in the file (common/lines.py's rule), so line first_line + i is the i-th
-- piece of text.split('\n'). Written with their content by the loader, removed with it by
-- the triggers below.
CREATE TABLE IF NOT EXISTS content_chunks (
    content_id bigint  NOT NULL,              -- contents.id
    first_line integer NOT NULL,              -- the line the piece starts at: 1, 65, 129, ...
    text       text COLLATE "C" NOT NULL,     -- lines first_line .. first_line + 63, joined by \n
    PRIMARY KEY (content_id, first_line)
);
-- Its pending list stays at the default 4 MB: at 64 MB a load into a database that already
-- holds pieces cost 3-10% less server CPU, but the flushed list's pages stay in the index
-- file (82 -> 134 MB for bench_scale.py's 4.5M lines). Searches read the pending list in
-- full, so every index and watch run ends by merging what it left there
-- (indexer/load.py, flush_pending_index_entries).
CREATE INDEX IF NOT EXISTS content_chunks_text_trgm_idx ON content_chunks USING gin (text gin_trgm_ops);
-- Pieces of more than ~2 KB are compressed. With lz4 where the server has it (as
-- contents.source above), not pglz: search_code reads a common text's pieces by the
-- thousand, and lz4 decompresses them several times faster (CPU for 200 searches of
-- bench_search.py: -9%; the pieces take 28 MB instead of 26 for stdlib + Django). Rows
-- written before keep their form until rewritten.
DO $toast$
BEGIN
    IF EXISTS (SELECT FROM pg_settings WHERE name = 'default_toast_compression' AND 'lz4' = ANY (enumvals)) THEN
        ALTER TABLE content_chunks ALTER COLUMN text SET COMPRESSION lz4;
    END IF;
END
$toast$;

-- A source's pieces of 64 lines (the final line break's empty piece included, as in
-- common/lines.py's split_lines). The definition of what content_chunks holds: migration
-- 0007 wrote older contents' pieces with it; indexer/encode.py makes the same rows.
CREATE OR REPLACE FUNCTION source_chunks(source text) RETURNS TABLE (first_line integer, text text)
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $chunks$
    SELECT min(l.n)::integer, string_agg(l.line, E'\n' ORDER BY l.n)
    FROM unnest(string_to_array(replace(replace(source, E'\r\n', E'\n'), E'\r', E'\n'), E'\n'))
         WITH ORDINALITY AS l(line, n)
    GROUP BY (l.n - 1) / 64
$chunks$;

-- deferred_indexes: the secondary indexes a first bulk load into an empty database
-- dropped, to build each in one sort once the rows are in (indexer/load.py,
-- defer_indexes), instead of inserting every row into it (content_definitions' eight
-- took 2.2 s of backend CPU row by row, 0.8 s built after). Written in the transaction
-- that drops them, so a run killed before it built them again leaves them listed: the
-- next index run builds them (restore_indexes).
CREATE TABLE IF NOT EXISTS deferred_indexes (
    name       text PRIMARY KEY,   -- the index, unqualified (in schema coderows)
    definition text NOT NULL       -- pg_get_indexdef: the CREATE INDEX that makes it again
);

-- The loader writes a content's pieces with it (indexer/encode.py's pieces_copy_text makes
-- the rows source_chunks gives, in the worker that parsed the file); statement triggers
-- (one DELETE per statement, not one per row) remove them with their content, so that
-- freeing contents needs to know nothing about pieces.
CREATE OR REPLACE FUNCTION unchunk_old_contents() RETURNS trigger
LANGUAGE plpgsql SET search_path = coderows, public AS $trigger$
BEGIN
    DELETE FROM content_chunks WHERE content_id IN (SELECT id FROM old_contents);
    RETURN NULL;
END
$trigger$;
CREATE OR REPLACE FUNCTION unchunk_all_contents() RETURNS trigger
LANGUAGE plpgsql SET search_path = coderows, public AS $trigger$
BEGIN
    TRUNCATE content_chunks;
    RETURN NULL;
END
$trigger$;
CREATE OR REPLACE TRIGGER contents_unchunked AFTER DELETE ON contents
    REFERENCING OLD TABLE AS old_contents FOR EACH STATEMENT EXECUTE FUNCTION unchunk_old_contents();
CREATE OR REPLACE TRIGGER contents_truncated AFTER TRUNCATE ON contents
    FOR EACH STATEMENT EXECUTE FUNCTION unchunk_all_contents();

-- files: one row per indexed Python file of a repository: which content it holds. size
-- and mtime_ns are the file's stat at the time it was read; an incremental run re-reads
-- only files whose stat differs, and re-parses only those whose content_hash differs too.
CREATE TABLE IF NOT EXISTS files (
    repo_id    bigint      NOT NULL REFERENCES repos (id),
    path       text COLLATE "C" NOT NULL,
    content_id bigint      NOT NULL REFERENCES contents (id),
    size       bigint      NOT NULL,          -- bytes on disk when read
    mtime_ns   bigint      NOT NULL,          -- modification time when read
    indexed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (repo_id, path)
);
CREATE INDEX IF NOT EXISTS files_content_id_idx ON files (content_id, repo_id);

-- content_definitions: every class and function definition of a content, nested ones
-- included; read them through the definitions and symbols views. A definition's id is its
-- content's id times 2^20 plus its ordinal in the file, so a file's rows can be numbered
-- (and their parents referenced) before they reach the database; the same id therefore
-- shows in every repository that holds the content. module repeats the content's name
-- so that lookups need no join; the path (the files row's, which the views join anyway)
-- and full_name (module || '.' || qualname, indexed as that expression) are not stored
-- from version 13 (issue 18: 24% of the table for the stdlib + Django). A content's rows
-- are written and removed together with it in one transaction (no foreign-key triggers:
-- they would cost a lookup per row on every load).
CREATE TABLE IF NOT EXISTS content_definitions (
    id          bigint  PRIMARY KEY,
    content_id  bigint  NOT NULL,         -- contents.id
    parent_id   bigint,                   -- id of the enclosing class or function; NULL at module level
    module      text COLLATE "C" NOT NULL, -- dotted module name
    kind        text    NOT NULL CHECK (kind IN ('class', 'function', 'method')),
    name        text COLLATE "C" NOT NULL,
    qualname    text COLLATE "C" NOT NULL, -- exactly Python's __qualname__
    class_name  text COLLATE "C",          -- a method's enclosing class's simple name
    def_line    integer NOT NULL,         -- the line of `def` / `class` (ast lineno)
    start_line  integer NOT NULL,         -- the first decorator's line, else def_line
    end_line    integer NOT NULL,         -- ast end_lineno
    signature   text    NOT NULL,         -- the header on one line: "def f(a, b=1) -> int"
    decorators  text[]  NOT NULL,         -- decorator expressions as written, without "@"
    bases       text[]  NOT NULL,         -- a class's positional bases as written
    is_async    boolean NOT NULL,
    docstring   text,                     -- the docstring's real string value
    body_start  integer NOT NULL,         -- 1-based character offset of start_line in contents.source
    body_length integer NOT NULL          -- characters through the end of end_line, without its line break
);
CREATE INDEX IF NOT EXISTS content_definitions_content_id_idx ON content_definitions (content_id);
CREATE INDEX IF NOT EXISTS content_definitions_parent_id_idx ON content_definitions (parent_id);
CREATE INDEX IF NOT EXISTS content_definitions_name_idx ON content_definitions (name);
-- Hash indexes: qualname and full_name are only ever asked for by equality (a lookup, a
-- list of names, a join), and a btree keeps a copy of each text: for the stdlib + Django
-- as loaded they took 8.3 and 12.0 MB, the hash indexes 5.3 each (names by prefix or
-- pattern go through name's indexes below). full_name is the expression the views give
-- (definitions.full_name): a lookup through them, or `module || '.' || qualname` written
-- as such, finds it.
CREATE INDEX IF NOT EXISTS content_definitions_qualname_idx ON content_definitions USING hash (qualname);
CREATE INDEX IF NOT EXISTS content_definitions_full_name_idx ON content_definitions USING hash ((module || '.' || qualname));
-- On module alone, for SQL such as `WHERE module = 'pkg.mod'` (a file's definitions share
-- it: deduplicated, 1 MB for the stdlib + Django); `pkg.mod:Qual.name` is looked up by the
-- full name the two make (server/lookup.py). On (module, qualname) it took 13 MB.
CREATE INDEX IF NOT EXISTS content_definitions_module_idx ON content_definitions (module);
CREATE INDEX IF NOT EXISTS content_definitions_name_trgm_idx ON content_definitions USING gin (name gin_trgm_ops);

-- content_imports: every import statement's names, per content, wherever it stands in
-- the file. "import a.b as c" is (imported_module 'a.b', imported_name NULL, alias 'c',
-- level 0); "from ..x import y" is (imported_module 'x', imported_name 'y', level 2), and
-- target_module is the absolute module that the statement names ('pkg.x'), NULL when a
-- relative import climbs above the top-level package. The path is the files row's (the
-- imports view joins it), not stored from version 13.
CREATE TABLE IF NOT EXISTS content_imports (
    content_id      bigint  NOT NULL,    -- contents.id (written and removed with it)
    module          text COLLATE "C" NOT NULL, -- the importing module's dotted name
    line            integer NOT NULL,
    imported_module text,                -- as written, without leading dots; NULL for "from . import x"
    imported_name   text,                -- for "from M import N": N ('*' for a star import)
    alias           text,                -- the "as" name, if any
    level           integer NOT NULL,    -- number of leading dots (0 = absolute)
    target_module   text COLLATE "C"     -- the absolute module the statement names
);
CREATE INDEX IF NOT EXISTS content_imports_content_id_idx ON content_imports (content_id);
CREATE INDEX IF NOT EXISTS content_imports_target_module_idx ON content_imports (target_module);
CREATE INDEX IF NOT EXISTS content_imports_module_idx ON content_imports (module);

-- content_uses: every use of a name in a content, as the code writes it; read them
-- through the usages view, which adds what each one resolves to in each repository.
-- `target` is the qualified name the file itself says (`from pkg import models` makes
-- `models.Model` pkg.models.Model) before imports, re-exports and base classes in other
-- files are followed: that happens per repository in the resolutions table, so a
-- re-indexed file never leaves another file's rows pointing at definitions that are
-- gone, and a file changed in one worktree never changes another's answers. The biggest
-- table by far (2.5M rows for 4.5M lines), so it holds ids, not what contents and
-- content_definitions already say.
-- Version 13 (issue 18): the row holds no short_name (the views derive it from name, and
-- the index of uses known by name only is on that expression) and its kind is one byte
-- (the views spell it out); 8 columns, not 9, so a row with a NULL has a null bitmap of one
-- byte and a header of 24 bytes, not 32.
CREATE TABLE IF NOT EXISTS content_uses (
    content_id       bigint  NOT NULL,    -- contents.id
    source_id        bigint,              -- content_definitions.id of the enclosing definition; NULL at module level
    line             integer NOT NULL,    -- of the referenced name itself (`save` in self.save)
    col              integer NOT NULL,    -- 1-based, in characters
    -- c call, r reference, i import, b inherit (a base class), d decorator: use_kind() below
    kind             "char"  NOT NULL CHECK (kind IN ('c', 'r', 'i', 'b', 'd')),
    via_super        boolean NOT NULL,    -- target is <class>.<attribute> reached by super(): found in the class's bases
    name             text COLLATE "C" NOT NULL, -- as written: save, self.save, models.Model, super().save
    target           text COLLATE "C"     -- qualified name as the file says it; NULL: known by name only
);
-- A definition's id starts with its content's id (see content_definitions), so one index
-- serves both a file's rows and one definition's: (content_id = id >> 20, source_id = id).
CREATE INDEX IF NOT EXISTS content_uses_content_source_idx ON content_uses (content_id, source_id);
CREATE INDEX IF NOT EXISTS content_uses_target_idx ON content_uses (target, via_super);

-- What the views show of content_uses: kind spelled out, and short_name, the last
-- identifier of name (`save` of self.save). Inlined by the planner, so that a filter on
-- short_name meets the index below.
CREATE OR REPLACE FUNCTION use_kind(code "char") RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $kind$
    SELECT CASE code WHEN 'c' THEN 'call' WHEN 'r' THEN 'reference' WHEN 'i' THEN 'import'
                     WHEN 'b' THEN 'inherit' WHEN 'd' THEN 'decorator' END
$kind$;
-- Uses known by name only, for "and N more that may be it".
CREATE INDEX IF NOT EXISTS content_uses_unknown_idx ON content_uses (split_part(name, '.', -1)) WHERE target IS NULL;
-- The planner cannot see through use_kind() to the statistics of kind: without these it
-- took `kind = 'call'` for 1% of the uses, not half. (A database of version 12 or older,
-- whose kind is still text, gets them from migration 0013.)
DO $stats$
BEGIN
    IF (SELECT atttypid = '"char"'::regtype FROM pg_attribute
        WHERE attrelid = 'coderows.content_uses'::regclass AND attname = 'kind') THEN
        CREATE STATISTICS IF NOT EXISTS content_uses_kind_stats ON (use_kind(kind)) FROM content_uses;
    END IF;
END
$stats$;

-- consulted_lists: each distinct list of the module names answers consulted, stored once
-- and named by id from answers. Answers of nearby targets consult the same few modules:
-- the stdlib's 81,646 answers hold 14,249 distinct lists, which in every answer row took
-- 7.5 MB of a 16.8 MB heap and a 6.5 MB GIN index. answers with its indexes and this
-- table, loaded into a fresh database: the stdlib 33.0 -> 26.4 MB, the stdlib + Django
-- (138k answers, 28k lists) 55.3 -> 45.1 MB (version 13 -> 14). A list lives while an
-- answer names it (indexer/load.py frees the rest with their answers).
CREATE TABLE IF NOT EXISTS consulted_lists (
    id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    modules text[] NOT NULL  -- module names, sorted, each once
);
-- Staleness: which lists name one of the modules re-indexed (`&&`), and so which answers.
-- Without a pending list: lists arrive a few hundred per statement, a few names each (the
-- stdlib's 50k in all), and a pending list flushed into the index left it at 4.0 MB for
-- the stdlib, against 1.8 MB inserted directly (for ~0.15 s more of a 13 s load).
CREATE INDEX IF NOT EXISTS consulted_lists_modules_idx ON consulted_lists USING gin (modules) WITH (fastupdate = off);
-- Writers find a list by equality (a btree could not hold a long list). A hash index
-- cannot be unique: two transactions pointing to answers at once may each store the
-- same new list. That is harmless: an answer names one list by id, staleness finds
-- every list naming a module, duplicates included, and a writer takes the oldest of
-- equal lists (a duplicate goes when its last answer does).
CREATE INDEX IF NOT EXISTS consulted_lists_equal_idx ON consulted_lists USING hash (modules);

-- answers: what a target resolves to, the way Python finds it (indexer/resolve.py holds
-- the rules): the definition itself, else the longest prefix that is an indexed module,
-- then that module's definitions, its imports (`as` aliases, re-exports through a
-- package's __init__, star imports), and a class's members through its bases in MRO
-- order. Its consulted list names every module the answer depended on, present or not.
-- An answer is shared by every repository whose modules named in that list hold the
-- same contents (checkouts and worktrees of one project): read them per repository, with
-- the list, through the resolutions view. An answer lives while a repository points to it.
CREATE TABLE IF NOT EXISTS answers (
    id           bigint  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    consulted_id bigint  NOT NULL,       -- consulted_lists.id: the modules the answer depends on
    target       text COLLATE "C" NOT NULL,
    via_super    boolean NOT NULL,
    full_name    text COLLATE "C"        -- the definition; NULL when nothing indexed defines it
);
-- A hash index: every reader asks for a target by equality (answers are matched to uses
-- and to new resolutions by target), and the targets are nearly all distinct, so the
-- btree's copy of each text (14 MB for the stdlib + Django as loaded) costs 3x the hash.
CREATE INDEX IF NOT EXISTS answers_target_idx ON answers USING hash (target);
CREATE INDEX IF NOT EXISTS answers_full_name_idx ON answers (full_name);
-- From a list to its answers (staleness, and freeing a list no answer names): a btree,
-- whose deduplication keeps one entry per list and page. (A database of version 13 or
-- older, whose answers still hold their lists, gets it from migration 0014.)
DO $consulted$
BEGIN
    IF EXISTS (SELECT FROM pg_attribute WHERE attrelid = 'coderows.answers'::regclass
               AND attname = 'consulted_id' AND NOT attisdropped) THEN
        CREATE INDEX IF NOT EXISTS answers_consulted_idx ON answers (consulted_id);
    END IF;
END
$consulted$;

-- repo_answers: the answer each target used in a repository has there, one per (repo_id,
-- target, via_super). When a module named in its consulted list is re-indexed the row turns
-- stale and is resolved again in the same transaction (or, for a run of many batches,
-- at its end).
CREATE TABLE IF NOT EXISTS repo_answers (
    repo_id   bigint  NOT NULL,
    answer_id bigint  NOT NULL,           -- answers.id (indexer/load.py frees answers none points to)
    stale     boolean NOT NULL DEFAULT false,  -- to be resolved (again); read as unresolved meanwhile
    -- Answer first: every reader reaches these rows from an answer (by target, full name
    -- or consulted list) and asks for one repository's row of it, and freeing an answer
    -- asks whether any repository points to it; a second index on answer_id alone took
    -- 3.8 MB for the stdlib + Django. Only forgetting a repository reads them by repo_id
    -- alone (and resolution the stale ones, through the index below).
    PRIMARY KEY (answer_id, repo_id)
);
CREATE INDEX IF NOT EXISTS repo_answers_stale_idx ON repo_answers (repo_id) WHERE stale;

-- unresolved_modules: files loaded by a run of many batches whose targets are not yet
-- in resolutions; the run resolves them at its end (or the next run does, if it died).
CREATE TABLE IF NOT EXISTS unresolved_modules (
    repo_id   bigint NOT NULL,
    module_id bigint NOT NULL  -- contents.id (modules.id)
);
CREATE INDEX IF NOT EXISTS unresolved_modules_repo_idx ON unresolved_modules (repo_id);

-- The views. They live in create_views() so that the migration which turns the tables of
-- version 4 into these views can create them too (see the rule at the top). Every view
-- has repo_id, and whatever joins across files joins within one repository.
CREATE OR REPLACE FUNCTION create_views() RETURNS void
LANGUAGE plpgsql SET search_path = coderows, public AS $views$
BEGIN

-- modules: one row per indexed Python file of a repository (README, "SQL").
-- id is the content's id, the same in every repository holding the content: join other
-- views on (id, repo_id). A left join that every file matches (files.content_id is a
-- foreign key), written so that a query reading no content column skips contents.
CREATE OR REPLACE VIEW modules AS
SELECT c.id, f.repo_id, f.path, c.name, c.is_package, c.docstring, c.source, c.line_count,
       c.content_hash, f.size, f.mtime_ns, c.encoding, c.parse_status, c.parse_error,
       f.indexed_at, c.names_hash
FROM files f LEFT JOIN contents c ON c.id = f.content_id;

-- definitions: every definition of every file of a repository. module_id is the
-- content's id (modules.id), and a definition's id is the same in every repository that
-- holds its file: filter by repo_id.
CREATE OR REPLACE VIEW definitions AS
SELECT d.id, d.content_id AS module_id, d.parent_id, f.repo_id, d.module, f.path, d.kind, d.name,
       d.qualname, d.module || '.' || d.qualname AS full_name, d.class_name, d.def_line, d.start_line, d.end_line, d.signature,
       d.decorators, d.bases, d.is_async, d.docstring, d.body_start, d.body_length
FROM content_definitions d JOIN files f ON f.content_id = d.content_id;

-- resolutions: what each distinct target used in a repository resolves to there, and
-- the modules it consulted. Every answer has its list: the left join on a primary key
-- gives the same rows and lets the planner skip consulted_lists in a query that does not
-- select consulted (usages, for one).
CREATE OR REPLACE VIEW resolutions AS
SELECT p.repo_id, a.target, a.via_super, a.full_name, l.modules AS consulted, p.stale
FROM repo_answers p JOIN answers a ON a.id = p.answer_id LEFT JOIN consulted_lists l ON l.id = a.consulted_id;

-- imports and name_uses: content_imports and content_uses per repository.
CREATE OR REPLACE VIEW imports AS
SELECT i.content_id AS module_id, f.repo_id, i.module, f.path, i.line, i.imported_module,
       i.imported_name, i.alias, i.level, i.target_module
FROM content_imports i JOIN files f ON f.content_id = i.content_id;

CREATE OR REPLACE VIEW name_uses AS
SELECT u.content_id AS module_id, f.repo_id, u.source_id, u.line, u.col, use_kind(u.kind) AS kind, u.name,
       split_part(u.name, '.', -1) AS short_name, u.target, u.via_super
FROM content_uses u JOIN files f ON f.content_id = u.content_id;

-- symbols: the definitions with their source text. body is exactly the source lines
-- start_line..end_line without the final line break, cut from contents.source (a slice
-- reads or decompresses the source only up to its end; see contents) rather than stored twice. A
-- query that does not select body never touches contents: the left join on a primary
-- key is removed by the planner.
CREATE OR REPLACE VIEW symbols AS
SELECT d.id, d.module_id, d.parent_id, d.repo_id, d.module, d.path, d.kind, d.name, d.qualname,
       d.full_name, d.class_name, d.def_line, d.start_line, d.end_line, d.signature, d.decorators,
       d.bases, d.is_async, d.docstring, substr(c.source, d.body_start, d.body_length) AS body
FROM definitions d LEFT JOIN contents c ON c.id = d.module_id;

-- classes, functions, methods: symbols filtered by kind. functions holds both plain
-- functions and methods; class_name is NULL for everything but methods.
CREATE OR REPLACE VIEW classes AS SELECT * FROM symbols WHERE kind = 'class';
CREATE OR REPLACE VIEW functions AS SELECT * FROM symbols WHERE kind IN ('function', 'method');
CREATE OR REPLACE VIEW methods AS SELECT * FROM symbols WHERE kind = 'method';

-- usages: every use of a name with what it resolves to in its file's repository
-- (README, "Cross-references"). resolved is true when target_full_name names an indexed definition;
-- the other rows are matches by name (attributes of objects of unknown type) or uses of
-- what is not indexed (builtins, other packages), never passed off as resolved.
-- source_full_name is the enclosing definition's full_name, or the module's name at
-- module level.
--   SELECT path, line, source_full_name FROM usages WHERE target_full_name = 'pkg.mod.func';
CREATE OR REPLACE VIEW usages AS
SELECT f.repo_id, u.content_id AS module_id, u.source_id, c.name AS module, f.path, u.line, u.col,
       use_kind(u.kind) AS kind, u.name, split_part(u.name, '.', -1) AS short_name,
       coalesce(s.module || '.' || s.qualname, c.name) AS source_full_name,
       r.full_name AS target_full_name, r.full_name IS NOT NULL AS resolved, u.target
FROM content_uses u
JOIN files f ON f.content_id = u.content_id
JOIN contents c ON c.id = u.content_id
LEFT JOIN content_definitions s ON s.id = u.source_id
LEFT JOIN resolutions r
       ON r.repo_id = f.repo_id AND r.target = u.target AND r.via_super = u.via_super AND NOT r.stale;

-- calls: resolved calls, caller to callee. Calling a class calls its __init__; the row
-- names the class, as the code does.
--   SELECT callee_full_name, count(*) FROM calls GROUP BY 1 ORDER BY 2 DESC LIMIT 10;
CREATE OR REPLACE VIEW calls AS
SELECT repo_id, path, line, col, source_full_name AS caller_full_name,
       target_full_name AS callee_full_name
FROM usages WHERE kind = 'call' AND resolved;

-- subclasses: every class below another in the same repository, at any depth (1 = a
-- direct subclass).
--   SELECT subclass_full_name FROM subclasses WHERE base_full_name = 'pkg.models.Model';
CREATE OR REPLACE VIEW subclasses AS
WITH RECURSIVE direct AS (
    SELECT u.repo_id, u.target_full_name AS base_full_name, d.module || '.' || d.qualname AS subclass_full_name
    FROM usages u JOIN content_definitions d ON d.id = u.source_id
    WHERE u.kind = 'inherit' AND u.resolved
), below (repo_id, base_full_name, subclass_full_name, depth) AS (
    SELECT repo_id, base_full_name, subclass_full_name, 1 FROM direct
    UNION
    SELECT b.repo_id, b.base_full_name, d.subclass_full_name, b.depth + 1
    FROM below b JOIN direct d ON d.repo_id = b.repo_id AND d.base_full_name = b.subclass_full_name
    WHERE b.depth < 50
)
SELECT repo_id, base_full_name, subclass_full_name, min(depth) AS depth
FROM below GROUP BY repo_id, base_full_name, subclass_full_name;

-- overrides: a method and the same-named method of a class it inherits from, in the
-- same repository.
--   SELECT method_full_name FROM overrides WHERE overridden_full_name = 'pkg.Base.save';
CREATE OR REPLACE VIEW overrides AS
SELECT s.repo_id, m.module || '.' || m.qualname AS method_full_name, o.module || '.' || o.qualname AS overridden_full_name, s.depth
FROM subclasses s
JOIN definitions c ON c.repo_id = s.repo_id AND c.full_name = s.subclass_full_name AND c.kind = 'class'
JOIN content_definitions m ON m.parent_id = c.id AND m.kind = 'method'
JOIN definitions b ON b.repo_id = s.repo_id AND b.full_name = s.base_full_name AND b.kind = 'class'
JOIN content_definitions o ON o.parent_id = b.id AND o.name = m.name AND o.kind = 'method';

END
$views$;

-- A database still holding the tables of version 4 or older gets its views from
-- migration 0005, once it has moved their rows; one whose content_uses still has the
-- short_name and text kind of version 12 or older, from migration 0013 once it has
-- rewritten them; one whose answers still hold their consulted lists (version 13 or
-- older), from migration 0014.
SELECT create_views()
WHERE NOT EXISTS (SELECT FROM pg_tables WHERE schemaname = 'coderows' AND tablename = 'modules')
  AND NOT EXISTS (SELECT FROM pg_attribute
                  WHERE attrelid = 'coderows.content_uses'::regclass AND attname = 'short_name' AND NOT attisdropped)
  AND NOT EXISTS (SELECT FROM pg_attribute
                  WHERE attrelid = 'coderows.answers'::regclass AND attname = 'consulted' AND NOT attisdropped);
