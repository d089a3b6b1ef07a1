"""Specification of the parse stage: bytes in, rows out (indexer/parse.py).

`parse_module(path, data)` returns one modules row (`ParsedModule`) holding its symbols
rows (`definitions`) and imports rows. The rules come from the contract
(../shared/contract.md, "SQL surface" and "Precise rules"): qualnames are exactly
Python's `__qualname__`; def_line / end_line are `ast`'s lineno / end_lineno; start_line
is the first decorator's line; body is the exact source lines start_line..end_line without
the final line break. Where a rule is CPython's, the tests also ask Python itself
(compiled code objects' `co_qualname`, `ast`), so they cannot drift from it.
"""

from __future__ import annotations

import ast
import hashlib
import io
import sysconfig
import textwrap
import tokenize
import types
import unicodedata
from pathlib import Path

import pytest

from coderows.indexer import extract_treesitter
from coderows.indexer.outline import compact_code, string_value
from coderows.indexer.parse import (
    MAX_DEFINITION_DEPTH,
    Definition,
    ParsedModule,
    decode,
    parse_module,
    skipped_module,
)

Row = tuple[str, str, int, int, int]  # qualname, kind, def_line, start_line, end_line


# --- helpers ----------------------------------------------------------------------------


def code(source: str) -> str:
    """Test sources are written indented inside triple quotes; this is the file text."""
    return textwrap.dedent(source)


def parsed(source: str | bytes, path: str = "mod.py") -> ParsedModule:
    data = source if isinstance(source, bytes) else code(source).encode("utf-8")
    return parse_module(path, data)


def rows(source: str | bytes, path: str = "mod.py") -> list[Row]:
    return [(d.qualname, d.kind, d.def_line, d.start_line, d.end_line) for d in parsed(source, path).definitions]


def kinds(source: str | bytes) -> list[tuple[str, str, str | None]]:
    return [(d.qualname, d.kind, d.class_name) for d in parsed(source).definitions]


def qualnames(source: str | bytes) -> list[str]:
    return [d.qualname for d in parsed(source).definitions]


def definition(source: str | bytes, qualname: str) -> Definition:
    [found] = [d for d in parsed(source).definitions if d.qualname == qualname]
    return found


def import_rows(source: str | bytes, path: str = "mod.py") -> list[tuple[int, str | None, str | None, str | None, int, str | None]]:
    return [
        (i.line, i.imported_module, i.imported_name, i.alias, i.level, i.target_module)
        for i in parsed(source, path).imports
    ]


def python_qualnames(source: str | bytes) -> list[str]:
    """`co_qualname` of every class and function CPython compiles from `source`, sorted.
    (Lambdas and comprehensions are code objects too, named `<...>`: not definitions.
    Unreachable code is dropped by the compiler, so use this only where none is.)"""
    found: list[str] = []

    def walk(code_object: types.CodeType) -> None:
        for constant in code_object.co_consts:
            if isinstance(constant, types.CodeType):
                if not constant.co_name.startswith("<"):
                    found.append(constant.co_qualname)
                walk(constant)

    walk(compile(code(source) if isinstance(source, str) else source, "<test>", "exec"))
    return sorted(found)


def ast_lines(source: str | bytes) -> list[tuple[str, int, int, int]]:
    """(name, def_line, start_line, end_line) of every definition as `ast` places it."""
    tree = ast.parse(code(source) if isinstance(source, str) else source)
    return sorted(
        (node.name, node.lineno, node.decorator_list[0].lineno if node.decorator_list else node.lineno, node.end_lineno)
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
    )


def our_lines(source: str | bytes) -> list[tuple[str, int, int, int]]:
    return sorted((d.name, d.def_line, d.start_line, d.end_line) for d in parsed(source).definitions)


def syntax_error_note(source: str) -> str:
    """parse_error as parse_module words it, from the SyntaxError Python itself raises."""
    try:
        ast.parse(source)
    except SyntaxError as error:
        return f"{type(error).__name__}: {error.msg} (line {error.lineno})"
    raise AssertionError("the source was expected not to parse")


def nested_defs(depth: int) -> str:
    return "".join("    " * level + f"def f{level}():\n" for level in range(depth)) + "    " * depth + "pass\n"


# --- qualnames and kinds ----------------------------------------------------------------


def test_module_level_function_and_class_have_bare_qualnames() -> None:
    source = """\
        def f():
            pass


        class C:
            pass
        """
    assert rows(source) == [("f", "function", 1, 1, 2), ("C", "class", 5, 5, 6)]
    assert kinds(source) == [("f", "function", None), ("C", "class", None)]


def test_a_function_directly_in_a_class_is_a_method_with_its_class_name() -> None:
    source = """\
        class C:
            def m(self):
                pass
        """
    assert kinds(source) == [("C", "class", None), ("C.m", "method", "C")]
    assert definition(source, "C.m").name == "m"


def test_nested_class_method_has_dotted_qualname_and_innermost_class_name() -> None:
    source = """\
        class Outer:
            class Inner:
                def meth(self):
                    pass
        """
    assert kinds(source) == [
        ("Outer", "class", None),
        ("Outer.Inner", "class", None),
        ("Outer.Inner.meth", "method", "Inner"),
    ]
    assert qualnames(source) == python_qualnames(source)


def test_function_in_a_function_is_qualified_with_locals() -> None:
    source = """\
        def f():
            def g():
                pass
            return g
        """
    assert kinds(source) == [("f", "function", None), ("f.<locals>.g", "function", None)]
    assert definition(source, "f.<locals>.g").name == "g"


def test_class_in_a_function_and_its_method_are_qualified_with_locals() -> None:
    source = """\
        def f():
            class C:
                def m(self):
                    pass
            return C
        """
    assert kinds(source) == [
        ("f", "function", None),
        ("f.<locals>.C", "class", None),
        ("f.<locals>.C.m", "method", "C"),
    ]
    assert sorted(qualnames(source)) == python_qualnames(source)


def test_function_inside_a_method_is_a_function_without_class_name() -> None:
    source = """\
        class C:
            def m(self):
                def helper():
                    pass
                return helper
        """
    assert kinds(source) == [
        ("C", "class", None),
        ("C.m", "method", "C"),
        ("C.m.<locals>.helper", "function", None),
    ]


def test_private_names_are_not_mangled_in_qualnames() -> None:
    source = """\
        class C:
            def __secret(self):
                pass
        """
    assert qualnames(source) == ["C", "C.__secret"] == python_qualnames(source)


def test_function_declared_global_in_its_enclosing_function_has_a_bare_qualname() -> None:
    source = """\
        def f():
            global g
            def g():
                def h():
                    pass
            return g
        """
    assert kinds(source) == [("f", "function", None), ("g", "function", None), ("g.<locals>.h", "function", None)]
    assert sorted(qualnames(source)) == python_qualnames(source)


def test_a_global_definition_still_has_its_enclosing_function_as_parent() -> None:
    source = """\
        def f():
            global g
            def g():
                pass
        """
    assert [(d.qualname, d.parent_ordinal) for d in parsed(source).definitions] == [("f", None), ("g", 0)]


def test_function_declared_global_in_a_class_body_has_a_bare_qualname_and_stays_a_method() -> None:
    source = """\
        class C:
            global helper
            def helper(self):
                pass
        """
    assert kinds(source) == [("C", "class", None), ("helper", "method", "C")]
    assert sorted(qualnames(source)) == python_qualnames(source)


def test_global_declared_inside_a_block_of_the_enclosing_function_counts() -> None:
    source = """\
        def f(flag):
            if flag:
                global g
            def g():
                pass
        """
    assert qualnames(source) == ["f", "g"] == python_qualnames(source)


def test_global_inside_a_nested_function_does_not_affect_its_siblings() -> None:
    source = """\
        def outer():
            def a():
                global b
            def b():
                pass
        """
    assert qualnames(source) == ["outer", "outer.<locals>.a", "outer.<locals>.b"]
    assert sorted(qualnames(source)) == python_qualnames(source)


def test_global_of_another_name_does_not_make_a_definition_bare() -> None:
    source = """\
        def f():
            global other
            def g():
                pass
        """
    assert qualnames(source) == ["f", "f.<locals>.g"] == python_qualnames(source)


def test_definitions_after_a_return_still_count() -> None:
    # CPython's compiler drops unreachable code (so co_qualname cannot be asked here);
    # the definition is still in the source and in ast.
    source = """\
        def f():
            return 1
            def unreachable():
                pass
        """
    assert rows(source) == [("f", "function", 1, 1, 4), ("f.<locals>.unreachable", "function", 3, 3, 4)]
    assert our_lines(source) == ast_lines(source)


def test_definitions_inside_compound_statements_belong_to_the_enclosing_scope() -> None:
    source = """\
        if flag:
            def in_if(): pass
        elif other:
            def in_elif(): pass
        else:
            def in_else(): pass
        try:
            def in_try(): pass
        except ValueError:
            def in_except(): pass
        else:
            def in_try_else(): pass
        finally:
            def in_finally(): pass
        with ctx() as c:
            def in_with(): pass
        for i in items:
            def in_for(): pass
        else:
            def in_for_else(): pass
        while running:
            def in_while(): pass
        match command:
            case "go":
                def in_case(): pass
            case _:
                class InDefaultCase: pass
        """
    assert rows(source) == [
        ("in_if", "function", 2, 2, 2),
        ("in_elif", "function", 4, 4, 4),
        ("in_else", "function", 6, 6, 6),
        ("in_try", "function", 8, 8, 8),
        ("in_except", "function", 10, 10, 10),
        ("in_try_else", "function", 12, 12, 12),
        ("in_finally", "function", 14, 14, 14),
        ("in_with", "function", 16, 16, 16),
        ("in_for", "function", 18, 18, 18),
        ("in_for_else", "function", 20, 20, 20),
        ("in_while", "function", 22, 22, 22),
        ("in_case", "function", 25, 25, 25),
        ("InDefaultCase", "class", 27, 27, 27),
    ]
    assert sorted(qualnames(source)) == python_qualnames(source)


def test_definition_inside_except_star_block() -> None:
    source = """\
        try:
            pass
        except* OSError:
            def handler(): pass
        """
    assert rows(source) == [("handler", "function", 4, 4, 4)]


def test_functions_in_blocks_of_a_class_body_are_methods() -> None:
    source = """\
        class C:
            if TYPE_CHECKING:
                def m(self): pass
            else:
                try:
                    def n(self): pass
                except ImportError:
                    pass
        """
    assert kinds(source) == [("C", "class", None), ("C.m", "method", "C"), ("C.n", "method", "C")]
    assert sorted(qualnames(source)) == python_qualnames(source)


def test_blocks_inside_a_function_keep_locals_qualnames() -> None:
    source = """\
        def f():
            for x in range(3):
                with open(x) as fh:
                    def g(): pass
        """
    assert qualnames(source) == ["f", "f.<locals>.g"] == python_qualnames(source)


def test_async_functions_and_methods_are_marked_async() -> None:
    source = """\
        async def fetch(url):
            async def inner():
                pass


        class Client:
            async def get(self):
                pass

            def close(self):
                pass
        """
    assert [(d.qualname, d.kind, d.is_async) for d in parsed(source).definitions] == [
        ("fetch", "function", True),
        ("fetch.<locals>.inner", "function", True),
        ("Client", "class", False),
        ("Client.get", "method", True),
        ("Client.close", "method", False),
    ]
    assert sorted(qualnames(source)) == python_qualnames(source)


def test_lambdas_are_not_definitions() -> None:
    source = """\
        square = lambda x: x * x


        def apply(fn=lambda v: v):
            return (lambda: fn)()
        """
    assert rows(source) == [("apply", "function", 4, 4, 5)]
    assert qualnames(source) == python_qualnames(source)


def test_parent_ordinal_links_each_row_to_its_enclosing_definition() -> None:
    source = """\
        class A:
            def m(self):
                def h():
                    pass

            class B:
                pass


        def f():
            pass
        """
    assert [(d.ordinal, d.parent_ordinal, d.qualname) for d in parsed(source).definitions] == [
        (0, None, "A"),
        (1, 0, "A.m"),
        (2, 1, "A.m.<locals>.h"),
        (3, 0, "A.B"),
        (4, None, "f"),
    ]


def test_qualnames_of_a_mixed_module_agree_with_cpython() -> None:
    source = """\
        import functools


        class Model:
            class Meta:
                ordering = ["id"]

            @functools.cached_property
            def total(self):
                def add(a, b):
                    class Acc:
                        def step(self): pass
                    return a + b
                return add

            @staticmethod
            async def load():
                global loader
                def loader(): pass


        def factory():
            class Product:
                def describe(self):
                    return (lambda: [x for x in ()])()
            return Product
        """
    assert sorted(qualnames(source)) == python_qualnames(source)
    assert our_lines(source) == ast_lines(source)


def test_non_ascii_identifiers_are_nfkc_normalized_like_python() -> None:
    source = "def \ufb01():\n    pass\n\n\nclass \u210c:\n    def \ufb00(self):\n        pass\n"
    assert python_qualnames(source) == ["H", "H.ff", "fi"]
    assert qualnames(source) == ["fi", "H", "H.ff"]


def test_non_ascii_identifiers_that_are_already_normalized_are_kept() -> None:
    source = "def caf\u00e9():\n    pass\n"
    assert unicodedata.is_normalized("NFKC", "caf\u00e9")
    assert qualnames(source) == ["caf\u00e9"] == python_qualnames(source)


def test_global_declaration_matches_a_private_name_after_mangling() -> None:
    source = """\
        class C:
            global _C__g
            def __g(self):
                pass
        """
    assert python_qualnames(source) == ["C", "__g"]
    assert qualnames(source) == ["C", "__g"]


# --- lines and bodies -------------------------------------------------------------------


def test_decorated_definition_starts_at_its_first_decorator() -> None:
    source = """\
        import functools


        @functools.cache
        @staticmethod
        def f():
            return 1
        """
    assert rows(source) == [("f", "function", 6, 4, 7)]
    assert definition(source, "f").body == "@functools.cache\n@staticmethod\ndef f():\n    return 1"
    assert our_lines(source) == ast_lines(source)


def test_decorated_class_and_method_start_at_their_decorators() -> None:
    source = """\
        @dataclass
        class C:
            x: int

            @property
            def double(self):
                return self.x * 2
        """
    assert rows(source) == [("C", "class", 2, 1, 7), ("C.double", "method", 6, 5, 7)]
    assert definition(source, "C.double").body == "    @property\n    def double(self):\n        return self.x * 2"


def test_multi_line_decorator_starts_at_its_first_line() -> None:
    source = """\
        @register(
            "name",
            priority=1,
        )
        def handler():
            pass
        """
    assert rows(source) == [("handler", "function", 5, 1, 6)]
    assert definition(source, "handler").decorators == ['register("name", priority=1)']
    assert our_lines(source) == ast_lines(source)


def test_comment_between_decorator_and_def_is_inside_the_body() -> None:
    source = """\
        @decorate
        # explains the decorator
        def f():
            pass
        """
    assert rows(source) == [("f", "function", 3, 1, 4)]
    assert definition(source, "f").body == "@decorate\n# explains the decorator\ndef f():\n    pass"


def test_trailing_comment_lines_are_excluded_from_end_line_and_body() -> None:
    source = """\
        def f():
            # a comment before code is part of the body
            return 1
            # trailing, indented like the body
                # trailing, deeper


        # a module comment
        def g():
            pass
        """
    assert rows(source) == [("f", "function", 1, 1, 3), ("g", "function", 9, 9, 10)]
    assert definition(source, "f").body == "def f():\n    # a comment before code is part of the body\n    return 1"
    assert our_lines(source) == ast_lines(source)


def test_a_class_ends_at_the_last_code_line_of_its_last_method() -> None:
    source = """\
        class C:
            def m(self):
                return 1
                # end of m

            # end of C
        x = 1
        """
    assert rows(source) == [("C", "class", 1, 1, 3), ("C.m", "method", 2, 2, 3)]
    assert our_lines(source) == ast_lines(source)


def test_a_multi_line_last_statement_ends_at_its_closing_bracket() -> None:
    source = """\
        def f():
            return [
                1,
                # a comment inside the brackets
            ]  # and one after
        """
    assert rows(source) == [("f", "function", 1, 1, 5)]
    assert our_lines(source) == ast_lines(source)


def test_a_string_holding_a_hash_at_line_start_is_code_not_a_comment() -> None:
    source = '''\
        def f():
            return """
        # not a comment
        """
            # a real comment
        '''
    assert rows(source) == [("f", "function", 1, 1, 4)]
    assert our_lines(source) == ast_lines(source)


def test_a_backslash_continuation_into_a_comment_line_ends_at_the_code_line() -> None:
    # sympy 1.14.0 test_solvers.py test_guess_rational_cv: tree-sitter keeps the
    # line_continuation and the comment after it inside the definition's node.
    source = """\
        def f():
            assert g( (x + 1), x ) \\
                #== GS_RATIONAL_CV_1


        class C:
            def m(self):
                return 1 \\
                    # x
            # y
        """
    assert rows(source) == [("f", "function", 1, 1, 2), ("C", "class", 6, 6, 8), ("C.m", "method", 7, 7, 8)]
    assert definition(source, "f").body == "def f():\n    assert g( (x + 1), x ) \\"
    assert our_lines(source) == ast_lines(source)


def test_body_is_exactly_the_source_lines_without_the_final_newline() -> None:
    source = "x = 1\ndef f(a):\n\n    return a\ny = 2\n"
    module = parsed(source.encode())
    [f] = module.definitions
    assert f.body == "def f(a):\n\n    return a"
    assert f.body == "\n".join(source.splitlines()[f.start_line - 1 : f.end_line])


def test_body_of_the_last_definition_in_a_file_without_trailing_newline() -> None:
    assert definition(b"def f():\n    return 1", "f").body == "def f():\n    return 1"


def test_body_keeps_indentation_of_a_nested_definition() -> None:
    source = """\
        class C:
            def m(self):
                pass
        """
    assert definition(source, "C.m").body == "    def m(self):\n        pass"


def test_crlf_bodies_keep_inner_carriage_returns_but_not_the_final_one() -> None:
    data = b"def f():\r\n    return 1\r\n\r\nclass C:\r\n    pass\r\n"
    module = parse_module("mod.py", data)
    assert module.parse_status == "ok"
    assert [(d.qualname, d.def_line, d.end_line, d.body) for d in module.definitions] == [
        ("f", 1, 2, "def f():\r\n    return 1"),
        ("C", 4, 5, "class C:\r\n    pass"),
    ]
    assert module.source == data.decode()
    assert module.line_count == 5


def test_one_line_definitions_start_and_end_on_their_def_line() -> None:
    source = """\
        def f(): pass
        class C: x = 1; y = 2
        """
    assert rows(source) == [("f", "function", 1, 1, 1), ("C", "class", 2, 2, 2)]
    assert definition(source, "f").body == "def f(): pass"
    assert definition(source, "f").signature == "def f()"


def test_form_feed_lines_inside_a_body() -> None:
    source = "def f():\n\x0c\n    return 1\n\x0c\ndef g():\n    pass\n"
    assert rows(source.encode()) == [("f", "function", 1, 1, 3), ("g", "function", 5, 5, 6)]
    assert our_lines(source) == ast_lines(source)


def test_lone_carriage_return_line_endings_give_exact_bodies_and_line_count() -> None:
    data = b"def f():\r    return 1\rdef g():\r    pass\r"
    module = parse_module("mod.py", data)
    assert our_lines(data) == ast_lines(data) == [("f", 1, 1, 2), ("g", 3, 3, 4)]
    assert [(d.qualname, d.body) for d in module.definitions] == [
        ("f", "def f():\r    return 1"),
        ("g", "def g():\r    pass"),
    ]
    assert module.line_count == 4


# --- signature, decorators, bases ---------------------------------------------------------


def test_signature_is_the_header_without_the_colon() -> None:
    source = """\
        def f(a, b=1) -> int:
            return a + b
        """
    assert definition(source, "f").signature == "def f(a, b=1) -> int"


def test_multi_line_signature_is_folded_onto_one_line_without_comments() -> None:
    source = """\
        def f(
            a,  # first
            b: int = 1,
            *args,
            # a comment line
            **kwargs,
        ) -> dict[str, int]:
            pass
        """
    assert definition(source, "f").signature == "def f(a, b: int = 1, *args, **kwargs) -> dict[str, int]"


def test_signature_keeps_colons_inside_annotations_and_defaults() -> None:
    source = """\
        def f(a: "x: y" = {1: 2}, /, key=lambda v: v[1:], *, flag: bool = False) -> "int":
            pass
        """
    assert (
        definition(source, "f").signature
        == 'def f(a: "x: y" = {1: 2}, /, key=lambda v: v[1:], *, flag: bool = False) -> "int"'
    )


def test_characters_str_splitlines_breaks_at_stay_inside_a_recovered_signature() -> None:
    # Python ends lines at \r\n, \r and \n only; \u2028, \x0c and \x85 are ordinary
    # characters of a string. `(bar.\nbaz)` sends the file down the ast path.
    source = "def f(a='x\u2028y',\n      b='\x0c', c='\x85'):\n    (bar.\nbaz)\n"
    module = parsed(source.encode())
    assert module.parse_status == "recovered"
    assert [d.signature for d in module.definitions] == ["def f(a='x\u2028y', b='\x0c', c='\x85')"]


def test_a_signature_over_lone_carriage_returns_is_folded_onto_one_line() -> None:
    data = b"def f(a,  # first\r      b=1):\r    return a\r"
    module = parse_module("mod.py", data)
    assert module.parse_status == "recovered"
    assert [d.signature for d in module.definitions] == ["def f(a, b=1)"]


def test_async_signature_starts_with_async() -> None:
    assert definition("async def fetch(url, *, timeout=None): pass\n", "fetch").signature == (
        "async def fetch(url, *, timeout=None)"
    )


def test_class_signatures() -> None:
    source = """\
        class A:
            pass
        class B():
            pass
        class C(Base, metaclass=M):
            pass
        class D(
            Base,  # the base
            Mixin,
        ):
            pass
        """
    assert [d.signature for d in parsed(source).definitions] == [
        "class A",
        "class B()",
        "class C(Base, metaclass=M)",
        "class D(Base, Mixin)",
    ]


def test_decorators_are_listed_in_order_without_the_at_sign() -> None:
    source = """\
        @app.route("/", methods=["GET"])
        @ login_required  # space after @ and a comment
        @cache[0].wrap
        def index():
            pass
        """
    assert definition(source, "index").decorators == ['app.route("/", methods=["GET"])', "login_required", "cache[0].wrap"]


def test_undecorated_definitions_have_no_decorators() -> None:
    assert definition("def f(): pass\n", "f").decorators == []


def test_bases_are_the_positional_arguments_only() -> None:
    source = """\
        class C(Base, *mixins, metaclass=Meta, **options):
            pass
        """
    assert definition(source, "C").bases == ["Base", "*mixins"]


def test_bases_keep_dotted_and_subscripted_expressions() -> None:
    source = """\
        class C(
            models.Model,  # the ORM base
            Generic[T],
        ):
            pass
        """
    assert definition(source, "C").bases == ["models.Model", "Generic[T]"]


def test_classes_without_bases_and_functions_have_empty_bases() -> None:
    source = """\
        class A:
            def m(self): pass
        class B():
            pass
        class K(metaclass=M):
            pass
        """
    assert [(d.qualname, d.bases) for d in parsed(source).definitions] == [("A", []), ("A.m", []), ("B", []), ("K", [])]


# --- docstrings ---------------------------------------------------------------------------


def docstring_of(body: str) -> str | None:
    """The docstring of `def f():` whose body is `body` (one indented block)."""
    return definition("def f():\n" + textwrap.indent(code(body), "    "), "f").docstring


def python_docstring(body: str) -> str | None:
    source = "def f():\n" + textwrap.indent(code(body), "    ")
    return ast.get_docstring(ast.parse(source).body[0], clean=False)


def test_docstring_is_the_value_of_the_first_statement_string() -> None:
    assert docstring_of('"""Return the answer."""\nreturn 42\n') == "Return the answer."


def test_docstring_escape_sequences_are_decoded() -> None:
    body = r'"Tab\there, newline\n, quote \" and \N{BULLET} \x41"' + "\n"
    assert docstring_of(body) == 'Tab\there, newline\n, quote " and \u2022 A'
    assert docstring_of(body) == python_docstring(body)


def test_raw_docstring_keeps_backslashes() -> None:
    assert docstring_of(r'r"""Match \d+ digits."""' + "\n") == "Match \\d+ digits."


def test_triple_quoted_docstring_is_the_raw_value_without_cleaning() -> None:
    body = '"""Summary.\n\n    Details, indented.\n    """\n'
    # as ast.get_docstring(clean=False): indentation is kept, nothing is stripped.
    assert docstring_of(body) == "Summary.\n\n        Details, indented.\n        "
    assert docstring_of(body) == python_docstring(body)


def test_implicitly_concatenated_docstring_is_joined() -> None:
    body = '"First part, " "second part."\n'
    assert docstring_of(body) == "First part, second part." == python_docstring(body)


def test_unicode_prefixed_docstring_is_a_docstring() -> None:
    assert docstring_of('u"Old style."\n') == "Old style."


@pytest.mark.parametrize(
    "body",
    [
        pytest.param('("Parenthesized.")\n', id="parenthesized"),
        pytest.param('("""Triple."""  # a comment\n)\n', id="parenthesized-with-comment"),
        pytest.param("\"Mixed \" 'quotes.'\n", id="mixed-quote-concatenation"),
    ],
)
def test_parenthesized_and_mixed_quote_docstrings_are_real_string_values(body: str) -> None:
    assert docstring_of(body) == python_docstring(body)


def test_parenthesized_concatenation_with_the_same_quotes_is_a_docstring() -> None:
    body = '(\n    "Split over "\n    "lines, no escapes."  # note\n)\n'
    assert docstring_of(body) == "Split over lines, no escapes." == python_docstring(body)


def test_a_comment_before_the_docstring_does_not_hide_it() -> None:
    assert docstring_of('# a comment\n"""Still the docstring."""\n') == "Still the docstring."


def test_a_string_after_another_statement_is_not_a_docstring() -> None:
    assert docstring_of('x = 1\n"""Not a docstring."""\n') is None


def test_a_string_expression_that_is_not_a_plain_string_is_not_a_docstring() -> None:
    assert docstring_of('"doc".strip()\n') is None
    assert docstring_of('"a", "b"\n') is None


def test_bytes_and_f_strings_are_not_docstrings() -> None:
    for body in ('b"bytes"\n', 'f"formatted"\n', 'rb"raw bytes"\n', '"plain " f"{x}"\n'):
        assert docstring_of(body) is None, body
        assert python_docstring(body) is None, body


def test_definitions_without_a_leading_string_have_no_docstring() -> None:
    assert docstring_of("return 1\n") is None


def test_class_and_method_docstrings() -> None:
    source = '''\
        class C:
            """A class."""

            def m(self):
                \'\'\'A method.\'\'\'
        '''
    assert [(d.qualname, d.docstring) for d in parsed(source).definitions] == [("C", "A class."), ("C.m", "A method.")]


def test_one_line_definition_docstring() -> None:
    assert definition('def f(): "Short."\n', "f").docstring == "Short."


def test_module_docstring_is_the_first_statement_string() -> None:
    source = '''\
        #!/usr/bin/env python
        # a comment before the module docstring
        """The module."""
        import os
        '''
    assert parsed(source).docstring == "The module."


def test_module_without_a_leading_string_has_no_docstring() -> None:
    assert parsed('import os\n"""Too late."""\n').docstring is None


def test_crlf_docstring_value_has_plain_newlines_like_python() -> None:
    data = b'def f():\r\n    """Line one.\r\n    Line two."""\r\n'
    assert definition(data, "f").docstring == "Line one.\n    Line two."
    assert ast.get_docstring(ast.parse(data).body[0], clean=False) == "Line one.\n    Line two."


# --- imports ----------------------------------------------------------------------------


def test_import_dotted_module_with_alias() -> None:
    assert import_rows("import a.b.c as d\n") == [(1, "a.b.c", None, "d", 0, "a.b.c")]


def test_import_of_several_modules_gives_one_row_each() -> None:
    assert import_rows("import x, y.z\n") == [(1, "x", None, None, 0, "x"), (1, "y.z", None, None, 0, "y.z")]


def test_from_import_with_alias_and_parentheses_over_lines() -> None:
    source = """\
        from pkg.mod import (
            one,
            two as deux,
        )
        """
    assert import_rows(source) == [(2, "pkg.mod", "one", None, 0, "pkg.mod"), (3, "pkg.mod", "two", "deux", 0, "pkg.mod")]


def test_relative_import_level_two_resolves_against_the_parent_package() -> None:
    assert import_rows("from ..x import y as z\n", "pkg/sub/mod.py") == [(1, "x", "y", "z", 2, "pkg.x")]


def test_from_dot_import_module_targets_the_importers_package() -> None:
    assert import_rows("from . import m\n", "pkg/sub/mod.py") == [(1, None, "m", None, 1, "pkg.sub")]


def test_star_import_is_one_row_named_star() -> None:
    assert import_rows("from .m import *\n", "pkg/sub/mod.py") == [(1, "m", "*", None, 1, "pkg.sub.m")]


def test_future_import_is_an_import_of_dunder_future() -> None:
    assert import_rows("from __future__ import annotations\n") == [
        (1, "__future__", "annotations", None, 0, "__future__")
    ]


def test_relative_imports_in_a_package_init_resolve_against_the_package_itself() -> None:
    source = """\
        from . import m
        from .m import x
        from .. import up
        """
    assert import_rows(source, "pkg/__init__.py") == [
        (1, None, "m", None, 1, "pkg"),
        (2, "m", "x", None, 1, "pkg.m"),
        (3, None, "up", None, 2, None),
    ]


def test_relative_import_in_a_src_layout_subpackage() -> None:
    assert import_rows("from .. import util\n", "src/pkg/sub/__init__.py") == [(1, None, "util", None, 2, "pkg")]


def test_relative_import_above_the_top_level_package_has_no_target() -> None:
    assert import_rows("from ... import x\n", "pkg/sub/mod.py") == [(1, None, "x", None, 3, None)]
    assert import_rows("from . import x\n", "mod.py") == [(1, None, "x", None, 1, None)]


def test_imports_inside_functions_and_blocks_are_rows_in_source_order() -> None:
    source = """\
        try:
            import json
        except ImportError:
            json = None


        def load():
            import pickle
            from .codecs import decode
        """
    assert import_rows(source, "pkg/mod.py") == [
        (2, "json", None, None, 0, "json"),
        (8, "pickle", None, None, 0, "pickle"),
        (9, "codecs", "decode", None, 1, "pkg.codecs"),
    ]


def test_import_rows_match_ast() -> None:
    source = code(
        """\
        from __future__ import annotations
        import os.path as osp, sys
        from ..a.b import (c, d as e)
        from . import f
        from .g import *
        def h():
            import i
        """
    )
    expected = [
        (alias.lineno, alias.name if isinstance(node, ast.Import) else node.module,
         None if isinstance(node, ast.Import) else alias.name, alias.asname,
         0 if isinstance(node, ast.Import) else node.level)
        for node in ast.walk(ast.parse(source)) if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    ]
    assert [row[:5] for row in import_rows(source, "pkg/sub/mod.py")] == sorted(expected)


# --- statuses, encodings, limits -----------------------------------------------------------


def test_valid_code_is_ok_without_error() -> None:
    module = parsed("def f():\n    pass\n")
    assert (module.parse_status, module.parse_error) == ("ok", None)


def test_module_row_fields_for_a_plain_file() -> None:
    data = b'"""Doc."""\nx = 1\n'
    module = parse_module("pkg/mod.py", data)
    assert (module.path, module.name, module.is_package, module.docstring, module.source, module.line_count) == (
        "pkg/mod.py",
        "pkg.mod",
        False,
        "Doc.",
        '"""Doc."""\nx = 1\n',
        2,
    )
    assert module.encoding == "utf-8"
    assert module.content_hash == hashlib.blake2b(data, digest_size=16).hexdigest()
    assert parse_module("pkg/mod.py", data + b"\n").content_hash != module.content_hash


def test_module_naming_follows_the_path() -> None:
    module = parse_module("src/pkg/__init__.py", b"")
    assert (module.name, module.is_package) == ("pkg", True)


RECOVERED_SOURCE = """\
    def f():
        (bar.
    baz)
        return 1


    class C:
        @property
        def m(self):
            pass
    """


def test_code_tree_sitter_cannot_parse_but_ast_can_is_recovered_with_exact_rows() -> None:
    # an attribute continued on a dedented line inside brackets is valid Python
    data = code(RECOVERED_SOURCE).encode()
    assert extract_treesitter.parse_tree(data).root_node.has_error
    module = parse_module("mod.py", data)
    assert (module.parse_status, module.parse_error) == ("recovered", None)
    assert [(d.qualname, d.kind, d.def_line, d.start_line, d.end_line, d.signature, d.decorators) for d in module.definitions] == [
        ("f", "function", 1, 1, 4, "def f()", []),
        ("C", "class", 7, 7, 10, "class C", []),
        ("C.m", "method", 9, 8, 10, "def m(self)", ["property"]),
    ]
    assert definition(data, "f").body == "def f():\n    (bar.\nbaz)\n    return 1"


def test_from_future_import_star_is_recovered_through_ast() -> None:
    # a compile-time error for Python, but ast parses it; tree-sitter does not.
    data = b'"""Doc."""\nfrom __future__ import *\n\ndef f(x):\n    return x\n'
    module = parse_module("mod.py", data)
    assert module.parse_status == "recovered"
    assert module.docstring == "Doc."
    assert [(d.qualname, d.def_line, d.end_line) for d in module.definitions] == [("f", 4, 5)]
    assert import_rows(data) == [(2, "__future__", "*", None, 0, "__future__")]


STDLIB_TEST_COMPILE = Path(sysconfig.get_paths()["stdlib"]) / "test" / "test_compile.py"


@pytest.mark.skipif(not STDLIB_TEST_COMPILE.is_file(), reason="the interpreter ships without its test suite")
def test_stdlib_test_compile_is_recovered_with_rows_equal_to_pythons() -> None:
    data = STDLIB_TEST_COMPILE.read_bytes()
    module = parse_module("test/test_compile.py", data)
    assert module.parse_status == "recovered"
    assert our_lines(data) == ast_lines(data)
    assert sorted(d.qualname for d in module.definitions) == python_qualnames(data)
    lines = data.decode().split("\n")
    for d in module.definitions:
        assert d.body == "\n".join(lines[d.start_line - 1 : d.end_line]), d.qualname


def test_invalid_python_is_partial_with_the_syntax_error_and_recovered_definitions() -> None:
    source = code(
        """\
        def broken(:
            pass


        class Fine:
            def m(self):
                return 1
        """
    )
    module = parsed(source)
    assert module.parse_status == "partial"
    assert module.parse_error == syntax_error_note(source) == "SyntaxError: invalid syntax (line 1)"
    # best effort: tree-sitter's error-tolerant tree still yields every definition
    assert [(d.qualname, d.kind, d.def_line, d.start_line, d.end_line, d.signature) for d in module.definitions] == [
        ("broken", "function", 1, 1, 2, "def broken("),
        ("Fine", "class", 5, 5, 7, "class Fine"),
        ("Fine.m", "method", 6, 6, 7, "def m(self)"),
    ]


def test_unclosed_bracket_is_partial_and_later_definitions_are_still_found() -> None:
    source = "class C:\n    def m(self):\n        return [\n\n\ndef g():\n    pass\n"
    module = parsed(source.encode())
    assert module.parse_status == "partial"
    assert module.parse_error == syntax_error_note(source) == "SyntaxError: '[' was never closed (line 3)"
    assert rows(source.encode()) == [("C", "class", 1, 1, 3), ("C.m", "method", 2, 2, 3), ("g", "function", 6, 6, 7)]


def test_nul_bytes_skip_the_file_as_binary() -> None:
    data = b"x = 1\x00\ndef f(): pass\n"
    module = parse_module("pkg/blob.py", data)
    assert (module.parse_status, module.parse_error) == ("skipped", "binary file: it contains NUL bytes")
    assert (module.name, module.definitions, module.imports, module.source, module.line_count) == ("pkg.blob", [], [], "", 0)
    assert module.content_hash == hashlib.blake2b(data, digest_size=16).hexdigest()


def test_skipped_module_carries_the_reason_and_no_rows() -> None:
    module = skipped_module("pkg/__init__.py", "too large: 99 MB")
    assert (module.name, module.is_package, module.parse_status, module.parse_error) == ("pkg", True, "skipped", "too large: 99 MB")
    assert (module.definitions, module.imports, module.source, module.content_hash) == ([], [], "", "")


def test_empty_file_is_ok_with_no_rows() -> None:
    module = parse_module("empty.py", b"")
    assert (module.parse_status, module.parse_error, module.line_count, module.docstring) == ("ok", None, 0, None)
    assert (module.definitions, module.imports, module.source) == ([], [], "")


@pytest.mark.parametrize(
    ("data", "line_count"),
    [
        (b"x = 1", 1),
        (b"x = 1\n", 1),
        (b"x = 1\ny = 2", 2),
        (b"x = 1\ny = 2\n", 2),
        (b"x = 1\ny = 2\n\n", 3),
        (b"\n", 1),
        (b"x = 1\r\ny = 2\r\n", 2),
    ],
)
def test_line_count_counts_lines_with_or_without_a_trailing_newline(data: bytes, line_count: int) -> None:
    assert parse_module("mod.py", data).line_count == line_count


def test_pep_263_cookie_decodes_latin_1() -> None:
    data = b'# -*- coding: latin-1 -*-\ndef f():\n    "Caf\xe9 cr\xe8me."\n'
    encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    module = parse_module("mod.py", data)
    assert module.encoding == encoding == "iso-8859-1"
    assert (module.parse_status, module.parse_error) == ("ok", None)
    assert definition(data, "f").docstring == "Caf\u00e9 cr\u00e8me."
    assert module.source == data.decode("latin-1")
    assert definition(data, "f").body == 'def f():\n    "Caf\u00e9 cr\u00e8me."'


def test_invalid_utf8_is_replaced_and_noted_while_rows_stay_right() -> None:
    data = b'def f():\n    "bad \xff byte"\n    return 1\n\n\ndef g():\n    pass\n'
    module = parse_module("mod.py", data)
    assert module.parse_status == "ok"
    assert module.parse_error == "undecodable bytes replaced with U+FFFD (utf-8: invalid start byte at byte 18)"
    assert rows(data) == [("f", "function", 1, 1, 3), ("g", "function", 6, 6, 7)]
    assert definition(data, "f").docstring == "bad \ufffd byte"
    assert "\ufffd" in module.source


def test_utf8_bom_is_not_part_of_the_source_and_lines_are_unchanged() -> None:
    data = b'\xef\xbb\xbf"""Doc."""\ndef f():\n    pass\n'
    module = parse_module("mod.py", data)
    assert (module.parse_status, module.encoding, module.docstring) == ("ok", "utf-8-sig", "Doc.")
    assert module.source == '"""Doc."""\ndef f():\n    pass\n'
    assert rows(data) == [("f", "function", 2, 2, 3)]


def test_unknown_cookie_encoding_falls_back_to_utf8_with_a_note() -> None:
    module = parse_module("mod.py", b"# coding: no-such-codec\ndef f(): pass\n")
    assert (module.encoding, module.parse_error) == ("utf-8", "unknown encoding: no-such-codec; decoded as UTF-8")
    assert [(d.qualname, d.def_line) for d in module.definitions] == [("f", 2)]


def test_decode_reports_text_encoding_and_note() -> None:
    assert decode(b"x = 1\n") == ("x = 1\n", "utf-8", None)
    assert decode(b"\xef\xbb\xbfx = 1\n") == ("x = 1\n", "utf-8-sig", None)
    assert decode(b"# coding: latin-1\nx = '\xe9'\n") == ("# coding: latin-1\nx = '\u00e9'\n", "iso-8859-1", None)
    assert decode(b"x = 1\ny = '\xc3'\n") == (
        "x = 1\ny = '\ufffd'\n",
        "utf-8",
        "undecodable bytes replaced with U+FFFD (utf-8: invalid continuation byte at byte 11)",
    )


def test_undecodable_bytes_where_a_cookie_could_be_are_reported_as_a_bad_declaration() -> None:
    # tokenize.detect_encoding reads the first line (and the second after a comment line)
    # as UTF-8 while looking for a PEP 263 cookie, and refuses bytes it cannot decode.
    assert decode(b"x = '\xc3'\n") == ("x = '\ufffd'\n", "utf-8", "invalid or missing encoding declaration; decoded as UTF-8")
    assert decode(b"# c\ny = '\xc3'\n")[2] == "invalid or missing encoding declaration; decoded as UTF-8"


def test_definitions_nested_past_the_depth_limit_are_dropped_and_the_file_is_partial() -> None:
    assert MAX_DEFINITION_DEPTH == 100
    module = parse_module("deep.py", nested_defs(150).encode())
    assert module.parse_status == "partial"
    assert module.parse_error == "definitions nested deeper than 100 levels are not indexed"
    assert len(module.definitions) == 100
    deepest = module.definitions[-1]
    assert (deepest.name, deepest.def_line, deepest.parent_ordinal) == ("f99", 100, 98)
    assert deepest.qualname == ".<locals>.".join(f"f{level}" for level in range(100))


def test_definitions_at_exactly_the_depth_limit_are_all_kept() -> None:
    module = parse_module("deep.py", nested_defs(MAX_DEFINITION_DEPTH).encode())
    assert len(module.definitions) == MAX_DEFINITION_DEPTH
    # tree-sitter's tree is clean, so the file is ok (Python itself stops at 100 levels of
    # indentation, which this body reaches; parse_module does not ask it).
    assert (module.parse_status, module.parse_error) == ("ok", None)


def test_five_thousand_nested_parentheses_never_raise() -> None:
    # Python's own parser refuses more than 200 nested brackets; tree-sitter does not, and a
    # clean tree-sitter tree is 'ok' without asking Python.
    balanced = "x = " + "(" * 5000 + "1" + ")" * 5000 + "\n\ndef f():\n    pass\n"
    module = parse_module("deep.py", balanced.encode())
    assert module.parse_status == "ok"
    assert rows(balanced.encode()) == [("f", "function", 3, 3, 4)]


def test_five_thousand_unclosed_parentheses_are_partial_with_pythons_error() -> None:
    unbalanced = "x = " + "(" * 5000 + "1\n\ndef f():\n    pass\n"
    module = parse_module("deep.py", unbalanced.encode())
    assert module.parse_status == "partial"
    assert module.parse_error == syntax_error_note(unbalanced) == "SyntaxError: too many nested parentheses (line 1)"


def test_deeply_nested_expression_in_a_multi_line_signature_never_raises() -> None:
    source = "def f(\n    a=" + "[" * 3000 + "]" * 3000 + ",\n):\n    pass\n"
    [f] = parse_module("deep.py", source.encode()).definitions
    assert f.signature == "def f(a=" + "[" * 3000 + "]" * 3000 + ")"


# --- compact_code -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "compact"),
    [
        ("def f(a, b=1) -> int", "def f(a, b=1) -> int"),
        ("  def f()  ", "def f()"),
        ("def  f( a ,b )", "def  f( a ,b )"),  # one line, no comment: kept as written
        ("def f(\n    a,  # first\n    b,\n) -> int", "def f(a, b) -> int"),
        ("class C(\n    Base,\n    metaclass=M,\n)", "class C(Base, metaclass=M)"),
        ("def f(a,\\\n      b)", "def f(a, b)"),
        ("def f(\n    a\n    , b\n)", "def f(a, b)"),
        ('def f(a="#")  # trailing comment', 'def f(a="#")'),
        ('register(\n    "x",\n    [1,\n     2],\n)', 'register("x", [1, 2])'),
        ("def f(\n    a,", "def f( a,"),  # not tokenizable: lines joined as they are
    ],
)
def test_compact_code_folds_code_onto_one_line_without_comments(text: str, compact: str) -> None:
    assert compact_code(text) == compact


# --- string_value ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("literal", "value"),
    [
        ('"abc"', "abc"),
        ("'abc'", "abc"),
        ('""', ""),
        ('""""""', ""),
        ('"""a\nb"""', "a\nb"),
        ("'''it's'''", "it's"),
        ('"it\'s"', "it's"),
        (r'"a\tb"', "a\tb"),
        (r'"\N{BULLET}"', "\u2022"),
        (r'"\d"', "\\d"),  # an invalid escape keeps its backslash (and only warns)
        (r'r"a\tb"', "a\\tb"),
        (r'R"a\tb"', "a\\tb"),
        ('u"x"', "x"),
        ('U"x"', "x"),
        ('"a" "b"', "ab"),
        ('"a" """b"""', "ab"),
        ('"""a\r\nb"""', "a\nb"),
        ('b"x"', None),
        ('rb"x"', None),
        ('BR"x"', None),
        ('f"x"', None),
        ('F"x"', None),
        ('"a" f"b"', None),
        ("x", None),
        ("1", None),
    ],
)
def test_string_value_is_the_python_value_of_a_str_literal(literal: str, value: str | None) -> None:
    assert string_value(literal) == value


@pytest.mark.parametrize(
    ("literal", "value"),
    [
        ('("doc")', "doc"),
        ('("""doc""")', "doc"),
        ("\"a\" 'b'", "ab"),
        ("'a' \"b\"", "ab"),
    ],
)
def test_string_value_of_parenthesized_and_mixed_quote_literals(literal: str, value: str) -> None:
    assert string_value(literal) == value


def test_string_value_agrees_with_literal_eval_on_a_parenthesized_concatenation() -> None:
    literal = '(\n    "a"  # comment\n    "b"\n)'
    assert string_value(literal) == ast.literal_eval(literal) == "ab"
