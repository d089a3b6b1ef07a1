"""coderows.indexer.discover on real trees under tmp_path: which *.py files one root yields.

Where git's behaviour is subtle, the expected lists were checked against
`git ls-files --others --exclude-standard` (git 2.39) on the same trees.
"""

from __future__ import annotations

import os
import sys
import sysconfig
from collections.abc import Sequence
from pathlib import Path

import pytest

from coderows.indexer.discover import ALWAYS_SKIPPED_DIRS, IgnoreRules, SourceFile, discover


@pytest.fixture
def root(tmp_path: Path) -> Path:
    folder = tmp_path / "repo"
    folder.mkdir()
    return folder.resolve()


def make(root: Path, *paths: str) -> None:
    """Create files (and their folders); a path ending in "/" is an empty folder."""
    for path in paths:
        target = root / path
        if path.endswith("/"):
            target.mkdir(parents=True, exist_ok=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text("x = 1\n")


def write(root: Path, path: str, text: str) -> None:
    target = root / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)


def listed(root: Path, excludes: Sequence[str] = ()) -> list[str]:
    return [source.path for source in discover(root, excludes)]


# -- the plain walk ---------------------------------------------------------------------------


def test_plain_tree_is_listed_sorted_by_path(root: Path) -> None:
    make(root, "z.py", "pkg/sub/deep.py", "pkg/__init__.py", "a.py", "pkg/b.py")

    assert listed(root) == ["a.py", "pkg/__init__.py", "pkg/b.py", "pkg/sub/deep.py", "z.py"]


def test_files_that_are_not_python_are_not_listed(root: Path) -> None:
    make(root, "mod.py", "README.md", "mod.pyc", "stub.pyi", "script", "data.py.bak", "pkg/notes.txt")

    assert listed(root) == ["mod.py"]


def test_deep_tree_does_not_hit_the_recursion_limit(root: Path) -> None:
    depth = sys.getrecursionlimit() + 100
    deep = "/".join(["d"] * depth)
    folders = [os.path.join(root, *["d"] * level) for level in range(1, depth + 1)]
    for folder in folders:  # os.makedirs and Path.mkdir(parents=True) recurse themselves
        os.mkdir(folder)
    write(root, f"{deep}/leaf.py", "x = 1\n")
    try:
        assert listed(root) == [f"{deep}/leaf.py"]
    finally:
        # shutil.rmtree (pytest's tmp_path cleanup) would recurse too deep
        os.remove(root / deep / "leaf.py")
        for folder in reversed(folders):
            os.rmdir(folder)


def test_size_and_mtime_ns_equal_os_stat(root: Path) -> None:
    write(root, "pkg/mod.py", "def f():\n    return 42\n")
    os.utime(root / "pkg/mod.py", ns=(1_600_000_000_123_456_789, 1_700_000_000_987_654_321))
    (root / "alias.py").symlink_to(root / "pkg/mod.py")

    st = os.stat(root / "pkg/mod.py")
    assert discover(root) == [
        SourceFile("alias.py", st.st_size, st.st_mtime_ns),
        SourceFile("pkg/mod.py", st.st_size, st.st_mtime_ns),
    ]
    assert st.st_mtime_ns == 1_700_000_000_987_654_321


def test_fifo_and_folder_named_like_a_python_file_are_not_listed(root: Path) -> None:
    os.mkfifo(root / "x.py")
    make(root, "y.py/inner.py", "real.py")

    assert listed(root) == ["real.py", "y.py/inner.py"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every folder whatever its mode")
def test_unreadable_folder_is_skipped(root: Path) -> None:
    make(root, "ok.py", "locked/hidden.py")
    (root / "locked").chmod(0)
    try:
        assert listed(root) == ["ok.py"]
    finally:
        (root / "locked").chmod(0o755)


def test_root_that_is_not_a_folder_raises(root: Path) -> None:
    make(root, "file.py")

    with pytest.raises(NotADirectoryError):
        discover(root / "file.py")
    with pytest.raises(FileNotFoundError):
        discover(root / "missing")


# -- always skipped, virtualenvs, build/ and dist/ ------------------------------------------


def test_git_pycache_node_modules_and_site_packages_are_not_entered(root: Path) -> None:
    make(
        root,
        "app.py",
        ".git/hooks/pre_commit.py",
        "pkg/__pycache__/mod.py",
        "web/node_modules/lib/build.py",
        "lib/python3.11/site-packages/requests/api.py",
        ".tox/py311/x.py",
        ".mypy_cache/x.py",
        ".pytest_cache/x.py",
        ".ruff_cache/x.py",
        ".hg/x.py",
    )

    assert listed(root) == ["app.py"]


def test_always_skipped_dirs_has_the_contract_names() -> None:
    assert {".git", "__pycache__", "site-packages", "node_modules"} <= ALWAYS_SKIPPED_DIRS


def test_folder_holding_pyvenv_cfg_is_skipped_but_a_folder_named_venv_is_indexed(root: Path) -> None:
    make(root, ".env/pyvenv.cfg", ".env/lib/helper.py", "tools/env/pyvenv.cfg", "tools/env/bin/x.py")
    make(root, "venv/__init__.py", "venv/__main__.py", "tools/run.py")

    assert listed(root) == ["tools/run.py", "venv/__init__.py", "venv/__main__.py"]


def test_build_and_dist_are_indexed_when_not_ignored(root: Path) -> None:
    make(root, "build/gen.py", "dist/pkg/mod.py")

    assert listed(root) == ["build/gen.py", "dist/pkg/mod.py"]


def test_build_and_dist_are_skipped_when_gitignored(root: Path) -> None:
    make(root, "build/gen.py", "dist/pkg/mod.py", "src/app.py")
    write(root, ".gitignore", "build/\n/dist\n")

    assert listed(root) == ["src/app.py"]


# -- .gitignore, .git/info/exclude, excludes --------------------------------------------------


def test_nested_gitignore_with_negation_and_folder_only_pattern(root: Path) -> None:
    make(root, "pkg/gen_a.py", "pkg/gen_keep.py", "pkg/generated/models.py", "pkg/gen_models.py", "top.py")
    write(root, "pkg/.gitignore", "gen_*.py\n!gen_keep.py\ngen*/\n")

    # "gen*/" takes the folder generated/ but not the file gen_models.py; "gen_*.py" does
    assert listed(root) == ["pkg/gen_keep.py", "top.py"]


def test_gitignore_patterns_are_relative_to_their_folder(root: Path) -> None:
    make(root, "local.py", "pkg/local.py", "pkg/sub/local.py", "pkg/sub/conf/settings.py", "conf/settings.py")
    write(root, "pkg/.gitignore", "/local.py\nsub/conf/\n")

    assert listed(root) == ["conf/settings.py", "local.py", "pkg/sub/local.py"]


def test_deeper_gitignore_overrides_shallower(root: Path) -> None:
    make(root, "generated.py", "pkg/generated.py", "other/generated.py")
    write(root, ".gitignore", "generated.py\n")
    write(root, "pkg/.gitignore", "!generated.py\n")

    assert listed(root) == ["pkg/generated.py"]


def test_deeper_gitignore_can_re_include_a_folder_a_shallower_one_ignores(root: Path) -> None:
    make(root, "build/out.py", "tools/build/gen.py")
    write(root, ".gitignore", "build/\n")
    write(root, "tools/.gitignore", "!build/\n")

    assert listed(root) == ["tools/build/gen.py"]


def test_re_include_inside_an_ignored_folder_has_no_effect(root: Path) -> None:
    make(root, "build/keep.py", "build/drop.py", "app.py")
    write(root, ".gitignore", "build/\n!build/keep.py\n")
    # never read: git does not look inside an ignored folder
    write(root, "build/.gitignore", "!keep.py\n")

    assert listed(root) == ["app.py"]


def test_contents_pattern_lets_a_negation_re_include_a_file(root: Path) -> None:
    # "gen/**" ignores what is inside gen/, not gen/ itself, so a negation still works
    make(root, "gen/keep.py", "gen/drop.py", "gen/sub/x.py", "main.py")
    write(root, ".gitignore", "gen/**\n!gen/keep.py\n")

    assert listed(root) == ["gen/keep.py", "main.py"]


def test_whitelist_idiom_ignore_all_then_re_include_folders_and_python(root: Path) -> None:
    make(root, "top.py", "pkg/a.py", "pkg/sub/b.py")
    write(root, "pkg/notes.txt", "not python\n")
    write(root, ".gitignore", "*\n!*/\n!*.py\n")

    assert listed(root) == ["pkg/a.py", "pkg/sub/b.py", "top.py"]


def test_subfolders_only_pattern_keeps_the_folders_own_files(root: Path) -> None:
    # "a/**/" ignores the folders below a/, not a/ itself (pathspec alone reads it as "a/")
    make(root, "a/m.py", "a/b/n.py", "c/a/m.py")
    write(root, ".gitignore", "a/**/\n")

    assert listed(root) == ["a/m.py", "c/a/m.py"]


def test_invalid_gitignore_line_is_dropped_like_git_does(root: Path) -> None:
    make(root, "keep.py", "drop.py")
    write(root, ".gitignore", "\\\n!\ndrop.py\n")

    assert listed(root) == ["keep.py"]


def test_git_info_exclude_applies_below_every_gitignore(root: Path) -> None:
    make(root, "scratch.py", "local.py", "pkg/scratch.py", "app.py", ".git/info/")
    write(root, ".git/info/exclude", "scratch.py\nlocal.py\n")
    write(root, ".gitignore", "!local.py\n")

    assert listed(root) == ["app.py", "local.py"]


def test_excludes_argument_excludes_and_beats_a_gitignore_negation(root: Path) -> None:
    make(root, "app.py", "tests/test_app.py", "tests/keep.py", "proto/api_pb2.py", "proto/api.py")
    write(root, ".gitignore", "!tests/keep.py\n")

    assert listed(root, excludes=["tests/", "*_pb2.py"]) == ["app.py", "proto/api.py"]


def test_invalid_exclude_pattern_raises_value_error(root: Path) -> None:
    with pytest.raises(ValueError, match="--exclude"):
        discover(root, excludes=["!"])


# -- symlinks -----------------------------------------------------------------------------------


def test_symlink_to_a_folder_inside_the_root_is_followed(root: Path) -> None:
    make(root, "pkg/mod.py")
    (root / "alias").symlink_to(root / "pkg", target_is_directory=True)

    assert listed(root) == ["alias/mod.py", "pkg/mod.py"]


def test_symlink_to_a_file_inside_the_root_is_listed_under_the_link(root: Path) -> None:
    make(root, "pkg/mod.py")
    (root / "shim.py").symlink_to("pkg/mod.py")

    assert listed(root) == ["pkg/mod.py", "shim.py"]


def test_symlink_leaving_the_root_or_dangling_is_not_followed(root: Path, tmp_path: Path) -> None:
    make(tmp_path, "outside/secret.py", "outside_file.py")
    make(root, "app.py")
    (root / "out_dir").symlink_to(tmp_path / "outside", target_is_directory=True)
    (root / "out_file.py").symlink_to(tmp_path / "outside_file.py")
    (root / "dangling.py").symlink_to(root / "missing.py")
    (root / "dangling_dir").symlink_to(root / "missing", target_is_directory=True)

    assert listed(root) == ["app.py"]


def test_symlink_loop_terminates(root: Path) -> None:
    make(root, "a/mod.py")
    (root / "a/up").symlink_to("..", target_is_directory=True)
    (root / "a/self").symlink_to(".", target_is_directory=True)
    (root / "ping").symlink_to("pong")
    (root / "pong").symlink_to("ping")

    assert listed(root) == ["a/mod.py"]


def test_symlink_into_an_ignored_folder_is_not_followed(root: Path) -> None:
    make(root, ".venv/pyvenv.cfg", ".venv/lib/pkg/mod.py", "app.py")
    (root / "pkg_src").symlink_to(root / ".venv/lib/pkg", target_is_directory=True)

    assert listed(root) == ["app.py"]


# -- IgnoreRules for single paths -----------------------------------------------------------


def test_is_ignored_agrees_with_discover(root: Path) -> None:
    make(root, "build/out.py", "gen_a.py", "gen_keep.py", "env/pyvenv.cfg", "env/lib/x.py", "app.py")
    write(root, ".gitignore", "build/\ngen_*.py\n!gen_keep.py\n")
    rules = IgnoreRules(root)

    assert listed(root) == ["app.py", "gen_keep.py"]
    assert rules.is_ignored("build/out.py", is_dir=False)  # file in an ignored folder
    assert rules.is_ignored("build", is_dir=True)
    assert rules.is_ignored("gen_a.py", is_dir=False)
    assert not rules.is_ignored("gen_keep.py", is_dir=False)  # negated
    assert rules.is_ignored("env/lib/x.py", is_dir=False)  # inside a virtualenv
    assert rules.is_ignored("env", is_dir=True)
    assert not rules.is_ignored("app.py", is_dir=False)


def test_is_ignored_covers_always_skipped_names_and_excludes(root: Path) -> None:
    rules = IgnoreRules(root, excludes=["vendor/"])

    assert rules.is_ignored("pkg/__pycache__/mod.py", is_dir=False)
    assert rules.is_ignored("node_modules", is_dir=True)
    assert rules.is_ignored("vendor/lib.py", is_dir=False)
    assert not rules.is_ignored("pkg/mod.py", is_dir=False)
    assert not rules.is_ignored("", is_dir=True)


def test_is_ignored_refuses_paths_outside_the_root(root: Path) -> None:
    rules = IgnoreRules(root)

    with pytest.raises(ValueError):
        rules.is_ignored("../elsewhere.py", is_dir=False)
    with pytest.raises(ValueError):
        rules.is_ignored("/etc/passwd", is_dir=False)


def test_forget_picks_up_an_edited_gitignore(root: Path) -> None:
    make(root, "pkg/a.py", "pkg/b.py")
    write(root, "pkg/.gitignore", "a.py\n")
    rules = IgnoreRules(root)
    assert rules.is_ignored("pkg/a.py", is_dir=False)

    write(root, "pkg/.gitignore", "b.py\n")
    assert rules.is_ignored("pkg/a.py", is_dir=False)  # still the cached spec
    rules.forget("pkg")

    assert not rules.is_ignored("pkg/a.py", is_dir=False)
    assert rules.is_ignored("pkg/b.py", is_dir=False)


def test_forget_root_rereads_git_info_exclude(root: Path) -> None:
    make(root, "a.py", ".git/info/")
    rules = IgnoreRules(root)
    assert not rules.is_ignored("a.py", is_dir=False)

    write(root, ".git/info/exclude", "a.py\n")
    rules.forget("")

    assert rules.is_ignored("a.py", is_dir=False)


# -- real code --------------------------------------------------------------------------------


def test_walk_over_the_running_interpreters_stdlib() -> None:
    stdlib = Path(sysconfig.get_paths()["stdlib"]).resolve()

    paths = [source.path for source in discover(stdlib)]

    assert len(paths) > 1000
    assert "json/__init__.py" in paths
    assert "venv/__init__.py" in paths
    assert not [path for path in paths if "site-packages" in path]
    assert paths == sorted(paths)
