"""Cross-references: each resolution rule on a small package, and answers that stay true
when a target is renamed, deleted or re-exported elsewhere and only one file is re-read."""

from __future__ import annotations

import textwrap
from pathlib import Path

import psycopg
import pytest

from coderows.indexer.pipeline import index_repository, refresh_paths
from coderows.indexer.resolve import RepoNames, Resolver

SHOP = {
    "shop/__init__.py": """\
        from .models import Model, Order
        from .util import *
        from . import util as helpers
        """,
    "shop/base.py": """\
        class Root:
            def save(self):
                return 1

            def clean(self):
                pass


        class Mixin:
            def clean(self):
                pass
        """,
    "shop/models.py": """\
        from shop.base import Root, Mixin


        class Model(Root):
            def save(self):
                self.clean()
                return super().save()


        class Order(Mixin, Model):
            def total(self):
                return price(self)


        def price(order):
            return 1
        """,
    "shop/util.py": """\
        import shop.models
        from shop import models as m

        __all__ = ["fmt"]


        def fmt(value):
            return str(value)


        def use_them():
            order = m.Order()
            order.save()
            shop.models.price(order)
            return fmt
        """,
    "app.py": """\
        import shop
        from shop import Order, fmt, helpers
        from shop.models import price as cost


        def decorate(f):
            return f


        @decorate
        def main():
            def fmt(x):
                return x

            fmt(1)
            shop.Model().save()
            helpers.fmt(Order())
            cost(None)
            len([])
            something.unknown()


        class Special(Order):
            def total(self):
                return super().total()
        """,
}


def write_tree(root: Path, files: dict[str, str]) -> None:
    for path, content in files.items():
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(textwrap.dedent(content))


@pytest.fixture
def shop(tmp_path: Path, conn: psycopg.Connection) -> Path:
    root = tmp_path / "repo"
    write_tree(root, SHOP)
    index_repository(conn, root, jobs=1)
    return root


def uses_of(conn: psycopg.Connection, full_name: str) -> list[tuple[str, int, int, str, str, str]]:
    return conn.execute(
        "SELECT path, line, col, kind, name, source_full_name FROM usages"
        " WHERE target_full_name = %s ORDER BY path, line, col",
        [full_name],
    ).fetchall()


def target_at(conn: psycopg.Connection, path: str, line: int, name: str) -> str | None:
    rows = conn.execute(
        "SELECT target_full_name FROM usages WHERE path = %s AND line = %s AND name = %s", [path, line, name]
    ).fetchall()
    assert len(rows) == 1, rows
    return rows[0][0]


# --- rules ---------------------------------------------------------------------------


def test_a_module_level_function_called_in_its_own_module(shop: Path, conn: psycopg.Connection) -> None:
    assert target_at(conn, "shop/models.py", 12, "price") == "shop.models.price"


def test_self_attribute_found_through_the_bases_in_mro_order(shop: Path, conn: psycopg.Connection) -> None:
    # Model(Root): clean is Root's.
    assert target_at(conn, "shop/models.py", 6, "self.clean") == "shop.base.Root.clean"


def test_super_skips_the_class_itself(shop: Path, conn: psycopg.Connection) -> None:
    assert target_at(conn, "shop/models.py", 7, "super().save") == "shop.base.Root.save"


def test_super_in_a_subclass_of_an_imported_class(shop: Path, conn: psycopg.Connection) -> None:
    assert target_at(conn, "app.py", 25, "super().total") == "shop.models.Order.total"


def test_import_through_a_package_reexport_targets_the_defining_module(shop: Path, conn: psycopg.Connection) -> None:
    assert conn.execute(
        "SELECT target, target_full_name FROM usages WHERE path = 'app.py' AND line = 2 AND name = 'Order'"
    ).fetchall() == [("shop.Order", "shop.models.Order")]


def test_a_name_reexported_by_a_star_import(shop: Path, conn: psycopg.Connection) -> None:
    assert target_at(conn, "app.py", 2, "fmt") == "shop.util.fmt"


def test_an_as_alias_of_a_function(shop: Path, conn: psycopg.Connection) -> None:
    assert target_at(conn, "app.py", 18, "cost") == "shop.models.price"


def test_an_as_alias_of_a_module(shop: Path, conn: psycopg.Connection) -> None:
    assert target_at(conn, "shop/util.py", 12, "m.Order") == "shop.models.Order"
    assert target_at(conn, "app.py", 17, "helpers.fmt") == "shop.util.fmt"


def test_a_dotted_module_path(shop: Path, conn: psycopg.Connection) -> None:
    assert target_at(conn, "shop/util.py", 14, "shop.models.price") == "shop.models.price"


def test_calling_a_class_targets_the_class(shop: Path, conn: psycopg.Connection) -> None:
    assert target_at(conn, "app.py", 16, "shop.Model") == "shop.models.Model"


def test_a_method_of_a_local_bound_to_a_class_instance(shop: Path, conn: psycopg.Connection) -> None:
    # order = m.Order(); order.save(): Order(Mixin, Model) has no save; Model's wins.
    assert target_at(conn, "shop/util.py", 13, "order.save") == "shop.models.Model.save"


def test_mro_prefers_the_first_base_that_defines_the_member(shop: Path, conn: psycopg.Connection) -> None:
    # Order(Mixin, Model): Mixin.clean comes before Root.clean.
    repo_id = conn.execute("SELECT id FROM repos").fetchone()[0]
    full_name, consulted = Resolver(RepoNames(conn, repo_id)).resolve("shop.models.Order.clean")
    assert full_name == "shop.base.Mixin.clean"
    assert {"shop.models", "shop.base"} <= consulted


def test_a_local_function_shadows_the_imported_name(shop: Path, conn: psycopg.Connection) -> None:
    assert target_at(conn, "app.py", 15, "fmt") == "app.main.<locals>.fmt"


def test_decorators_and_bases_have_their_own_kinds(shop: Path, conn: psycopg.Connection) -> None:
    assert uses_of(conn, "app.decorate") == [("app.py", 10, 2, "decorator", "decorate", "app.main")]
    assert ("shop/models.py", 4, 13, "inherit", "Root", "shop.models.Model") in uses_of(conn, "shop.base.Root")


def test_builtins_are_not_recorded_and_unknown_objects_are_name_matches(shop: Path, conn: psycopg.Connection) -> None:
    assert conn.execute("SELECT count(*) FROM usages WHERE name = 'len'").fetchone() == (0,)
    assert conn.execute(
        "SELECT name, target, resolved FROM usages WHERE path = 'app.py' AND line = 20 ORDER BY col"
    ).fetchall() == [("something", None, False), ("something.unknown", None, False)]


def test_columns_are_those_of_the_referenced_name_itself(shop: Path, conn: psycopg.Connection) -> None:
    line = (shop / "shop/models.py").read_text().splitlines()[5]
    assert line[14 - 1 :].startswith("clean")
    assert conn.execute(
        "SELECT col FROM usages WHERE path = 'shop/models.py' AND line = 6 AND name = 'self.clean'"
    ).fetchone() == (14,)


# --- views ---------------------------------------------------------------------------


def test_subclasses_view_is_transitive(shop: Path, conn: psycopg.Connection) -> None:
    assert conn.execute(
        "SELECT subclass_full_name, depth FROM subclasses WHERE base_full_name = 'shop.base.Root' ORDER BY depth, 1"
    ).fetchall() == [("shop.models.Model", 1), ("shop.models.Order", 2), ("app.Special", 3)]


def test_overrides_view(shop: Path, conn: psycopg.Connection) -> None:
    assert conn.execute(
        "SELECT method_full_name, overridden_full_name FROM overrides ORDER BY 1, 2"
    ).fetchall() == [
        ("app.Special.total", "shop.models.Order.total"),
        ("shop.models.Model.save", "shop.base.Root.save"),
    ]


def test_calls_view(shop: Path, conn: psycopg.Connection) -> None:
    assert conn.execute(
        "SELECT caller_full_name, line FROM calls WHERE callee_full_name = 'shop.models.price' ORDER BY 1"
    ).fetchall() == [("app.main", 18), ("shop.models.Order.total", 12), ("shop.util.use_them", 14)]


# --- incremental updates -------------------------------------------------------------


def test_renaming_a_target_leaves_no_stale_answer(shop: Path, conn: psycopg.Connection) -> None:
    models = shop / "shop/models.py"
    models.write_text(models.read_text().replace("def price(order)", "def cost_of(order)"))
    refresh_paths(conn, shop, ["shop/models.py"])
    assert uses_of(conn, "shop.models.price") == []
    assert conn.execute(
        "SELECT count(*) FROM usages WHERE target = 'shop.models.price' AND NOT resolved"
    ).fetchone() == (3,)  # app.py's import and call, util.py's call: now unresolved


def test_deleting_the_defining_file_unresolves_its_uses(shop: Path, conn: psycopg.Connection) -> None:
    (shop / "shop/base.py").unlink()
    index_repository(conn, shop, jobs=1)
    assert uses_of(conn, "shop.base.Root.clean") == []
    assert target_at(conn, "shop/models.py", 6, "self.clean") is None


def test_moving_a_reexported_class_is_followed_without_re_reading_the_users(
    shop: Path, conn: psycopg.Connection
) -> None:
    (shop / "shop/orders.py").write_text("from shop.base import Mixin\n\n\nclass Order(Mixin):\n    pass\n")
    init = shop / "shop/__init__.py"
    init.write_text(init.read_text().replace("from .models import Model, Order", "from .models import Model\nfrom .orders import Order"))
    refresh_paths(conn, shop, ["shop/orders.py", "shop/__init__.py"])
    # app.py was not re-read; its `from shop import Order` now resolves to the new home.
    assert target_at(conn, "app.py", 2, "Order") == "shop.orders.Order"


def test_a_new_definition_resolves_uses_that_named_it_before_it_existed(shop: Path, conn: psycopg.Connection) -> None:
    assert target_at(conn, "app.py", 20, "something.unknown") is None
    util = shop / "shop/util.py"
    util.write_text(util.read_text() + "\n\ndef later():\n    pass\n")
    (shop / "caller.py").write_text("from shop.util import later\n\nlater()\n")
    index_repository(conn, shop, jobs=1)
    assert target_at(conn, "caller.py", 3, "later") == "shop.util.later"
    # And one more edit: the callee disappears again.
    util.write_text(util.read_text().replace("def later():", "def sooner():"))
    refresh_paths(conn, shop, ["shop/util.py"])
    assert target_at(conn, "caller.py", 3, "later") is None


def test_a_whole_repository_run_resolves_everything_at_its_end(shop: Path, conn: psycopg.Connection) -> None:
    assert conn.execute("SELECT count(*) FROM resolutions WHERE stale").fetchone() == (0,)
    assert conn.execute("SELECT count(*) FROM unresolved_modules").fetchone() == (0,)
    assert conn.execute(
        "SELECT count(*) FROM name_uses u WHERE target IS NOT NULL AND NOT EXISTS ("
        " SELECT FROM resolutions r WHERE r.target = u.target AND r.via_super = u.via_super)"
    ).fetchone() == (0,)


def test_outline_lists_inherited_members_nearest_base_first(shop: Path, conn: psycopg.Connection) -> None:
    from coderows.server import lookup, references

    special = lookup.match_name(conn, "app.Special").matches[0]
    inherited = [(member.full_name, owner) for member, owner in references.inherited_members(conn, special)]
    assert inherited == [
        ("shop.base.Mixin.clean", "shop.base.Mixin"),
        ("shop.models.Model.save", "shop.models.Model"),
    ]


def test_instances_are_paired_with_their_own_assignment(tmp_path: Path, conn: psycopg.Connection) -> None:
    body = "".join(f"def f{i}():\n    x{i} = A{i}()\n    x{i}.go()\n\n\n" for i in range(30))
    classes = "".join(f"class A{i}:\n    def go(self):\n        pass\n\n\n" for i in range(30))
    write_tree(tmp_path / "r", {"m.py": classes + body})
    index_repository(conn, tmp_path / "r", jobs=1)
    assert conn.execute(
        "SELECT count(*) FROM usages WHERE name LIKE 'x%%.go' AND target_full_name = 'm.A' || substr(name, 2, length(name) - 4) || '.go'"
    ).fetchone() == (30,)


# --- the parse stage alone: bytes in, uses out -----------------------------------------


def parsed_uses(source: str) -> list[tuple[int, int, str, str, str | None]]:
    from coderows.indexer.parse import parse_module

    module = parse_module("pkg/mod.py", textwrap.dedent(source).encode("utf-8"))
    return [(u.line, u.col, u.kind, u.name, u.target) for u in module.uses]


def test_columns_count_characters_not_bytes() -> None:
    assert parsed_uses("def f():\n    pass\n\nx = ('é', f())\n") == [(4, 11, "call", "f", "pkg.mod.f")]


def test_a_class_body_name_is_not_visible_in_its_methods() -> None:
    uses = parsed_uses(
        """\
        def helper():
            pass


        class C:
            helper = 1

            def m(self):
                return helper()
        """
    )
    assert uses == [(9, 16, "call", "helper", "pkg.mod.helper")]


def test_a_parameter_shadows_a_module_level_function() -> None:
    assert parsed_uses("def f():\n    pass\n\ndef g(f):\n    return f()\n") == []


def test_global_declaration_sends_the_name_to_the_module() -> None:
    uses = parsed_uses("def f():\n    pass\n\ndef g():\n    global f\n    f = 1\n    f()\n")
    assert uses == [(7, 5, "call", "f", "pkg.mod.f")]


def test_an_edit_inside_a_body_leaves_every_resolution_alone(shop: Path, conn: psycopg.Connection) -> None:
    def versions() -> list[tuple[str, str]]:
        return conn.execute(
            "SELECT a.target, p.xmin::text FROM repo_answers p JOIN answers a ON a.id = p.answer_id"
            " ORDER BY a.target, a.via_super"
        ).fetchall()

    before = versions()
    base = shop / "shop/base.py"
    base.write_text(base.read_text().replace("return 1", "# a comment\n        return 2"))
    refresh_paths(conn, shop, ["shop/base.py"])
    assert versions() == before
    base.write_text(base.read_text().replace("class Mixin:", "class Mixin(Root):"))
    refresh_paths(conn, shop, ["shop/base.py"])
    assert versions() != before  # a base class changed: what consulted shop.base is redone


def test_a_run_killed_before_its_end_is_resolved_by_the_next_one(
    tmp_path: Path, conn: psycopg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    from coderows.indexer import load, pipeline

    write_tree(tmp_path / "r", SHOP)
    monkeypatch.setattr(pipeline, "BATCH_FILES", 2)  # several batches, each resolve=False
    monkeypatch.setattr(load, "resolve_stale", lambda conn, repo_id: None)  # "killed" before the end
    index_repository(conn, tmp_path / "r", jobs=1)
    assert conn.execute("SELECT count(*) FROM usages WHERE resolved").fetchone() == (0,)
    monkeypatch.undo()
    index_repository(conn, tmp_path / "r", jobs=1)  # nothing changed on disk
    assert target_at(conn, "app.py", 2, "Order") == "shop.models.Order"
    assert conn.execute("SELECT count(*) FROM unresolved_modules").fetchone() == (0,)


FLOW = {
    "flow/__init__.py": "",
    "flow/resp.py": """\
        from typing import Self


        class Response:
            def send(self):
                pass

            @classmethod
            def empty(cls) -> Self:
                return cls()


        def make() -> "Response":
            return Response()
        """,
    "flow/use.py": """\
        from flow.resp import Response, make


        def rebound():
            r = Response()
            r.send()
            r = Response()
            r.send()


        def returned():
            r = make()
            r.send()
            e = Response.empty()
            e.send()


        def local_class():
            class Special(Response):
                pass

            Special().send()
            s = Special()
            s.send()


        def imported_inside():
            from flow.resp import make as build

            return build()


        class Holder:
            def outer(self):
                def inner():
                    return self.outer()

                return inner


        def chained():
            make().send()
            Response.empty().send()
        """,
}


@pytest.fixture
def flow(tmp_path: Path, conn: psycopg.Connection) -> Path:
    root = tmp_path / "flow-repo"
    write_tree(root, FLOW)
    index_repository(conn, root, jobs=1)
    return root


def test_a_local_takes_its_nearest_binding_before_the_use(flow: Path, conn: psycopg.Connection) -> None:
    assert target_at(conn, "flow/use.py", 6, "r.send") == "flow.resp.Response.send"
    assert target_at(conn, "flow/use.py", 8, "r.send") == "flow.resp.Response.send"


def test_what_a_function_returns_is_the_class_its_annotation_names(flow: Path, conn: psycopg.Connection) -> None:
    assert target_at(conn, "flow/use.py", 13, "r.send") == "flow.resp.Response.send"
    assert target_at(conn, "flow/use.py", 15, "e.send") == "flow.resp.Response.send"  # -> Self


def test_a_class_defined_in_a_function_inherits_members(flow: Path, conn: psycopg.Connection) -> None:
    assert target_at(conn, "flow/use.py", 24, "s.send") == "flow.resp.Response.send"


def test_a_member_of_what_a_call_returns(flow: Path, conn: psycopg.Connection) -> None:
    assert target_at(conn, "flow/use.py", 22, "Special().send") == "flow.resp.Response.send"  # an instance
    assert target_at(conn, "flow/use.py", 42, "make().send") == "flow.resp.Response.send"  # -> "Response"
    assert target_at(conn, "flow/use.py", 43, "Response.empty().send") == "flow.resp.Response.send"  # -> Self


def test_a_name_imported_inside_a_function(flow: Path, conn: psycopg.Connection) -> None:
    assert target_at(conn, "flow/use.py", 30, "build") == "flow.resp.make"


def test_self_of_the_enclosing_method_inside_a_closure(flow: Path, conn: psycopg.Connection) -> None:
    assert target_at(conn, "flow/use.py", 36, "self.outer") == "flow.use.Holder.outer"


def test_star_imports_of_missing_modules_resolve_in_bounded_time(tmp_path: Path, conn: psycopg.Connection) -> None:
    # The crash trials met this in a copy of asyncio whose star-imported modules were
    # renamed: each missing star module made the target longer (pkg.gone.gone.x ...), so
    # no answer was ever remembered, and three of them took 3^16 lookups.
    files = {
        "ring/__init__.py": "from .gone1 import *\nfrom .gone2 import *\nfrom .gone3 import *\nfrom .m import *\n",
        "ring/m.py": "def here():\n    pass\n",
        "use.py": "import ring\nring.nothere()\nring.here()\n",
    }
    write_tree(tmp_path / "r", files)
    index_repository(conn, tmp_path / "r", jobs=1)  # seconds, not hours
    assert conn.execute(
        "SELECT name, target_full_name FROM usages WHERE path = 'use.py' AND kind = 'call' ORDER BY line"
    ).fetchall() == [("ring.nothere", None), ("ring.here", "ring.m.here")]
