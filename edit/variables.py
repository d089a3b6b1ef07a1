"""Renaming a module-level variable (`X = ...` at a module's top level), which has no
definition row: named as `pkg.mod.X` (or `pkg.mod:X`), found in the module's source.

Changed:
- in its module, every name that denotes the module's X, read from the source with
  Python's scoping: the top level, functions and classes that do not bind X themselves
  (a function's parameter or local X is another variable), `global X` and what it binds;
- in the rest of the repository, every use the index resolved to it: `from pkg.mod
  import X` (and the alias of `import X as X`), the names bound by that import, `mod.X`;
- `__all__` entries naming it, in its module and in the modules importing it.
Refused when the new name is already a name anywhere in a file it would change (it would
capture or be captured). Left alone and listed as for a definition: attributes named X of
objects of unknown type, strings and comments.
"""

from __future__ import annotations

import ast
import re
import tokenize
from collections.abc import Iterator
from dataclasses import dataclass

import psycopg

from coderows.common.lines import line_end, line_starts, tokenizer_readline
from coderows.edit.named_strings import add_string_edits, owners_of_variable
from coderows.edit.plan import ModuleFile, module_files
from coderows.edit.rename import (
    LISTED_LEFT_ALONE,
    NOTHING_WRITTEN,
    RenamePlan,
    add_name_only_edits,
    add_use_edits,
    all_entries,
    changed_lines,
    check_new_name,
    left_by_name_only,
    name_only_uses,
    refuse_while_resolving,
    strings_holding,
)
from coderows.edit.write import EditRefused, TextEdit


@dataclass(frozen=True)
class Variable:
    """A module-level variable, standing where a rename's Symbol does."""

    repo_id: int
    root: str
    module_id: int
    module: str
    path: str
    name: str
    line: int  # of its first binding

    kind = "variable"

    @property
    def full_name(self) -> str:
        return f"{self.module}.{self.name}"


def find_variables(conn: psycopg.Connection, name: str, repo_ids: list[int] | None) -> list[Variable]:
    """The module-level variables `name` (pkg.mod.X or pkg.mod:X) denotes in these
    repositories (None: all)."""
    module, _, variable = name.strip().replace(":", ".").rpartition(".")
    if not module or not variable.isidentifier():
        return []
    rows = conn.execute(
        """
        SELECT m.id, m.repo_id, r.root, m.path, m.source FROM modules m JOIN repos r ON r.id = m.repo_id
        WHERE m.name = %(module)s AND (%(ids)s::int[] IS NULL OR m.repo_id = ANY(%(ids)s))
        ORDER BY m.repo_id, m.path
        """,
        {"module": module, "ids": repo_ids},
    ).fetchall()
    found = []
    for module_id, repo_id, root, path, source in rows:
        tree = _parse(source)
        line = top_level_bindings(tree).get(variable) if tree is not None else None
        if line is not None:
            found.append(Variable(repo_id, root, module_id, module, path, variable, line))
    return found


def _parse(source: str | None) -> ast.Module | None:
    if source is None:
        return None
    try:
        return ast.parse(source)
    except (SyntaxError, ValueError, RecursionError):
        return None


def top_level_bindings(tree: ast.Module) -> dict[str, int]:
    """Names a module's top level binds by assignment (also under if / try / for /
    with): name -> first line. Definitions and imports are not variables."""
    found: dict[str, int] = {}

    def visit(body: list[ast.stmt]) -> None:
        for statement in body:
            if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Import, ast.ImportFrom)):
                continue
            targets: list[ast.expr] = []
            if isinstance(statement, ast.Assign):
                targets = statement.targets
            elif isinstance(statement, (ast.AnnAssign, ast.AugAssign, ast.For, ast.AsyncFor)):
                targets = [statement.target]
            elif isinstance(statement, (ast.With, ast.AsyncWith)):
                targets = [item.optional_vars for item in statement.items if item.optional_vars is not None]
            for target in targets:
                for node in ast.walk(target):
                    if isinstance(node, ast.Name):
                        found.setdefault(node.id, node.lineno)
            for block in ("body", "orelse", "finalbody"):
                if isinstance(statement, (ast.If, ast.Try, ast.For, ast.AsyncFor, ast.While, ast.With, ast.AsyncWith)):
                    visit(getattr(statement, block, []))
            for handler in getattr(statement, "handlers", []):
                visit(handler.body)

    visit(tree.body)
    return found


# --- where the module's own code names it --------------------------------------------

_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)


def module_sites(tree: ast.Module, name: str) -> list[tuple[int, int]]:
    """(line, column in UTF-8 bytes) of every Name in the module denoting its global
    `name`, and of `name` in `global` statements (column of the statement: see
    global_offsets)."""
    sites: list[tuple[int, int]] = []
    _visit(tree, name, True, sites)
    return sites


def _binds(scope: ast.AST, name: str) -> bool:
    """Whether a function or comprehension scope has its own `name` (a parameter, an
    assignment, an import, a nested definition, nonlocal), unless declared `global`."""
    if isinstance(scope, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
        arguments = scope.args
        every = [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs, arguments.vararg, arguments.kwarg]
        if any(a is not None and a.arg == name for a in every):
            return True
    nodes = list(_own_nodes(scope))
    if any(isinstance(node, ast.Global) and name in node.names for node in nodes):
        return False
    for node in nodes:
        if isinstance(node, ast.Nonlocal) and name in node.names:
            return True
        if isinstance(node, ast.Name) and node.id == name and isinstance(node.ctx, (ast.Store, ast.Del)):
            return True
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name == name:
            return True
        if isinstance(node, (ast.Import, ast.ImportFrom)) and any(
            (alias.asname or alias.name.split(".")[0]) == name for alias in node.names
        ):
            return True
        if isinstance(node, ast.ExceptHandler) and node.name == name:
            return True
    return False


def _own_nodes(scope: ast.AST) -> Iterator[ast.AST]:
    """The nodes of a scope, not those of the scopes nested in it (their names and
    decorators, defaults and bases belong to this one)."""
    stack: list[ast.AST] = list(_children_in_scope(scope))
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, (*_SCOPES, ast.ClassDef)):
            stack.extend(_outer_parts(node))
        else:
            stack.extend(ast.iter_child_nodes(node))


def _children_in_scope(scope: ast.AST) -> list[ast.AST]:
    if isinstance(scope, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return list(scope.body)
    if isinstance(scope, ast.Lambda):
        return [scope.body]
    if isinstance(scope, (ast.ListComp, ast.SetComp, ast.GeneratorExp)):
        return [scope.elt, *[part for g in scope.generators for part in (g.target, *g.ifs)],
                *[g.iter for g in scope.generators[1:]]]
    if isinstance(scope, ast.DictComp):
        return [scope.key, scope.value, *[part for g in scope.generators for part in (g.target, *g.ifs)],
                *[g.iter for g in scope.generators[1:]]]
    if isinstance(scope, ast.ClassDef):
        return list(scope.body)
    return list(ast.iter_child_nodes(scope))


def _outer_parts(node: ast.AST) -> list[ast.AST]:
    """What a nested scope evaluates in the enclosing one: decorators, defaults,
    annotations, bases, a comprehension's first iterable."""
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        arguments = node.args
        annotations = [a.annotation for a in [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs,
                                              arguments.vararg, arguments.kwarg] if a is not None and a.annotation]
        return [*node.decorator_list, *arguments.defaults, *[d for d in arguments.kw_defaults if d is not None],
                *annotations, *([node.returns] if node.returns else [])]
    if isinstance(node, ast.Lambda):
        return [*node.args.defaults, *[d for d in node.args.kw_defaults if d is not None]]
    if isinstance(node, ast.ClassDef):
        return [*node.decorator_list, *node.bases, *node.keywords]
    if isinstance(node, (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)):
        return [node.generators[0].iter]
    return []


def _visit(scope: ast.AST, name: str, global_here: bool, sites: list[tuple[int, int]]) -> None:
    """Collect the sites in `scope` (whose `name` denotes the global when global_here)
    and recurse into the scopes nested in it."""
    for node in _own_nodes(scope):
        if isinstance(node, ast.Name) and node.id == name and global_here:
            sites.append((node.lineno, node.col_offset))
        elif isinstance(node, ast.Global) and name in node.names:
            sites.append((node.lineno, -1 - node.col_offset))  # the statement: the name found in its text
        if isinstance(node, _SCOPES):
            declared = any(isinstance(n, ast.Global) and name in n.names for n in _own_nodes(node))
            inner = declared or (global_here and not _binds(node, name))
            _visit(node, name, inner, sites)
        elif isinstance(node, ast.ClassDef):
            # A class body binding the name has its own; its methods see the global again.
            _visit_class(node, name, global_here, sites)


def _visit_class(node: ast.ClassDef, name: str, global_here: bool, sites: list[tuple[int, int]]) -> None:
    binds = any(
        isinstance(n, ast.Name) and n.id == name and isinstance(n.ctx, (ast.Store, ast.Del))
        or isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and n.name == name
        for n in _own_nodes(node)
    )
    for child in _own_nodes(node):
        if isinstance(child, ast.Name) and child.id == name and global_here and not binds:
            sites.append((child.lineno, child.col_offset))
        if isinstance(child, _SCOPES):
            declared = any(isinstance(n, ast.Global) and name in n.names for n in _own_nodes(child))
            _visit(child, name, declared or (global_here and not _binds(child, name)), sites)
        elif isinstance(child, ast.ClassDef):
            _visit_class(child, name, global_here, sites)


def site_offset(source: str, starts: list[int], line: int, column: int, name: str) -> int:
    """The character offset of a site: a Name at a UTF-8 column, or `name` in the
    `global` statement starting at column -1 - column."""
    text = source[starts[line - 1] : line_end(source, starts, line - 1)]
    if column >= 0:
        return starts[line - 1] + len(text.encode("utf-8")[:column].decode("utf-8", "replace"))
    begin = len(text.encode("utf-8")[: -1 - column].decode("utf-8", "replace"))
    found = re.compile(rf"global\s+(?:\w+\s*,\s*)*({re.escape(name)})(?!\w)").match(text, begin)
    if found is None:
        raise EditRefused(f"cannot find {name} in the global statement at line {line}; {NOTHING_WRITTEN}")
    return starts[line - 1] + found.start(1)


# --- the plan -----------------------------------------------------------------------


def plan_variable_rename(
    conn: psycopg.Connection, variable: Variable, new_name: str, *, include_name_only: bool = False,
    listed: int | None = LISTED_LEFT_ALONE,
) -> RenamePlan:
    """Every change renaming the module-level `variable` makes, and what it leaves alone
    (with include_name_only, the attributes known by name only are renamed too when
    nothing else in the repository has the name)."""
    old = variable.name
    check_new_name(old, new_name)
    refuse_while_resolving(conn, variable.repo_id)
    spellings = reexported(conn, variable.repo_id, variable.full_name)
    plan = RenamePlan(variable, new_name, spellings, [])  # type: ignore[arg-type]
    uses = [
        (module_id, line, col, kind, short_name)
        for module_id, line, col, kind, short_name in conn.execute(
            """
            SELECT module_id, line, col, kind, short_name FROM name_uses
            WHERE repo_id = %(repo_id)s AND target = ANY(%(targets)s) AND NOT via_super
            """,
            {"repo_id": variable.repo_id, "targets": spellings},
        ).fetchall()
    ]
    files = module_files(conn, variable.repo_id, sorted({variable.module_id} | {u[0] for u in uses}))
    home = files[variable.module_id]
    tree = _parse(home.source)
    if tree is None:
        raise EditRefused(f"{home.path} does not parse; {NOTHING_WRITTEN}")
    edits: dict[int, dict[int, TextEdit]] = {variable.module_id: {}}
    starts = line_starts(home.source)
    for line, column in module_sites(tree, old):
        start = site_offset(home.source, starts, line, column, old)
        edits[variable.module_id][start] = TextEdit(start, start + len(old), new_name)
    importing = {u[0] for u in uses if u[3] == "import"}
    plan.aliased += add_use_edits(edits, files, uses, old, new_name)
    for module_id in edits:
        if module_id == variable.module_id or module_id in importing:
            for start in all_entries(files[module_id].source, old):
                edits[module_id][start] = TextEdit(start, start + len(old), new_name)
    refuse_taken(new_name, [files[module_id] for module_id in edits])
    name_only = name_only_uses(conn, variable.repo_id, old, spellings)
    if include_name_only:  # attributes (`obj.X`): no scope to capture them
        add_name_only_edits(conn, plan, edits, files, name_only, overrides_left=False)
    add_string_edits(conn, variable.repo_id, owners_of_variable(spellings), old, new_name, edits, files)
    for module_id, by_start in sorted(edits.items(), key=lambda item: files[item[0]].path):
        if not by_start:
            continue
        file = files[module_id]
        plan.changes.append(file.change(list(by_start.values())))
        plan.lines.extend(changed_lines(file, list(by_start.values())))
        plan.positions += len(by_start)
        plan.stamps.add(file.stamp)
    plan.name_only, plan.name_only_total = left_by_name_only(conn, plan, name_only, listed)
    changed_at = {(c.path, e.start) for c in plan.changes for e in c.edits}
    plan.strings, plan.strings_total, plan.strings_scan_cut = strings_holding(conn, variable.repo_id, old, changed_at, listed)
    return plan


def reexported(conn: psycopg.Connection, repo_id: int, full_name: str) -> list[str]:
    """The variable's full name and the names modules re-export it under (`from
    pkg.mod import X` in pkg/__init__.py: pkg.X), as uses of it are written: the index
    resolves targets to definitions only, so a variable's re-exports are followed here."""
    spellings = [full_name]
    while len(spellings) < MAX_REEXPORTS:
        rows = conn.execute(
            """
            SELECT DISTINCT module || '.' || coalesce(alias, imported_name) FROM imports
            WHERE repo_id = %(repo_id)s AND imported_name IS NOT NULL
              AND coalesce(target_module, imported_module) || '.' || imported_name = ANY(%(names)s)
            """,
            {"repo_id": repo_id, "names": spellings},
        ).fetchall()
        more = sorted({name for (name,) in rows} - set(spellings))
        if not more:
            break
        spellings.extend(more)
    return spellings


MAX_REEXPORTS = 50  # names one variable goes by, at most (a cycle of re-exports ends)


def refuse_taken(new: str, files: list[ModuleFile]) -> None:
    """The new name must be no name yet in any file the rename changes: a function's
    local or an import of that name would capture the renamed uses, or be captured."""
    for file in files:
        try:
            for token in tokenize.generate_tokens(tokenizer_readline(file.source)):
                if token.type == tokenize.NAME and token.string == new:
                    raise EditRefused(f"{file.path}:{token.start[0]} already uses the name {new}; {NOTHING_WRITTEN}")
        except (tokenize.TokenError, SyntaxError):
            raise EditRefused(f"{file.path} does not tokenize; {NOTHING_WRITTEN}") from None
