"""The package roots a project declares: which folders install under which package.

Module names are the names Python imports them by once the project is installed
(README.md, "What is indexed"). That depends on the project's packaging
configuration, read here from the repository root:

- pyproject.toml: setuptools ``[tool.setuptools] package-dir`` and
  ``[tool.setuptools.packages.find] where``; hatch ``[tool.hatch.build.targets.wheel]``
  (or ``[tool.hatch.build]``) ``packages`` and ``sources``; poetry
  ``[tool.poetry] packages = [{include, from}]``; flit ``[tool.flit.module] name``
  (flit looks for the module at the root, then under ``src/``); pdm
  ``[tool.pdm.build] package-dir``; maturin ``[tool.maturin] python-source``;
  scikit-build-core ``[tool.scikit-build] wheel.packages``;
- setup.cfg: ``[options] package_dir`` and ``[options.packages.find] where``.

When nothing is declared, a leading ``src/`` or ``lib/`` holding no ``__init__.py`` is a
package root (the usual layouts); a ``lib/`` with ``__init__.py`` is a package and keeps
its name. setup.py is code, and is never run or read.

Configuration is untrusted input: files are read only when they are regular files of
at most MAX_CONFIG_BYTES inside the root (files.read_file), a declared folder must be a
relative path that stays inside the root, and a package must be a dotted identifier.
A file that cannot be read or parsed, or an entry of the wrong shape, is passed over as
if it were absent: indexing never fails because of a project's packaging.
"""

from __future__ import annotations

import configparser
import logging
import os
import stat
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from coderows.common.files import read_file
from coderows.indexer.naming import PackageRoot, PackageRoots

log = logging.getLogger(__name__)

PYPROJECT = "pyproject.toml"
SETUP_CFG = "setup.cfg"
# Files whose change can change every module name of the repository (watchers re-index
# the root when one does): the configuration, and the __init__.py that decides whether
# a layout folder is a package.
LAYOUT_FOLDERS = ("src", "lib")
PACKAGING_INPUTS = frozenset({PYPROJECT, SETUP_CFG, *(f"{folder}/__init__.py" for folder in LAYOUT_FOLDERS)})
# Real ones are a few KB (sqlalchemy's pyproject.toml: 6 KB).
MAX_CONFIG_BYTES = 1024 * 1024
# Every file's name is matched against every root: real projects declare a handful, and
# a bound keeps a hostile declaration of thousands from slowing every index run.
MAX_PACKAGE_ROOTS = 128
MAX_FOLDER_CHARS = 4096  # PATH_MAX


def package_roots(root: Path) -> PackageRoots:
    """The package roots of the repository at `root` (absolute, resolved): what its
    packaging configuration declares, else the src/ and lib/ layout folders."""
    declared = declared_roots(root)
    if declared is not None:
        return declared
    return layout_roots(root)


def declared_roots(root: Path) -> PackageRoots | None:
    """What pyproject.toml and setup.cfg declare, in that order of precedence (the first
    declaration of a folder wins); None when neither declares a package root."""
    found: dict[str, PackageRoot] = {}  # by folder
    declared = False
    for entries in (_pyproject_roots(root), _setup_cfg_roots(root)):
        if entries is None:
            continue
        declared = True
        for entry in entries[: MAX_PACKAGE_ROOTS - len(found)]:
            found.setdefault(entry.folder, entry)
    return tuple(found.values()) if declared else None


def layout_roots(root: Path) -> PackageRoots:
    """src/ and lib/ when they are folders holding no __init__.py."""
    return tuple(
        PackageRoot(folder, "")
        for folder in LAYOUT_FOLDERS
        if _is_dir(root / folder) and not _is_file(root / folder / "__init__.py")
    )


def is_packaging_input(path: str) -> bool:
    """Whether a change to this repository-relative path can change module names."""
    return path in PACKAGING_INPUTS


# --- pyproject.toml ------------------------------------------------------------------------


def _pyproject_roots(root: Path) -> list[PackageRoot] | None:
    """Roots declared in pyproject.toml; None when it declares none (or is unusable)."""
    text = _read_config(root, PYPROJECT)
    if text is None:
        return None
    try:
        document = tomllib.loads(text)
    except (tomllib.TOMLDecodeError, RecursionError) as error:  # tomllib recurses into nested arrays
        log.debug("%s/%s is not valid TOML (%s): its package roots are not used", root, PYPROJECT, error)
        return None
    tool = _table(document.get("tool"))
    readers = (
        _setuptools_roots(_table(tool.get("setuptools"))),
        _hatch_roots(tool),
        _poetry_roots(tool),
        _flit_roots(root, tool),
        _single_folder_root(_table(_table(tool.get("pdm")).get("build")).get("package-dir")),
        _single_folder_root(_table(tool.get("maturin")).get("python-source")),
        _scikit_build_roots(tool),
    )
    declarations = [entries for entries in readers if entries is not None]
    if not declarations:
        return None
    return [entry for entries in declarations for entry in entries]


def _setuptools_roots(setuptools: dict[str, Any]) -> list[PackageRoot] | None:
    """[tool.setuptools] package-dir = {package = folder} and packages.find.where."""
    entries: list[PackageRoot] = []
    declared = False
    package_dir = setuptools.get("package-dir")
    if isinstance(package_dir, dict):
        declared = True
        entries += _mapped_roots(package_dir.items())
    packages = setuptools.get("packages")
    find = _table(packages.get("find")) if isinstance(packages, dict) else {}
    where = find.get("where")
    if isinstance(where, list):
        declared = True
        entries += [PackageRoot(folder, "") for folder in _folders(where)]
    return entries if declared else None


def _hatch_roots(tool: dict[str, Any]) -> list[PackageRoot] | None:
    """hatch's wheel target, else its build-wide settings: `packages = ["src/foo"]`
    installs src/foo as foo; `sources = ["src"]` strips a prefix, `sources = {"src/foo" =
    "bar"}` replaces one."""
    build = _table(_table(tool.get("hatch")).get("build"))
    for settings in (_table(_table(build.get("targets")).get("wheel")), build):
        sources = settings.get("sources")
        if isinstance(sources, list):
            return [PackageRoot(folder, "") for folder in _folders(sources)]
        if isinstance(sources, dict):
            return _mapped_roots((_package_of_path(target), folder) for folder, target in sources.items())
        packages = settings.get("packages")
        if isinstance(packages, list):
            # the folder installs as its last component: "src/foo" is the package foo
            return [PackageRoot(folder, folder.rpartition("/")[2]) for folder in _folders(packages) if _is_package_folder(folder)]
    return None


def _is_package_folder(folder: str) -> bool:
    return folder.rpartition("/")[2].isidentifier()


def _poetry_roots(tool: dict[str, Any]) -> list[PackageRoot] | None:
    """[tool.poetry] packages = [{include = "foo", from = "src"}]: under `from`, paths
    are import names."""
    packages = _table(tool.get("poetry")).get("packages")
    if not isinstance(packages, list):
        return None
    entries = [entry for entry in packages if isinstance(entry, dict)]
    folders = _folders(entry.get("from", "") for entry in entries)
    return [PackageRoot(folder, "") for folder in dict.fromkeys(folders)]


def _single_folder_root(folder: Any) -> list[PackageRoot] | None:
    """pdm `package-dir = "src"`, maturin `python-source = "python"`: one root folder."""
    if not isinstance(folder, str):
        return None
    return [PackageRoot(normal, "") for normal in _folders([folder])]


def _scikit_build_roots(tool: dict[str, Any]) -> list[PackageRoot] | None:
    """[tool.scikit-build] wheel.packages: a list like hatch's `packages`, or a table
    {package = folder}."""
    packages = _table(_table(tool.get("scikit-build")).get("wheel")).get("packages")
    if isinstance(packages, list):
        return [PackageRoot(folder, folder.rpartition("/")[2]) for folder in _folders(packages) if _is_package_folder(folder)]
    if isinstance(packages, dict):
        return _mapped_roots(packages.items())
    return None


def _flit_roots(root: Path, tool: dict[str, Any]) -> list[PackageRoot] | None:
    """[tool.flit.module] name: flit takes the module from the root, else from src/."""
    name = _table(_table(tool.get("flit")).get("module")).get("name")
    if not isinstance(name, str) or not _is_dotted_identifier(name):
        return None
    relative = name.replace(".", "/")
    in_root = _is_dir(root / relative) or _is_file(root / f"{relative}.py")
    in_src = _is_dir(root / "src" / relative) or _is_file(root / "src" / f"{relative}.py")
    return [PackageRoot("src", "")] if in_src and not in_root else [PackageRoot("", "")]


# --- setup.cfg -----------------------------------------------------------------------------


def _setup_cfg_roots(root: Path) -> list[PackageRoot] | None:
    """[options] package_dir (setuptools' dict syntax: `=lib`, or one `package = folder`
    a line) and [options.packages.find] where."""
    text = _read_config(root, SETUP_CFG)
    if text is None:
        return None
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string(text, source=SETUP_CFG)
    except configparser.Error as error:
        log.debug("%s/%s cannot be parsed (%s): its package roots are not used", root, SETUP_CFG, error)
        return None
    entries: list[PackageRoot] = []
    declared = False
    package_dir = parser.get("options", "package_dir", fallback=None)
    if package_dir is not None:
        declared = True
        entries += _mapped_roots(_cfg_dict(package_dir))
    where = parser.get("options.packages.find", "where", fallback=None)
    if where is not None:
        declared = True
        entries += [PackageRoot(folder, "") for folder in _folders([where.strip()])]
    return entries if declared else None


def _cfg_dict(value: str) -> Iterator[tuple[str, str]]:
    """setuptools' reading of a dict option: one `key = value` per line, or comma
    separated on one line; a chunk without `=` is not an entry."""
    chunks = value.splitlines() if "\n" in value else value.split(",")
    for chunk in chunks:
        key, sep, folder = chunk.strip().partition("=")
        if sep:
            yield key.strip(), folder.strip()


# --- shapes and safety ---------------------------------------------------------------------


def _read_config(root: Path, name: str) -> str | None:
    """The text of a configuration file at the root; None if missing or not safe to read."""
    try:
        data, _ = read_file(str(root / name), MAX_CONFIG_BYTES, root=str(root))
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as error:  # not a regular file, outside the root, too large, unreadable
        log.debug("%s/%s not read: %s", root, name, error)
        return None
    try:
        return data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError:
        log.debug("%s/%s is not UTF-8: its package roots are not used", root, name)
        return None


def _mapped_roots(items: Any) -> list[PackageRoot]:
    """(package, folder) pairs of the right shape, as roots."""
    roots: list[PackageRoot] = []
    for package, folder in items:
        if not isinstance(package, str) or not isinstance(folder, str):
            continue
        if package and not _is_dotted_identifier(package):
            continue
        normal = _relative_folder(folder)
        if normal is not None:
            roots.append(PackageRoot(normal, package))
    return roots


def _folders(values: Any) -> list[str]:
    """The usable folders among `values`: strings naming a folder inside the root."""
    folders = (_relative_folder(value) for value in values if isinstance(value, str))
    return [folder for folder in folders if folder is not None]


def _relative_folder(folder: str) -> str | None:
    """`folder` as a POSIX path relative to the root ("" for the root itself); None when
    it is absolute or climbs out of the root."""
    if len(folder) > MAX_FOLDER_CHARS or folder.startswith(("/", "\\")) or (len(folder) > 1 and folder[1] == ":"):
        return None
    parts = [part for part in folder.replace("\\", "/").split("/") if part not in ("", ".")]
    if ".." in parts:
        return None
    return "/".join(parts)


def _package_of_path(target: Any) -> str | None:
    """hatch `sources` maps a path prefix to a path prefix: "bar/baz" installs as bar.baz."""
    folder = _relative_folder(target) if isinstance(target, str) else None
    return folder.replace("/", ".") if folder is not None else None


def _is_dotted_identifier(name: str) -> bool:
    return all(part.isidentifier() for part in name.split("."))


def _is_dir(path: Path) -> bool:
    """Path.is_dir, False also where it would raise (a name too long, a folder we may not read)."""
    try:
        return stat.S_ISDIR(os.stat(path).st_mode)
    except (OSError, ValueError):  # ValueError: a NUL in the name
        return False


def _is_file(path: Path) -> bool:
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except (OSError, ValueError):
        return False


def _table(value: Any) -> dict[str, Any]:
    """A TOML table, or {} for anything else (a missing key, a string where a table was due)."""
    return value if isinstance(value, dict) else {}

