"""code-index-mcp (PyPI `code-index-mcp`): a shallow file index plus an on-demand "deep"
symbol index, kept in its temp folder (TMPDIR, moved into the run's workdir here)."""

from __future__ import annotations

import json
from pathlib import Path

from mcp import Client

from .base import INDEX_TIMEOUT, Answer, Definition, Peer, References, call


class CodeIndexMcp(Peer):
    name = "code-index-mcp"
    requirements = ("code-index-mcp",)
    executable = "code-index-mcp"
    tools_needed = ("set_project_path", "build_deep_index", "get_symbol_body", "get_file_summary", "search_code_advanced")
    notes = (
        "code-index-mcp: get_symbol_body answers only after build_deep_index; its file watcher "
        "rebuilds just the shallow file list, so after an edit the bench calls build_deep_index again. "
        "It has no references tool: its text search (search_code_advanced, file_pattern *.py, default "
        "10 results) stands in.",
    )

    def env(self) -> dict[str, str]:
        tmp = self.workdir / "tmp"
        tmp.mkdir(parents=True, exist_ok=True)
        return {**super().env(), "TMPDIR": str(tmp)}

    async def open(self, client: Client, root: Path) -> None:
        await call(client, "set_project_path", {"path": str(root)}, INDEX_TIMEOUT)
        await call(client, "build_deep_index", {}, INDEX_TIMEOUT)

    async def source(self, client: Client, definition: Definition) -> Answer:
        return await call(client, "get_symbol_body", {"file_path": definition.path, "symbol_name": definition.qualname})

    async def outline(self, client: Client, path: str, module: str) -> Answer:
        return await call(client, "get_file_summary", {"file_path": path})

    async def references(self, client: Client, definition: Definition) -> References | None:
        answer = await call(client, "search_code_advanced", {"pattern": definition.name, "file_pattern": "*.py"})
        try:
            results = json.loads(answer.text).get("results", [])
        except (ValueError, AttributeError):
            results = []
        locations = [(r["file"].removeprefix("./"), int(r["line"])) for r in results if "file" in r and "line" in r]
        return References(answer, locations, "search_code_advanced")

    async def refresh(self, client: Client, root: Path, path: str) -> None:
        await call(client, "build_deep_index", {}, INDEX_TIMEOUT)
