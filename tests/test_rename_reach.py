"""What rename_symbol reaches beyond resolved uses (issue 17, refereed by rope on flask):
attributes set from an annotated parameter, packages imported from a folder a test puts
on sys.path, and what it tells about bases outside the index; through a real MCP client
over a real index, and `coderows rename` listing every use it left alone."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

from server_fixtures import CODEROWS, Indexed, index, server_env
from test_edits import ask, edit, small, text_of, write  # noqa: F401 (fixture)


def test_rename_follows_an_attribute_set_from_an_annotated_parameter(small: Callable[..., Indexed]) -> None:
    repo = small({
        "web.py": (
            "class App:\n"
            "    def add_rule(self, rule):\n"
            "        return rule\n"
            "\n"
            "\n"
            "class SetupState:\n"
            "    def __init__(self, app: App, options):\n"
            "        self.app = app\n"
            "        self.options = options\n"
            "\n"
            "    def add(self, rule):\n"
            "        return self.app.add_rule(rule) + self.options.add_rule(rule)\n"
        ),
    })
    answer, references = ask(
        repo,
        ("rename_symbol", {"name": "web.App.add_rule", "new_name": "add_url_rule"}),
        ("find_references", {"name": "web.App.add_url_rule"}),
    )
    assert answer.text.splitlines() == [
        "renamed method web.App.add_rule -> add_url_rule: 2 changes on 2 lines in 1 file",
        "web.py",
        "  2: def add_rule(self, rule):  ->  def add_url_rule(self, rule):",
        "  12: return self.app.add_rule(rule) + self.options.add_rule(rule)  ->  "
        "return self.app.add_url_rule(rule) + self.options.add_rule(rule)",
        "left alone, known by name only (objects of unknown type; 1):",
        "  web.py:12: return self.app.add_rule(rule) + self.options.add_rule(rule)",
    ]
    assert references.text.splitlines()[0] == "method web.App.add_url_rule  web.py:2-3: 1 resolved use in 1 file"


def test_rename_follows_a_package_imported_from_a_folder_put_on_sys_path(small: Callable[..., Indexed]) -> None:
    repo = small({
        "src/web/__init__.py": "",
        "src/web/app.py": "class App:\n    def templates(self):\n        return []\n",
        "tests/apps/blogapp/__init__.py": "from web.app import App\n\napp = App()\n",
        "tests/test_apps.py": (
            "def test_templates(monkeypatch):\n"
            "    monkeypatch.syspath_prepend('tests/apps')\n"
            "    from blogapp import app\n"
            "\n"
            "    assert app.templates() == []\n"
        ),
    })
    answer = edit(repo, "rename_symbol", name="web.app.App.templates", new_name="list_templates")
    assert answer.text.splitlines() == [
        "renamed method web.app.App.templates -> list_templates: 2 changes on 2 lines in 2 files",
        "src/web/app.py",
        "  2: def templates(self):  ->  def list_templates(self):",
        "tests/test_apps.py",
        "  5: assert app.templates() == []  ->  assert app.list_templates() == []",
    ]
    assert "    assert app.list_templates() == []\n" in text_of(repo, "tests/test_apps.py")


def test_rename_lists_a_use_through_a_sys_path_package_it_cannot_follow(small: Callable[..., Indexed]) -> None:
    repo = small({
        "src/web/__init__.py": "",
        "src/web/app.py": "class App:\n    def templates(self):\n        return []\n",
        "tests/apps/blogapp/__init__.py": "from web.app import make\n\napp = make()\n",
        "tests/test_apps.py": "def test_templates():\n    from blogapp import app\n\n    assert app.templates() == []\n",
    })
    answer = edit(repo, "rename_symbol", name="web.app.App.templates", new_name="list_templates", dry_run=True)
    assert answer.text.splitlines()[-2:] == [
        "left alone, known by name only (objects of unknown type; 1):",
        "  tests/test_apps.py:4: assert app.templates() == []",
    ]


def test_rename_of_a_method_names_the_bases_outside_the_index(small: Callable[..., Indexed]) -> None:
    repo = small({
        "loaders.py": (
            "import typing as t\n"
            "\n"
            "from jinja2 import BaseLoader\n"
            "\n"
            "\n"
            "class Loader(BaseLoader, t.Generic[t.AnyStr]):\n"
            "    def get_source(self, environment, template):\n"
            "        return template\n"
            "\n"
            "\n"
            "class Dispatching(Loader):\n"
            "    def get_source(self, environment, template):\n"
            "        return super().get_source(environment, template)\n"
        ),
    })
    answer = edit(repo, "rename_symbol", name="loaders.Dispatching.get_source", new_name="source_of", dry_run=True)
    assert answer.text.splitlines()[-2:] == [
        "methods of the same name in the class hierarchy, not renamed (include_overrides=true renames them too): "
        "loaders.Loader.get_source (is overridden by it)",
        "its class derives from classes outside the index (jinja2.BaseLoader): if one of them defines get_source, "
        "code there calls it by the old name",
    ]


def test_rename_of_a_method_the_standard_library_calls_by_name_says_so(small: Callable[..., Indexed]) -> None:
    repo = small({
        "streams.py": (
            "class Stream:\n"
            "    def flush(self):\n"
            "        return None\n"
            "\n"
            "    def push(self, data):\n"
            "        self.flush()\n"
        ),
    })
    flush = edit(repo, "rename_symbol", name="streams.Stream.flush", new_name="drain", dry_run=True)
    push = edit(repo, "rename_symbol", name="streams.Stream.push", new_name="send_data", dry_run=True)
    assert flush.text.splitlines()[-1] == (
        "the standard library defines flush too (io.IOBase.flush): code that uses this class's objects in their "
        "place (the standard library's own, by duck typing) calls it by the old name"
    )
    assert "standard library" not in push.text


LOOPS = {
    "pkg/__init__.py": "",
    "pkg/loops.py": (
        "class Loop:\n"
        "    def trigger(self):\n"
        "        return 1\n"
        "\n"
        "\n"
        "class Watching(Loop):\n"
        "    pass\n"
        "\n"
        "\n"
        "class Polling(Loop):\n"
        "    def trigger(self):\n"
        "        return 2\n"
        "\n"
        "\n"
        "def helper():\n"
        "    return 3\n"
    ),
    "tests/test_loops.py": (
        "from unittest.mock import patch\n"
        "\n"
        "from pkg import loops\n"
        "from pkg.loops import Loop, Polling, Watching\n"
        "\n"
        "\n"
        "@patch.object(Watching, 'trigger')\n"
        "def test_watching(trigger):\n"
        "    assert getattr(Loop, \"trigger\") and getattr(Polling, \"trigger\")\n"
        "\n"
        "\n"
        "def test_patched(monkeypatch, thing):\n"
        "    monkeypatch.setattr(loops, \"helper\", lambda: 4)\n"
        "    patch(\"pkg.loops.Loop.trigger\")\n"
        "    patch(\"pkg.loops.helper\")\n"
        "    return getattr(thing, \"trigger\"), \"helper\"\n"
    ),
}


def test_rename_of_a_method_changes_the_strings_naming_it_through_its_class(small: Callable[..., Indexed]) -> None:
    repo = small(LOOPS)
    answer = edit(repo, "rename_symbol", name="pkg.loops.Loop.trigger", new_name="fire", dry_run=True)
    assert answer.text.splitlines() == [
        "dry run, nothing written: would rename method pkg.loops.Loop.trigger -> fire: 4 changes on 4 lines in 2 files",
        "pkg/loops.py",
        "  2: def trigger(self):  ->  def fire(self):",
        "tests/test_loops.py",
        "  7: @patch.object(Watching, 'trigger')  ->  @patch.object(Watching, 'fire')",
        "  9: assert getattr(Loop, \"trigger\") and getattr(Polling, \"trigger\")  ->  "
        "assert getattr(Loop, \"fire\") and getattr(Polling, \"trigger\")",
        "  14: patch(\"pkg.loops.Loop.trigger\")  ->  patch(\"pkg.loops.Loop.fire\")",
        "methods of the same name in the class hierarchy, not renamed (include_overrides=true renames them too): "
        "pkg.loops.Polling.trigger (overrides it)",
        "left alone, strings and comments holding 'trigger' (2):",
        "  tests/test_loops.py:9: assert getattr(Loop, \"trigger\") and getattr(Polling, \"trigger\")",
        "  tests/test_loops.py:16: return getattr(thing, \"trigger\"), \"helper\"",
    ]


def test_rename_changes_strings_only_in_the_repository_it_renames_in(db_url: str, tmp_path: Path) -> None:
    checkouts = []
    for name in ("main", "feature"):  # two checkouts of one project: their files' contents are shared rows
        root = tmp_path / name
        write(root, LOOPS)
        index(db_url, root)
        checkouts.append(Indexed(db_url, root.resolve()))
    main, feature = checkouts
    edit(main, "rename_symbol", name="pkg.loops.Loop.trigger", new_name="fire")
    assert text_of(main, "tests/test_loops.py").splitlines()[6] == "@patch.object(Watching, 'fire')"
    assert text_of(feature, "tests/test_loops.py") == LOOPS["tests/test_loops.py"]
    assert text_of(feature, "pkg/loops.py") == LOOPS["pkg/loops.py"]


def test_rename_of_a_function_changes_the_strings_naming_it_through_its_module(small: Callable[..., Indexed]) -> None:
    repo = small(LOOPS)
    edit(repo, "rename_symbol", name="pkg.loops.helper", new_name="assist")
    assert text_of(repo, "tests/test_loops.py").splitlines()[12:16] == [
        "    monkeypatch.setattr(loops, \"assist\", lambda: 4)",
        "    patch(\"pkg.loops.Loop.trigger\")",
        "    patch(\"pkg.loops.assist\")",
        "    return getattr(thing, \"trigger\"), \"helper\"",
    ]


def test_cli_rename_lists_every_use_left_alone(small: Callable[..., Indexed]) -> None:
    uses = "".join(f"    thing{n}.tick()\n" for n in range(30))
    repo = small({"clock.py": f"class Clock:\n    def tick(self):\n        return 1\n\n\ndef run({', '.join(f'thing{n}' for n in range(30))}):\n{uses}"})
    done = subprocess.run(
        [CODEROWS, "rename", "--database-url", repo.url, "--dry-run", "clock.Clock.tick", "advance"],
        cwd=repo.root, capture_output=True, text=True, env=server_env(), timeout=120,
    )
    assert (done.returncode, done.stderr) == (0, "")
    lines = done.stdout.splitlines()
    assert lines[3] == "left alone, known by name only (objects of unknown type; 30):"
    assert lines[4:] == [f"  clock.py:{7 + n}: thing{n}.tick()" for n in range(30)]


# --- module-level variables ----------------------------------------------------------

SETTINGS = {
    "conf/__init__.py": "from conf.values import LIMIT as LIMIT\n\n__all__ = ['LIMIT']\n",
    "conf/values.py": (
        "LIMIT = 10\n"
        "\n"
        "\n"
        "def over(n):\n"
        "    return n > LIMIT\n"
        "\n"
        "\n"
        "def shadowed(LIMIT):\n"
        "    return LIMIT + 1\n"
        "\n"
        "\n"
        "def raise_limit():\n"
        "    global LIMIT\n"
        "    LIMIT = LIMIT * 2\n"
        "\n"
        "\n"
        "class Meter:\n"
        "    top = LIMIT\n"
        "\n"
        "    def full(self, limits=[LIMIT]):\n"
        "        return [x for x in limits if x == LIMIT]\n"
    ),
    "app.py": (
        "import conf.values as values\n"
        "from conf import LIMIT\n"
        "\n"
        "\n"
        "def check(record):\n"
        "    return LIMIT + values.LIMIT + record.LIMIT  # LIMIT\n"
    ),
}


def test_rename_a_module_level_variable_and_every_use(small: Callable[..., Indexed]) -> None:
    repo = small(SETTINGS)
    answer, outline = ask(
        repo,
        ("rename_symbol", {"name": "conf.values.LIMIT", "new_name": "MAX_ITEMS"}),
        ("search_code", {"query": "LIMIT"}),
    )
    assert answer.text.splitlines() == [
        "renamed variable conf.values.LIMIT -> MAX_ITEMS: 14 changes on 11 lines in 3 files",
        "app.py",
        "  2: from conf import LIMIT  ->  from conf import MAX_ITEMS",
        "  6: return LIMIT + values.LIMIT + record.LIMIT  # LIMIT  ->  return MAX_ITEMS + values.MAX_ITEMS + record.LIMIT  # LIMIT",
        "conf/__init__.py",
        "  1: from conf.values import LIMIT as LIMIT  ->  from conf.values import MAX_ITEMS as MAX_ITEMS",
        "  3: __all__ = ['LIMIT']  ->  __all__ = ['MAX_ITEMS']",
        "conf/values.py",
        "  1: LIMIT = 10  ->  MAX_ITEMS = 10",
        "  5: return n > LIMIT  ->  return n > MAX_ITEMS",
        "  13: global LIMIT  ->  global MAX_ITEMS",
        "  14: LIMIT = LIMIT * 2  ->  MAX_ITEMS = MAX_ITEMS * 2",
        "  18: top = LIMIT  ->  top = MAX_ITEMS",
        "  20: def full(self, limits=[LIMIT]):  ->  def full(self, limits=[MAX_ITEMS]):",
        "  21: return [x for x in limits if x == LIMIT]  ->  return [x for x in limits if x == MAX_ITEMS]",
        "left alone, known by name only (objects of unknown type; 1):",
        "  app.py:6: return LIMIT + values.LIMIT + record.LIMIT  # LIMIT",
        "left alone, strings and comments holding 'LIMIT' (1):",
        "  app.py:6: return LIMIT + values.LIMIT + record.LIMIT  # LIMIT",
    ]
    assert "def shadowed(LIMIT):\n    return LIMIT + 1\n" in text_of(repo, "conf/values.py")
    compile(text_of(repo, "conf/values.py"), "conf/values.py", "exec")


def test_rename_of_a_variable_changes_the_strings_naming_it_through_its_modules(small: Callable[..., Indexed]) -> None:
    repo = small({
        **SETTINGS,
        "tests/test_limits.py": (
            "from conf import values\n"
            "\n"
            "\n"
            "def test_limit(monkeypatch):\n"
            "    monkeypatch.setattr(values, 'LIMIT', 1)\n"
            "    monkeypatch.setattr('conf.LIMIT', 1)\n"
            "    monkeypatch.setattr('conf.values.LIMIT', 2)\n"
            "    return 'LIMIT'\n"
        ),
    })
    answer = edit(repo, "rename_symbol", name="conf.values.LIMIT", new_name="MAX_ITEMS", dry_run=True)
    assert [line for line in answer.text.splitlines() if "test_limits" in line or "setattr" in line] == [
        "tests/test_limits.py",
        "  5: monkeypatch.setattr(values, 'LIMIT', 1)  ->  monkeypatch.setattr(values, 'MAX_ITEMS', 1)",
        "  6: monkeypatch.setattr('conf.LIMIT', 1)  ->  monkeypatch.setattr('conf.MAX_ITEMS', 1)",
        "  7: monkeypatch.setattr('conf.values.LIMIT', 2)  ->  monkeypatch.setattr('conf.values.MAX_ITEMS', 2)",
        "  tests/test_limits.py:8: return 'LIMIT'",
    ]


def test_rename_of_a_variable_to_a_name_a_changed_file_uses_is_refused(small: Callable[..., Indexed]) -> None:
    repo = small(SETTINGS)
    answer = edit(repo, "rename_symbol", name="conf.values:LIMIT", new_name="values")
    assert answer.text == "Error executing tool rename_symbol: app.py:1 already uses the name values; nothing was written"
    assert text_of(repo, "conf/values.py") == SETTINGS["conf/values.py"]


def test_cli_renames_a_module_level_variable(small: Callable[..., Indexed]) -> None:
    repo = small(SETTINGS)
    done = subprocess.run(
        [CODEROWS, "rename", "--database-url", repo.url, "conf.values.LIMIT", "MAX_ITEMS"],
        cwd=repo.root, capture_output=True, text=True, env=server_env(), timeout=120,
    )
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.splitlines()[0] == "renamed variable conf.values.LIMIT -> MAX_ITEMS: 14 changes on 11 lines in 3 files"
    assert text_of(repo, "app.py").splitlines()[1] == "from conf import MAX_ITEMS"
