"""Uses reached through a variable, which the index leaves unresolved: it has rows for
classes, functions and methods, not for what a module-level name or an instance
attribute holds.

    flask/globals.py:  current_app: Flask = LocalProxy(...)    # annotated: an instance of Flask
    flask/helpers.py:  current_app.make_response(args)         # -> flask.app.Flask.make_response
    flask/blueprints.py, in Blueprint.__init__:  self.cli = AppGroup()
    tests:             Blueprint("x", __name__).cli.command    # -> flask.cli.AppGroup.command

Asked about one definition, the unresolved targets ending in its name are resolved again
with the variables of the modules on their way, read from those modules' sources here:
a top-level `name: Cls` or `name = Cls(...)`, and in a class `name: Cls`, `name =
Cls(...)`, `self.name: Cls`, `self.name = Cls(...)` or `self.name = param` of a parameter
`param: Cls` in its methods (an annotation wins over assignments; assignments of
different classes say nothing). Also followed: `self.attr.name` in a class's methods
(which the resolver does not ask while indexing), and packages a test imports from a
folder it puts on sys.path (`from blueprintapp import app`, indexed as
tests.test_apps.blueprintapp). find_references and rename_symbol both add the uses of the
targets found, so they agree.
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Callable

import psycopg

from coderows.indexer.resolve import CALLED, RepoNames, Resolver

# Wrappers whose argument is the class: Optional[C], ClassVar[C], Final[C].
_UNWRAP = frozenset({"Optional", "ClassVar", "Final"})

Bindings = dict[str | None, dict[str, str]]  # class qualname (None: top level) -> name -> target


class SourceVariables:
    """What the variables of a repository's modules hold, each module read once."""

    def __init__(self, conn: psycopg.Connection, repo_id: int) -> None:
        self.conn = conn
        self.repo_id = repo_id
        self._modules: dict[str, Bindings] = {}

    def __call__(self, module: str, class_full_name: str | None, name: str) -> str | None:
        bindings = self._modules.get(module)
        if bindings is None:
            bindings = self._modules[module] = self._read(module)
        qualname = None if class_full_name is None else class_full_name.removeprefix(module + ".")
        return bindings.get(qualname, {}).get(name)

    def _read(self, module: str) -> Bindings:
        row = self.conn.execute(
            "SELECT source FROM modules WHERE repo_id = %s AND name = %s ORDER BY path LIMIT 1", [self.repo_id, module]
        ).fetchone()
        if row is None or row[0] is None:
            return {}
        try:
            tree = ast.parse(row[0])
        except (SyntaxError, ValueError, RecursionError):
            return {}
        return module_bindings(tree, module)


def module_bindings(tree: ast.Module, module: str) -> Bindings:
    """The variables of a module and of its classes (nested classes too) whose class is
    written where they are bound, as targets in the module's names ("pkg.mod.Flask()")."""
    found: dict[str | None, dict[str, tuple[set[str], set[str]]]] = {}  # name -> (annotations, calls)
    _collect(tree.body, None, found, module)
    bindings: Bindings = {}
    for scope, names in found.items():
        for name, (annotated, called) in names.items():
            chosen = annotated if annotated else called
            if len(chosen) == 1 and "" not in chosen:
                bindings.setdefault(scope, {})[name] = f"{module}.{next(iter(chosen))}()"
    return bindings


def _collect(
    body: list[ast.stmt], scope: str | None, found: dict[str | None, dict[str, tuple[set[str], set[str]]]], module: str
) -> None:
    for statement in body:
        if isinstance(statement, ast.ClassDef):
            qualname = statement.name if scope is None else f"{scope}.{statement.name}"
            _collect(statement.body, qualname, found, module)
            for method in statement.body:
                if isinstance(method, (ast.FunctionDef, ast.AsyncFunctionDef)) and method.args.args:
                    of_self = functools.partial(_attribute_of, self_name=method.args.args[0].arg)
                    parameters = _annotated_parameters(method.args)
                    for node in ast.walk(method):
                        _binding(node, qualname, found, of_self, parameters)
        elif isinstance(statement, (ast.If, ast.Try)):  # `if TYPE_CHECKING:`, try/except ImportError
            for block in (statement.body, statement.orelse, *(h.body for h in getattr(statement, "handlers", []))):
                _collect(block, scope, found, module)
        else:
            _binding(statement, scope, found, lambda target: target.id if isinstance(target, ast.Name) else None)


def _annotated_parameters(arguments: ast.arguments) -> dict[str, str]:
    """The parameters annotated with a class: `app` of `def __init__(self, app: App)`,
    whose `self.app = app` then holds an App as surely as `self.app: App` would say."""
    every = [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs]
    return {a.arg: cls for a in every if a.annotation is not None and (cls := _annotated_class(a.annotation)) is not None}


def _attribute_of(target: ast.expr, self_name: str) -> str | None:
    """`x` of `self.x`."""
    if isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name) and target.value.id == self_name:
        return target.attr
    return None


def _binding(
    node: ast.AST,
    scope: str | None,
    found: dict[str | None, dict[str, tuple[set[str], set[str]]]],
    name_of: Callable[[ast.expr], str | None],
    parameters: dict[str, str] | None = None,
) -> None:
    if isinstance(node, ast.AnnAssign):
        name = name_of(node.target)
        cls = _annotated_class(node.annotation)
        if name is not None:
            entry = found.setdefault(scope, {}).setdefault(name, (set(), set()))
            if cls is not None:
                entry[0].add(cls)
            if node.value is not None and (called := _called_class(node.value)) is not None:
                entry[1].add(called)
    elif isinstance(node, ast.Assign) and len(node.targets) == 1:
        name = name_of(node.targets[0])
        if name is not None:
            entry = found.setdefault(scope, {}).setdefault(name, (set(), set()))
            if parameters and isinstance(node.value, ast.Name) and node.value.id in parameters:
                entry[0].add(parameters[node.value.id])  # an annotated parameter: as an annotation
                return
            called = _called_class(node.value)
            entry[1].add(called if called is not None else "")  # "": something else, so nothing is known


def _dotted(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        inner = _dotted(node.value)
        return f"{inner}.{node.attr}" if inner is not None else None
    return None


def _called_class(value: ast.expr) -> str | None:
    """`pkg.Cls` of `pkg.Cls(...)` (whether it is a class the resolver decides)."""
    return _dotted(value.func) if isinstance(value, ast.Call) else None


def _annotated_class(annotation: ast.expr) -> str | None:
    """The class an annotation names: `Flask`, `"Flask"`, `Optional[Flask]`, `Flask |
    None`, `ContextVar[X]` (a generic: ContextVar); None for anything else."""
    if isinstance(annotation, ast.Constant) and isinstance(annotation.value, str):
        try:
            annotation = ast.parse(annotation.value, mode="eval").body
        except SyntaxError:
            return None
    if isinstance(annotation, ast.BinOp) and isinstance(annotation.op, ast.BitOr):
        sides = [s for s in (annotation.left, annotation.right) if not (isinstance(s, ast.Constant) and s.value is None)]
        return _annotated_class(sides[0]) if len(sides) == 1 else None
    if isinstance(annotation, ast.Subscript):
        wrapper = _dotted(annotation.value)
        if wrapper is not None and wrapper.rsplit(".", 1)[-1] in _UNWRAP:
            return _annotated_class(annotation.slice)
        return wrapper if wrapper is not None and wrapper.rsplit(".", 1)[-1] not in ("Union", "Type", "type") else None
    dotted = _dotted(annotation)
    return None if dotted in (None, "None", "Any", "t.Any", "typing.Any") else dotted


def targets_through_variables(conn: psycopg.Connection, repo_id: int, full_names: list[str], name: str) -> list[str]:
    """The targets used in the repository, ending in `.name`, that the index left
    unresolved and that resolve to one of `full_names` through variables, or through a
    package imported from a folder put on sys.path (see path_packages)."""
    rows = conn.execute(
        """
        SELECT target FROM resolutions
        WHERE repo_id = %(repo_id)s AND full_name IS NULL AND NOT via_super AND NOT stale
          AND right(target, %(length)s) = %(suffix)s
        ORDER BY target
        """,
        {"repo_id": repo_id, "length": len(name) + 1, "suffix": "." + name},
    ).fetchall()
    if not rows:
        return []
    packages = path_packages(conn, repo_id)
    spelled = {through_path_package(target, packages): target for (target,) in rows}  # as resolvable -> as used
    candidates = without_paths_through_classes(conn, repo_id, list(spelled))
    names, variables = RepoNames(conn, repo_id), SourceVariables(conn, repo_id)
    resolver = Resolver(names, variables)
    wanted = set(full_names)
    found = []
    for target in candidates:
        resolver.steps = 0
        if resolver.resolve(target)[0] in wanted:
            found.append(spelled[target])
    kept = set(candidates)
    through_classes = [target for target in spelled if target not in kept][:MAX_ATTRIBUTE_PATHS]
    for target in through_classes:
        bound = attribute_of_class(names, variables, target)
        resolver.steps = 0
        if bound is not None and resolver.resolve(bound)[0] in wanted:
            found.append(spelled[target])
    return sorted(found)


# Paths through a class's attribute (`self.app.name`) followed per rename, at most: each
# may read one more module's source.
MAX_ATTRIBUTE_PATHS = 200


def attribute_of_class(names: RepoNames, variables: SourceVariables, target: str) -> str | None:
    """`pkg.mod.C.app.name`, written `self.app.name` in C's methods, as what C's `app`
    holds then `.name` ("pkg.app.App().name"), when C's source says (`self.app: App`,
    `self.app = App()`, `self.app = app` of a parameter `app: App`); else None. The
    resolver asks no variable on such paths while indexing (it would read most sources
    for one name); asked about one name, reading the classes on its paths is cheap."""
    parts = target.split(".")
    if len(parts) < 4 or any(CALLED in part for part in parts[:-1]):
        return None
    owner = names.definition(".".join(parts[:-2]))
    if owner is None or owner.kind != "class":
        return None
    bound = variables(owner.module, owner.full_name, parts[-2])
    return None if bound is None else f"{bound}.{parts[-1]}"


def path_packages(conn: psycopg.Connection, repo_id: int) -> dict[str, str]:
    """Modules of folders that are no package, by their last name: what code imports
    once a test puts that folder on sys.path (flask's tests/test_apps/blueprintapp,
    indexed as tests.test_apps.blueprintapp, imported as `blueprintapp`). Only names
    that are no top-level module of the repository and name one such module."""
    names = {name for (name,) in conn.execute("SELECT DISTINCT name FROM modules WHERE repo_id = %s", [repo_id])}
    heads = {name.split(".", 1)[0] for name in names}
    found: dict[str, list[str]] = {}
    for name in names:
        folder, _, last = name.rpartition(".")
        if folder and folder not in names and last not in heads:
            found.setdefault(last, []).append(name)
    return {last: modules[0] for last, modules in found.items() if len(modules) == 1}


def through_path_package(target: str, packages: dict[str, str]) -> str:
    """`blueprintapp.app.x` as `tests.test_apps.blueprintapp.app.x` (else the same)."""
    head, dot, rest = target.partition(".")
    module = packages.get(head)
    return target if module is None else module + dot + rest


def without_paths_through_classes(conn: psycopg.Connection, repo_id: int, targets: list[str]) -> list[str]:
    """The targets a variable could stand on the way of: those whose name after their
    module is not that module's own class or function (a variable, an import), and those
    with an attribute of an instance on the way (`C().x.y`). Left out: paths through a
    module's class or function to one attribute (`pkg.mod.C.attr.name`: self.attr.name,
    `pkg.mod.f().name`), where the resolver asks no variable."""
    modules = {name for (name,) in conn.execute("SELECT DISTINCT name FROM modules WHERE repo_id = %s", [repo_id])}
    heads: dict[str, tuple[str, str]] = {}  # target -> (module, the name after it)
    for target in targets:
        if CALLED in target and "." in target.rsplit(CALLED + ".", 1)[-1]:
            continue  # an attribute of an instance, then its attribute
        parts = target.split(".")
        for end in range(len(parts) - 1, 0, -1):
            if ".".join(parts[:end]) in modules:
                heads[target] = (".".join(parts[:end]), parts[end].removesuffix(CALLED))
                break
    defined = set(
        conn.execute(
            """
            SELECT module, name FROM definitions
            WHERE repo_id = %(repo_id)s AND parent_id IS NULL AND module = ANY(%(modules)s) AND name = ANY(%(names)s)
            """,
            {"repo_id": repo_id, "modules": sorted({m for m, _ in heads.values()}), "names": sorted({n for _, n in heads.values()})},
        ).fetchall()
    ) if heads else set()
    return [target for target in targets if heads.get(target) not in defined]
