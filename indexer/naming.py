"""Python's naming rules for files and imports: path -> dotted module name, and the
absolute module that a (possibly relative) import statement names.

A module's name is the one Python imports it by once the project is installed. A
project's *package roots* (indexer/packaging.py reads them) say which folders are
installed under which package: `lib/` holding `sqlalchemy/` installs as `sqlalchemy`.
`module_name` is a pure function of the path and those roots; it never looks at disk.
"""

from __future__ import annotations

from dataclasses import dataclass

SOURCE_LAYOUT_FOLDER = "src"


@dataclass(frozen=True, slots=True)
class ModuleName:
    name: str
    is_package: bool


@dataclass(frozen=True, slots=True)
class PackageRoot:
    """The files under `folder` (POSIX, relative to the repository root; "" is the root
    itself) are imported under the dotted `package` ("" for top level): setuptools'
    package-dir {"" = "lib"} is PackageRoot("lib", ""), {"foo" = "src/foo"} is
    PackageRoot("src/foo", "foo")."""

    folder: str
    package: str


PackageRoots = tuple[PackageRoot, ...]

# For a caller that does not know the repository's layout (a file parsed on its own):
# the path-only rule, where a leading src/ is a layout folder, never a package.
PATH_ONLY_ROOTS: PackageRoots = (PackageRoot(SOURCE_LAYOUT_FOLDER, ""),)


def module_name(path: str, package_roots: PackageRoots = PATH_ONLY_ROOTS) -> ModuleName:
    """The dotted name of the file at POSIX `path` (relative to the repository root).

    The deepest package root whose folder holds the file replaces that folder by its
    package; __init__ names its package; other folders count whether or not they hold
    an __init__.py (PEP 420 namespace packages).

    >>> module_name("src/pkg/__init__.py")
    ModuleName(name='pkg', is_package=True)
    >>> module_name("lib/sqlalchemy/orm/session.py", (PackageRoot("lib", ""),))
    ModuleName(name='sqlalchemy.orm.session', is_package=False)
    """
    parts = path.split("/")
    root = _deepest_root(parts[:-1], package_roots)
    if root is not None:
        folder_depth = len(root.folder.split("/")) if root.folder else 0
        parts = [*_dotted(root.package), *parts[folder_depth:]]
    stem = parts[-1].removesuffix(".py")
    is_package = stem == "__init__"
    parts = parts[:-1] if is_package else [*parts[:-1], stem]
    # A root-level __init__.py has no package name of its own; call it after the file.
    return ModuleName(".".join(parts) or "__init__", is_package)


def _deepest_root(folders: list[str], package_roots: PackageRoots) -> PackageRoot | None:
    """The root whose folder is the longest leading run of `folders` (the folders the
    file lies in); None when no root holds the file."""
    best: PackageRoot | None = None
    best_depth = -1
    for root in package_roots:
        root_folders = root.folder.split("/") if root.folder else []
        if len(root_folders) > best_depth and folders[: len(root_folders)] == root_folders:
            best, best_depth = root, len(root_folders)
    return best


def _dotted(package: str) -> list[str]:
    return package.split(".") if package else []


def import_target(importer: ModuleName, imported_module: str | None, level: int) -> str | None:
    """The absolute module named by an import in `importer`; None when a relative import
    climbs above the top-level package.

    >>> import_target(ModuleName("pkg.sub.mod", False), "x", 2)
    'pkg.x'
    >>> import_target(ModuleName("pkg", True), None, 1)
    'pkg'
    """
    if level == 0:
        return imported_module
    package = importer.name.split(".")
    if not importer.is_package:
        package = package[:-1]
    climb = level - 1
    if climb >= len(package):  # as importlib: "attempted relative import beyond top-level package"
        return None
    base = package[: len(package) - climb]
    return ".".join([*base, imported_module] if imported_module else base) or None
