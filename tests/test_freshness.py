"""server/freshness.py's own rules, apart from a server (its tools' tests run it whole)."""

from __future__ import annotations

from coderows.server.freshness import wanted_files


def test_a_full_name_wants_the_module_of_each_leading_part_longest_first() -> None:
    assert wanted_files("pkg.mod.Class.meth") == [
        "pkg/mod/Class/meth.py", "pkg/mod/Class/meth/__init__.py", "src/pkg/mod/Class/meth.py", "src/pkg/mod/Class/meth/__init__.py",
        "pkg/mod/Class.py", "pkg/mod/Class/__init__.py", "src/pkg/mod/Class.py", "src/pkg/mod/Class/__init__.py",
        "pkg/mod.py", "pkg/mod/__init__.py", "src/pkg/mod.py", "src/pkg/mod/__init__.py",
        "pkg.py", "pkg/__init__.py", "src/pkg.py", "src/pkg/__init__.py",
    ]


def test_a_module_and_qualname_want_that_module_first() -> None:
    assert wanted_files("pkg.mod:Class.meth")[:4] == ["pkg/mod.py", "pkg/mod/__init__.py", "src/pkg/mod.py", "src/pkg/mod/__init__.py"]


def test_a_path_with_or_without_a_line_wants_that_file() -> None:
    assert (wanted_files("pkg/mod.py"), wanted_files("pkg/mod.py:12")) == (["pkg/mod.py"], ["pkg/mod.py"])


def test_a_bare_name_a_pattern_or_a_path_leaving_the_root_wants_nothing() -> None:
    assert [wanted_files(text) for text in ("save", "Order.*", "../secret.py", "/etc/x.py", "a/../b.py")] == [[], [], [], [], []]
