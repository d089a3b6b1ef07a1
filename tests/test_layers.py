"""The layers (README "How it is built"): each imports only the layers below it,
`common/` <- `db/` <- `indexer/` (write side) and `server/` (read side) <- `edit/` <- `cli/`.
The read side reaches the indexer through `server/freshness.py` alone; two entry points
look up on purpose. Read from the source with `ast`, lazy imports inside functions included."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parent.parent

# Which coderows layers each layer may import, besides itself.
BELOW = {
    "common": set(),
    "db": {"common"},
    "indexer": {"common", "db"},
    "server": {"common", "db"},
    "edit": {"common", "db", "indexer", "server"},
    "cli": {"common", "db", "indexer", "server", "edit"},
}

# The documented exceptions: (file, layer it may reach) and why.
EXCEPTIONS = {
    ("server/freshness.py", "indexer"),  # the one boundary where the server makes the index catch up
    ("server/__main__.py", "cli"),  # `python -m coderows.server` is `coderows serve`
    ("server/app.py", "edit"),  # `serve --allow-edits` declares the edit tools
}


def coderows_layers_imported(path: Path) -> set[str]:
    layers = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names = [node.module] if isinstance(node, ast.ImportFrom) and node.module else []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        layers |= {name.split(".")[1] for name in names if name.startswith("coderows.")}
    return layers


@pytest.mark.parametrize("layer", sorted(BELOW))
def test_a_layer_imports_only_the_layers_below_it(layer: str) -> None:
    reaching_up = []
    for path in sorted((PROJECT / layer).glob("*.py")):
        relative = path.relative_to(PROJECT).as_posix()
        for imported in sorted(coderows_layers_imported(path) - BELOW[layer] - {layer}):
            if (relative, imported) not in EXCEPTIONS:
                reaching_up.append(f"{relative} imports coderows.{imported}")
    assert reaching_up == []


def test_the_documented_exceptions_still_exist() -> None:
    """An exception no file needs any more is removed from the list, so the list stays the truth."""
    used = {(path, layer) for path, layer in EXCEPTIONS if layer in coderows_layers_imported(PROJECT / path)}
    assert used == EXCEPTIONS
