-- coderows database schema: the single source of truth for every table, view and index.
--
-- Applied automatically (and idempotently) the first time coderows connects to a
-- database; also applicable by hand:  psql "$URL" -v ON_ERROR_STOP=1 -f schema.sql
-- This file always describes the newest version in full, and is idempotent: a database
-- at an older version gets this file again, then the forward-only migrations in
-- db/migrations/NNNN_*.sql for what it cannot express (data), each raising schema_version.
--
-- Conventions: lines are 1-based and inclusive; paths are POSIX, relative to the
-- repository root; dotted names follow Python (module "pkg.mod", qualname "C.meth").

CREATE SCHEMA IF NOT EXISTS coderows;
SET search_path = coderows, public;

-- Trigram matching for substring and "did you mean" name search. A trusted extension:
-- a database owner may create it without superuser rights.
CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA coderows;

-- schema_version: one row, the version of this schema that the database holds.
CREATE TABLE IF NOT EXISTS schema_version (
    version    integer     NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO schema_version (version)
SELECT 4 WHERE NOT EXISTS (SELECT FROM schema_version);  -- a new database starts at the newest

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

-- modules: one row per indexed Python file. size and mtime_ns are the file's stat at
-- the time it was read; an incremental run re-reads only files whose stat differs, and
-- re-parses only those whose content_hash differs too.
CREATE TABLE IF NOT EXISTS modules (
    id           bigint      PRIMARY KEY,     -- from modules_id_seq, reserved by the loader
    repo_id      bigint      NOT NULL REFERENCES repos (id),
    path         text COLLATE "C" NOT NULL,   -- e.g. django/db/models/query.py
    name         text COLLATE "C" NOT NULL,   -- dotted import name, e.g. django.db.models.query
    is_package   boolean     NOT NULL,        -- the file is a package's __init__.py
    docstring    text,                        -- the module docstring's real string value
    source       text        NOT NULL,        -- the whole file as decoded text ('' when skipped)
    line_count   integer     NOT NULL,
    content_hash text        NOT NULL,        -- blake2b of the file's bytes, hex
    size         bigint      NOT NULL,        -- bytes on disk when read
    mtime_ns     bigint      NOT NULL,        -- modification time when read
    encoding     text,                        -- the codec the source was decoded with
    parse_status text        NOT NULL CHECK (parse_status IN ('ok', 'recovered', 'partial', 'skipped')),
    parse_error  text,                        -- why not ok; also notes such as replaced bytes
    indexed_at   timestamptz NOT NULL DEFAULT now(),
    names_hash   text,                        -- digest of what name resolution reads of the file (indexer/parse.py)
    UNIQUE (repo_id, path)
);
ALTER TABLE modules ADD COLUMN IF NOT EXISTS names_hash text;  -- for version 1 databases
CREATE SEQUENCE IF NOT EXISTS modules_id_seq OWNED BY modules.id;
ALTER TABLE modules ALTER COLUMN source SET STORAGE EXTERNAL;  -- no TOAST compression: faster loads
CREATE INDEX IF NOT EXISTS modules_name_idx ON modules (name);

-- definitions: every class and function definition, nested ones included; read them
-- through the symbols view below, which adds each one's source text. A definition's id
-- is its module's id times 2^20 plus its ordinal in the file, so a file's rows can be
-- numbered (and their parents referenced) before they reach the database.
-- module, path and repo_id repeat the module's values so that lookups need no join.
-- They never drift, and module_id never dangles, because the loader replaces a file's
-- modules, definitions and imports rows together in one transaction (no foreign-key
-- triggers: they would cost a lookup per row on every load).
CREATE TABLE IF NOT EXISTS definitions (
    id          bigint  PRIMARY KEY,
    module_id   bigint  NOT NULL,         -- modules.id
    parent_id   bigint,                   -- id of the enclosing class or function; NULL at module level
    repo_id     bigint  NOT NULL,
    module      text COLLATE "C" NOT NULL, -- dotted module name
    path        text COLLATE "C" NOT NULL,
    kind        text    NOT NULL CHECK (kind IN ('class', 'function', 'method')),
    name        text COLLATE "C" NOT NULL,
    qualname    text COLLATE "C" NOT NULL, -- exactly Python's __qualname__
    full_name   text COLLATE "C" NOT NULL, -- module || '.' || qualname
    class_name  text COLLATE "C",          -- a method's enclosing class's simple name
    def_line    integer NOT NULL,         -- the line of `def` / `class` (ast lineno)
    start_line  integer NOT NULL,         -- the first decorator's line, else def_line
    end_line    integer NOT NULL,         -- ast end_lineno
    signature   text    NOT NULL,         -- the header on one line: "def f(a, b=1) -> int"
    decorators  text[]  NOT NULL,         -- decorator expressions as written, without "@"
    bases       text[]  NOT NULL,         -- a class's positional bases as written
    is_async    boolean NOT NULL,
    docstring   text,                     -- the docstring's real string value
    body_start  integer NOT NULL,         -- 1-based character offset of start_line in modules.source
    body_length integer NOT NULL          -- characters through the end of end_line, without its line break
);
CREATE INDEX IF NOT EXISTS definitions_module_id_idx ON definitions (module_id);
CREATE INDEX IF NOT EXISTS definitions_parent_id_idx ON definitions (parent_id);
CREATE INDEX IF NOT EXISTS definitions_name_idx ON definitions (name);
CREATE INDEX IF NOT EXISTS definitions_qualname_idx ON definitions (qualname);
CREATE INDEX IF NOT EXISTS definitions_full_name_idx ON definitions (full_name);
CREATE INDEX IF NOT EXISTS definitions_module_idx ON definitions (module, qualname);
CREATE INDEX IF NOT EXISTS definitions_name_trgm_idx ON definitions USING gin (name gin_trgm_ops);

-- symbols: the definitions with their source text. body is exactly the source lines
-- start_line..end_line without the final line break, cut from modules.source (stored
-- uncompressed, so a slice reads only the pages it needs) rather than stored twice. A
-- query that does not select body never touches modules: the left join on a primary
-- key is removed by the planner.
CREATE OR REPLACE VIEW symbols AS
SELECT d.id, d.module_id, d.parent_id, d.repo_id, d.module, d.path, d.kind, d.name, d.qualname,
       d.full_name, d.class_name, d.def_line, d.start_line, d.end_line, d.signature, d.decorators,
       d.bases, d.is_async, d.docstring, substr(m.source, d.body_start, d.body_length) AS body
FROM definitions d LEFT JOIN modules m ON m.id = d.module_id;

-- classes, functions, methods: symbols filtered by kind. functions holds both plain
-- functions and methods; class_name is NULL for everything but methods.
CREATE OR REPLACE VIEW classes AS SELECT * FROM symbols WHERE kind = 'class';
CREATE OR REPLACE VIEW functions AS SELECT * FROM symbols WHERE kind IN ('function', 'method');
CREATE OR REPLACE VIEW methods AS SELECT * FROM symbols WHERE kind = 'method';

-- imports: every import statement's names, per module, wherever it stands in the file.
-- "import a.b as c" is (imported_module 'a.b', imported_name NULL, alias 'c', level 0);
-- "from ..x import y" is (imported_module 'x', imported_name 'y', level 2), and
-- target_module is the absolute module that the statement names ('pkg.x'), NULL when a
-- relative import climbs above the top-level package.
CREATE TABLE IF NOT EXISTS imports (
    module_id       bigint  NOT NULL,    -- modules.id (replaced together, as for definitions)
    repo_id         bigint  NOT NULL,
    module          text COLLATE "C" NOT NULL, -- the importing module's dotted name
    path            text COLLATE "C" NOT NULL,
    line            integer NOT NULL,
    imported_module text,                -- as written, without leading dots; NULL for "from . import x"
    imported_name   text,                -- for "from M import N": N ('*' for a star import)
    alias           text,                -- the "as" name, if any
    level           integer NOT NULL,    -- number of leading dots (0 = absolute)
    target_module   text COLLATE "C"     -- the absolute module the statement names
);
CREATE INDEX IF NOT EXISTS imports_module_id_idx ON imports (module_id);
CREATE INDEX IF NOT EXISTS imports_target_module_idx ON imports (target_module);
CREATE INDEX IF NOT EXISTS imports_module_idx ON imports (module);

-- name_uses: every use of a name in the indexed code, as the code writes it; read them
-- through the usages view below, which adds what each one resolves to. `target` is the
-- qualified name the file itself says (`from pkg import models` makes `models.Model`
-- pkg.models.Model) before imports, re-exports and base classes in other files are
-- followed: that happens in the resolutions table, so a re-indexed file never leaves
-- another file's rows pointing at definitions that are gone. Replaced together with its
-- module's other rows, as for definitions. The biggest table by far (2.5M rows for 4.5M
-- lines), so it holds ids, not what modules and definitions already say: the usages view
-- adds the module, the path and the enclosing definition's name.
CREATE TABLE IF NOT EXISTS name_uses (
    module_id        bigint  NOT NULL,    -- modules.id
    repo_id          bigint  NOT NULL,
    source_id        bigint,              -- definitions.id of the enclosing definition; NULL at module level
    line             integer NOT NULL,    -- of the referenced name itself (`save` in self.save)
    col              integer NOT NULL,    -- 1-based, in characters
    kind             text    NOT NULL CHECK (kind IN ('call', 'reference', 'import', 'inherit', 'decorator')),
    name             text COLLATE "C" NOT NULL, -- as written: save, self.save, models.Model, super().save
    short_name       text COLLATE "C" NOT NULL, -- the last identifier of name: save
    target           text COLLATE "C",   -- qualified name as the file says it; NULL: known by name only
    via_super        boolean NOT NULL     -- target is <class>.<attribute> reached by super(): found in the class's bases
);
-- A definition's id starts with its module's id (see definitions), so one index serves
-- both a file's rows and one definition's: (module_id = id >> 20, source_id = id).
CREATE INDEX IF NOT EXISTS name_uses_module_source_idx ON name_uses (module_id, source_id);
CREATE INDEX IF NOT EXISTS name_uses_target_idx ON name_uses (repo_id, target, via_super);
-- Uses known by name only, for "and N more that may be it".
CREATE INDEX IF NOT EXISTS name_uses_unknown_idx ON name_uses (short_name) WHERE target IS NULL;

-- resolutions: what each distinct target of a repository resolves to, the way Python
-- finds it (indexer/resolve.py holds the rules): the definition itself, else the longest
-- prefix that is an indexed module, then that module's definitions, its imports (`as`
-- aliases, re-exports through a package's __init__, star imports), and a class's
-- members through its bases in MRO order. `consulted` names every module the answer
-- depended on, present or not: when one of them is re-indexed the row turns stale and
-- is resolved again in the same transaction (or, for a run of many batches, at its end).
CREATE TABLE IF NOT EXISTS resolutions (
    repo_id   bigint  NOT NULL,
    target    text COLLATE "C" NOT NULL,
    via_super boolean NOT NULL,
    full_name text COLLATE "C",          -- the definition; NULL when nothing indexed defines it
    consulted text[]  NOT NULL,          -- module names the answer depends on
    stale     boolean NOT NULL DEFAULT true,  -- to be resolved (again); read as unresolved meanwhile
    PRIMARY KEY (repo_id, target, via_super)
);
CREATE INDEX IF NOT EXISTS resolutions_consulted_idx ON resolutions USING gin (consulted);
CREATE INDEX IF NOT EXISTS resolutions_full_name_idx ON resolutions (full_name);
CREATE INDEX IF NOT EXISTS resolutions_stale_idx ON resolutions (repo_id) WHERE stale;

-- unresolved_modules: files loaded by a run of many batches whose targets are not yet
-- in resolutions; the run resolves them at its end (or the next run does, if it died).
CREATE TABLE IF NOT EXISTS unresolved_modules (
    repo_id   bigint NOT NULL,
    module_id bigint NOT NULL
);
CREATE INDEX IF NOT EXISTS unresolved_modules_repo_idx ON unresolved_modules (repo_id);


-- usages: every use of a name with what it resolves to: the contract's usages. resolved
-- is true when target_full_name names an indexed definition; the other rows are matches
-- by name (attributes of objects of unknown type) or uses of what is not indexed
-- (builtins, other packages), never passed off as resolved. source_full_name is the
-- enclosing definition's full_name, or the module's name at module level.
--   SELECT path, line, source_full_name FROM usages WHERE target_full_name = 'pkg.mod.func';
CREATE OR REPLACE VIEW usages AS
SELECT u.repo_id, u.module_id, u.source_id, m.name AS module, m.path, u.line, u.col, u.kind, u.name,
       u.short_name, coalesce(s.full_name, m.name) AS source_full_name, r.full_name AS target_full_name,
       r.full_name IS NOT NULL AS resolved, u.target
FROM name_uses u
JOIN modules m ON m.id = u.module_id
LEFT JOIN definitions s ON s.id = u.source_id
LEFT JOIN resolutions r
       ON r.repo_id = u.repo_id AND r.target = u.target AND r.via_super = u.via_super AND NOT r.stale;

-- calls: resolved calls, caller to callee. Calling a class calls its __init__; the row
-- names the class, as the code does.
--   SELECT callee_full_name, count(*) FROM calls GROUP BY 1 ORDER BY 2 DESC LIMIT 10;
CREATE OR REPLACE VIEW calls AS
SELECT repo_id, path, line, col, source_full_name AS caller_full_name,
       target_full_name AS callee_full_name
FROM usages WHERE kind = 'call' AND resolved;

-- subclasses: every class below another, at any depth (1 = a direct subclass).
--   SELECT subclass_full_name FROM subclasses WHERE base_full_name = 'pkg.models.Model';
CREATE OR REPLACE VIEW subclasses AS
WITH RECURSIVE direct AS (
    SELECT u.target_full_name AS base_full_name, d.full_name AS subclass_full_name
    FROM usages u JOIN definitions d ON d.id = u.source_id
    WHERE u.kind = 'inherit' AND u.resolved
), below (base_full_name, subclass_full_name, depth) AS (
    SELECT base_full_name, subclass_full_name, 1 FROM direct
    UNION
    SELECT b.base_full_name, d.subclass_full_name, b.depth + 1
    FROM below b JOIN direct d ON d.base_full_name = b.subclass_full_name
    WHERE b.depth < 50
)
SELECT base_full_name, subclass_full_name, min(depth) AS depth
FROM below GROUP BY base_full_name, subclass_full_name;

-- overrides: a method and the same-named method of a class it inherits from.
--   SELECT method_full_name FROM overrides WHERE overridden_full_name = 'pkg.Base.save';
CREATE OR REPLACE VIEW overrides AS
SELECT m.full_name AS method_full_name, o.full_name AS overridden_full_name, s.depth
FROM subclasses s
JOIN definitions c ON c.full_name = s.subclass_full_name AND c.kind = 'class'
JOIN definitions m ON m.parent_id = c.id AND m.kind = 'method'
JOIN definitions b ON b.full_name = s.base_full_name AND b.kind = 'class'
JOIN definitions o ON o.parent_id = b.id AND o.name = m.name AND o.kind = 'method';
