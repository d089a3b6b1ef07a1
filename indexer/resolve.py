"""The second half of name resolution: what each qualified name that the code uses
(name_uses.target) stands for, across files, the way Python finds it.

    resolve("pkg.Model.save")
      pkg.Model is not a definition; pkg is an indexed module whose __init__ says
      `from .base import Model`, so: pkg.base.Model.save; Model has no save of its own,
      its first base with one is pkg.base.Root  ->  pkg.base.Root.save

The rules, in order: a definition with exactly that full name; else the longest prefix
that is an indexed module, and in it a top-level definition, else the last import that
binds the name (`as` aliases and re-exports through a package's __init__ followed),
else its star imports; inside a class, its members and then its bases' in method
resolution order (C3 for every usual hierarchy); `super().x` skips the class itself.

Every answer records the modules it consulted, present or not (a module that would
have changed the answer by existing counts too). schema.sql's resolutions table keeps
them, and the loader marks an answer stale when one of those modules is re-indexed.

Reads go through RepoNames: the definitions and modules the targets name first in three
queries, then one query per further module or class the run needs, kept for the run;
or the whole repository in four queries when most of it is to be resolved.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import psycopg

# definitions.id is (content id << SYMBOL_ID_BITS) | ordinal (indexer/load.py): the same
# in every repository holding the file, so reads go to the content tables, and those by
# name keep the rows of the contents the repository holds (RepoNames._held).
SYMBOL_ID_BITS = 20

# A target's component ending so is the result of calling it: `pkg.make().save`.
CALLED = "()"
LOCALS = "<locals>"
SELF_NAMES = frozenset({"Self", "typing.Self", "typing_extensions.Self", "te.Self", "t.Self"})
# The class a return annotation names: the first dotted name in it that is not a wrapper.
_ANNOTATION_NAME = re.compile(r"[A-Za-z_][\w]*(?:\.[A-Za-z_]\w*)*")
_NOT_A_CLASS = frozenset({
    "None", "Optional", "Union", "t.Optional", "t.Union", "typing.Optional", "typing.Union", "te.Optional",
    "Type", "type", "t.Type", "typing.Type",
})

# Star imports fan out (asyncio's __init__ star-imports 18 modules); one target may take
# at most this many lookups, so a pathological package costs milliseconds, not minutes.
MAX_STEPS = 2000

# Imports that lead on to imports: deeper chains are cycles or generated code.
MAX_DEPTH = 16


@dataclass(frozen=True, slots=True)
class Def:
    id: int
    kind: str
    full_name: str
    module: str
    name: str
    signature: str


@dataclass(slots=True)
class ModuleNamespace:
    """What a module's top level binds: its definitions, its imports, its star imports."""

    definitions: dict[str, Def] = field(default_factory=dict)
    imports: dict[str, str] = field(default_factory=dict)  # bound name -> dotted target
    stars: list[str] = field(default_factory=list)  # modules star-imported, last first


_DEF_COLUMNS = "id, kind, full_name, module, name, qualname, parent_id, signature"


class RepoNames:
    """The parts of one repository's index that resolution reads."""

    def __init__(self, conn: psycopg.Connection, repo_id: int) -> None:
        self.conn = conn
        self.repo_id = repo_id
        self.preloaded = False
        self._by_full_name: dict[str, Def | None] = {}
        self._modules: dict[str, ModuleNamespace | None] = {}
        self._members: dict[int, dict[str, Def]] = {}
        self._bases: dict[int, list[str]] = {}
        self._held_ids: set[int] | None = None

    def preload(self) -> None:
        """Read everything resolution could need, at once."""
        self._modules = {name: ModuleNamespace() for (name,) in self.conn.execute(
            "SELECT DISTINCT name FROM modules WHERE repo_id = %s", [self.repo_id])}
        rows = self.conn.execute(f"SELECT {_DEF_COLUMNS} FROM definitions WHERE repo_id = %s ORDER BY id", [self.repo_id])
        for row in rows:
            definition = _def(row)
            qualname, parent_id = row[5], row[6]
            self._by_full_name[definition.full_name] = definition
            namespace = self._modules.get(definition.module)
            if "." not in qualname and namespace is not None:
                namespace.definitions[qualname] = definition
            if parent_id is not None:
                self._members.setdefault(parent_id, {})[definition.name] = definition
        imports = self.conn.execute(
            "SELECT module, imported_module, imported_name, alias, target_module FROM imports"
            " WHERE repo_id = %s ORDER BY module_id, line",
            [self.repo_id],
        )
        for module, imported_module, imported_name, alias, target_module in imports:
            namespace = self._modules.get(module)
            if namespace is not None:
                _bind(namespace, imported_module, imported_name, alias, target_module)
        bases = self.conn.execute(
            "SELECT source_id, target FROM name_uses WHERE repo_id = %s AND kind = 'inherit'"
            " AND target IS NOT NULL ORDER BY source_id, line, col",
            [self.repo_id],
        )
        for source_id, target in bases:
            self._bases.setdefault(source_id, []).append(target)
        self.preloaded = True

    def prefetch(self, targets: Iterable[str]) -> None:
        """Read in a few queries what resolving these targets looks up first: the
        definitions they name and the modules their prefixes name (present or not).
        Imports these lead to are still read one module at a time, when followed."""
        if self.preloaded:
            return
        wanted = set(targets)
        prefixes = {target.rsplit(".", count)[0] for target in wanted for count in range(1, target.count(".") + 1)}
        names = sorted(name for name in prefixes if name not in self._modules and CALLED not in name and LOCALS not in name)
        found = self._read_modules(names)
        for name in names:
            self._modules[name] = found.get(name)
        full_names = sorted(name for name in wanted if name not in self._by_full_name and CALLED not in name)
        defined = self._read_definitions(full_names)
        for name in full_names:
            self._by_full_name[name] = defined.get(name)

    def definition(self, full_name: str) -> Def | None:
        if full_name not in self._by_full_name and not self.preloaded:
            self._by_full_name[full_name] = self._read_definitions([full_name]).get(full_name)
        return self._by_full_name.get(full_name)

    def module(self, name: str) -> ModuleNamespace | None:
        """The module's top-level namespace; None when no indexed module has the name."""
        if name not in self._modules and not self.preloaded:
            self._modules[name] = self._read_module(name)
        return self._modules.get(name)

    def members(self, class_id: int) -> dict[str, Def]:
        if class_id not in self._members and not self.preloaded:
            rows = self.conn.execute(
                f"SELECT {_DEF_COLUMNS} FROM content_definitions WHERE parent_id = %s ORDER BY id", [class_id]
            )
            self._members[class_id] = {row[4]: _def(row) for row in rows}
        return self._members.get(class_id, {})

    def bases(self, class_id: int) -> list[str]:
        """The class's bases, as the targets its inherit uses name."""
        if class_id not in self._bases and not self.preloaded:
            rows = self.conn.execute(
                "SELECT target FROM content_uses WHERE content_id = %s AND source_id = %s AND kind = 'inherit'"
                " AND target IS NOT NULL ORDER BY line, col",
                [class_id >> SYMBOL_ID_BITS, class_id],
            )
            self._bases[class_id] = [row[0] for row in rows]
        return self._bases.get(class_id, [])

    def _held(self) -> set[int]:
        """The ids of the contents the repository's files hold. Reads by name go to the
        content tables and keep the rows of these: a query that joins `files` on repo_id
        instead is planned from statistics that may predate the repository (a new
        checkout's first run), guessing it one file and probing all of them (2,823 index
        scans, 6 ms, per module read on a second Django checkout)."""
        if self._held_ids is None:
            rows = self.conn.execute("SELECT content_id FROM files WHERE repo_id = %s", [self.repo_id])
            self._held_ids = {content_id for (content_id,) in rows}
        return self._held_ids

    def _read_definitions(self, full_names: list[str]) -> dict[str, Def]:
        """The repository's definitions of these full names (of two, the last file's)."""
        if not full_names:
            return {}
        held = self._held()
        rows = self.conn.execute(
            f"SELECT {_DEF_COLUMNS} FROM content_definitions WHERE full_name = ANY(%s) ORDER BY id", [full_names]
        )
        return {row[2]: _def(row) for row in rows if row[0] >> SYMBOL_ID_BITS in held}

    def _read_module(self, name: str) -> ModuleNamespace | None:
        return self._read_modules([name]).get(name)

    def _read_modules(self, names: list[str]) -> dict[str, ModuleNamespace]:
        """The top-level namespaces of the repository's modules of these names."""
        if not names:
            return {}
        held = self._held()
        module_of = {
            content_id: name
            for content_id, name in self.conn.execute(
                "SELECT id, name FROM contents WHERE name = ANY(%s) ORDER BY id", [names]
            )
            if content_id in held
        }
        if not module_of:
            return {}
        namespaces = {name: ModuleNamespace() for name in module_of.values()}
        ids = list(module_of)
        rows = self.conn.execute(
            f"SELECT {_DEF_COLUMNS} FROM content_definitions WHERE content_id = ANY(%s)"
            " AND strpos(qualname, '.') = 0 ORDER BY id",
            [ids],
        )
        for row in rows:
            namespaces[module_of[row[0] >> SYMBOL_ID_BITS]].definitions[row[5]] = _def(row)
        imports = self.conn.execute(
            "SELECT content_id, imported_module, imported_name, alias, target_module FROM content_imports"
            " WHERE content_id = ANY(%s) ORDER BY content_id, line",
            [ids],
        )
        for content_id, *bound in imports:
            _bind(namespaces[module_of[content_id]], *bound)
        return namespaces


def _def(row: tuple[Any, ...]) -> Def:
    return Def(row[0], row[1], row[2], row[3], row[4], row[7])


def _bind(
    namespace: ModuleNamespace,
    imported_module: str | None,
    imported_name: str | None,
    alias: str | None,
    target_module: str | None,
) -> None:
    """Record what one imports row binds (rows come in line order: later ones win)."""
    if imported_name == "*":
        if target_module is not None:
            namespace.stars.insert(0, target_module)
    elif imported_name is not None:
        if target_module is not None:
            namespace.imports[alias or imported_name] = f"{target_module}.{imported_name}"
    elif imported_module is not None:
        if alias is not None:
            namespace.imports[alias] = imported_module
        else:
            head = imported_module.split(".", 1)[0]
            namespace.imports[head] = head


Answer = tuple[str | None, frozenset[str]]  # (definition full name, modules consulted)

# What a variable holds, for resolving through it: (module, class full name or None for
# the module's top level, name) -> a target such as "pkg.mod.Flask()" (an instance of
# what pkg.mod's Flask stands for), or None when unknown. The index has no rows for
# variables; indexer/variables.py reads them from sources when a query asks.
Variables = Callable[[str, str | None, str], str | None]


class Resolver:
    """Resolves targets against RepoNames, remembering every answer for the run."""

    def __init__(self, names: RepoNames, variables: Variables | None = None) -> None:
        self.names = names
        self.variables = variables
        self._answers: dict[tuple[str, bool], Answer] = {}
        self._mros: dict[int, tuple[list[Def], frozenset[str]]] = {}
        self.steps = 0  # resolve() calls for the current target; see MAX_STEPS

    def resolve(self, target: str, via_super: bool = False, depth: int = 0) -> Answer:
        key = (target, via_super)
        known = self._answers.get(key)
        if known is not None:
            return known
        self.steps += 1
        if depth > MAX_DEPTH or self.steps > MAX_STEPS:
            return None, frozenset()
        self._answers[key] = (None, frozenset())  # a cycle back to here finds nothing
        answer = self._resolve(target, via_super, depth)
        if self.steps > MAX_STEPS:  # cut short: not an answer to remember
            del self._answers[key]
        else:
            self._answers[key] = answer
        return answer

    def _resolve(self, target: str, via_super: bool, depth: int) -> Answer:
        if not via_super and CALLED not in target:
            definition = self.names.definition(target)
            if definition is not None:
                return definition.full_name, frozenset([definition.module])
        parts = target.split(".")
        consulted: set[str] = set()
        for end in range(len(parts) - 1, 0, -1):  # the longest prefix that is a module
            prefix = ".".join(parts[:end])
            if CALLED in prefix or LOCALS in prefix:
                continue  # not a module name
            consulted.add(prefix)
            namespace = self.names.module(prefix)
            if namespace is not None:
                full_name, more = self._in_module(prefix, namespace, parts[end:], via_super, depth)
                return full_name, frozenset(consulted | more)
        return None, frozenset(consulted)

    def _in_module(self, module: str, namespace: ModuleNamespace, rest: list[str], via_super: bool, depth: int) -> Answer:
        head, tail = rest[0], rest[1:]
        name = head.removesuffix(CALLED)
        definition = namespace.definitions.get(name)
        if definition is not None:
            if head != name:
                return self._member_of_result(definition, tail, depth)
            return self._member(definition, tail, via_super, depth)
        bound = namespace.imports.get(name)
        if bound is None and self.variables is not None and tail:
            bound = self.variables(module, None, name)
        if bound is not None:
            return self.resolve(".".join([bound + head[len(name):], *tail]), via_super, depth + 1)
        consulted: set[str] = set()
        for star in namespace.stars:
            if self.names.module(star) is None:  # nothing indexed to look in (yet)
                consulted.add(star)
                continue
            full_name, more = self.resolve(".".join([star, *rest]), via_super, depth + 1)
            consulted |= more
            if full_name is not None:
                return full_name, frozenset(consulted)
        return None, frozenset(consulted)

    def _member(self, definition: Def, rest: list[str], via_super: bool, depth: int, instance: bool = False) -> Answer:
        """`rest` looked up in `definition`; `instance`: in an instance of it (what a call
        or a variable gives), whose attributes the variables hook may know."""
        if not rest:
            return definition.full_name, frozenset([definition.module])
        if definition.kind != "class":
            if rest[0] == LOCALS:  # f.<locals>.g: a definition nested in a function
                nested = self.names.members(definition.id).get(rest[1].removesuffix(CALLED)) if len(rest) > 1 else None
                if nested is None:
                    return None, frozenset([definition.module])
                if rest[1].endswith(CALLED):
                    return self._member_of_result(nested, rest[2:], depth)
                return self._member(nested, rest[2:], via_super, depth)
            return None, frozenset([definition.module])  # attributes of functions are not definitions
        name = rest[0].removesuffix(CALLED)
        mro, consulted = self._mro(definition, depth)
        for owner in mro[1:] if via_super and len(rest) == 1 else mro:
            member = self.names.members(owner.id).get(name)
            if member is not None:
                if name != rest[0]:
                    full_name, more = self._member_of_result(member, rest[1:], depth)
                else:
                    full_name, more = self._member(member, rest[1:], False, depth)
                return full_name, consulted | more
        # An attribute holding an instance (`Blueprint(...).cli.command`). Not asked of
        # attributes reached through the class itself (`self.x.y`, `C.x.y`): on a big
        # repository that would read most sources for one name, at query time.
        if self.variables is not None and instance and len(rest) > 1:
            for owner in mro:
                bound = self.variables(owner.module, owner.full_name, name)
                if bound is not None:
                    full_name, more = self.resolve(".".join([bound + rest[0][len(name):], *rest[1:]]), False, depth + 1)
                    return full_name, consulted | more
        return None, consulted

    def _member_of_result(self, callee: Def, rest: list[str], depth: int) -> Answer:
        """A member of what calling `callee` gives: an instance of it when it is a class,
        else of the class its return annotation names (`-> Response`, `-> Self`)."""
        if callee.kind == "class":
            return self._member(callee, rest, False, depth, instance=True) if rest else (None, frozenset([callee.module]))
        returned, consulted = self._returned_class(callee, depth)
        if returned is None or not rest:
            return None, consulted
        full_name, more = self._member(returned, rest, False, depth, instance=True)
        return full_name, consulted | more

    def _returned_class(self, function: Def, depth: int) -> tuple[Def | None, frozenset[str]]:
        annotation = _returned_name(function.signature)
        if annotation is None:
            return None, frozenset([function.module])
        if annotation in SELF_NAMES:
            owner = self.names.definition(function.full_name.rsplit(".", 1)[0])
            return (owner if owner is not None and owner.kind == "class" else None), frozenset([function.module])
        full_name, consulted = self.resolve(f"{function.module}.{annotation}", False, depth + 1)
        found = self.names.definition(full_name) if full_name is not None else None
        return (found if found is not None and found.kind == "class" else None), consulted | {function.module}

    def _mro(self, cls: Def, depth: int) -> tuple[list[Def], frozenset[str]]:
        """The class and its bases in method resolution order: depth first, left to
        right, each class kept at its last place (C3's order for usual hierarchies)."""
        known = self._mros.get(cls.id)
        if known is not None:
            return known
        self._mros[cls.id] = ([cls], frozenset([cls.module]))  # a cycle stops here
        walk = [cls]
        consulted = {cls.module}
        for base_target in self.names.bases(cls.id):
            full_name, more = self.resolve(base_target, False, depth + 1)
            consulted |= more
            base = self.names.definition(full_name) if full_name is not None else None
            if base is not None and base.kind == "class":
                below, more = self._mro(base, depth + 1)
                walk.extend(below)
                consulted |= more
        last = {c.id: index for index, c in enumerate(walk)}
        mro = [c for index, c in enumerate(walk) if last[c.id] == index]
        if mro[0].id != cls.id:  # a cycle (not valid Python): the class itself first
            mro = [cls, *(c for c in mro if c.id != cls.id)]
        answer = (mro, frozenset(consulted))
        self._mros[cls.id] = answer
        return answer


def _returned_name(signature: str) -> str | None:
    """The class a function's return annotation names (`def f() -> "Response"`:
    Response), or None when there is none or it is not a plain name."""
    arrow = signature.rfind("->")
    if arrow < 0:
        return None
    annotation = signature[arrow + 2 :].strip().strip("'\"")
    for name in _ANNOTATION_NAME.findall(annotation):
        if name not in _NOT_A_CLASS:
            return str(name)
    return None


def resolve_all(resolver: Resolver, targets: Iterable[tuple[str, bool]]) -> list[tuple[str, bool, str | None, list[str]]]:
    """(target, via_super, full_name, consulted) for each target."""
    rows = []
    for target, via_super in targets:
        resolver.steps = 0
        full_name, consulted = resolver.resolve(target, via_super)
        rows.append((target, via_super, full_name, sorted(consulted)))
    return rows
