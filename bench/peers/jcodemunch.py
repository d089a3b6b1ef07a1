"""jcodemunch-mcp (PyPI `jcodemunch-mcp`): a SQLite symbol index under CODE_INDEX_PATH,
reached through its `order(action, args)` front door (its catalog lists the actions)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mcp import Client

from .base import CALL_TIMEOUT, INDEX_TIMEOUT, Answer, Definition, Peer, References, call


class Jcodemunch(Peer):
    name = "jcodemunch-mcp"
    requirements = ("jcodemunch-mcp",)
    executable = "jcodemunch-mcp"
    tools_needed = ("order",)
    actions_needed = ("index_folder", "index_file", "get_symbol_source", "get_file_outline", "check_references")
    notes = (
        "jcodemunch-mcp: its default 2,000-file cap would drop a third of Django, so the bench sets "
        "JCODEMUNCH_MAX_FOLDER_FILES=20000; index_folder runs with use_ai_summaries=false (no API keys "
        "here); references are check_references (import sites plus text matches); after an edit the "
        "bench calls index_file.",
    )

    def __init__(self, venv: Path, workdir: Path) -> None:
        super().__init__(venv, workdir)
        self.repo = ""

    def env(self) -> dict[str, str]:
        return {
            **super().env(),
            "CODE_INDEX_PATH": str(self.workdir / "index"),
            "JCODEMUNCH_MAX_FOLDER_FILES": "20000",
            "JCODEMUNCH_SHARE_SAVINGS": "0",
            "JCODEMUNCH_NO_VERSION_HINT": "1",
        }

    async def order(self, client: Client, action: str, args: dict[str, Any], timeout: float = CALL_TIMEOUT) -> Answer:
        arguments: dict[str, Any] = {"action": action, "args": args}
        if action.startswith("index_"):
            arguments["allow_state_change"] = True
        return await call(client, "order", arguments, timeout)

    async def open(self, client: Client, root: Path) -> None:
        menu = (await call(client, "menu", {"limit": 500})).text
        missing = [action for action in self.actions_needed if f'"{action}"' not in menu]
        if missing:
            raise RuntimeError(f"its catalog lacks {', '.join(missing)}")
        answer = await self.order(client, "index_folder", {"path": str(root), "use_ai_summaries": False}, INDEX_TIMEOUT)
        result = json.loads(answer.text)
        if not result.get("success"):
            raise RuntimeError(f"index_folder failed: {answer.text[:300]}")
        self.repo = result["repo"]

    async def source(self, client: Client, definition: Definition) -> Answer:
        symbol_id = f"{definition.path}::{definition.qualname}#{definition.kind}"
        return await self.order(client, "get_symbol_source", {"repo": self.repo, "symbol_id": symbol_id})

    async def outline(self, client: Client, path: str, module: str) -> Answer:
        return await self.order(client, "get_file_outline", {"repo": self.repo, "file_path": path})

    async def references(self, client: Client, definition: Definition) -> References | None:
        answer = await self.order(client, "check_references", {"repo": self.repo, "identifier": definition.name})
        try:
            result = json.loads(answer.text)
        except ValueError:
            return References(answer, [], "check_references")
        locations: list[tuple[str, int | None]] = []
        for item in result.get("content_references", []):
            locations += [(item["file"], int(match["line"])) for match in item.get("matches", []) if "line" in match]
        files_with_lines = {path for path, _ in locations}
        locations += [(item["file"], None) for item in result.get("import_references", []) if item["file"] not in files_with_lines]
        return References(answer, locations, "check_references")

    async def refresh(self, client: Client, root: Path, path: str) -> None:
        await self.order(client, "index_file", {"path": str(root / path)}, INDEX_TIMEOUT)
