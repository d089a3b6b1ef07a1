"""Outline of a file from tree-sitter: the fast path, used for every file whose tree
has no errors (and, as far as it goes, for files that neither parser accepts).

What to look for is data (the node-type tables below): a second language would be a
second set of tables plus its naming rules. The walk enters statements only, never
expressions (where no definition can stand), which makes it several times cheaper than
a tree-sitter query that visits every node. It matches `ast`'s line numbers: a decorated
definition starts at its first decorator's expression, and a definition ends at its last
line of code (tree-sitter's node would also cover comments indented after the last
statement).
"""

from __future__ import annotations

import unicodedata

import tree_sitter_python
from tree_sitter import Language, Node, Parser, Tree

from coderows.indexer.outline import Outline, RawDefinition, RawImport, compact_code, string_value

LANGUAGE = Language(tree_sitter_python.language())
_parser = Parser(LANGUAGE)

# Node types holding statements: the walk descends into these and nothing else. ERROR
# nodes are included so that a file with syntax errors still yields what it can.
STATEMENT_CONTAINERS = frozenset({
    "module", "block", "decorated_definition", "function_definition", "class_definition",
    "if_statement", "elif_clause", "else_clause", "for_statement", "while_statement",
    "try_statement", "except_clause", "except_group_clause", "finally_clause",
    "with_statement", "match_statement", "case_clause", "ERROR",
})
DEFINITIONS = {"class_definition": True, "function_definition": False}  # type -> is a class
IMPORTS = frozenset({"import_statement", "import_from_statement", "future_import_statement"})
# `global NAME` in a function or class body: a definition of NAME nested there gets a
# bare qualname (CPython's compiler does the same).
GLOBAL_DECLARATION = "global_statement"


def kind_ids(names: frozenset[str] | set[str]) -> frozenset[int]:
    """Every node-kind id with one of these names (a grammar may alias several ids to one
    name). The walk compares ids: cheaper than building a type string per node."""
    found = {kind for kind in range(LANGUAGE.node_kind_count) if LANGUAGE.node_kind_for_id(kind) in names}
    if "ERROR" in names:  # a built-in kind, outside the grammar's own range of ids
        error_id = LANGUAGE.id_for_node_kind("ERROR", True)
        if error_id is None:
            raise RuntimeError("this tree-sitter has no ERROR node kind: extract_treesitter.py needs an update")
        found.add(error_id)
    return frozenset(found)


_WALKED = kind_ids(STATEMENT_CONTAINERS | IMPORTS | {GLOBAL_DECLARATION})
_DEFINITION_IDS = kind_ids(set(DEFINITIONS))
_IMPORT_IDS = kind_ids(IMPORTS)
_GLOBAL_IDS = kind_ids({GLOBAL_DECLARATION})


def parse_tree(data: bytes) -> Tree:
    """Parse UTF-8 source. Never raises: a syntax error becomes ERROR / MISSING nodes."""
    return _parser.parse(data)


def extract(tree: Tree, source: bytes) -> Outline:
    """`source` is the UTF-8 text the tree was parsed from."""
    definitions: list[RawDefinition] = []
    imports: list[RawImport] = []
    # Depth-first, children pushed in reverse: nodes come out in source order, every
    # definition before the definitions nested in it. Each entry carries its parent node
    # because tree-sitter finds a node's parent by descending again from the root.
    stack: list[tuple[Node, Node | None, int | None]] = [(tree.root_node, None, None)]
    while stack:
        node, parent, enclosing = stack.pop()
        kind = node.kind_id
        if kind in _IMPORT_IDS:
            imports.extend(_imports(node))
            continue
        children = node.children
        if kind in _DEFINITION_IDS:
            definition = _definition(node, children, parent, enclosing, source)
            if definition is not None:
                definitions.append(definition)
                enclosing = len(definitions) - 1
        elif kind in _GLOBAL_IDS:
            if enclosing is not None:
                names = (_identifier(name) for name in children if name.type == "identifier")
                definitions[enclosing].declared_global.update(names)
            continue
        for child in reversed(children):
            if child.kind_id in _WALKED:
                stack.append((child, node, enclosing))
    return Outline(definitions, imports, _docstring(tree.root_node))


def _definition(
    node: Node, children: list[Node], parent: Node | None, enclosing: int | None, source: bytes
) -> RawDefinition | None:
    """The definition at `node` (its `children` and `parent` already at hand: both are
    costly to ask tree-sitter for); None when error recovery left it without a name."""
    name = node.child_by_field_name("name")
    if name is None:
        return None
    is_class = node.type == "class_definition"
    decorators = (
        [child for child in parent.named_children if child.type == "decorator"]
        if parent is not None and parent.type == "decorated_definition"
        else []
    )
    decorator_expressions = [_decorator_expression(decorator) for decorator in decorators]
    def_line = node.start_point.row + 1
    header_end = node.end_byte
    body = None
    arguments = None
    for child in children:
        if child.type == ":" and header_end == node.end_byte:
            header_end = child.start_byte
        elif child.type == "block":
            body = child
            header_end = min(header_end, child.start_byte)
        elif child.type == "argument_list":
            arguments = child
    return RawDefinition(
        is_class=is_class,
        name=_identifier(name),
        parent=enclosing,
        def_line=def_line,
        start_line=_unparenthesized(decorator_expressions[0]).start_point.row + 1 if decorators else def_line,
        end_line=_last_code_row(node, source) + 1,
        is_async=children[0].type == "async",
        header=source[node.start_byte : header_end].decode("utf-8", "replace"),
        decorators=[compact_code(_text(expression)) for expression in decorator_expressions],
        bases=_bases(arguments) if is_class else [],
        docstring=_docstring(body),
    )


def _decorator_expression(decorator: Node) -> Node:
    for child in decorator.named_children:
        if child.type != "comment":
            return child
    return decorator


def _unparenthesized(node: Node) -> Node:
    """ast places a parenthesized expression at its inner expression."""
    while node.type == "parenthesized_expression":
        inner = [child for child in node.named_children if child.type != "comment"]
        if len(inner) != 1:
            break
        node = inner[0]
    return node


def _last_code_row(node: Node, source: bytes) -> int:
    """Row of the last token that is not a comment (ast's end_lineno). Comments and
    backslash continuations are extras that tree-sitter may leave at the end of a node
    (`x = f() \\` followed by a comment-only line); zero-width nodes are tokens that
    error recovery invented, not text: all are passed over."""
    end = node.end_byte
    last_line = source[source.rfind(b"\n", 0, end) + 1 : end].lstrip()
    if last_line and not last_line.startswith(b"#"):
        return node.end_point.row  # the usual case: the node ends on a line of code
    while node.child_count:
        index = node.child_count - 1
        while index >= 0 and _is_extra_or_empty(node.child(index)):
            index -= 1
        if index < 0:
            break
        node = node.child(index)
    return node.end_point.row


# Tokens the grammar allows anywhere that are not code for ast's line numbers.
_EXTRAS = frozenset({"comment", "line_continuation"})


def _is_extra_or_empty(node: Node) -> bool:
    return node.type in _EXTRAS or node.end_byte == node.start_byte


def _bases(arguments: Node | None) -> list[str]:
    """A class's positional bases as written (keywords such as metaclass= are not bases)."""
    if arguments is None:
        return []
    return [
        compact_code(_text(argument))
        for argument in arguments.named_children
        if argument.type not in ("keyword_argument", "dictionary_splat", "comment")
    ]


def _docstring(body: Node | None) -> str | None:
    """The real value of the string that is the first statement of a module or body."""
    if body is None:
        return None
    count = body.named_child_count
    index = 0
    while index < count and body.named_child(index).type == "comment":
        index += 1
    if index == count:
        return None
    first = body.named_child(index)
    if first.type != "expression_statement" or first.named_child_count != 1:
        return None
    expression = first.named_child(0)
    if expression.type == "parenthesized_expression":
        inner = _unparenthesized(expression)
        if inner.type not in ("string", "concatenated_string"):
            return None
    elif expression.type not in ("string", "concatenated_string"):
        return None
    return string_value(_text(expression))


def _imports(node: Node) -> list[RawImport]:
    if node.type == "import_statement":
        return [_imported(name, module=None, level=0) for name in node.children_by_field_name("name")]
    module: str | None
    if node.type == "future_import_statement":
        module, level = "__future__", 0
    else:
        module, level = _from_module(node.child_by_field_name("module_name"))
    names = [_imported(name, module, level) for name in node.children_by_field_name("name")]
    for child in node.named_children:
        if child.type == "wildcard_import":
            names.append(RawImport(child.start_point.row + 1, module, "*", None, level))
    return names


def _from_module(module_name: Node | None) -> tuple[str | None, int]:
    if module_name is None:
        return None, 0
    if module_name.type != "relative_import":
        return _identifier(module_name), 0
    prefix = next((child for child in module_name.named_children if child.type == "import_prefix"), None)
    dotted = next((child for child in module_name.named_children if child.type == "dotted_name"), None)
    level = _text(prefix).count(".") if prefix is not None else 0
    return (_identifier(dotted) if dotted is not None else None), level


def _imported(name: Node, module: str | None, level: int) -> RawImport:
    """One imported name. `import a.b` has no imported_name: the module is the import."""
    alias = None
    if name.type == "aliased_import":
        alias_node = name.child_by_field_name("alias")
        alias = _identifier(alias_node) if alias_node is not None else None
        name = name.child_by_field_name("name") or name
    line = name.start_point.row + 1
    if module is None and level == 0:
        return RawImport(line, _identifier(name), None, alias, 0)
    return RawImport(line, module, _identifier(name), alias, level)


def _identifier(node: Node | None) -> str:
    """A name as Python sees it: non-ASCII identifiers are NFKC-normalized (PEP 3131)."""
    text = _text(node)
    return text if text.isascii() else unicodedata.normalize("NFKC", text)


def _text(node: Node | None) -> str:
    if node is None or node.text is None:
        return ""
    return node.text.decode("utf-8", "replace")
