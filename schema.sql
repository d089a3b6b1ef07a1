-- coderows database schema: the single source of truth for every table, view and index.
--
-- Applied automatically (and idempotently) the first time coderows connects to a
-- database; also applicable by hand:  psql "$URL" -v ON_ERROR_STOP=1 -f schema.sql
-- Later changes are forward-only migrations in db/migrations/NNNN_*.sql, each of which
-- raises schema_version; this file always describes the newest version in full.
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
SELECT 1 WHERE NOT EXISTS (SELECT FROM schema_version);

-- repos: one row per indexed repository root.
CREATE TABLE IF NOT EXISTS repos (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    root       text        NOT NULL UNIQUE,  -- absolute path, symlinks resolved
    name       text        NOT NULL,         -- the root folder's name
    indexed_at timestamptz                   -- end of the last complete index run
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
    UNIQUE (repo_id, path)
);
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
