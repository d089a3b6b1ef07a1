"""Specification of Python's naming rules as coderows applies them (indexer/naming.py).

A module's dotted name comes from its path alone (contract, "Precise rules"): the path
relative to the repository root, minus a leading `src/`, `/` to `.`, without `.py`,
`__init__` dropped; folders without `__init__.py` still count (PEP 420).
`import_target` resolves an import statement to the absolute module it names, exactly as
importlib does, or None where importlib would refuse.
"""

from __future__ import annotations

import importlib.util

import pytest

from coderows.indexer.naming import ModuleName, import_target, module_name


def name_of(path: str) -> tuple[str, bool]:
    found = module_name(path)
    return found.name, found.is_package


def target(importer: str, is_package: bool, imported_module: str | None, level: int) -> str | None:
    return import_target(ModuleName(importer, is_package), imported_module, level)


def importlib_target(importer: str, is_package: bool, imported_module: str | None, level: int) -> str | None:
    """What importlib resolves the same relative import to (None where it raises)."""
    package = importer if is_package else importer.rpartition(".")[0]
    try:
        return importlib.util.resolve_name("." * level + (imported_module or ""), package)
    except ImportError:
        return None


# --- module_name ------------------------------------------------------------------------


def test_a_top_level_file_is_named_after_its_stem() -> None:
    assert name_of("mod.py") == ("mod", False)


def test_a_file_in_a_package_folder_is_dotted() -> None:
    assert name_of("pkg/mod.py") == ("pkg.mod", False)


def test_deeply_nested_module_names_join_every_folder() -> None:
    assert name_of("django/db/models/query.py") == ("django.db.models.query", False)


def test_init_file_names_its_package_and_marks_it_a_package() -> None:
    assert name_of("pkg/__init__.py") == ("pkg", True)


def test_nested_package_init_is_the_dotted_package_name() -> None:
    assert name_of("pkg/sub/__init__.py") == ("pkg.sub", True)


def test_leading_src_layout_folder_is_not_part_of_the_name() -> None:
    assert name_of("src/pkg/mod.py") == ("pkg.mod", False)


def test_leading_src_layout_folder_is_dropped_for_a_package_too() -> None:
    assert name_of("src/pkg/__init__.py") == ("pkg", True)


def test_a_top_level_module_directly_in_src_is_named_without_src() -> None:
    assert name_of("src/mod.py") == ("mod", False)


def test_src_is_only_stripped_as_the_first_path_component() -> None:
    assert name_of("a/src/b.py") == ("a.src.b", False)


def test_a_root_level_file_called_src_py_keeps_its_name() -> None:
    assert name_of("src.py") == ("src", False)


def test_a_namespace_package_folder_without_init_still_contributes_its_name() -> None:
    # module_name never looks at the file system: ns/ holds no __init__.py (PEP 420).
    assert name_of("ns/pkg/mod.py") == ("ns.pkg.mod", False)


def test_root_level_setup_py_is_the_module_setup() -> None:
    assert name_of("setup.py") == ("setup", False)


def test_a_root_level_init_py_has_no_package_name_and_is_called_after_the_file() -> None:
    assert name_of("__init__.py") == ("__init__", True)


def test_dunder_main_is_an_ordinary_module_name() -> None:
    assert name_of("pkg/__main__.py") == ("pkg.__main__", False)


# --- import_target ----------------------------------------------------------------------


def test_absolute_import_targets_the_module_as_written() -> None:
    assert target("pkg.mod", False, "os.path", 0) == "os.path"


def test_level_one_in_a_module_targets_a_sibling_in_its_package() -> None:
    assert target("pkg.sub.mod", False, "x", 1) == "pkg.sub.x"


def test_level_two_in_a_module_climbs_one_package() -> None:
    assert target("pkg.sub.mod", False, "x", 2) == "pkg.x"


def test_from_dot_import_name_in_a_module_targets_its_own_package() -> None:
    # `from . import m`: the statement's module is the package; `m` is the imported name.
    assert target("pkg.sub.mod", False, None, 1) == "pkg.sub"


def test_level_one_in_a_package_init_targets_the_package_itself() -> None:
    assert target("pkg", True, None, 1) == "pkg"


def test_level_one_in_a_package_init_with_a_module_targets_a_submodule() -> None:
    assert target("pkg", True, "m", 1) == "pkg.m"


def test_level_two_in_a_subpackage_init_targets_the_parent_package() -> None:
    assert target("pkg.sub", True, "x", 2) == "pkg.x"


def test_relative_import_above_the_top_level_package_has_no_target() -> None:
    assert target("pkg.sub.mod", False, "x", 3) is None


def test_relative_import_in_a_top_level_package_init_cannot_climb() -> None:
    assert target("pkg", True, None, 2) is None


def test_relative_import_in_a_top_level_module_has_no_package_to_resolve_against() -> None:
    assert target("mod", False, "x", 1) is None


@pytest.mark.parametrize(
    ("importer", "is_package", "imported_module", "level"),
    [
        ("pkg.sub.mod", False, "x", 1),
        ("pkg.sub.mod", False, "x.y", 2),
        ("pkg.sub.mod", False, None, 2),
        ("pkg.sub.mod", False, "x", 3),
        ("pkg.sub.mod", False, None, 4),
        ("pkg", True, None, 1),
        ("pkg", True, "m", 1),
        ("pkg", True, "m", 2),
        ("pkg.sub", True, None, 2),
        ("a.b.c.d", True, "e", 4),
        ("a.b.c.d", True, "e", 5),
        ("mod", False, "x", 1),
    ],
)
def test_relative_import_targets_agree_with_importlib(
    importer: str, is_package: bool, imported_module: str | None, level: int
) -> None:
    assert target(importer, is_package, imported_module, level) == importlib_target(
        importer, is_package, imported_module, level
    )
