"""The text of the coderows://schema resource: what an agent needs to write SQL for run_sql.

Kept by hand for the explanations; tests/test_server_tools.py checks that every table
and column named here exists in a freshly created database and that the examples run.
"""

SCHEMA_DOC = """\
coderows SQL schema (PostgreSQL; search_path is already `coderows`, so write plain names).
Lines are 1-based and inclusive. Paths are POSIX, relative to the repository root.
SQL sees every repository in the database (other projects, checkouts, worktrees), unlike
the other tools, which answer from this server's own: filter by repo_id (repos.id) to
keep to one, e.g.  ... WHERE repo_id = (SELECT id FROM repos WHERE name = 'myproject').

repos       one row per indexed repository root
  id, root (absolute path), name, indexed_at (end of the last complete index run),
  excludes (text[]: the --exclude patterns its files are indexed without)

modules     one row per indexed Python file
  id, repo_id, path (e.g. json/decoder.py), name (dotted import name, e.g. json.decoder;
  pkg/__init__.py is pkg), is_package, docstring, source (whole file text), line_count,
  content_hash, size, mtime_ns, encoding,
  parse_status ('ok' | 'recovered' | 'partial' | 'skipped'), parse_error, indexed_at

symbols     every class and function definition, nested ones included
  id, module_id, parent_id (enclosing class or function; NULL at module level), repo_id,
  module (dotted module name), path, kind ('class' | 'function' | 'method'), name,
  qualname (Python's __qualname__: Outer.Inner.meth, func.<locals>.helper),
  full_name (module || '.' || qualname), class_name (a method's class; else NULL),
  def_line (line of def/class), start_line (first decorator, else def_line), end_line,
  signature (header on one line: "def f(a, b=1) -> int"), decorators text[] (without @),
  bases text[] (a class's bases as written), is_async, docstring,
  body (exact source lines start_line..end_line)

classes, functions, methods   views: symbols filtered by kind
  (functions holds functions and methods; all three have every symbols column)

imports     every import statement's names
  module_id, repo_id, module (the importing module), path, line,
  imported_module (as written, no leading dots), imported_name (for "from M import N";
  '*' for a star import), alias, level (leading dots), target_module (absolute module named)

usages      every use of a name (view over name_uses, resolutions, modules and definitions)
  repo_id, module_id, source_id, module, path, line, col (1-based, of the name itself:
  `save` in self.save), kind ('call' | 'reference' | 'import' | 'inherit' | 'decorator'),
  name (as written: self.save), short_name (save), source_full_name (the enclosing
  definition, or the module), target_full_name (the definition it resolves to, through
  imports, re-exports, self, super() and base classes; NULL when unresolved), resolved,
  target (the qualified name the file says; NULL: known by name only)

calls       resolved calls: repo_id, path, line, col, caller_full_name, callee_full_name
subclasses  base_full_name, subclass_full_name, depth (1 = direct; transitive)
overrides   method_full_name, overridden_full_name (a base class's method), depth

symbols is a view over the table definitions (the same columns, body cut from
modules.source). Indexes worth knowing: name, qualname, full_name, (module, qualname),
module_id, parent_id, and a trigram index on name (fast ILIKE '%x%' and similarity());
modules(name), modules(repo_id, path), imports(target_module).
Text columns source and body are large: select them only for the few rows you need.

Examples:

-- methods of one class, in source order
SELECT name, start_line, end_line FROM methods
WHERE class_name = 'JSONDecoder' AND module = 'json.decoder' ORDER BY start_line;

-- the biggest functions of a package
SELECT full_name, path, end_line - start_line + 1 AS lines FROM functions
WHERE module LIKE 'email.%' ORDER BY lines DESC LIMIT 10;

-- subclasses of a class (bases as written), with their modules
SELECT full_name, path, start_line FROM classes
WHERE 'Exception' = ANY(bases) ORDER BY full_name;

-- who calls a function, and from where
SELECT caller_full_name, path, line FROM calls
WHERE callee_full_name = 'json.decoder.JSONDecoder.decode' ORDER BY path, line;

-- every class below one, at any depth
SELECT subclass_full_name, depth FROM subclasses
WHERE base_full_name = 'json.decoder.JSONDecoder' ORDER BY depth, subclass_full_name;
"""
