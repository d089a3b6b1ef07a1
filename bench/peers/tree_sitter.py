"""mcp-server-tree-sitter (PyPI `mcp-server-tree-sitter`): no index at all; every answer
parses the files it needs on the spot. Symbol source is a tree-sitter query for the
definition (nested in its classes), the outline is get_symbols, references are find_usage."""

from __future__ import annotations

from pathlib import Path

from mcp import Client

from .base import INDEX_TIMEOUT, Answer, Definition, Peer, References, call, json_values

PROJECT = "bench"


class TreeSitter(Peer):
    name = "mcp-server-tree-sitter"
    # Its release declares mcp>=1.23 and tree-sitter-language-pack>=0.6.1, but it imports
    # mcp 1.x's FastMCP (gone in mcp 2) and language-pack 1.x downloads its parsers from
    # GitHub at run time: the bench pins both to versions that run offline.
    requirements = ("mcp-server-tree-sitter", "mcp<2", "tree-sitter-language-pack<1")
    executable = "mcp-server-tree-sitter"
    tools_needed = ("register_project_tool", "run_query", "get_symbols", "find_usage")
    notes = (
        "mcp-server-tree-sitter: installed with mcp<2 and tree-sitter-language-pack<1 (as released it "
        "fails to start under mcp 2, and language-pack 1.x fetches parsers from GitHub at run time); "
        "it keeps no index, so time-to-ready is registration plus the first query; symbol source is "
        "one run_query call (capture_filter=definition) for the definition nested in its classes.",
    )

    async def open(self, client: Client, root: Path) -> None:
        await call(client, "register_project_tool", {"path": str(root), "name": PROJECT}, INDEX_TIMEOUT)

    async def source(self, client: Client, definition: Definition) -> Answer:
        arguments = {
            "project": PROJECT,
            "query": definition_query(definition),
            "file_path": definition.path,
            "language": "python",
            "capture_filter": "definition",
        }
        return await call(client, "run_query", arguments)

    async def outline(self, client: Client, path: str, module: str) -> Answer:
        return await call(client, "get_symbols", {"project": PROJECT, "file_path": path})

    async def references(self, client: Client, definition: Definition) -> References | None:
        answer = await call(client, "find_usage", {"project": PROJECT, "symbol": definition.name, "language": "python"}, INDEX_TIMEOUT)
        locations: list[tuple[str, int | None]] = [
            (value["file"], int(value["start"]["row"]) + 1)  # rows are 0-based
            for value in json_values(answer.text)
            if isinstance(value, dict) and "file" in value and "start" in value
        ]
        return References(answer, locations, "find_usage")


def definition_query(definition: Definition) -> str:
    """A tree-sitter query matching exactly this definition, decorated or not."""
    parts = definition.qualname.split(".")
    node = "class_definition" if definition.kind == "class" else "function_definition"
    pattern = f'({node} name: (identifier) @n{len(parts)} (#eq? @n{len(parts)} "{parts[-1]}")) @definition'
    for depth in range(len(parts) - 1, 0, -1):
        member = f"[{pattern} (decorated_definition definition: {pattern})]"
        pattern = f'(class_definition name: (identifier) @n{depth} (#eq? @n{depth} "{parts[depth - 1]}") body: (block {member}))'
    if len(parts) == 1:  # only at module level, not a same-named method
        pattern = f"(module [{pattern} (decorated_definition definition: {pattern})])"
    return pattern
