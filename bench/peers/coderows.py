"""coderows itself, driven exactly like the peers: `coderows serve ROOT` over stdio."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import anyio
from mcp import Client

from .base import INDEX_TIMEOUT, Answer, Definition, Peer, References, call


class Coderows(Peer):
    name = "coderows"
    tools_needed = ("get_symbol", "get_outline", "index_status")

    def __init__(self, venv: Path, workdir: Path, database_url: str | None = None) -> None:
        super().__init__(venv, workdir)
        self.database_url = database_url

    def command(self, root: Path) -> tuple[str, list[str]]:
        script = Path(sys.executable).with_name("coderows")  # the bench runs from coderows's venv
        args = ["serve", str(root)]
        if self.database_url:
            args[1:1] = ["--database-url", self.database_url]
        return str(script), args

    def env(self) -> dict[str, str]:
        env = super().env()
        env.pop("CODEROWS_DATABASE_URL", None)
        if not self.database_url:  # a throwaway embedded PostgreSQL of its own
            env["CODEROWS_DATA_DIR"] = str(self.workdir / "data")
        return env

    def prepare(self) -> None:
        """Create and start the embedded PostgreSQL (it outlives commands, so a user's server
        finds it running); `coderows db url` starts it when it is not."""
        if not self.database_url:
            subprocess.run([str(Path(sys.executable).with_name("coderows")), "db", "url"], env=self.env(),
                           check=True, capture_output=True, timeout=120)

    def memory_roots(self) -> list[int]:
        """The embedded PostgreSQL's postmaster (it is not a child of the server)."""
        pid_file = self.workdir / "data" / "postgres" / "postmaster.pid"
        try:
            return [int(pid_file.read_text().split("\n", 1)[0])]
        except (OSError, ValueError):
            return []

    async def wait_indexed(self, client: Client) -> None:
        """`serve` indexes in the background (answering meanwhile); wait until index_status says done."""
        with anyio.fail_after(INDEX_TIMEOUT):
            while True:
                status = (await call(client, "index_status", {})).text
                if re.search(r"indexing \S+ failed", status):
                    raise RuntimeError(status)
                if "indexing" not in status and "waiting" not in status and "up to date" in status:
                    return
                await anyio.sleep(0.2)

    async def source(self, client: Client, definition: Definition) -> Answer:
        return await call(client, "get_symbol", {"name": definition.full_name})

    def source_text(self, answer: Answer) -> str:
        return answer.text  # get_symbol's body is the exact source, unnumbered

    async def outline(self, client: Client, path: str, module: str) -> Answer:
        return await call(client, "get_outline", {"target": module})

    async def references(self, client: Client, definition: Definition) -> References | None:
        if "find_references" not in self.tools:
            return None
        answer = await call(client, "find_references", {"name": definition.full_name})
        return References(answer, grouped_lines(answer.text), "find_references")


def grouped_lines(text: str) -> list[tuple[str, int | None]]:
    """find_references groups its uses under a line naming the file:
    `django/views/generic/detail.py` then `  53:20  call  in ...  | line text`."""
    found: list[tuple[str, int | None]] = []
    path = None
    for line in text.splitlines()[1:]:  # the first line is the definition's own header
        use = USE_LINE.match(line)
        if use and path is not None:
            found.append((path, int(use.group(1))))
        elif line.endswith(".py") and not line.startswith(" "):
            path = line
    return found


USE_LINE = re.compile(r"\s+(\d+):\d+\s")
