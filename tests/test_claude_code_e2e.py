"""The real Claude Code, driven offline through a project set up by `coderows setup claude`.

Claude Code (npm @anthropic-ai/claude-code) is installed once into a cache folder
(~/.cache/coderows-tests/claude-code, or CODEROWS_TEST_CLAUDE_CACHE) and run with a
private HOME and ANTHROPIC_BASE_URL pointing at a scripted stand-in for the Messages API
on 127.0.0.1. The scripted model greps for a definition, then calls a coderows tool; the
stand-in records what Claude Code sends back: the hook's note beside the grep's result,
then the coderows answer with the definition's real source.

Skipped, with the reason, when npm is missing or the registry cannot be reached; under
CI (CI set) a failed install fails the test instead, so that it always runs there.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.slow

CODEROWS = str(Path(sys.executable).with_name("coderows"))
CACHE = Path(os.environ.get("CODEROWS_TEST_CLAUDE_CACHE") or Path.home() / ".cache/coderows-tests/claude-code")
PACKAGE = "@anthropic-ai/claude-code"
CLAUDE_TIMEOUT = 240  # seconds for one whole scripted session; it takes ~5 s on an idle machine
SOURCE = 'def compute_total(prices, tax=0.2):\n    """Sum with tax."""\n    return sum(prices) * (1 + tax)\n'
GREP = 'grep -rn "def compute_total" .'


@pytest.fixture(scope="session")
def claude_bin() -> Path:
    """The `claude` executable, installed from npm into the cache on first use."""
    claude = CACHE / "node_modules/.bin/claude"
    if not _runs(claude):
        npm = shutil.which("npm")
        if npm is None:
            _unavailable("npm is not installed, so Claude Code cannot be installed")
        CACHE.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(
            [npm, "install", "--prefix", str(CACHE), "--no-audit", "--no-fund", PACKAGE],
            capture_output=True, text=True, check=False, timeout=900,
        )
        if done.returncode != 0 or not _runs(claude):
            last = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
            _unavailable(f"npm install {PACKAGE} failed (registry unreachable?): {last[0]}")
    return claude


def _runs(claude: Path) -> bool:
    if not claude.exists():
        return False
    done = subprocess.run([str(claude), "--version"], capture_output=True, text=True, check=False, timeout=120, env=_quiet_env(Path("/tmp")))
    return done.returncode == 0 and "Claude Code" in done.stdout


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


def _quiet_env(home: Path, **extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("ANTHROPIC_", "CLAUDE", "MCP_"))}
    env.update(HOME=str(home), DISABLE_TELEMETRY="1", CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC="1", DISABLE_AUTOUPDATER="1")
    # Claude Code sends its first request after waiting at most 5 s for MCP servers (and
    # with -p not at all by default): on a loaded machine `coderows serve` took 5.8 s to
    # answer `initialize`, and the first turn went out without coderows' tools. Wait for it.
    env.update(MCP_CONNECTION_NONBLOCKING="false", MCP_CONNECT_TIMEOUT_MS="120000")
    env.update(extra)
    return env


class ScriptedModel:
    """A stand-in for the Messages API: each POST of the main conversation gets the next
    scripted turn, chosen by the tool results the conversation holds so far; side requests
    (no tools: titles, summaries) get a short text. Every request is recorded."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def answer(self, body: dict[str, Any]) -> bytes:
        with self._lock:
            self.requests.append(body)
            message_id = f"msg_standin_{next(self._ids)}"
        tools = {tool.get("name") for tool in body.get("tools", [])}
        results = {block.get("tool_use_id") for block in _user_blocks(body) if block.get("type") == "tool_result"}
        if "Bash" not in tools:
            return _stream(message_id, [{"type": "text", "text": "ok"}], "end_turn")
        if "toolu_coderows" in results:
            return _stream(message_id, [{"type": "text", "text": "done"}], "end_turn")
        if "toolu_grep" in results:
            call = {"type": "tool_use", "id": "toolu_coderows", "name": "mcp__coderows__get_symbol", "input": {"name": "compute_total"}}
            return _stream(message_id, [call], "tool_use")
        grep = {"type": "tool_use", "id": "toolu_grep", "name": "Bash", "input": {"command": GREP, "description": "Find the definition"}}
        return _stream(message_id, [grep], "tool_use")

    def conversation_requests(self) -> list[dict[str, Any]]:
        return [body for body in self.requests if any(tool.get("name") == "Bash" for tool in body.get("tools", []))]


def _user_blocks(body: dict[str, Any]) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    for message in body.get("messages", []):
        if message.get("role") == "user" and isinstance(message.get("content"), list):
            blocks.extend(block for block in message["content"] if isinstance(block, dict))
    return blocks


def _stream(message_id: str, blocks: list[dict[str, Any]], stop_reason: str) -> bytes:
    """One assistant message as the Messages API streams it (server-sent events)."""
    events: list[tuple[str, dict[str, Any]]] = [
        ("message_start", {"type": "message_start", "message": {
            "id": message_id, "type": "message", "role": "assistant", "model": "claude-sonnet-4-5", "content": [],
            "stop_reason": None, "stop_sequence": None, "usage": {"input_tokens": 10, "output_tokens": 1}}}),
    ]
    for index, block in enumerate(blocks):
        if block["type"] == "text":
            start = {"type": "text", "text": ""}
            delta = {"type": "text_delta", "text": block["text"]}
        else:
            start = {"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}
            delta = {"type": "input_json_delta", "partial_json": json.dumps(block["input"])}
        events += [
            ("content_block_start", {"type": "content_block_start", "index": index, "content_block": start}),
            ("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta}),
            ("content_block_stop", {"type": "content_block_stop", "index": index}),
        ]
    events += [
        ("message_delta", {"type": "message_delta", "delta": {"stop_reason": stop_reason, "stop_sequence": None}, "usage": {"output_tokens": 1}}),
        ("message_stop", {"type": "message_stop"}),
    ]
    return "".join(f"event: {name}\ndata: {json.dumps(data)}\n\n" for name, data in events).encode()


@pytest.fixture
def model() -> Iterator[tuple[ScriptedModel, str]]:
    """The scripted model and the base URL it serves on."""
    scripted = ScriptedModel()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))) or b"{}")
            if not self.path.startswith("/v1/messages") or "count_tokens" in self.path:
                payload, kind = json.dumps({"input_tokens": 10}).encode(), "application/json"
            else:
                payload, kind = scripted.answer(body), "text/event-stream"
            self.send_response(200)
            self.send_header("content-type", kind)
            self.send_header("content-length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield scripted, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A private HOME, so that a user's own Claude Code configuration is never touched."""
    folder = tmp_path / "home"
    folder.mkdir()
    return folder


def trust_workspace(home: Path, project: Path) -> None:
    """What accepting Claude Code's trust dialog in `project` records: until then it
    ignores the project's permissions.allow (hooks and .mcp.json servers still load)."""
    config_path = home / ".claude.json"
    config = json.loads(config_path.read_text()) if config_path.exists() else {}
    config.setdefault("projects", {}).setdefault(str(project.resolve()), {})["hasTrustDialogAccepted"] = True
    config_path.write_text(json.dumps(config))


def test_claude_code_sees_the_hook_note_then_answers_from_coderows(
    db_url: str, tmp_path: Path, home: Path, claude_bin: Path, model: tuple[ScriptedModel, str]
) -> None:
    scripted, base_url = model
    project = tmp_path / "shop"
    project.mkdir()
    (project / "calc.py").write_text(SOURCE)
    indexed = subprocess.run([CODEROWS, "index", "--database-url", db_url, str(project)], capture_output=True, text=True, check=False, timeout=120)
    assert indexed.returncode == 0, indexed.stderr
    path = f"{claude_bin.parent}{os.pathsep}{os.environ['PATH']}"
    setup = subprocess.run(
        [CODEROWS, "setup", "claude", str(project)], capture_output=True, text=True, check=False, timeout=180,
        env=_quiet_env(home, PATH=path),
    )
    assert setup.returncode == 0, setup.stderr
    assert setup.stdout.splitlines()[0] == "MCP server coderows: added with claude mcp add --scope project (.mcp.json)"

    trust_workspace(home, project)
    # Only Bash grep is allowed on the command line: the coderows tools are allowed by
    # the permissions setup wrote into .claude/settings.json.
    session = subprocess.run(
        [str(claude_bin), "-p", "Where is compute_total defined?", "--allowedTools", "Bash(grep:*)", "--output-format", "json"],
        cwd=project, stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False, timeout=CLAUDE_TIMEOUT,
        env=_quiet_env(home, PATH=path, ANTHROPIC_BASE_URL=base_url, ANTHROPIC_API_KEY="sk-standin", CODEROWS_DATABASE_URL=db_url),
    )
    assert session.returncode == 0, session.stdout + session.stderr
    assert json.loads(session.stdout)["result"] == "done"

    turns = scripted.conversation_requests()
    assert len(turns) == 3
    assert "mcp__coderows__get_symbol" in {tool["name"] for tool in turns[0]["tools"]}

    after_grep = _user_blocks(turns[1])
    grep_result = next(block for block in after_grep if block.get("tool_use_id") == "toolu_grep")
    # grep printed ./calc.py:...; Claude Code passes it on with or without the ./
    assert grep_result["content"].removeprefix("./") == "calc.py:1:def compute_total(prices, tax=0.2):"
    notes = [block["text"] for block in after_grep if block.get("type") == "text" and "hook additional context" in block["text"]]
    assert len(notes) == 1
    assert "PreToolUse:Bash hook additional context: coderows has this project's Python definitions indexed" in notes[0]
    assert "- def compute_total: mcp__coderows__get_symbol name='compute_total' (its exact source and location;" in notes[0]

    after_call = _user_blocks(turns[2])
    answer = next(block for block in after_call if block.get("tool_use_id") == "toolu_coderows")
    assert answer.get("is_error") in (None, False)
    text = "".join(part["text"] for part in answer["content"] if part.get("type") == "text")
    assert "calc.compute_total  calc.py:1-3" in text
    # the definition's exact lines end the answer, each after at most a line number
    for shown, line in zip(text.splitlines()[-3:], SOURCE.splitlines(), strict=True):
        assert shown.endswith(line)
        assert shown[: len(shown) - len(line)].strip(" \t:|").isdigit() or not shown[: len(shown) - len(line)].strip()


def test_setup_through_claude_mcp_add_is_undone_byte_for_byte(tmp_path: Path, home: Path, claude_bin: Path) -> None:
    project = tmp_path / "proj"
    project.mkdir()
    user_mcp = '{"mcpServers": {"github": {"command": "gh-mcp"}}}'
    (project / ".mcp.json").write_text(user_mcp)
    env = _quiet_env(home, PATH=f"{claude_bin.parent}{os.pathsep}{os.environ['PATH']}")

    setup = subprocess.run([CODEROWS, "setup", "claude", str(project)], capture_output=True, text=True, check=False, timeout=180, env=env)
    assert setup.returncode == 0, setup.stderr
    listed = subprocess.run([str(claude_bin), "mcp", "get", "coderows"], cwd=project, capture_output=True, text=True, check=False, timeout=180, env=env)
    assert listed.returncode == 0, listed.stderr
    assert f"Command: {CODEROWS}" in listed.stdout
    assert f"Args: serve {project.resolve()}" in listed.stdout

    removed = subprocess.run([CODEROWS, "setup", "claude", "--uninstall", str(project)], capture_output=True, text=True, check=False, timeout=180, env=env)
    assert removed.returncode == 0, removed.stderr
    assert sorted(path.name for path in project.iterdir()) == [".mcp.json"]
    assert (project / ".mcp.json").read_text() == user_mcp
