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

Reads go through RepoNames. A query (indexer/variables.py) reads a module or class at a
time, when it is first looked up. The indexer resolves sorted targets in batches
(resolve_batches): those that are the full name of a definition are answered from one
query per batch; for the rest, a throwaway Resolver explores the batch first: each lookup
it misses is noted, and the notes are read in a few queries per round (about 6 rounds a
batch), until the batch explores without a miss; then the run's Resolver answers the
batch, in order, from what was read. Memory stays bounded whatever the repository's size
(MAX_KEPT_ROWS, MAX_KEPT_ANSWERS); reading the whole repository at once was most of the
indexer's peak (80 MB of 184 on the stdlib).

Why explore with a throwaway Resolver rather than resolve, stop at a miss and retry: an
answer met in an import cycle depends on what was resolved before it (a cycle back to a
target being resolved finds nothing, and that answer is remembered), so the run's
Resolver must take the targets strictly in order, one after the other.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
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

# Targets per batch of resolve_batches, and so per statement that points to answers.
BATCH_TARGETS = 5000
# Rows of the index RepoNames keeps between batches: past it, it drops them all (the
# stdlib's 82k targets, sorted, read 110k rows kept for the run (47 MB of objects), 144k
# with this limit, in 436 queries instead of 338).
MAX_KEPT_ROWS = 30_000
# Answers the run's Resolver keeps (the stdlib's run would keep 64k, 17 MB, and 8k MROs,
# 7 MB): past it, between batches, it starts again empty. Only an answer met in an import
# cycle could differ for that (see above); on the stdlib none does (every answer the same
# as with all kept), and `coderows serve` indexing the stdlib and Django peaks at 143 MB
# rather than 163 (100_000).
MAX_KEPT_ANSWERS = 15_000


class Missing(Exception):
    """An exploring RepoNames was asked for rows it has not read: noted, read later."""


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


# full_name is not stored: the expression is the one content_definitions_full_name_idx indexes.
_FULL_NAME = "module || '.' || qualname"
_DEF_COLUMNS = f"id, kind, {_FULL_NAME}, module, name, qualname, parent_id, signature"


class RepoNames:
    """The parts of one repository's index that resolution reads, kept once read. While
    `exploring`, a lookup of rows not read yet notes them and raises Missing instead of
    reading them; read_wanted() then reads all that were noted in a few queries."""

    def __init__(self, conn: psycopg.Connection, repo_id: int) -> None:
        self.conn = conn
        self.repo_id = repo_id
        self.exploring = False
        self._by_full_name: dict[str, Def | None] = {}
        self._modules: dict[str, ModuleNamespace | None] = {}
        self._members: dict[int, dict[str, Def]] = {}
        self._bases: dict[int, list[str]] = {}
        self._held_ids: set[int] | None = None
        self._wanted_definitions: set[str] = set()
        self._wanted_modules: set[str] = set()
        self._wanted_classes: set[int] = set()
        self.rows_read = 0  # since the last forget(): what the kept rows cost, roughly

    def forget(self) -> None:
        """Drop the rows read so far (between batches)."""
        self.rows_read = 0
        self._by_full_name.clear()
        self._modules.clear()
        self._members.clear()
        self._bases.clear()

    def prefetch(self, targets: Iterable[str]) -> None:
        """Read in a few queries what resolving these targets looks up first: the
        definitions they name, the modules their prefixes name (present or not), and the
        classes (with the classes they derive from) that a module's top level names in a
        target that is no definition (`pkg.mod.Model.objects`)."""
        wanted = set(targets)
        self._read_modules_into(sorted({prefix for target in wanted for prefix in _prefixes(target)}))
        absent = self._read_definitions_into(sorted(name for name in wanted if CALLED not in name))
        bases = self._read_hierarchies(sorted({class_id for name in absent if (class_id := self._class_in_module(name))}))
        self._read_modules_into(sorted({prefix for name in bases for prefix in _prefixes(name)}))

    def _class_in_module(self, target: str) -> int | None:
        """The id of the class that the longest module prefix of `target` (as Resolver
        looks for it) binds at its top level to the next part of the name, when more of
        the name follows it; else None."""
        for prefix in _prefixes(target):
            namespace = self._modules.get(prefix)
            if namespace is not None:
                rest = target[len(prefix) + 1 :].split(".")
                found = namespace.definitions.get(rest[0].removesuffix(CALLED)) if len(rest) > 1 else None
                return found.id if found is not None and found.kind == "class" else None
        return None

    def _read_hierarchies(self, class_ids: list[int]) -> list[str]:
        """Read these classes' members and bases, the definitions the bases name, and so on
        up every class found that way: one round of queries per level, where exploring
        would take one round (and a walk of its targets again) per level. Returns the
        bases' names that are no definition."""
        absent: list[str] = []
        while class_ids:
            self._read_classes_into(class_ids)
            bases = sorted({base for class_id in class_ids for base in self._bases[class_id]})
            absent += self._read_definitions_into(bases)
            found = (self._by_full_name.get(base) for base in bases)
            class_ids = sorted({d.id for d in found if d is not None and d.kind == "class" and d.id not in self._bases})
        return absent

    def read_wanted(self) -> None:
        """Read what lookups noted while exploring, and what those rows lead to next: a
        class's bases and members together and its bases' in turn, the definitions its
        bases name, the modules the prefixes of a name that is no definition name."""
        classes = sorted(self._wanted_classes)
        self._wanted_classes.clear()
        absent = self._read_hierarchies(classes)
        absent += self._read_definitions_into(sorted(self._wanted_definitions))
        self._wanted_definitions = set()
        modules = self._wanted_modules
        modules.update(prefix for name in absent for prefix in _prefixes(name))
        self._wanted_modules = set()
        self._read_modules_into(sorted(modules))

    def definition(self, full_name: str) -> Def | None:
        if full_name not in self._by_full_name:
            if self.exploring:
                self._wanted_definitions.add(full_name)
                raise Missing
            self._read_definitions_into([full_name])
        return self._by_full_name[full_name]

    def module(self, name: str) -> ModuleNamespace | None:
        """The module's top-level namespace; None when no indexed module has the name."""
        if name not in self._modules:
            if self.exploring:
                self._wanted_modules.add(name)
                raise Missing
            self._read_modules_into([name])
        return self._modules[name]

    def members(self, class_id: int) -> dict[str, Def]:
        if class_id not in self._members:
            self._read_class(class_id)
        return self._members[class_id]

    def bases(self, class_id: int) -> list[str]:
        """The class's bases, as the targets its inherit uses name."""
        if class_id not in self._bases:
            self._read_class(class_id)
        return self._bases[class_id]

    def _read_class(self, class_id: int) -> None:
        if self.exploring:
            self._wanted_classes.add(class_id)
            raise Missing
        self._read_classes_into([class_id])

    def _read_definitions_into(self, full_names: list[str]) -> list[str]:
        """Read the definitions of these full names (None where there is none); returns
        the names that have none."""
        names = [name for name in full_names if name not in self._by_full_name]
        found = self._read_definitions(names)
        for name in names:
            self._by_full_name[name] = found.get(name)
        return [name for name in names if name not in found]

    def _read_modules_into(self, names: list[str]) -> None:
        names = [name for name in names if name not in self._modules]
        found = self._read_modules(names)
        for name in names:
            self._modules[name] = found.get(name)

    def _read_classes_into(self, class_ids: list[int]) -> None:
        """The members and the bases of these classes (of any definition: a function's
        members are the definitions nested in it)."""
        ids = [class_id for class_id in class_ids if class_id not in self._members or class_id not in self._bases]
        if not ids:
            return
        members: dict[int, dict[str, Def]] = {class_id: {} for class_id in ids}
        rows = self.conn.execute(
            f"SELECT {_DEF_COLUMNS} FROM content_definitions WHERE parent_id = ANY(%s) ORDER BY id", [ids]
        ).fetchall()
        self.rows_read += len(rows)
        for row in rows:
            members[row[6]][row[4]] = _def(row)
        bases: dict[int, list[str]] = {class_id: [] for class_id in ids}
        # kind 'b': a base class (content_uses.kind, spelled out by schema.sql's use_kind).
        rows = self.conn.execute(
            "SELECT u.source_id, u.target FROM unnest(%s::bigint[]) AS c (id)"
            " JOIN content_uses u ON u.content_id = c.id >> %s AND u.source_id = c.id"
            " WHERE u.kind = 'b' AND u.target IS NOT NULL ORDER BY u.source_id, u.line, u.col",
            [ids, SYMBOL_ID_BITS],
        ).fetchall()
        self.rows_read += len(rows)
        for source_id, target in rows:
            bases[source_id].append(target)
        self._members.update(members)
        self._bases.update(bases)

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
            f"SELECT {_DEF_COLUMNS} FROM content_definitions WHERE {_FULL_NAME} = ANY(%s) ORDER BY id", [full_names]
        ).fetchall()
        self.rows_read += len(rows)
        return {row[2]: _def(row) for row in rows if row[0] >> SYMBOL_ID_BITS in held}

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
        ).fetchall()
        self.rows_read += len(rows)
        for row in rows:
            namespaces[module_of[row[0] >> SYMBOL_ID_BITS]].definitions[row[5]] = _def(row)
        imports = self.conn.execute(
            "SELECT content_id, imported_module, imported_name, alias, target_module FROM content_imports"
            " WHERE content_id = ANY(%s) ORDER BY content_id, line",
            [ids],
        ).fetchall()
        self.rows_read += len(imports)
        for content_id, *bound in imports:
            _bind(namespaces[module_of[content_id]], *bound)
        return namespaces


def _def(row: tuple[Any, ...]) -> Def:
    return Def(row[0], row[1], row[2], row[3], row[4], row[7])


def _prefixes(target: str) -> Iterator[str]:
    """The dotted prefixes of a target that could name a module (`a.b.c`: a.b, a)."""
    for count in range(1, target.count(".") + 1):
        prefix = target.rsplit(".", count)[0]
        if CALLED not in prefix and LOCALS not in prefix:
            yield prefix


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
    """Resolves targets against RepoNames, remembering every answer for the run.
    `committed`: an exploring Resolver takes that Resolver's answers as known (the run's
    Resolver will not look below them) and keeps its own apart."""

    def __init__(self, names: RepoNames, variables: Variables | None = None, committed: Resolver | None = None) -> None:
        self.names = names
        self.variables = variables
        self._answers: dict[tuple[str, bool], Answer] = {}
        self._mros: dict[int, tuple[list[Def], frozenset[str]]] = {}
        self._consulted_sets: dict[frozenset[str], frozenset[str]] = {}  # one object per distinct set
        self._committed_answers = committed._answers if committed is not None else {}
        self._committed_mros = committed._mros if committed is not None else {}
        self.steps = 0  # resolve() calls for the current target; see MAX_STEPS

    def resolve(self, target: str, via_super: bool = False, depth: int = 0) -> Answer:
        key = (target, via_super)
        known = self._answers.get(key) or self._committed_answers.get(key)
        if known is not None:
            return known
        self.steps += 1
        if depth > MAX_DEPTH or self.steps > MAX_STEPS:
            return None, frozenset()
        self._answers[key] = (None, frozenset())  # a cycle back to here finds nothing
        try:
            full_name, consulted = self._resolve(target, via_super, depth)
        except Missing:  # exploring: made again once the rows are read
            del self._answers[key]
            raise
        if self.steps > MAX_STEPS:  # cut short: not an answer to remember
            del self._answers[key]
            return full_name, consulted
        answer = (full_name, self._consulted_sets.setdefault(consulted, consulted))
        self._answers[key] = answer
        return answer

    def resolve_batch(self, targets: Sequence[tuple[str, bool]]) -> list[tuple[str, bool, str | None, list[str]]]:
        """Resolve these targets in order, after reading what they need in a few queries:
        a throwaway Resolver explores them first (see the module's docstring)."""
        explorer = Resolver(self.names, committed=self)
        self.names.exploring = True
        try:
            pending = list(targets)
            while pending:
                missed = []
                for target, via_super in pending:
                    explorer.steps = 0
                    try:
                        explorer.resolve(target, via_super)
                    except Missing:
                        missed.append((target, via_super))
                if missed:
                    self.names.read_wanted()
                pending = missed
        finally:
            self.names.exploring = False
        # Not explored alike only where an answer differs by order (an import cycle):
        # what the run's Resolver misses then, RepoNames reads at once.
        return resolve_all(self, targets)

    def forget_if_full(self) -> None:
        if len(self._answers) > MAX_KEPT_ANSWERS:
            self._answers.clear()
            self._mros.clear()
            self._consulted_sets.clear()

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
        known = self._mros.get(cls.id) or self._committed_mros.get(cls.id)
        if known is not None:
            return known
        self._mros[cls.id] = ([cls], frozenset([cls.module]))  # a cycle stops here
        try:
            walk, consulted = self._bases_walk(cls, depth)
        except Missing:
            del self._mros[cls.id]
            raise
        last = {c.id: index for index, c in enumerate(walk)}
        mro = [c for index, c in enumerate(walk) if last[c.id] == index]
        if mro[0].id != cls.id:  # a cycle (not valid Python): the class itself first
            mro = [cls, *(c for c in mro if c.id != cls.id)]
        answer = (mro, frozenset(consulted))
        self._mros[cls.id] = answer
        return answer

    def _bases_walk(self, cls: Def, depth: int) -> tuple[list[Def], set[str]]:
        """The class, then each base's MRO in turn."""
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
        return walk, consulted


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


def resolve_batches(
    conn: psycopg.Connection, repo_id: int, targets: Iterable[tuple[str, bool]]
) -> Iterator[list[tuple[str, bool, str | None, list[str]]]]:
    """(target, via_super, full_name, consulted) for each target, a batch at a time. The
    targets come sorted (a batch's targets then name few modules and classes), and may be
    a stream: they are read a batch at a time. A target that is the full name of a
    definition is answered from the batch's one query for them, set-wise (never
    remembered: it takes no other lookup); the others by Resolver.resolve_batch."""
    names = RepoNames(conn, repo_id)
    resolver = Resolver(names)
    stream = iter(targets)
    while batch := list(itertools.islice(stream, BATCH_TARGETS)):
        names.prefetch(target for target, _ in batch)
        rows: list[tuple[str, bool, str | None, list[str]]] = []
        rest = []
        for target, via_super in batch:
            direct = None if via_super or CALLED in target else names.definition(target)
            if direct is not None:  # what Resolver.resolve answers first, in any order
                rows.append((target, via_super, direct.full_name, [direct.module]))
            else:
                rest.append((target, via_super))
        rows += resolver.resolve_batch(rest)
        yield rows
        if names.rows_read > MAX_KEPT_ROWS:
            names.forget()
        resolver.forget_if_full()
