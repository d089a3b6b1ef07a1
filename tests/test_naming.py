"""Specification of Python's naming rules as coderows applies them (indexer/naming.py,
indexer/packaging.py).

A module's name is the one Python imports it by once the project is installed
(contract, "Module names"): a leading folder that the packaging configuration names as
a package root, or else a leading `src/` or `lib/` holding no `__init__.py`, is not part
of the name; `/` to `.`, without `.py`, `__init__` dropped; other folders without
`__init__.py` still count (PEP 420). Without knowing the layout (a file parsed on its
own), only a leading `src/` is dropped.
`import_target` resolves an import statement to the absolute module it names, exactly as
importlib does, or None where importlib would refuse.

The indexing tests drive the `coderows` command as a subprocess and a real Watcher, on
real PostgreSQL; the last ones index SQLAlchemy's sdist, whose modules live under lib/.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import tarfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from coderows.indexer.naming import ModuleName, PackageRoot, PackageRoots, import_target, module_name
from coderows.indexer.packaging import MAX_CONFIG_BYTES, MAX_PACKAGE_ROOTS, package_roots
from coderows.indexer.watch import Watcher

CODEROWS = str(Path(sys.executable).with_name("coderows"))


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


# --- module_name under package roots ----------------------------------------------------


def named(path: str, *roots: tuple[str, str]) -> tuple[str, bool]:
    found = module_name(path, tuple(PackageRoot(folder, package) for folder, package in roots))
    return found.name, found.is_package


def test_a_package_root_folder_is_not_part_of_the_name() -> None:
    assert named("lib/sqlalchemy/orm/session.py", ("lib", "")) == ("sqlalchemy.orm.session", False)


def test_a_package_root_folder_is_not_part_of_a_package_name() -> None:
    assert named("lib/sqlalchemy/__init__.py", ("lib", "")) == ("sqlalchemy", True)


def test_a_folder_mapped_to_a_package_is_named_by_that_package() -> None:
    # setuptools package-dir = {"coderows.indexer" = "indexer"}, as coderows itself declares
    assert named("indexer/naming.py", ("indexer", "coderows.indexer")) == ("coderows.indexer.naming", False)


def test_the_init_of_a_folder_mapped_to_a_package_is_that_package() -> None:
    assert named("indexer/__init__.py", ("indexer", "coderows.indexer")) == ("coderows.indexer", True)


def test_the_deepest_package_root_holding_the_file_names_it() -> None:
    assert named("lib/vendor/x.py", ("lib", ""), ("lib/vendor", "vendored")) == ("vendored.x", False)


def test_a_file_outside_every_package_root_is_named_by_its_path() -> None:
    assert named("test/orm/test_session.py", ("lib", "")) == ("test.orm.test_session", False)


def test_a_package_root_matches_whole_folder_names_only() -> None:
    assert named("library/x.py", ("lib", "")) == ("library.x", False)


def test_a_root_level_file_named_like_a_package_root_keeps_its_name() -> None:
    assert named("lib.py", ("lib", "")) == ("lib", False)


def test_the_repository_root_mapped_to_a_package_prefixes_every_file() -> None:
    # hatch sources = {"" = "foo"}
    assert named("mod.py", ("", "foo")) == ("foo.mod", False)


def test_with_no_package_roots_a_src_folder_is_part_of_the_name() -> None:
    assert named("src/pkg/mod.py") == ("src.pkg.mod", False)


# --- package roots read from the repository ---------------------------------------------


def roots_of(root: Path, files: dict[str, str]) -> PackageRoots:
    for path, text in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)
    return package_roots(root)


def test_setuptools_package_dir_names_the_root_package_folder(tmp_path: Path) -> None:
    pyproject = '[tool.setuptools]\npackage-dir = {"" = "lib"}\n'
    assert roots_of(tmp_path, {"pyproject.toml": pyproject}) == (PackageRoot("lib", ""),)


def test_setuptools_package_dir_maps_folders_to_packages(tmp_path: Path) -> None:
    pyproject = '[tool.setuptools]\npackage-dir = {"coderows.indexer" = "indexer", "coderows.server" = "./server/"}\n'
    assert roots_of(tmp_path, {"pyproject.toml": pyproject}) == (
        PackageRoot("indexer", "coderows.indexer"),
        PackageRoot("server", "coderows.server"),
    )


def test_setuptools_packages_find_where_names_the_root_folders(tmp_path: Path) -> None:
    pyproject = '[tool.setuptools.packages.find]\nwhere = ["lib", "plugins"]\nnamespaces = false\n'
    assert roots_of(tmp_path, {"pyproject.toml": pyproject}) == (PackageRoot("lib", ""), PackageRoot("plugins", ""))


def test_hatch_wheel_packages_install_a_folder_as_its_last_component(tmp_path: Path) -> None:
    pyproject = '[tool.hatch.build.targets.wheel]\npackages = ["src/foo"]\n'
    assert roots_of(tmp_path, {"pyproject.toml": pyproject}) == (PackageRoot("src/foo", "foo"),)


def test_hatch_sources_list_strips_a_prefix(tmp_path: Path) -> None:
    pyproject = '[tool.hatch.build.targets.wheel]\nsources = ["python"]\n'
    assert roots_of(tmp_path, {"pyproject.toml": pyproject}) == (PackageRoot("python", ""),)


def test_hatch_sources_table_replaces_a_prefix(tmp_path: Path) -> None:
    pyproject = '[tool.hatch.build.sources]\n"src/foo" = "bar/baz"\n'
    assert roots_of(tmp_path, {"pyproject.toml": pyproject}) == (PackageRoot("src/foo", "bar.baz"),)


def test_poetry_packages_from_names_the_root_folder(tmp_path: Path) -> None:
    pyproject = '[tool.poetry]\npackages = [{include = "foo", from = "code"}, {include = "bar", from = "code"}]\n'
    assert roots_of(tmp_path, {"pyproject.toml": pyproject}) == (PackageRoot("code", ""),)


def test_flit_module_found_under_src_makes_src_the_root(tmp_path: Path) -> None:
    files = {"pyproject.toml": '[tool.flit.module]\nname = "foo"\n', "src/foo/__init__.py": ""}
    assert roots_of(tmp_path, files) == (PackageRoot("src", ""),)


def test_flit_module_at_the_root_makes_the_root_the_package_root(tmp_path: Path) -> None:
    files = {"pyproject.toml": '[tool.flit.module]\nname = "foo"\n', "foo/__init__.py": "", "lib/tool.py": ""}
    assert roots_of(tmp_path, files) == (PackageRoot("", ""),)


def test_pdm_package_dir_names_the_root_folder(tmp_path: Path) -> None:
    assert roots_of(tmp_path, {"pyproject.toml": '[tool.pdm.build]\npackage-dir = "src"\n'}) == (PackageRoot("src", ""),)


def test_maturin_python_source_names_the_root_folder(tmp_path: Path) -> None:
    assert roots_of(tmp_path, {"pyproject.toml": '[tool.maturin]\npython-source = "python"\n'}) == (PackageRoot("python", ""),)


def test_scikit_build_wheel_packages_install_a_folder_as_its_last_component(tmp_path: Path) -> None:
    pyproject = '[tool.scikit-build]\nwheel.packages = ["python/foo"]\n'
    assert roots_of(tmp_path, {"pyproject.toml": pyproject}) == (PackageRoot("python/foo", "foo"),)


def test_setup_cfg_package_dir_on_one_line(tmp_path: Path) -> None:
    assert roots_of(tmp_path, {"setup.cfg": "[options]\npackage_dir = =lib\n"}) == (PackageRoot("lib", ""),)


def test_setup_cfg_package_dir_one_entry_a_line(tmp_path: Path) -> None:
    setup_cfg = "[options]\npackage_dir =\n    = src\n    extra = vendor/extra\n"
    assert roots_of(tmp_path, {"setup.cfg": setup_cfg}) == (PackageRoot("src", ""), PackageRoot("vendor/extra", "extra"))


def test_setup_cfg_packages_find_where_names_the_root_folder(tmp_path: Path) -> None:
    setup_cfg = "[options]\npackages = find:\n\n[options.packages.find]\nwhere = lib\n"
    assert roots_of(tmp_path, {"setup.cfg": setup_cfg}) == (PackageRoot("lib", ""),)


def test_pyproject_and_setup_cfg_declarations_are_combined_pyproject_first(tmp_path: Path) -> None:
    files = {
        "pyproject.toml": '[tool.setuptools]\npackage-dir = {"" = "lib"}\n',
        "setup.cfg": "[options]\npackage_dir =\n    = other\n    tools = lib\n",
    }
    assert roots_of(tmp_path, files) == (PackageRoot("lib", ""), PackageRoot("other", ""))


def test_without_a_declaration_src_and_lib_without_init_are_package_roots(tmp_path: Path) -> None:
    files = {"src/a/__init__.py": "", "lib/b/__init__.py": "", "pyproject.toml": '[project]\nname = "x"\n'}
    assert roots_of(tmp_path, files) == (PackageRoot("src", ""), PackageRoot("lib", ""))


def test_a_lib_folder_holding_init_py_is_a_package_not_a_root(tmp_path: Path) -> None:
    assert roots_of(tmp_path, {"lib/__init__.py": "", "lib/util.py": "", "src/app.py": ""}) == (PackageRoot("src", ""),)


def test_a_declaration_replaces_the_layout_folders(tmp_path: Path) -> None:
    files = {"pyproject.toml": '[tool.setuptools.packages.find]\nwhere = ["."]\n', "lib/tool.py": ""}
    assert roots_of(tmp_path, files) == (PackageRoot("", ""),)


def test_a_repository_without_layout_folders_or_declaration_has_no_package_roots(tmp_path: Path) -> None:
    assert roots_of(tmp_path, {"pkg/__init__.py": ""}) == ()


def test_malformed_pyproject_falls_back_to_the_layout_folders(tmp_path: Path) -> None:
    files = {"pyproject.toml": "[tool.setuptools\npackage-dir = {", "lib/pkg/__init__.py": ""}
    assert roots_of(tmp_path, files) == (PackageRoot("lib", ""),)


def test_malformed_setup_cfg_falls_back_to_the_layout_folders(tmp_path: Path) -> None:
    files = {"setup.cfg": "package_dir = =other\n[options\n", "lib/pkg/__init__.py": ""}
    assert roots_of(tmp_path, files) == (PackageRoot("lib", ""),)


def test_declarations_of_the_wrong_shape_are_passed_over(tmp_path: Path) -> None:
    pyproject = '[tool.setuptools]\npackage-dir = 5\npackages = {find = {where = "elsewhere"}}\n[tool.poetry]\npackages = "x"\n'
    assert roots_of(tmp_path, {"pyproject.toml": pyproject, "lib/pkg/__init__.py": ""}) == (PackageRoot("lib", ""),)


def test_declared_folders_outside_the_root_and_bad_package_names_are_passed_over(tmp_path: Path) -> None:
    pyproject = '[tool.setuptools]\npackage-dir = {"" = "../elsewhere", "a" = "/etc", "not-a-name" = "x", "ok" = "y"}\n'
    assert roots_of(tmp_path, {"pyproject.toml": pyproject}) == (PackageRoot("y", "ok"),)


def test_a_fifo_named_pyproject_is_not_read_and_does_not_block(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pyproject.toml")
    (tmp_path / "lib").mkdir()
    assert within(30, lambda: package_roots(tmp_path)) == (PackageRoot("lib", ""),)


def test_a_pyproject_linking_outside_the_root_is_not_read(tmp_path: Path) -> None:
    outside = tmp_path / "outside.toml"
    outside.write_text('[tool.setuptools]\npackage-dir = {"" = "python"}\n')
    root = tmp_path / "repo"
    (root / "lib").mkdir(parents=True)
    (root / "pyproject.toml").symlink_to(outside)
    assert package_roots(root) == (PackageRoot("lib", ""),)


def test_a_pyproject_over_the_size_limit_is_not_read(tmp_path: Path) -> None:
    pyproject = '[tool.setuptools]\npackage-dir = {"" = "python"}\n' + "#" * MAX_CONFIG_BYTES + "\n"
    assert roots_of(tmp_path, {"pyproject.toml": pyproject, "lib/pkg/__init__.py": ""}) == (PackageRoot("lib", ""),)


def test_deeply_nested_toml_falls_back_to_the_layout_folders(tmp_path: Path) -> None:
    # tomllib recurses into nested arrays: RecursionError, not TOMLDecodeError
    pyproject = "a = " + "[" * 100_000 + "]" * 100_000 + "\n"
    assert roots_of(tmp_path, {"pyproject.toml": pyproject, "lib/pkg/__init__.py": ""}) == (PackageRoot("lib", ""),)


def test_at_most_max_package_roots_declared_roots_are_kept(tmp_path: Path) -> None:
    entries = ", ".join(f'"p{n}" = "d{n}"' for n in range(MAX_PACKAGE_ROOTS + 50))
    roots = roots_of(tmp_path, {"pyproject.toml": f"[tool.setuptools]\npackage-dir = {{{entries}}}\n"})
    assert roots == tuple(PackageRoot(f"d{n}", f"p{n}") for n in range(MAX_PACKAGE_ROOTS))


def test_a_flit_module_name_too_long_for_a_path_is_looked_for_without_error(tmp_path: Path) -> None:
    files = {"pyproject.toml": f'[tool.flit.module]\nname = "{"a" * 5000}"\n', "src/a.py": ""}
    assert roots_of(tmp_path, files) == (PackageRoot("", ""),)


def within(seconds: float, call: Callable[[], PackageRoots]) -> PackageRoots:
    """call() on a thread; fails instead of hanging the suite when it does not return."""
    result: list[PackageRoots] = []
    thread = threading.Thread(target=lambda: result.append(call()), daemon=True)
    thread.start()
    thread.join(seconds)
    assert result, f"did not return within {seconds} s"
    return result[0]


# --- indexing: the coderows command and a watcher on real PostgreSQL ----------------------


def coderows(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("CODEROWS_DATABASE_URL", "CODEROWS_DATA_DIR")}
    return subprocess.run([CODEROWS, *args], capture_output=True, text=True, env=env, timeout=300)


def index(db_url: str, root: Path) -> str:
    result = coderows("index", "--database-url", db_url, str(root))
    assert result.returncode == 0, result.stderr
    return result.stdout


def write_files(root: Path, files: dict[str, str]) -> None:
    for path, text in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)


ENGINE = "class Engine:\n    def run(self):\n        return 1\n"
USES_ENGINE = "from pkg.core import Engine\n\n\ndef test_run():\n    assert Engine().run() == 1\n"


def module_names(db: psycopg.Connection) -> list[tuple[str, str]]:
    return db.execute("SELECT path, name FROM modules ORDER BY path").fetchall()


def engine_uses(db: psycopg.Connection) -> list[tuple[str, int, str]]:
    """Uses of Engine resolved to its definition, wherever it is named."""
    return db.execute(
        "SELECT u.path, u.line, u.kind FROM usages u JOIN symbols s ON s.full_name = u.target_full_name"
        " WHERE s.name = 'Engine' ORDER BY 1, 2"
    ).fetchall()


@pytest.fixture
def lib_layout(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    write_files(root, {"lib/pkg/__init__.py": "", "lib/pkg/core.py": ENGINE, "tests/test_core.py": USES_ENGINE})
    return root.resolve()


def test_index_names_lib_layout_modules_as_python_imports_them(db_url: str, db: psycopg.Connection, lib_layout: Path) -> None:
    index(db_url, lib_layout)
    assert module_names(db) == [("lib/pkg/__init__.py", "pkg"), ("lib/pkg/core.py", "pkg.core"), ("tests/test_core.py", "tests.test_core")]


def test_uses_from_tests_resolve_to_a_lib_layout_definition(db_url: str, db: psycopg.Connection, lib_layout: Path) -> None:
    index(db_url, lib_layout)
    assert engine_uses(db) == [("tests/test_core.py", 1, "import"), ("tests/test_core.py", 5, "call")]


def test_index_keeps_lib_in_the_name_when_lib_holds_init_py(db_url: str, db: psycopg.Connection, lib_layout: Path) -> None:
    (lib_layout / "lib/__init__.py").write_text("")
    index(db_url, lib_layout)
    assert module_names(db)[:3] == [("lib/__init__.py", "lib"), ("lib/pkg/__init__.py", "lib.pkg"), ("lib/pkg/core.py", "lib.pkg.core")]


def test_editing_pyproject_renames_the_modules_on_the_next_index(db_url: str, db: psycopg.Connection, tmp_path: Path) -> None:
    root = tmp_path / "project"
    write_files(root, {"python/pkg/__init__.py": "", "python/pkg/core.py": ENGINE, "tests/test_core.py": USES_ENGINE})
    index(db_url, root)
    assert module_names(db)[0] == ("python/pkg/__init__.py", "python.pkg")
    (root / "pyproject.toml").write_text('[tool.setuptools]\npackage-dir = {"" = "python"}\n')
    # the two renamed files are parsed again though their bytes did not change
    assert index(db_url, root).startswith(f"{root}: 2 indexed, 1 unchanged, 0 removed, 0 failed;")
    assert module_names(db) == [("python/pkg/__init__.py", "pkg"), ("python/pkg/core.py", "pkg.core"), ("tests/test_core.py", "tests.test_core")]


def test_uses_resolve_to_the_definitions_renamed_by_a_pyproject_edit(db_url: str, db: psycopg.Connection, tmp_path: Path) -> None:
    root = tmp_path / "project"
    write_files(root, {"python/pkg/__init__.py": "", "python/pkg/core.py": ENGINE, "tests/test_core.py": USES_ENGINE})
    index(db_url, root)
    assert engine_uses(db) == []
    (root / "pyproject.toml").write_text('[tool.setuptools]\npackage-dir = {"" = "python"}\n')
    index(db_url, root)
    assert engine_uses(db) == [("tests/test_core.py", 1, "import"), ("tests/test_core.py", 5, "call")]


def test_adding_init_py_to_lib_renames_its_modules_on_the_next_index(db_url: str, db: psycopg.Connection, lib_layout: Path) -> None:
    index(db_url, lib_layout)
    (lib_layout / "lib/__init__.py").write_text("")
    assert index(db_url, lib_layout).startswith(f"{lib_layout}: 3 indexed, 1 unchanged, 0 removed, 0 failed;")
    assert [name for _, name in module_names(db)] == ["lib", "lib.pkg", "lib.pkg.core", "tests.test_core"]


def test_a_watcher_renames_the_modules_when_pyproject_changes(db_url: str, db: psycopg.Connection, tmp_path: Path) -> None:
    root = (tmp_path / "project").resolve()
    write_files(root, {"python/pkg/__init__.py": "", "python/pkg/core.py": ENGINE})
    with Watcher(db_url, [root]) as watcher:
        assert watcher.wait_ready(60)
        assert [name for _, name in module_names(db)] == ["python.pkg", "python.pkg.core"]
        (root / "pyproject.toml").write_text('[tool.setuptools]\npackage-dir = {"" = "python"}\n')
        assert eventually(lambda: [name for _, name in module_names(db)], ["pkg", "pkg.core"]) == ["pkg", "pkg.core"]


def test_a_watcher_renames_the_modules_when_lib_gets_an_init_py(db_url: str, db: psycopg.Connection, lib_layout: Path) -> None:
    with Watcher(db_url, [lib_layout]) as watcher:
        assert watcher.wait_ready(60)
        assert [name for _, name in module_names(db)] == ["pkg", "pkg.core", "tests.test_core"]
        (lib_layout / "lib/__init__.py").write_text("")
        expected = ["lib", "lib.pkg", "lib.pkg.core", "tests.test_core"]
        assert eventually(lambda: [name for _, name in module_names(db)], expected) == expected


def eventually(read: Callable[[], list[str]], expected: list[str], deadline: float = 60.0) -> list[str]:
    """Poll until `read` returns `expected` (a watcher applies changes on its own thread)."""
    end = time.monotonic() + deadline
    value = read()
    while value != expected and time.monotonic() < end:
        time.sleep(0.05)
        value = read()
    return value


# --- SQLAlchemy's sdist: modules under lib/, tests importing them from test/ ------------------

SQLALCHEMY = "SQLAlchemy==2.1.9"  # pinned: the counts below are this release's
SDIST_CACHE = Path("/tmp/coderows-sdists")
SDIST = SDIST_CACHE / "sqlalchemy-2.1.9.tar.gz"


def sqlalchemy_sdist() -> Path:
    """The sdist, downloaded once into SDIST_CACHE; skips the test when it cannot be had."""
    if SDIST.is_file():
        return SDIST
    SDIST_CACHE.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", "-d", str(SDIST_CACHE), SQLALCHEMY]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    except subprocess.TimeoutExpired:
        pytest.skip(f"pip download {SQLALCHEMY} timed out (offline?)")
    if result.returncode != 0 or not SDIST.is_file():
        last_line = (result.stderr.strip().splitlines() or ["no output"])[-1]
        pytest.skip(f"cannot download the {SQLALCHEMY} sdist (offline?): {last_line}")
    return SDIST


@pytest.fixture(scope="module")
def sqlalchemy_db(database_factories: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Iterator[psycopg.Connection]:
    """A database holding SQLAlchemy's sdist, indexed once for the tests below."""
    sdist = sqlalchemy_sdist()
    folder = tmp_path_factory.mktemp("sqlalchemy")
    with tarfile.open(sdist) as archive:
        archive.extractall(folder, filter="data")
    root = folder / "sqlalchemy-2.1.9"
    factory = database_factories["embedded"]
    url = factory.create()
    try:
        index(url, root)
        with psycopg.connect(url, autocommit=True, options="-c search_path=coderows,public") as conn:
            yield conn
    finally:
        factory.drop(url)


def test_sqlalchemy_session_is_named_as_python_imports_it(sqlalchemy_db: psycopg.Connection) -> None:
    rows = sqlalchemy_db.execute(
        "SELECT path, kind FROM symbols WHERE full_name = 'sqlalchemy.orm.session.Session'"
    ).fetchall()
    assert rows == [("lib/sqlalchemy/orm/session.py", "class")]


def test_no_sqlalchemy_module_is_named_after_the_lib_folder(sqlalchemy_db: psycopg.Connection) -> None:
    assert sqlalchemy_db.execute("SELECT count(*) FROM modules WHERE name = 'lib' OR name LIKE 'lib.%'").fetchone() == (0,)


def test_sqlalchemy_tests_import_session_from_the_package_that_re_exports_it(sqlalchemy_db: psycopg.Connection) -> None:
    # test/orm/test_session.py: `from sqlalchemy.orm import Session` (sqlalchemy/orm/__init__.py re-exports it)
    rows = sqlalchemy_db.execute(
        "SELECT DISTINCT target_full_name FROM usages"
        " WHERE path = 'test/orm/test_session.py' AND kind = 'import' AND name = 'Session'"
    ).fetchall()
    assert rows == [("sqlalchemy.orm.session.Session",)]


def test_sqlalchemy_session_is_used_from_hundreds_of_places_in_test(sqlalchemy_db: psycopg.Connection) -> None:
    # With lib.sqlalchemy.* names no use from test/ resolved to it: 0 before the fix.
    (uses,) = sqlalchemy_db.execute(
        "SELECT count(*) FROM usages WHERE target_full_name = 'sqlalchemy.orm.session.Session' AND path LIKE 'test/%'"
    ).fetchone()
    assert uses >= 500
