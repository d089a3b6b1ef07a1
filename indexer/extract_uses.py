"""Every use of a name in a file, with the qualified name it stands for as far as the file
alone can tell: the first half of name resolution. Pure: tree and rows in, rows out.

    x.py:  from pkg import models        # import  models -> pkg.models
           class A(models.Model):        # inherit models.Model -> pkg.models.Model
               def save(self):
                   super().save()        # call    save (through super) -> x.A.save
                   self.clean()          # call    self.clean -> x.A.clean

A use's `target` is written in the names the code uses (`pkg.models.Model`, not the
module that finally defines Model): indexer/resolve.py, the second half, follows
imports, re-exports and base classes across files and records which modules each answer
consulted, so re-indexing one file marks stale exactly the answers it could change.

The rules are Python's own, statically: a function's parameters and assigned names are
local to it, a class body's names are not visible in its methods, `global` sends a name
to the module, then module-level definitions and imports, then builtins. `self` (a
method's first parameter) stands for the enclosing class; `super().x` looks x up in the
class's bases; a local bound once to `SomeClass(...)` stands for an instance of it. What
cannot be known (attributes of arbitrary expressions, names bound only by assignment at
module level) is kept with target None: a match by name, never passed off as resolved.

What counts as a binding or a use is declared in the tree-sitter query below.
"""

from __future__ import annotations

import builtins
import re
import unicodedata
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import accumulate, pairwise
from operator import attrgetter, itemgetter

from tree_sitter import Node, Query, QueryCursor, Tree

from coderows.indexer.extract_treesitter import LANGUAGE, kind_ids

USES_QUERY = Query(
    LANGUAGE,
    """
    ; scopes: a function's or class's own names start after its name
    (function_definition name: (identifier) @scope.name) @scope.function
    (class_definition name: (identifier) @scope.name) @scope.class
    (function_definition parameters: (parameters . [(identifier) (typed_parameter . (identifier))] @first_parameter))

    ; names bound in the scope they stand in
    (parameters (identifier) @bind)
    (lambda_parameters (identifier) @bind)
    (typed_parameter . (identifier) @bind)
    (default_parameter name: (identifier) @bind)
    (typed_default_parameter name: (identifier) @bind)
    (list_splat_pattern (identifier) @bind)
    (dictionary_splat_pattern (identifier) @bind)
    (assignment left: (identifier) @bind)
    (augmented_assignment left: (identifier) @bind)
    (pattern_list (identifier) @bind)
    (tuple_pattern (identifier) @bind)
    (list_pattern (identifier) @bind)
    (for_statement left: (identifier) @bind)
    (for_in_clause left: (identifier) @bind)
    (as_pattern_target (identifier) @bind)
    (as_pattern_target (tuple (identifier) @bind))
    (as_pattern (identifier) @bind .)
    (named_expression name: (identifier) @bind)
    (case_pattern (dotted_name . (identifier) @bind .))
    (splat_pattern (identifier) @bind)
    (keyword_pattern . (identifier) @skip)
    (aliased_import alias: (identifier) @bind)
    (import_statement name: (dotted_name . (identifier) @bind))
    (import_from_statement name: (dotted_name (identifier) @bind))
    (global_statement (identifier) @global)
    (nonlocal_statement (identifier) @nonlocal)

    ; a local bound to a call: an instance of what was called, when that is a class
    (assignment left: (identifier) right: (call function: [(identifier) (attribute)])) @instance

    ; imported names (uses of kind import)
    (import_from_statement name: (dotted_name) @import.from)
    (import_from_statement name: (aliased_import name: (dotted_name) @import.from))
    (import_statement name: (dotted_name) @import.module)
    (import_statement name: (aliased_import name: (dotted_name) @import.module))
    (dotted_name (identifier) @skip)

    ; roles of an expression
    (call function: (_) @call)
    (decorator . (_) @decorator)
    (class_definition superclasses: (argument_list [(identifier) (attribute)] @base))
    (class_definition superclasses: (argument_list (subscript value: (_) @base)))
    (keyword_argument name: (identifier) @skip)

    ; the uses themselves (an attribute's name is found in Python: a pattern reaching
    ; for its last child stays in progress over the whole object, for every link of a
    ; chain, which made `a.b.b.b...` quadratic inside tree-sitter)
    (identifier) @name
    (attribute) @attribute
    """,
)

# Bounds on one file's work, so that extraction stays linear in the file's size (a file
# past one is indexed as far as the bound, and parse.py marks it partial with the note):
# - a use's name: each link of `a.b.c...` is a use named by the chain up to it, so a
#   chain of n links would give n names of up to n links each. No real chain comes near.
MAX_USE_NAME_CHARS = 1000
# - all use names and targets together, in characters, beyond a floor: real code stays
#   far below its own size (the stdlib: about a third).
USE_TEXT_PER_SOURCE_BYTE = 4
USE_TEXT_FLOOR = 1_000_000
# - how deeply the tree may nest: tree-sitter's query cursor counts depth in 16 bits
#   (at 80,000 nested calls it took 20 s and dropped captures); Python's own parser
#   gives up far sooner (200 nested brackets).
MAX_TREE_DEPTH = 5_000
# A subtree spanning fewer bytes than this cannot nest anywhere near 65,535 levels, so
# the depth check only enters nodes at least this long: cheap on real code.
_DEPTH_CHECK_BYTES = 2_000
BUILTIN_NAMES = frozenset(dir(builtins))
_DOTTED = re.compile(r"[^\W\d]\w*(?:\.[^\W\d]\w*)*\Z")

# Nodes are told apart by kind id and children found by field id: asking for `.type`
# builds a string, and a field by name looks its id up, on every one of ~400k attributes
# of the stdlib.
_IDENTIFIER = kind_ids({"identifier"})
_ATTRIBUTE = kind_ids({"attribute"})
_CALL = kind_ids({"call"})


def _field_id(name: str) -> int:
    field = LANGUAGE.field_id_for_name(name)
    if field is None:
        raise RuntimeError(f"this tree-sitter-python has no field {name!r}: extract_uses.py needs an update")
    return field


_ATTRIBUTE_FIELD = _field_id("attribute")
_OBJECT_FIELD = _field_id("object")
_LEFT_FIELD = _field_id("left")
_RIGHT_FIELD = _field_id("right")
_FUNCTION_FIELD = _field_id("function")
_first = itemgetter(0)
_END = 1 << 62  # past any byte offset
_position = attrgetter("line", "col")


@dataclass(slots=True)
class Use:
    """One name_uses row (the usages view), before ids are assigned."""

    line: int  # 1-based
    col: int  # 1-based, in characters
    kind: str  # call | reference | import | inherit | decorator
    name: str  # as written: "save", "self.save", "models.Model"
    source_ordinal: int | None  # the enclosing definition's ordinal; None at module level
    target: str | None  # the qualified name the code says; None: known by name only
    via_super: bool = False  # target is <class>.<attr>, looked up in the class's bases


@dataclass(frozen=True, slots=True)
class Scope:
    """A definition's own names, from just after its name to its end."""

    start: int  # byte offsets
    end: int
    is_class: bool
    ordinal: int | None  # the definition's row; None when it has none (nested too deep)
    full_name: str | None
    parent: int | None  # index in the file's scope list


@dataclass(frozen=True, slots=True)
class DefinitionKey:
    """What the uses pass needs of a definition row."""

    ordinal: int
    def_line: int
    name: str
    full_name: str
    is_top_level: bool


@dataclass(frozen=True, slots=True)
class ImportBinding:
    """What a module-level import binds: `name` stands for `target` (a dotted name)."""

    line: int
    name: str
    target: str
    is_module: bool  # `import a.b` binds a module; `from m import n` may bind anything


def extract_uses(
    tree: Tree,
    source: bytes,
    definitions: Sequence[DefinitionKey],
    imports: Sequence[tuple[int, str | None, str | None, str | None, str | None]],
    line_starts: list[int] | None = None,
) -> tuple[list[Use], str | None]:
    """The uses in the file `source` (UTF-8) parsed into `tree`, and a note saying which
    were left out at one of the bounds above (None: all of them). `imports` are the
    file's imports rows as (line, imported_module, imported_name, alias, target_module);
    `line_starts`, when the caller has them: the byte offset of each line's start, lines
    ending at \n only (as tree-sitter counts them)."""
    cursor = QueryCursor(USES_QUERY)
    deep = first_statement_nested_too_deeply(tree.root_node)
    depth_note = None
    if deep is not None:
        if deep.start_byte == 0:
            return [], f"no uses indexed: the code at line 1 nests deeper than {MAX_TREE_DEPTH} levels"
        # Only what lies before that statement (the byte before it is a line break or
        # indentation, where no node starts).
        cursor.set_byte_range(0, deep.start_byte - 1)
        depth_note = (
            f"uses from line {deep.start_point.row + 1} on not indexed: "
            f"the code there nests deeper than {MAX_TREE_DEPTH} levels"
        )
    captures = cursor.captures(tree.root_node)
    extractor = _Extractor(captures, source, definitions, imports, line_starts)
    uses = extractor.uses()
    notes = [note for note in (depth_note, *extractor.notes()) if note]
    return uses, "; ".join(notes) or None


def first_statement_nested_too_deeply(root: Node) -> Node | None:
    """The first statement (in source order) holding a node more than MAX_TREE_DEPTH
    levels deep, or None. Only nodes spanning at least _DEPTH_CHECK_BYTES are entered:
    each node is visited once at most, so the cost is linear in the file's size."""
    stack: list[tuple[Node, int, Node]] = [(root, 0, root)]
    while stack:
        node, depth, statement = stack.pop()
        if depth > MAX_TREE_DEPTH:
            return statement
        in_statement_list = node.type in ("module", "block")
        for child in reversed(node.children):
            if child.end_byte - child.start_byte >= _DEPTH_CHECK_BYTES:
                stack.append((child, depth + 1, child if in_statement_list else statement))
    return None


class _Extractor:
    def __init__(
        self,
        captures: dict[str, list[Node]],
        source: bytes,
        definitions: Sequence[DefinitionKey],
        imports: Sequence[tuple[int, str | None, str | None, str | None, str | None]],
        line_starts: list[int] | None,
    ) -> None:
        self.captures = captures
        self.source = source
        self.imports = imports
        self.ascii = source.isascii()
        self.line_starts = _line_starts(source) if line_starts is None else line_starts
        self.scopes = self._scopes(definitions)
        self.scope_starts = [scope.start for scope in self.scopes]
        # (error recovery could leave them out of order: then _scope_span vouches for
        # no position but the one asked for)
        self.scope_starts_sorted = all(a <= b for a, b in pairwise(self.scope_starts))
        self.locals: list[dict[str, str | None]] = [{} for _ in self.scopes]  # name -> instance-of target
        self.self_names: dict[int, str] = {}  # method scope -> its first parameter's name
        self.global_names: list[set[str]] = [set() for _ in self.scopes]
        self.module_names: dict[str, str | None] = {}
        self.skipped: set[int] = set()  # start bytes of identifiers that are not uses
        self.bound: set[str] = set()  # every name bound anywhere in the file
        # (function scope, name) -> {binding's byte offset: the call result it holds, or None}
        self.binding_sites: dict[tuple[int | None, str], dict[int, str | None]] = {}
        # the same binding offsets, sorted; None until every call result is known
        self.site_positions: dict[tuple[int | None, str], list[int]] | None = None
        self.maybe_definition: set[str] = set()  # names that may stand for a definition or import
        self.star_module: str | None = None  # the last `from M import *`: where unknown names may come from
        self.modules: set[str] = set()  # names that module-level `import M` statements bind
        self.roles: dict[tuple[int, int], str] = {}
        self.attribute_names = _attribute_names(captures.get("attribute", ()))
        self.text_budget = USE_TEXT_FLOOR + USE_TEXT_PER_SOURCE_BYTE * len(source)
        self.long_names = 0  # attribute uses left out: name over MAX_USE_NAME_CHARS
        self.cut_at_line: int | None = None  # attribute uses from this line on left out: budget spent
        self.heads: dict[tuple[str, int | None], tuple[bool, str | None, bool]] = {}  # _chain_target's
        self._bindings(definitions, imports)
        self._roles()
        self.heads.clear()  # (what _instances asked while bindings were still being added)

    # --- scopes ---------------------------------------------------------------

    def _scopes(self, definitions: Sequence[DefinitionKey]) -> list[Scope]:
        by_key = {(d.def_line, d.name): d for d in definitions}
        names = self.captures.get("scope.name", [])
        nodes = sorted(
            [(node, True) for node in self.captures.get("scope.class", [])]
            + [(node, False) for node in self.captures.get("scope.function", [])],
            key=lambda item: item[0].start_byte,
        )
        named = {name.start_byte for name in names}  # definitions the query matched whole
        scopes: list[Scope] = []
        open_scopes: list[int] = []
        for node, is_class in nodes:
            name = node.child_by_field_name("name")
            if name is None or name.start_byte not in named:
                continue
            while open_scopes and scopes[open_scopes[-1]].end <= node.start_byte:
                open_scopes.pop()
            key = by_key.get((node.start_point.row + 1, _text(name)))
            scopes.append(
                Scope(
                    start=name.end_byte,
                    end=node.end_byte,
                    is_class=is_class,
                    ordinal=key.ordinal if key else None,
                    full_name=key.full_name if key else None,
                    parent=open_scopes[-1] if open_scopes else None,
                )
            )
            open_scopes.append(len(scopes) - 1)
        return scopes

    def _scope_at(self, position: int) -> int | None:
        """The innermost scope holding this byte offset."""
        index: int | None = bisect_right(self.scope_starts, position) - 1
        while index is not None and index >= 0:
            scope = self.scopes[index]
            if scope.start <= position < scope.end:
                return index
            index = scope.parent
        return None

    def _scope_span(self, position: int) -> tuple[int | None, int]:
        """(_scope_at(position), until): every position from `position` up to `until`
        (excluded) has the same innermost scope, so a pass over positions in source
        order asks again only past it, not once a use."""
        starts = self.scope_starts
        following = bisect_right(starts, position)
        if not self.scope_starts_sorted:
            until = position + 1
        else:  # (no scope starts before the next start)
            until = starts[following] if following < len(starts) else _END
        index: int | None = following - 1
        while index is not None and index >= 0:
            scope = self.scopes[index]
            if scope.start <= position < scope.end:
                return index, min(until, scope.end)  # (an inner scope ends before its parent)
            if scope.start > position:
                until = position + 1
            index = scope.parent
        return None, until

    def _enclosing_function(self, scope: int | None) -> int | None:
        """The innermost function scope at or around `scope` (class bodies are skipped)."""
        while scope is not None and self.scopes[scope].is_class:
            scope = self.scopes[scope].parent
        return scope

    def _function_scope_at(self, position: int) -> int | None:
        return self._enclosing_function(self._scope_at(position))

    # --- bindings -------------------------------------------------------------

    def _bindings(
        self,
        definitions: Sequence[DefinitionKey],
        imports: Sequence[tuple[int, str | None, str | None, str | None, str | None]],
    ) -> None:
        captures = self.captures
        self.skipped.update(map(_first, self.attribute_names))
        source, scopes, skipped, bound, locals_ = self.source, self.scopes, self.skipped, self.bound, self.locals
        sites = self.binding_sites
        for node in captures.get("bind", ()):
            start = node.start_byte
            skipped.add(start)
            name = source[start : node.end_byte].decode("utf-8", "replace")
            if not name.isascii():
                name = unicodedata.normalize("NFKC", name)
            bound.add(name)
            scope = self._scope_at(start)
            if scope is not None:
                locals_[scope].setdefault(name, None)
            while scope is not None and scopes[scope].is_class:
                scope = scopes[scope].parent
            positions = sites.get((scope, name))
            if positions is None:  # (setdefault would build a dict for every binding)
                positions = sites[(scope, name)] = {}
            positions[start] = None
        for node in captures.get("global", []) + captures.get("nonlocal", []):
            self.skipped.add(node.start_byte)
        for node in captures.get("global", []):
            scope = self._scope_at(node.start_byte)
            if scope is not None:
                self.global_names[scope].add(_text(node))
        for node in captures.get("skip", []):
            self.skipped.add(node.start_byte)
        # Definitions bind their names in the enclosing scope.
        for defined in self.scopes:
            if defined.full_name is None:
                continue
            name = defined.full_name.rsplit(".", 1)[-1]
            if defined.parent is None:
                self.module_names[name] = defined.full_name
            else:
                self.locals[defined.parent][name] = defined.full_name
        for node in captures.get("scope.name", []):
            self.skipped.add(node.start_byte)
        for node in captures.get("first_parameter", []):
            scope = self._scope_at(node.start_byte)
            parent = None if scope is None else self.scopes[scope].parent
            if scope is not None and parent is not None and self.scopes[parent].is_class:
                self.self_names[scope] = _text(node)
        # Module-level imports, in line order: a later binding wins.
        for binding in sorted(_import_bindings(imports), key=lambda b: b.line):
            function = self._function_scope_at(self._line_offset(binding.line))
            if function is None:
                self.module_names[binding.name] = binding.target
                if binding.is_module:
                    self.modules.add(binding.name)
                else:
                    self.modules.discard(binding.name)
            elif not binding.is_module:  # `from m import n` inside a function binds n there
                self.locals[function][binding.name] = binding.target
        for key in definitions:
            if key.is_top_level:
                self.module_names.setdefault(key.name, key.full_name)
        stars = [row for row in imports if row[2] == "*" and row[4] is not None]
        self.star_module = max(stars)[4] if stars else None
        self._instances()
        self.maybe_definition = set(self.module_names)
        for names in self.locals:
            self.maybe_definition.update(name for name, target in names.items() if target is not None)

    def _instances(self) -> None:
        """What each binding of a local to a call stands for: the call's result, written
        `callee()` (an instance when the callee is a class, what it returns when it is a
        function: the database decides). A use takes the nearest binding before it."""
        for assignment in self.captures.get("instance", ()):
            # (from the assignment down: a node's parent is found by descending from the root)
            name_node = assignment.child_by_field_id(_LEFT_FIELD)
            call = assignment.child_by_field_id(_RIGHT_FIELD)
            callee = None if call is None else call.child_by_field_id(_FUNCTION_FIELD)
            if name_node is None or callee is None:
                continue
            start = name_node.start_byte
            target = self._chain_target(_text(callee), self._scope_at(callee.start_byte), callee.start_byte)
            if target is not None:
                key = (self._function_scope_at(start), _text(name_node))
                self.binding_sites.setdefault(key, {})[start] = f"{target}()"
        self.site_positions = {}

    def _call_result_at(self, name: str, scope: int | None, position: int) -> str | None:
        """The call result (`pkg.C()`) that the local or module variable `name` holds at
        `position`, when its nearest binding before there is a call; else None."""
        function = scope
        while function is not None and (self.scopes[function].is_class or name not in self.locals[function]):
            function = self.scopes[function].parent
        if function is None and name in self.module_names:
            return None
        if self.site_positions is None:
            return None  # asked while call results are still being found (_instances): not followed
        key = (function, name)
        positions = self.site_positions.get(key)
        if positions is None:  # sorted when first asked for: most variables never are
            positions = self.site_positions[key] = sorted(self.binding_sites.get(key, ()))
        if not positions:
            return None
        index = bisect_right(positions, position) - 1
        return self.binding_sites[key][positions[index]] if index >= 0 else None

    def _roles(self) -> None:
        # Calls first: a decorator or a base that is also a call keeps its own role.
        self.roles = {(node.start_byte, node.end_byte): "call" for node in self.captures.get("call", ())}
        for role, kind in (("decorator", "decorator"), ("base", "inherit")):
            for node in self.captures.get(role, ()):
                self.roles[(node.start_byte, node.end_byte)] = kind
        # @app.route("/") decorates with a call: the callee is the decorator use.
        for node in self.captures.get("decorator", []):
            if node.kind_id in _CALL:
                function = node.child_by_field_name("function")
                if function is not None:
                    self.roles[(function.start_byte, function.end_byte)] = "decorator"

    # --- resolution within the file ------------------------------------------

    def _name_target(self, name: str, scope: int | None) -> tuple[bool, str | None]:
        """(known, target) for a bare name used in `scope`: known is False for locals and
        variables, which are not uses of anything a definition row can stand for."""
        first = True
        while scope is not None:
            current = self.scopes[scope]
            if not current.is_class or first:
                if name in self.global_names[scope]:
                    break
                if name in self.locals[scope]:
                    target = self.locals[scope][name]
                    return target is not None, target
            first = False
            scope = current.parent
        if name in self.module_names:
            return True, self.module_names[name]
        if (None, name) in self.binding_sites:
            return False, None  # a module-level variable
        if name in BUILTIN_NAMES:
            return False, None  # not indexed anywhere: not recorded
        return True, f"{self.star_module}.{name}" if self.star_module else None

    def _chain_target(self, chain: str, scope: int | None, position: int) -> str | None:
        """The qualified name of a dotted chain `a.b.c` used at `position`, or of `self.x`
        in a method; `pkg.C().x` when `a` holds the result of calling pkg.C."""
        head, _, rest = chain.partition(".")
        if not rest:
            known, target = self._name_target(head, scope)
            return target
        return self._head_target(head, rest, scope, position)

    def _head_target(self, head: str, rest: str, scope: int | None, position: int) -> str | None:
        """_chain_target of `head.rest` (rest not empty), for a caller that has the parts."""
        # What a chain's head stands for depends only on the scope it is used in (which
        # variable's call results apply depends on the position too, and is looked up
        # below): known once per head and scope, for the ~400k chains of the stdlib.
        meaning = self.heads.get((head, scope))
        if meaning is None:
            meaning = self.heads[(head, scope)] = self._head_meaning(head, scope)
        known, target, through_self = meaning
        if through_self:
            return f"{target}.{rest}" if target else None
        if not known:  # a variable: what it holds, if a call put it there
            target = self._call_result_at(head, scope, position)
        return None if target is None else f"{target}.{rest}"

    def _head_meaning(self, head: str, scope: int | None) -> tuple[bool, str | None, bool]:
        """(known, target, through_self) of the first name of a chain `head.x` used in
        scope: through_self when head is `self` of this method or of one enclosing it
        (target: its class's full name), else what _name_target says of head."""
        function = self._enclosing_function(scope)
        while function is not None:
            if self.self_names.get(function) == head:
                # (`self = ...` inside a method is too rare to track)
                owner = self.scopes[function].parent
                return True, self.scopes[owner].full_name if owner is not None else None, True
            if head in self.locals[function]:
                break
            function = self._enclosing_function(self.scopes[function].parent)
        known, target = self._name_target(head, scope)
        return known, target, False

    # --- output ---------------------------------------------------------------

    def uses(self) -> list[Use]:
        rows = self._import_uses()
        source = self.source
        skipped = self.skipped
        maybe_definition = self.maybe_definition
        bound = self.bound
        roles = self.roles
        # Names that are a local or a variable wherever they stand, the common case, as
        # the bytes that spell them: settled without decoding, scopes or a Use.
        settled = {name.encode() for name in (bound | BUILTIN_NAMES) - maybe_definition}
        for node in self.captures.get("name", ()):
            start = node.start_byte
            if start in skipped:
                continue
            end = node.end_byte
            spelled = source[start:end]
            if spelled in settled:
                continue
            name = spelled.decode("utf-8", "replace")
            if name not in maybe_definition and (name in bound or name in BUILTIN_NAMES):
                continue  # (bytes that are not UTF-8, replaced as in the bindings)
            if not name.isascii():
                name = unicodedata.normalize("NFKC", name)
            scope = self._scope_at(start)
            known, target = self._name_target(name, scope)
            if known and not (name in self.modules and target == self.module_names.get(name)):
                # (a module itself is no definition: `os` in os.path.join is left out)
                rows.append(self._use(start, scope, roles.get((start, end), "reference"), name, target))
        rows.extend(self._attribute_uses(sum(len(use.name) + len(use.target or "") for use in rows)))
        rows.sort(key=_position)
        return rows

    def _attribute_uses(self, spent: int) -> list[Use]:
        """The uses of attribute names, in source order, within the bounds: a use whose
        name would be longer than MAX_USE_NAME_CHARS is left out, and once the names and
        targets have taken the file's text budget, so is every later one. Each link of
        a chain extends its object's name (kept below), never re-reads the chain, so
        the work stays linear in the file's size.
        A use is named `chain` when its object is a name or a dotted name written without
        spaces (`None` and `True` are names here too, as written), `super().attr` through
        super(), else by the attribute name alone (no target). The hottest loop of the
        indexer: written out inline."""
        rows = []
        # (start, end) of an attribute written as a dotted name without spaces (`a.b`) ->
        # that name; too_long: such attributes whose name is past MAX_USE_NAME_CHARS
        dotted: dict[tuple[int, int], str] = {}
        too_long: set[tuple[int, int]] = set()
        # (start, end) of an attribute use with a target -> (its name, its target): what
        # calling it gives is known too (`Client(app).open(path).data`)
        known: dict[tuple[int, int], tuple[str, str]] = {}
        source, roles, budget = self.source, self.roles, self.text_budget
        scope_span, chain_target, use = self._scope_span, self._chain_target, self._use
        scope_from, scope_until = 0, 0  # (_scope_span's answer, reused)
        scope: int | None = None
        head_target = self._head_target
        line_starts, scopes, ascii_only = self.line_starts, self.scopes, self.ascii
        use_name: str | None
        for start, name, attribute, obj in self.attribute_names:
            end = name.end_byte
            chain_start = attribute.start_byte
            object_start = obj.start_byte
            object_end = obj.end_byte
            object_is_attribute = obj.kind_id in _ATTRIBUTE
            head = None  # the object's name when it is one name (`self` in self.x)
            attr = source[start:end].decode("utf-8", "replace")
            gap = source[object_end:start]
            tight = gap == b"."
            if tight or gap.strip() == b".":  # `a.b`, or `a . b` (spaces, line breaks)
                if object_is_attribute:
                    object_key = (object_start, object_end)
                    if object_key in too_long:
                        self.long_names += 1
                        if tight:
                            too_long.add((chain_start, attribute.end_byte))
                        continue
                    object_name = dotted.get(object_key)
                elif object_end - object_start > MAX_USE_NAME_CHARS * 4:  # (UTF-8: up to 4 bytes a character)
                    object_name = None
                else:
                    text = source[object_start:object_end].decode("utf-8", "replace")
                    if text.isascii() and obj.kind_id in _IDENTIFIER:
                        # (for ASCII, isidentifier() is _DOTTED without dots: no regex)
                        object_name = text if text.isidentifier() else None
                        head = object_name
                    else:
                        object_name = text if _DOTTED.match(text) else None
                if object_name is not None:
                    use_name = f"{object_name}.{attr}"
                    if len(use_name) > MAX_USE_NAME_CHARS:
                        self.long_names += 1
                        if tight:
                            too_long.add((chain_start, attribute.end_byte))
                        continue
                    if tight:
                        dotted[(chain_start, attribute.end_byte)] = use_name
                else:
                    use_name = None
            else:
                use_name = None  # a comment or a continuation between: not a name as written
            if spent + 2 * len(use_name or attr) > budget:
                self.cut_at_line = name.start_point.row + 1
                break
            kind = roles.get((chain_start, end), "reference")
            if not scope_from <= start < scope_until:
                scope, scope_until = scope_span(start)
                scope_from = start
            if use_name is not None and kind != "decorator":  # the common case, _use written out
                line = bisect_right(line_starts, start)
                column = start - line_starts[line - 1]
                if column and not ascii_only:
                    column = len(source[start - column : start].decode("utf-8", "replace"))
                if head is not None and attr:  # `name.attr`: its parts are at hand
                    target = head_target(head, attr, scope, start)
                else:
                    target = chain_target(use_name, scope, start)
                ordinal = scopes[scope].ordinal if scope is not None else None
                rows.append(Use(line, column + 1, kind, use_name, ordinal, target, False))
                if target is None:
                    spent += len(use_name)
                else:
                    spent += len(use_name) + len(target)
                    known[(chain_start, attribute.end_byte)] = (use_name, target)
                continue
            if use_name is not None:
                row = use(start, scope, kind, use_name, chain_target(use_name, scope, start))
            elif object_end - object_start == 7 and obj.kind_id in _CALL and source[object_start:object_end] == b"super()":
                function = self._enclosing_function(scope)
                owner = self.scopes[function].parent if function is not None else None
                class_name = self.scopes[owner].full_name if owner is not None and self.scopes[owner].is_class else None
                target = f"{class_name}.{attr}" if class_name else None
                row = use(start, scope, kind, f"super().{attr}", target, target is not None)
            else:
                row = self._unnamed_attribute_use(start, scope, kind, attr, obj, known)
            spent += len(row.name) + len(row.target or "")
            rows.append(row)
            if row.target is not None and not row.via_super:
                known[(chain_start, attribute.end_byte)] = (row.name, row.target)
        return rows

    def notes(self) -> list[str]:
        """What the bounds left out, one note each."""
        notes = []
        if self.long_names:
            notes.append(f"{self.long_names} uses in attribute chains longer than {MAX_USE_NAME_CHARS} characters not indexed")
        if self.cut_at_line is not None:
            notes.append(
                f"attribute uses from line {self.cut_at_line} on not indexed: their names would exceed "
                f"{self.text_budget} characters"
            )
        return notes

    def _unnamed_attribute_use(
        self, start: int, scope: int | None, kind: str, attr: str, obj: Node, known: dict[tuple[int, int], tuple[str, str]]
    ) -> Use:
        """The use of the attribute name `attr` at byte `start` whose object is not a
        dotted name: `C().attr` when its object is a call of a name whose target is known,
        or an attribute of one (`known`: attribute uses before it), else by the attribute
        name alone (no target)."""
        if obj.kind_id in _CALL:
            called = self._called(obj, scope, known)
            if called is not None and len(called[0]) + len(attr) + 3 <= MAX_USE_NAME_CHARS:
                # The resolver reads `pkg.C().attr` as a member of an instance of C, or of
                # the class a function's return annotation names.
                return self._use(start, scope, kind, f"{called[0]}().{attr}", f"{called[1]}().{attr}")
        elif obj.kind_id in _ATTRIBUTE and (holder := known.get((obj.start_byte, obj.end_byte))) is not None:
            if len(holder[0]) + len(attr) + 1 <= MAX_USE_NAME_CHARS:  # `C().engine.start`
                return self._use(start, scope, kind, f"{holder[0]}.{attr}", f"{holder[1]}.{attr}")
        return self._use(start, scope, kind, attr, None)

    def _called(self, call: Node, scope: int | None, known: dict[tuple[int, int], tuple[str, str]]) -> tuple[str, str] | None:
        """(name, target) of what `call` calls, when that is a name or an attribute use
        whose target is known; else None."""
        function = call.child_by_field_id(_FUNCTION_FIELD)
        if function is None:
            return None
        if function.kind_id in _ATTRIBUTE:
            return known.get((function.start_byte, function.end_byte))
        if function.kind_id not in _IDENTIFIER:
            return None
        name = _text(function)
        target = self._chain_target(name, scope, function.start_byte)
        return (name, target) if target is not None else None

    def _import_uses(self) -> list[Use]:
        rows = []
        from_targets: dict[tuple[int, str], str] = {}
        for line, _module, imported_name, _alias, target_module in self.imports:
            if imported_name is not None and target_module is not None:
                from_targets[(line, imported_name)] = f"{target_module}.{imported_name}"
        for node in self.captures.get("import.from", ()):
            name = _text(node)
            target = from_targets.get((node.start_point.row + 1, name))
            last = _last_identifier(node)
            rows.append(self._use(last.start_byte, self._scope_at(last.start_byte), "import", name, target))
        for node in self.captures.get("import.module", ()):
            name = _text(node)
            last = _last_identifier(node)
            rows.append(self._use(last.start_byte, self._scope_at(last.start_byte), "import", name, name))
        return rows

    def _use(self, start: int, scope: int | None, kind: str, name: str, target: str | None, via_super: bool = False) -> Use:
        """The use at byte `start`: its line and column from the line starts (as
        tree-sitter counts them: only \\n ends a line), cheaper than asking the node."""
        starts = self.line_starts
        row = bisect_right(starts, start) - 1
        column = start - starts[row]
        if column and not self.ascii:
            column = len(self.source[start - column : start].decode("utf-8", "replace"))
        if kind == "decorator":
            # A definition's decorators stand before it but belong to it.
            scope = self._owner_of_header(start, scope)
        ordinal = self.scopes[scope].ordinal if scope is not None else None
        return Use(row + 1, column + 1, kind, name, ordinal, target, via_super)

    def _owner_of_header(self, position: int, scope: int | None) -> int | None:
        """The scope of the definition whose header (bases, decorators) holds position."""
        following = bisect_right(self.scope_starts, position)
        while following < len(self.scopes):
            candidate = self.scopes[following]
            if candidate.parent == scope:
                return following
            following += 1
        return scope

    def _line_offset(self, line: int) -> int:
        return self.line_starts[min(line, len(self.line_starts)) - 1]


def _import_bindings(
    imports: Sequence[tuple[int, str | None, str | None, str | None, str | None]],
) -> list[ImportBinding]:
    """What each import binds: `import a.b` binds a (to a), `import a.b as c` binds c
    (to a.b), `from m import n as k` binds k (to m.n)."""
    bindings = []
    for line, imported_module, imported_name, alias, target_module in imports:
        if imported_name == "*":
            continue
        if imported_name is None:
            if imported_module is None:
                continue
            if alias is not None:
                bindings.append(ImportBinding(line, alias, imported_module, True))
            else:
                head = imported_module.split(".", 1)[0]
                bindings.append(ImportBinding(line, head, head, True))
        elif target_module is not None:
            bindings.append(ImportBinding(line, alias or imported_name, f"{target_module}.{imported_name}", False))
    return bindings


def _attribute_names(attributes: Sequence[Node]) -> list[tuple[int, Node, Node, Node]]:
    """(its name's start byte, its name, the attribute, its object) of every `obj.name`,
    in source order of the names: a chain's inner links come before the links built on them."""
    found = []
    for attribute in attributes:
        name = attribute.child_by_field_id(_ATTRIBUTE_FIELD)
        obj = attribute.child_by_field_id(_OBJECT_FIELD)
        if name is not None and obj is not None and name.kind_id in _IDENTIFIER:
            found.append((name.start_byte, name, attribute, obj))
    found.sort(key=_first)
    return found


def _line_starts(source: bytes) -> list[int]:
    """The byte offset of each line's start (lines end at \\n only, as in tree-sitter)."""
    starts = list(accumulate(map((1).__add__, map(len, source.split(b"\n"))), initial=0))
    starts.pop()  # (where a line after the last would start)
    return starts


def _last_identifier(node: Node) -> Node:
    return node.named_children[-1] if node.type == "dotted_name" and node.named_children else node


def _text(node: Node) -> str:
    text = node.text.decode("utf-8", "replace") if node.text is not None else ""
    return text if text.isascii() else unicodedata.normalize("NFKC", text)
