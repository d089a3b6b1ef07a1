"""`coderows setup claude [PATH] [--uninstall] [--block]`: connect Claude Code to coderows
for the project at PATH.

What it adds, each recorded in .claude/coderows-setup.json so that --uninstall removes
exactly that and nothing else:
- the MCP server `coderows` in the project's .mcp.json (through `claude mcp add --scope
  project` when `claude` is on PATH, which checks the entry; else written directly);
- in .claude/settings.json, a PreToolUse hook (coderows.cli.claude_hook) that adds a note
  naming the coderows call when the agent greps for a definition or reads a whole large
  .py file, and permission for the read-only coderows tools;
- the skill .claude/skills/coderows/SKILL.md and a marked section of CLAUDE.md.

JSON files are edited as text (json_text): the user's bytes stay as they are and the
inserted text is recorded, so that removing it restores the file byte for byte. When the
user has edited around it since, the entry is removed from the parsed document instead.
The manifest records only what coderows wrote, never the user's own content (settings
files can hold secrets). Running setup again first removes what the last run added, so
the result is the same bytes (and a moved coderows or a new --block is picked up).
"""

from __future__ import annotations

import copy
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from coderows.cli import claude_guidance
from coderows.cli.json_text import JsonTextError, add_item, add_member, remove_fragment

MANIFEST = ".claude/coderows-setup.json"
MCP_JSON = ".mcp.json"
SETTINGS = ".claude/settings.json"
SKILL = ".claude/skills/coderows/SKILL.md"
CLAUDE_MD = "CLAUDE.md"
SERVER_NAME = "coderows"
HOOK_MODULE = "coderows.cli.claude_hook"
HOOK_MATCHER = "Bash|Grep|Glob|Read"
HOOK_TIMEOUT_SECONDS = 10
READ_ONLY_TOOLS = ("find_symbol", "get_symbol", "get_outline", "search_code", "find_references", "run_sql", "index_status")
CLAUDE_TIMEOUT_SECONDS = 120
MANIFEST_VERSION = 1


class SetupError(Exception):
    """Setup cannot go on; the message says what to fix."""


@dataclass(frozen=True)
class Commands:
    """The programs setup writes into the project's configuration, or runs."""

    coderows: str  # absolute path of the `coderows` command the MCP server runs
    python: str  # the interpreter that runs the hook (it has coderows installed)
    claude: str | None  # Claude Code's CLI, when on PATH


def default_commands() -> Commands:
    return Commands(coderows=coderows_command(), python=sys.executable, claude=shutil.which("claude"))


def coderows_command() -> str:
    """This installation's `coderows` script: next to the interpreter (a virtualenv's bin/;
    not resolved, which would leave the virtualenv), else on PATH."""
    beside = Path(sys.executable).absolute().parent / "coderows"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which("coderows")
    if found:
        return str(Path(found).absolute())
    raise SetupError("cannot find the coderows command next to this Python or on PATH: reinstall coderows")


def hook_command(python: str, *, block: bool) -> str:
    return f"{shlex.quote(python)} -m {HOOK_MODULE}" + (" --block" if block else "")


class Project:
    """The project folder and the record of what setup wrote into it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.record: dict[str, Any] = {"version": MANIFEST_VERSION, "dirs": [], "files": [], "json": [], "text": []}

    def path(self, relative: str) -> Path:
        return self.root / relative

    def load_record(self) -> bool:
        """Read the manifest of an earlier setup; False when there is none."""
        manifest = self.path(MANIFEST)
        if not manifest.is_file():
            return False
        try:
            record = json.loads(manifest.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as error:
            raise SetupError(f"cannot read {MANIFEST} ({error}); remove what setup added by hand") from None
        if not isinstance(record, dict) or record.get("version") != MANIFEST_VERSION:
            raise SetupError(f"{MANIFEST} is not a manifest this coderows understands; remove what setup added by hand")
        self.record = record
        return True

    def save_record(self) -> None:
        self.make_dirs(Path(MANIFEST).parent)
        write_text(self.path(MANIFEST), json.dumps(self.record, indent=2, ensure_ascii=False) + "\n")

    def make_dirs(self, relative: Path) -> None:
        """Create a folder and its missing parents, recording each one created."""
        missing = []
        for folder in [relative, *relative.parents]:
            if str(folder) in ("", ".") or self.path(str(folder)).is_dir():
                break
            missing.append(folder)
        for folder in reversed(missing):
            self.path(str(folder)).mkdir()
            self.record["dirs"].append(folder.as_posix())


def install(root: Path, commands: Commands, *, block: bool = False) -> list[str]:
    """Add the server, the hook, the permissions and the guidance; the lines to print."""
    project = Project(project_root(root))
    if project.load_record():
        uninstall(project.root)  # a second run replaces the first one's additions
        project = Project(project.root)
    check_project(project)
    lines = [register_server(project, commands)]
    project.save_record()
    add_hook(project, hook_command(commands.python, block=block))
    if block:
        lines.append(f"hook: {SETTINGS}: a grep for a definition is refused, naming the coderows call; a whole read of a large .py file gets a note")
    else:
        lines.append(f"hook: {SETTINGS}: a grep for a definition or a whole read of a large .py file gets a note naming the coderows call")
    added = add_permissions(project)
    lines.append(f"permissions: {SETTINGS}: {added} read-only coderows tools allowed without asking")
    add_skill(project)
    lines.append(f"skill: {SKILL}")
    add_section(project)
    lines.append(f"guidance: {CLAUDE_MD}, a section between <!-- coderows:begin --> and <!-- coderows:end -->")
    project.save_record()
    lines.append(f"recorded in {MANIFEST}: coderows setup claude --uninstall removes exactly these")
    lines.append("next: start Claude Code in the project (the server indexes it when it starts)")
    return lines


def uninstall(root: Path) -> list[str]:
    """Remove what the recorded setup added, newest first; the lines to print."""
    project = Project(project_root(root))
    if not project.load_record():
        raise SetupError(f"coderows setup claude was not run in {project.root} (no {MANIFEST}); nothing to remove")
    check_inside(project)
    lines = []
    for entry in reversed(project.record["text"]):
        lines.append(remove_text(project, entry))
    for relative in reversed(project.record["files"]):
        lines.append(remove_file(project, relative))
    for entry in reversed(project.record["json"]):
        line = remove_json(project, entry)
        if line:
            lines.append(line)
    project.path(MANIFEST).unlink()
    for relative in reversed(project.record["dirs"]):
        folder = project.path(relative)
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
    lines.append(f"removed what coderows setup claude added to {project.root}")
    return [line for line in lines if line]


def project_root(root: Path) -> Path:
    resolved = root.expanduser().resolve()
    if not resolved.is_dir():
        raise SetupError(f"not a folder: {root}")
    return resolved


# --- checks before anything is written ---------------------------------------------


def check_inside(project: Project) -> None:
    """Refuse when a file setup writes is a symbolic link (or under one) leading out of the
    project: a cloned repository's CLAUDE.md linked to ~/.ssh/authorized_keys must not
    get a section appended."""
    root = os.path.realpath(project.root)
    for relative in (MANIFEST, MCP_JSON, SETTINGS, SKILL, CLAUDE_MD):
        target = os.path.realpath(project.path(relative))
        if os.path.commonpath([root, target]) != root:
            raise SetupError(f"{relative} leads outside the project (to {target}); not writing there")


def check_project(project: Project) -> None:
    """Refuse before writing anything when a file setup edits is not what it expects."""
    check_inside(project)
    mcp = read_json(project, MCP_JSON)
    servers = mcp.get("mcpServers") if mcp is not None else None
    if mcp is not None and servers is not None and not isinstance(servers, dict):
        raise SetupError(f"{MCP_JSON}: mcpServers is not an object; fix it and run again")
    if isinstance(servers, dict) and SERVER_NAME in servers:
        raise SetupError(
            f"{MCP_JSON} already has a server named {SERVER_NAME} that setup did not add: remove it "
            f"(claude mcp remove --scope project {SERVER_NAME}) and run again"
        )
    settings = read_json(project, SETTINGS) or {}
    for path, kind in ((["hooks"], dict), (["hooks", "PreToolUse"], list), (["permissions"], dict), (["permissions", "allow"], list)):
        value = lookup(settings, path)
        if value is not None and not isinstance(value, kind):
            expected = "an object" if kind is dict else "an array"
            raise SetupError(f"{SETTINGS}: {'.'.join(path)} is not {expected}; fix it and run again")
    skill = project.path(SKILL)
    if skill.exists() and claude_guidance.SKILL_MARKER not in read_text(skill):
        raise SetupError(f"{SKILL} exists and was not written by coderows; move it away and run again")
    claude_md = project.path(CLAUDE_MD)
    if claude_md.exists() and claude_guidance.SECTION_BEGIN in read_text(claude_md):
        raise SetupError(f"{CLAUDE_MD} already holds a coderows section that no setup recorded; delete it and run again")


def read_json(project: Project, relative: str) -> dict[str, Any] | None:
    """A JSON file's top-level object, None when the file does not exist."""
    path = project.path(relative)
    if not path.exists():
        return None
    try:
        value = json.loads(read_text(path))
    except ValueError as error:
        raise SetupError(f"{relative} is not valid JSON ({error}); fix it and run again") from None
    if not isinstance(value, dict):
        raise SetupError(f"{relative} does not hold a JSON object; fix it and run again")
    return value


def read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise SetupError(f"cannot read {path}: {error}") from None


def lookup(document: Any, path: list[str]) -> Any:
    for key in path:
        if not isinstance(document, dict) or key not in document:
            return None
        document = document[key]
    return document


# --- what setup adds ---------------------------------------------------------------


def register_server(project: Project, commands: Commands) -> str:
    """Add the server to .mcp.json: through `claude mcp add` when it is on PATH, written
    directly otherwise (or when claude fails)."""
    args = ["serve", str(project.root)]
    entry: dict[str, Any] = {"type": "stdio", "command": commands.coderows, "args": args, "env": {}}
    if commands.claude:
        claude_entry, problem = add_with_claude(project, commands, args)
        if claude_entry is not None:
            return f"MCP server {SERVER_NAME}: added with claude mcp add --scope project ({MCP_JSON})"
        note = f" (claude mcp add failed: {problem})"
    else:
        note = " (claude is not on PATH)"
    add_json(project, MCP_JSON, ["mcpServers"], key=SERVER_NAME, value=entry)
    return f"MCP server {SERVER_NAME}: written to {MCP_JSON}{note}"


def add_with_claude(project: Project, commands: Commands, args: list[str]) -> tuple[dict[str, Any] | None, str]:
    """Run `claude mcp add --scope project`; (the entry it wrote, '') or (None, why not).
    claude rewrites .mcp.json in its own layout, so the user's original text is put back
    and the entry claude wrote is inserted into it as text, like every other addition."""
    mcp = project.path(MCP_JSON)
    original = read_text(mcp) if mcp.exists() else None
    command = [commands.claude or "claude", "mcp", "add", "--scope", "project", SERVER_NAME, "--", commands.coderows, *args]
    try:
        done = subprocess.run(
            command, cwd=project.root, stdin=subprocess.DEVNULL, capture_output=True, text=True,
            timeout=CLAUDE_TIMEOUT_SECONDS, check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        return None, str(error).splitlines()[0]
    written = read_json(project, MCP_JSON) if mcp.exists() else None
    entry = lookup(written, ["mcpServers", SERVER_NAME]) if written else None
    if done.returncode != 0 or not isinstance(entry, dict):
        if original is not None:
            write_text(mcp, original)
        elif mcp.exists():
            mcp.unlink()
        output = (done.stderr or done.stdout or f"exit code {done.returncode}").strip().splitlines()
        return None, output[0] if output else f"exit code {done.returncode}"
    if original is None:  # claude created the file: ours alone, deleted when emptied
        project.record["json"].append(
            {"file": MCP_JSON, "path": ["mcpServers"], "key": SERVER_NAME, "value": entry, "fragment": "",
             "created": [["mcpServers"]], "created_file": True}
        )
        return entry, ""
    write_text(mcp, original)
    add_json(project, MCP_JSON, ["mcpServers"], key=SERVER_NAME, value=entry)
    return entry, ""


def add_hook(project: Project, command: str) -> None:
    group = {"matcher": HOOK_MATCHER, "hooks": [{"type": "command", "command": command, "timeout": HOOK_TIMEOUT_SECONDS}]}
    add_json(project, SETTINGS, ["hooks", "PreToolUse"], item=group)


def add_permissions(project: Project) -> int:
    """Allow the read-only tools (never a future editing one) so that the agent is not
    asked each time; entries the user already has are left to them."""
    allowed = lookup(read_json(project, SETTINGS) or {}, ["permissions", "allow"]) or []
    added = 0
    for tool in READ_ONLY_TOOLS:
        name = f"mcp__{SERVER_NAME}__{tool}"
        if name not in allowed:
            add_json(project, SETTINGS, ["permissions", "allow"], item=name)
            added += 1
    return added


def add_skill(project: Project) -> None:
    skill = Path(SKILL)
    project.make_dirs(skill.parent)
    write_text(project.path(SKILL), claude_guidance.SKILL)
    project.record["files"].append(skill.as_posix())
    project.save_record()


def add_section(project: Project) -> None:
    path = project.path(CLAUDE_MD)
    created = not path.exists()
    text = "" if created else read_text(path)
    separator = "" if not text or text.endswith("\n\n") else "\n" if text.endswith("\n") else "\n\n"
    fragment = separator + claude_guidance.SECTION
    write_text(path, text + fragment)
    project.record["text"].append({"file": CLAUDE_MD, "fragment": fragment, "created_file": created})
    project.save_record()


def add_json(project: Project, relative: str, path: list[str], *, key: str | None = None, value: Any = None, item: Any = None) -> None:
    """Add `key: value` to the object at `path`, or append `item` to the array at `path`,
    creating the file and missing containers; record the inserted text."""
    file = project.path(relative)
    created_file = not file.exists()
    if created_file:
        project.make_dirs(Path(relative).parent)
    text = "{}\n" if created_file else read_text(file)
    document = json.loads(text)
    present = 0
    while present < len(path) and isinstance(lookup(document, path[: present + 1]), (dict, list)):
        present += 1
    inner: Any = {key: value} if key is not None else [item]
    for name in reversed(path[present + 1 :]):
        inner = {name: inner}
    try:
        if present == len(path):
            edit = add_member(text, path, key, value) if key is not None else add_item(text, path, item)
        else:
            edit = add_member(text, path[:present], path[present], inner)
    except JsonTextError as error:
        raise SetupError(f"cannot edit {relative}: {error}") from None
    write_text(file, edit.text)
    entry: dict[str, Any] = {
        "file": relative, "path": path, "fragment": edit.fragment,
        "created": [path[: depth + 1] for depth in range(present, len(path))], "created_file": created_file,
    }
    entry.update({"key": key, "value": value} if key is not None else {"item": item})
    project.record["json"].append(entry)
    project.save_record()


# --- what --uninstall removes ------------------------------------------------------


def remove_json(project: Project, entry: dict[str, Any]) -> str | None:
    """Take one recorded addition out of its JSON file: the inserted text when it is still
    there as inserted, else the entry from the parsed document (the rest re-serialised)."""
    relative = entry["file"]
    file = project.path(relative)
    if not file.exists():
        return f"{relative}: gone already"
    text = read_text(file)
    try:
        document = json.loads(text)
    except ValueError:
        return f"{relative}: not valid JSON any more; left as it is (remove the coderows entries by hand)"
    expected, found = without_entry(document, entry)
    if not found:
        return f"{relative}: the coderows entry was changed or removed since; left as it is"
    if entry["created_file"] and expected == {}:
        file.unlink()
        return None
    candidate = remove_fragment(text, entry["fragment"])
    if candidate is not None and _parses_to(candidate, expected):
        write_text(file, candidate)
    else:
        write_text(file, json.dumps(expected, indent=2, ensure_ascii=False) + "\n")
    return None


def without_entry(document: Any, entry: dict[str, Any]) -> tuple[Any, bool]:
    """(document without the recorded addition and the containers it created once they
    are empty, whether the addition was there as recorded)."""
    result = copy.deepcopy(document)
    container = lookup(result, entry["path"])
    if "key" in entry:
        if not isinstance(container, dict) or container.get(entry["key"]) != entry["value"]:
            return document, False
        del container[entry["key"]]
    else:
        if not isinstance(container, list) or entry["item"] not in container:
            return document, False
        container.remove(entry["item"])
    for path in sorted(entry["created"], key=len, reverse=True):
        parent = lookup(result, path[:-1]) if len(path) > 1 else result
        if isinstance(parent, dict) and parent.get(path[-1]) in ({}, []):
            del parent[path[-1]]
    return result, True


def remove_text(project: Project, entry: dict[str, Any]) -> str | None:
    relative = entry["file"]
    path = project.path(relative)
    if not path.exists():
        return f"{relative}: gone already"
    text = read_text(path)
    # The separator before the section goes only when nothing was written after it since:
    # otherwise the user's last line and their new text would run together.
    at_end = text.endswith(entry["fragment"])
    remaining = remove_fragment(text, entry["fragment"] if at_end else claude_guidance.SECTION)
    if remaining is None:
        remaining = without_section(text)
        if remaining is None:
            return f"{relative}: the coderows section was removed or its markers changed; left as it is"
    if entry["created_file"] and not remaining.strip():
        path.unlink()
    else:
        write_text(path, remaining)
    return None


def without_section(text: str) -> str | None:
    """text without the marked section (markers included), wherever it is now."""
    begin = text.find(claude_guidance.SECTION_BEGIN)
    end = text.find(claude_guidance.SECTION_END, begin)
    if begin < 0 or end < 0:
        return None
    end += len(claude_guidance.SECTION_END)
    if text.startswith("\n", end):
        end += 1
    return text[:begin] + text[end:]


def remove_file(project: Project, relative: str) -> str | None:
    path = project.path(relative)
    if not path.exists():
        return None
    if claude_guidance.SKILL_MARKER not in read_text(path):
        return f"{relative}: its coderows marker is gone (edited since?); left as it is"
    path.unlink()
    return None


# --- files -------------------------------------------------------------------------


def write_text(path: Path, text: str) -> None:
    """Replace a file's content atomically, keeping its mode; through a symbolic link,
    the file it points to is written (dotfile managers link settings)."""
    target = Path(os.path.realpath(path))
    mode = target.stat().st_mode & 0o7777 if target.exists() else None
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as out:
            out.write(text)
        if mode is not None:
            os.chmod(temporary, mode)
        else:
            os.chmod(temporary, 0o666 & ~_umask())
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def _parses_to(text: str, expected: Any) -> bool:
    try:
        return bool(json.loads(text) == expected)
    except ValueError:
        return False


# --- the command -------------------------------------------------------------------


@click.group("setup")
def setup_group() -> None:
    """Connect a coding agent to coderows."""


@setup_group.command("claude")
@click.argument("path", required=False, default=".", type=click.Path(file_okay=False, path_type=Path))
@click.option("--uninstall", "remove", is_flag=True, help="Remove exactly what an earlier setup added.")
@click.option("--block", is_flag=True, help="Refuse greps for a definition (the model is told the coderows call) instead of adding a note.")
def setup_claude_command(path: Path, remove: bool, block: bool) -> None:
    """Connect Claude Code to coderows for the project at PATH (default: .): register the
    MCP server, add a hook and guidance that point the agent at coderows instead of grep
    and whole-file reads. --uninstall removes exactly what was added."""
    try:
        lines = uninstall(path) if remove else install(path, default_commands(), block=block)
    except SetupError as error:
        raise click.ClickException(str(error)) from None
    for line in lines:
        click.echo(line)
