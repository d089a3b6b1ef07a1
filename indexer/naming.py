"""Python's naming rules for files and imports: path -> dotted module name, and the
absolute module that a (possibly relative) import statement names."""

from __future__ import annotations

from dataclasses import dataclass

SOURCE_LAYOUT_FOLDER = "src"


@dataclass(frozen=True, slots=True)
class ModuleName:
    name: str
    is_package: bool


def module_name(path: str) -> ModuleName:
    """The dotted name of the file at POSIX `path` (relative to the repository root).

    A leading src/ folder is a layout convention, not part of the name; __init__ names
    its package; folders without __init__.py still count (PEP 420 namespace packages).

    >>> module_name("src/pkg/__init__.py")
    ModuleName(name='pkg', is_package=True)
    >>> module_name("pkg/sub/mod.py")
    ModuleName(name='pkg.sub.mod', is_package=False)
    """
    parts = path.split("/")
    if len(parts) > 1 and parts[0] == SOURCE_LAYOUT_FOLDER:
        parts = parts[1:]
    stem = parts[-1].removesuffix(".py")
    is_package = stem == "__init__"
    parts = parts[:-1] if is_package else [*parts[:-1], stem]
    # A root-level __init__.py has no package name of its own; call it after the file.
    return ModuleName(".".join(parts) or "__init__", is_package)


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
