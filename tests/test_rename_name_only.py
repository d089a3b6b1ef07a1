"""rename_symbol's include_name_only (issue 17): the attributes known by name only
(objects of unknown type: pytest fixtures, `self.app` chains) renamed too, listed under
their own heading, when nothing else in the repository has the name; else none of them,
with one line naming what shares it. Through a real MCP client over a real index, and
`coderows rename --include-name-only` as a subprocess."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

from server_fixtures import CODEROWS, Indexed, index, server_env
from test_edits import edit, small, text_of, write  # noqa: F401 (fixture)

WEB = {
    "web/__init__.py": "",
    "web/app.py": (
        "class App:\n"
        "    def add_rule(self, rule):\n"
        "        return [rule]\n"
        "\n"
        "    def setup(self):\n"
        "        return self.add_rule('/')\n"
    ),
    "tests/test_app.py": (
        "def test_rule(app):\n"
        "    assert app.add_rule('/x') == ['/x']\n"
        "\n"
        "\n"
        "class Harness:\n"
        "    def check(self):\n"
        "        return self.app.add_rule('/y')\n"
    ),
}


def test_include_name_only_renames_the_uses_known_by_name_only_when_the_name_is_unique(small: Callable[..., Indexed]) -> None:
    repo = small(WEB)
    answer = edit(repo, "rename_symbol", name="web.app.App.add_rule", new_name="add_url_rule", include_name_only=True)
    assert answer.text.splitlines() == [
        "renamed method web.app.App.add_rule -> add_url_rule: 4 changes on 4 lines in 2 files",
        "web/app.py",
        "  2: def add_rule(self, rule):  ->  def add_url_rule(self, rule):",
        "  6: return self.add_rule('/')  ->  return self.add_url_rule('/')",
        "renamed by name only (objects of unknown type; nothing else in this repository is named add_rule, "
        "but code outside it may be; 2 uses):",
        "tests/test_app.py",
        "  2: assert app.add_rule('/x') == ['/x']  ->  assert app.add_url_rule('/x') == ['/x']",
        "  7: return self.app.add_rule('/y')  ->  return self.app.add_url_rule('/y')",
    ]
    assert text_of(repo, "tests/test_app.py").splitlines()[1] == "    assert app.add_url_rule('/x') == ['/x']"
    assert text_of(repo, "tests/test_app.py").splitlines()[6] == "        return self.app.add_url_rule('/y')"


def test_include_name_only_renames_none_when_another_definition_has_the_name(small: Callable[..., Indexed]) -> None:
    repo = small({**WEB, "web/blueprint.py": "class Blueprint:\n    def add_rule(self, rule):\n        return rule\n"})
    answer = edit(repo, "rename_symbol", name="web.app.App.add_rule", new_name="add_url_rule", include_name_only=True)
    assert answer.text.splitlines()[4:] == [
        "not renamed by name only: other definitions are named add_rule: "
        "web.blueprint.Blueprint.add_rule (web/blueprint.py:2)",
        "left alone, known by name only (objects of unknown type; 2):",
        "  tests/test_app.py:2: assert app.add_rule('/x') == ['/x']",
        "  tests/test_app.py:7: return self.app.add_rule('/y')",
    ]
    assert text_of(repo, "tests/test_app.py") == WEB["tests/test_app.py"]
    assert text_of(repo, "web/app.py").splitlines()[1] == "    def add_url_rule(self, rule):"


def test_include_name_only_renames_none_when_a_class_attribute_has_the_name(small: Callable[..., Indexed]) -> None:
    repo = small({**WEB, "web/config.py": "class Config:\n    add_rule = None\n"})
    answer = edit(repo, "rename_symbol", name="web.app.App.add_rule", new_name="add_url_rule", include_name_only=True, dry_run=True)
    assert answer.text.splitlines()[4] == (
        "not renamed by name only: other definitions are named add_rule: "
        "web.config.Config.add_rule (web/config.py:2)"
    )


def test_rename_without_include_name_only_leaves_them_alone(small: Callable[..., Indexed]) -> None:
    repo = small(WEB)
    answer = edit(repo, "rename_symbol", name="web.app.App.add_rule", new_name="add_url_rule")
    assert answer.text.splitlines()[4:] == [
        "left alone, known by name only (objects of unknown type; 2):",
        "  tests/test_app.py:2: assert app.add_rule('/x') == ['/x']",
        "  tests/test_app.py:7: return self.app.add_rule('/y')",
    ]
    assert text_of(repo, "tests/test_app.py") == WEB["tests/test_app.py"]


def test_a_dry_run_with_include_name_only_shows_them_and_writes_nothing(small: Callable[..., Indexed]) -> None:
    repo = small(WEB)
    answer = edit(
        repo, "rename_symbol", name="web.app.App.add_rule", new_name="add_url_rule", include_name_only=True, dry_run=True
    )
    assert answer.text.splitlines()[4:] == [
        "would rename by name only (objects of unknown type; nothing else in this repository is named add_rule, "
        "but code outside it may be; 2 uses):",
        "tests/test_app.py",
        "  2: assert app.add_rule('/x') == ['/x']  ->  assert app.add_url_rule('/x') == ['/x']",
        "  7: return self.app.add_rule('/y')  ->  return self.app.add_url_rule('/y')",
    ]
    assert [text_of(repo, path) for path in WEB] == list(WEB.values())


def test_cli_rename_include_name_only(small: Callable[..., Indexed]) -> None:
    repo = small(WEB)
    done = subprocess.run(
        [CODEROWS, "rename", "--database-url", repo.url, "--include-name-only", "web.app.App.add_rule", "add_url_rule"],
        cwd=repo.root, capture_output=True, text=True, env=server_env(), timeout=120,
    )
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.splitlines()[4] == (
        "renamed by name only (objects of unknown type; nothing else in this repository is named add_rule, "
        "but code outside it may be; 2 uses):"
    )
    assert text_of(repo, "tests/test_app.py").splitlines()[1] == "    assert app.add_url_rule('/x') == ['/x']"


def test_include_name_only_decides_the_name_is_unique_within_the_renamed_repository(db_url: str, tmp_path: Path) -> None:
    other = tmp_path / "other"  # another project in the database, with its own add_rule
    write(other, {"routes.py": "class Router:\n    def add_rule(self, rule):\n        return rule\n\n\ndef use(r):\n    return r.add_rule(1)\n"})
    index(db_url, other)
    root = tmp_path / "repo"
    write(root, WEB)
    index(db_url, root)
    answer = edit(Indexed(db_url, root.resolve()), "rename_symbol", name="web.app.App.add_rule", new_name="add_url_rule",
                  include_name_only=True)
    assert "renamed by name only" in answer.text.splitlines()[4]
    assert text_of(Indexed(db_url, root.resolve()), "tests/test_app.py").splitlines()[6] == "        return self.app.add_url_rule('/y')"
    assert (other / "routes.py").read_text().splitlines()[6] == "    return r.add_rule(1)"


def test_include_name_only_renames_attributes_named_like_a_module_level_variable(small: Callable[..., Indexed]) -> None:
    repo = small({
        "conf.py": "LIMIT = 10\n",
        "app.py": "import conf\n\n\ndef check(record):\n    return conf.LIMIT + record.LIMIT\n",
    })
    answer = edit(repo, "rename_symbol", name="conf.LIMIT", new_name="MAXIMUM", include_name_only=True)
    assert answer.text.splitlines()[-3:] == [
        "renamed by name only (objects of unknown type; nothing else in this repository is named LIMIT, "
        "but code outside it may be; 1 use):",
        "app.py",
        "  5: return conf.LIMIT + record.LIMIT  ->  return conf.MAXIMUM + record.MAXIMUM",
    ]


def test_include_name_only_renames_none_when_the_repository_uses_the_name_outside_it(small: Callable[..., Indexed]) -> None:
    repo = small({
        "cli.py": (
            "import click\n"
            "\n"
            "\n"
            "class AppGroup:\n"
            "    def command(self):\n"
            "        return click.command()\n"
            "\n"
            "\n"
            "def register(group):\n"
            "    return group.command()\n"
        ),
    })
    answer = edit(repo, "rename_symbol", name="cli.AppGroup.command", new_name="app_command", include_name_only=True)
    assert answer.text.splitlines()[3:] == [
        "not renamed by name only: other definitions are named command: click.command (outside the repository, cli.py:6)",
        "left alone, known by name only (objects of unknown type; 1):",
        "  cli.py:10: return group.command()",
    ]


def test_include_name_only_renames_none_when_a_standard_library_class_defines_the_name(small: Callable[..., Indexed]) -> None:
    repo = small({
        "client.py": "class Client:\n    def open(self, url):\n        return url\n\n\ndef read(tmp_path):\n    return tmp_path.open()\n",
    })
    answer = edit(repo, "rename_symbol", name="client.Client.open", new_name="request", include_name_only=True)
    assert answer.text.splitlines()[3] == (
        "not renamed by name only: other definitions are named open: pathlib.Path.open (standard library)"
    )
    assert text_of(repo, "client.py").splitlines()[6] == "    return tmp_path.open()"
