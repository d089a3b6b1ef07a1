"""What every peer adapter maps onto its server's own MCP tools, and the helpers they share.

An adapter knows one server: how to install and start it, and which of its tools (with
which arguments) answer "index this project", "give me this symbol's source", "outline
this file", "who uses this function" and "I edited this file". The bench drives every
adapter the same way through the official MCP SDK's stdio client.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
from mcp import Client

CALL_TIMEOUT = 120.0  # one ordinary tool call
INDEX_TIMEOUT = 600.0  # one call that builds a whole index


@dataclass(frozen=True)
class Definition:
    """One class or function definition as Python's `ast` sees it."""

    path: str  # POSIX, relative to the project root
    module: str  # dotted import name
    qualname: str  # Python's __qualname__ (never inside a function here)
    kind: str  # "class" | "function" | "method"
    lineno: int  # the `def` / `class` line (decorators excluded)
    end_lineno: int
    lines: tuple[str, ...] = field(repr=False, compare=False)  # source lines lineno..end_lineno

    @property
    def name(self) -> str:
        return self.qualname.rsplit(".", 1)[-1]

    @property
    def full_name(self) -> str:
        return f"{self.module}.{self.qualname}"


@dataclass
class Answer:
    """The text a server answered with, over one or more tool calls."""

    text: str = ""
    bytes: int = 0
    calls: int = 0
    error: bool = False

    def add(self, other: Answer) -> Answer:
        return Answer(
            self.text + ("\n" if self.text and other.text else "") + other.text,
            self.bytes + other.bytes,
            self.calls + other.calls,
            self.error or other.error,
        )


@dataclass
class References:
    """Locations a server named as uses of a function: (path, 1-based line or None)."""

    answer: Answer
    locations: list[tuple[str, int | None]]
    tool: str


class PeerUnavailable(Exception):
    """The peer cannot run here; the message says why (it becomes the row's status)."""


class Peer:
    """Base adapter. Subclasses set the class attributes and override the async methods."""

    name: str = ""
    requirements: tuple[str, ...] = ()  # pip install arguments; empty = not pip-installed
    executable: str = ""  # console script inside the peer's venv
    tools_needed: tuple[str, ...] = ()  # checked against list_tools before anything else
    notes: tuple[str, ...] = ()  # what the bench had to do for this peer, printed under the table

    def __init__(self, venv: Path, workdir: Path) -> None:
        self.venv = venv
        self.workdir = workdir  # scratch for this run: the peer's index, caches, temp files
        self.tools: dict[str, Any] = {}

    # -- process -------------------------------------------------------------------------

    def preflight(self) -> None:
        """Raise PeerUnavailable when the peer cannot start here (checked before spawning)."""

    def prepare(self) -> None:
        """Untimed set-up before the server is spawned (a user's one-time set-up, not a cost per start)."""

    def command(self, root: Path) -> tuple[str, list[str]]:
        return str(self.venv / "bin" / self.executable), []

    def env(self) -> dict[str, str]:
        """The server's environment: this process's, with the peer's caches moved to workdir."""
        return {**os.environ, "PYTHONWARNINGS": "ignore"}

    def memory_roots(self) -> list[int]:
        """PIDs of processes outside the server's own tree that serve it (e.g. a database)."""
        return []

    # -- the five questions --------------------------------------------------------------

    async def open(self, client: Client, root: Path) -> None:
        """Point the server at the project and build whatever index it needs before answering."""

    async def wait_indexed(self, client: Client) -> None:
        """Return once the server says its whole index is built (after its first answer)."""

    async def source(self, client: Client, definition: Definition) -> Answer:
        raise NotImplementedError

    def source_text(self, answer: Answer) -> str:
        """The code inside an answer, as lines (undo JSON escaping, line-number prefixes...)."""
        return "\n".join(strings_in(answer.text))

    async def outline(self, client: Client, path: str, module: str) -> Answer:
        raise NotImplementedError

    async def references(self, client: Client, definition: Definition) -> References | None:
        """None when the server has no tool for it."""
        return None

    async def refresh(self, client: Client, root: Path, path: str) -> None:
        """What an agent must do after editing `path` so the server sees the edit."""


async def call(client: Client, tool: str, arguments: dict[str, Any], timeout: float = CALL_TIMEOUT) -> Answer:
    """One tool call: its text content joined, its size in UTF-8 bytes, whether it failed."""
    with anyio.fail_after(timeout):
        result = await client.call_tool(tool, arguments)
    text = "".join(getattr(block, "text", "") for block in result.content)
    return Answer(text, len(text.encode()), 1, bool(result.is_error))


def strings_in(text: str) -> Iterator[str]:
    """The text itself, plus every string value when it is JSON (or several JSON values)."""
    yield text
    decoder = json.JSONDecoder()
    position = 0
    while position < len(text):
        while position < len(text) and text[position].isspace():
            position += 1
        if position >= len(text) or text[position] not in "[{":
            return
        try:
            value, position = decoder.raw_decode(text, position)
        except ValueError:
            return
        yield from _json_strings(value)


def _json_strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _json_strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _json_strings(item)


def json_values(text: str) -> list[Any]:
    """Every top-level JSON value in `text` (servers that answer a list as several blocks)."""
    decoder = json.JSONDecoder()
    values, position = [], 0
    while position < len(text):
        while position < len(text) and text[position].isspace():
            position += 1
        if position >= len(text):
            break
        try:
            value, position = decoder.raw_decode(text, position)
        except ValueError:
            break
        values.append(value)
    return values


PATH_LINE = re.compile(r"([\w./-]+\.py):(\d+)")


def path_lines(text: str) -> list[tuple[str, int | None]]:
    """`path.py:LINE` mentions in a plain-text answer."""
    return [(path, int(line)) for path, line in PATH_LINE.findall(text)]
