"""`coderows setup claude` and the hook it installs, run as a user runs them: the installed
`coderows` script and the hook command it writes, as subprocesses, on real project folders.
(tests/test_claude_code_e2e.py drives the real Claude Code through them.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

CODEROWS = str(Path(sys.executable).with_name("coderows"))
PYTHON = str(Path(sys.executable).absolute())
# The interpreter the installed script runs on (its #! line): the one setup writes into the hook.
SCRIPT_PYTHON = Path(CODEROWS).read_text().splitlines()[0].removeprefix("#!").strip()

# A user's own configuration, in their own formatting, which must survive byte for byte.
USER_SETTINGS = """{
    "model": "opus",
    "hooks": {
        "PreToolUse": [ {"matcher": "Write", "hooks": [{"type": "command", "command": "./guard.sh"}]} ],
        "PostToolUse": [ {"matcher": "Edit", "hooks": [{"type": "command", "command": "ruff format"}]} ]
    },
    "permissions": {"allow": ["Bash(make:*)", "mcp__coderows__get_symbol"]}
}
"""
USER_MCP = '{"mcpServers": {"github": {"command": "gh-mcp", "args": ["--ro"]}}}'
USER_CLAUDE_MD = "# Project rules\n\nUse tabs. No trailing newline here"


def setup_claude(*args: str, claude_on_path: bool = False, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run `coderows setup claude ...`; PATH holds no `claude` unless asked (the e2e test
    covers the `claude mcp add` path with the real one)."""
    env = {**os.environ, "PATH": os.environ["PATH"] if claude_on_path else str(Path(CODEROWS).parent)}
    return subprocess.run(
        [CODEROWS, "setup", "claude", *args], capture_output=True, text=True, env=env, cwd=cwd, check=False, timeout=120
    )


def snapshot(folder: Path) -> dict[str, bytes | None]:
    """Every file and folder under `folder`, with file contents."""
    return {
        str(path.relative_to(folder)): (path.read_bytes() if path.is_file() else None)
        for path in sorted(folder.rglob("*"))
    }


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project holding the user's own Claude Code configuration."""
    root = tmp_path / "proj"
    (root / ".claude").mkdir(parents=True)
    (root / ".claude/settings.json").write_text(USER_SETTINGS)
    (root / ".mcp.json").write_text(USER_MCP)
    (root / "CLAUDE.md").write_text(USER_CLAUDE_MD)
    (root / "calc.py").write_text("def compute_total(xs):\n    return sum(xs)\n")
    return root


def hook_command(root: Path) -> str:
    settings = json.loads((root / ".claude/settings.json").read_text())
    ours = [group for group in settings["hooks"]["PreToolUse"] if group["matcher"] == "Bash|Grep|Glob|Read"]
    assert len(ours) == 1
    return ours[0]["hooks"][0]["command"]


def run_hook(command: str, event: dict[str, object], project_dir: Path) -> dict[str, object] | None:
    """Run a hook command as Claude Code does: through a shell, the event on stdin."""
    env = {**os.environ, "CLAUDE_PROJECT_DIR": str(project_dir)}
    done = subprocess.run(command, shell=True, input=json.dumps(event), capture_output=True, text=True, env=env, check=False, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    return json.loads(done.stdout) if done.stdout else None


def bash(command: str) -> dict[str, object]:
    return {"hook_event_name": "PreToolUse", "tool_name": "Bash", "tool_input": {"command": command}}


def note(output: dict[str, object] | None) -> str:
    assert output is not None
    specific = output["hookSpecificOutput"]
    assert isinstance(specific, dict) and specific["hookEventName"] == "PreToolUse"
    assert set(specific) == {"hookEventName", "additionalContext"}  # a note, never a decision
    return str(specific["additionalContext"])


GET_COMPUTE_TOTAL = (
    "- def compute_total: mcp__coderows__get_symbol name='compute_total' (its exact source and location; "
    "an ambiguous name lists the candidates) or mcp__coderows__find_symbol query='compute_total*' "
    "(every definition whose name starts so)"
)


# --- setup and uninstall -----------------------------------------------------------


def test_uninstall_gives_back_the_users_files_byte_for_byte(project: Path) -> None:
    before = snapshot(project)
    assert setup_claude(str(project)).returncode == 0
    result = setup_claude("--uninstall", str(project))
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"removed what coderows setup claude added to {project}\n"
    assert snapshot(project) == before


def test_uninstall_of_a_project_without_configuration_leaves_no_file(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text("x = 1\n")
    assert setup_claude(str(tmp_path)).returncode == 0
    assert setup_claude("--uninstall", str(tmp_path)).returncode == 0
    assert snapshot(tmp_path) == {"app.py": b"x = 1\n"}


def test_setup_twice_gives_the_same_bytes(project: Path) -> None:
    assert setup_claude(str(project)).returncode == 0
    once = snapshot(project)
    second = setup_claude(str(project))
    assert second.returncode == 0, second.stderr
    assert snapshot(project) == once


def test_setup_adds_the_server_hook_permissions_and_guidance_beside_the_users_own(project: Path) -> None:
    result = setup_claude(cwd=project)  # PATH defaults to .
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == "MCP server coderows: written to .mcp.json (claude is not on PATH)"
    servers = json.loads((project / ".mcp.json").read_text())["mcpServers"]
    assert servers == {
        "github": {"command": "gh-mcp", "args": ["--ro"]},
        "coderows": {"type": "stdio", "command": CODEROWS, "args": ["serve", str(project.resolve())], "env": {}},
    }
    settings = json.loads((project / ".claude/settings.json").read_text())
    assert settings["model"] == "opus"
    assert settings["hooks"]["PostToolUse"] == [{"matcher": "Edit", "hooks": [{"type": "command", "command": "ruff format"}]}]
    assert settings["hooks"]["PreToolUse"] == [
        {"matcher": "Write", "hooks": [{"type": "command", "command": "./guard.sh"}]},
        {
            "matcher": "Bash|Grep|Glob|Read",
            "hooks": [{"type": "command", "command": f"{SCRIPT_PYTHON} -m coderows.cli.claude_hook", "timeout": 10}],
        },
    ]
    # the user's own entry for get_symbol stays theirs, not added twice
    assert settings["permissions"]["allow"] == [
        "Bash(make:*)",
        "mcp__coderows__get_symbol",
        "mcp__coderows__find_symbol",
        "mcp__coderows__get_outline",
        "mcp__coderows__search_code",
        "mcp__coderows__find_references",
        "mcp__coderows__run_sql",
        "mcp__coderows__index_status",
    ]
    claude_md = (project / "CLAUDE.md").read_text()
    assert claude_md.startswith(USER_CLAUDE_MD + "\n\n<!-- coderows:begin ")
    assert claude_md.endswith("<!-- coderows:end -->\n")
    assert "mcp__coderows__get_symbol name='Class.method'" in claude_md


def test_the_skill_has_claude_codes_frontmatter(project: Path) -> None:
    assert setup_claude(str(project)).returncode == 0
    skill = (project / ".claude/skills/coderows/SKILL.md").read_text()
    head, _, body = skill.removeprefix("---\n").partition("\n---\n")
    fields = dict(line.split(": ", 1) for line in head.splitlines())
    assert list(fields) == ["name", "description"]
    assert fields["name"] == "coderows"
    assert fields["description"].startswith("Look up this project's Python code through the coderows MCP tools instead of grep")
    assert "| the source of one definition | `mcp__coderows__get_symbol name='Class.method'` |" in body


def test_uninstall_keeps_what_the_user_added_since(project: Path) -> None:
    assert setup_claude(str(project)).returncode == 0
    settings_path = project / ".claude/settings.json"
    settings = json.loads(settings_path.read_text())
    settings["hooks"]["PreToolUse"].append({"matcher": "Read", "hooks": [{"type": "command", "command": "./audit.sh"}]})
    settings["env"] = {"FOO": "1"}
    settings_path.write_text(json.dumps(settings))  # reformatted on one line: the inserted text is gone
    (project / "CLAUDE.md").write_text("# Mine\n" + (project / "CLAUDE.md").read_text() + "More of mine.\n")

    assert setup_claude("--uninstall", str(project)).returncode == 0
    assert json.loads(settings_path.read_text()) == {
        "model": "opus",
        "hooks": {
            "PreToolUse": [
                {"matcher": "Write", "hooks": [{"type": "command", "command": "./guard.sh"}]},
                {"matcher": "Read", "hooks": [{"type": "command", "command": "./audit.sh"}]},
            ],
            "PostToolUse": [{"matcher": "Edit", "hooks": [{"type": "command", "command": "ruff format"}]}],
        },
        "permissions": {"allow": ["Bash(make:*)", "mcp__coderows__get_symbol"]},
        "env": {"FOO": "1"},
    }
    assert (project / "CLAUDE.md").read_text() == "# Mine\n" + USER_CLAUDE_MD + "\n\nMore of mine.\n"
    assert (project / ".mcp.json").read_text() == USER_MCP
    assert not (project / ".claude/skills").exists()


def test_a_server_named_coderows_that_setup_did_not_add_is_refused_without_writing(project: Path) -> None:
    (project / ".mcp.json").write_text('{"mcpServers": {"coderows": {"command": "/opt/other/coderows"}}}')
    before = snapshot(project)
    result = setup_claude(str(project))
    assert result.returncode == 1
    assert result.stderr == (
        "coderows: .mcp.json already has a server named coderows that setup did not add: remove it "
        "(claude mcp remove --scope project coderows) and run again\n"
    )
    assert snapshot(project) == before


def test_invalid_settings_are_refused_without_writing(project: Path) -> None:
    (project / ".claude/settings.json").write_text('{"hooks": {"PreToolUse": [}')
    before = snapshot(project)
    result = setup_claude(str(project))
    assert result.returncode == 1
    assert result.stderr.startswith("coderows: .claude/settings.json is not valid JSON (")
    assert result.stderr.endswith("); fix it and run again\n")
    assert len(result.stderr.splitlines()) == 1
    assert snapshot(project) == before


def test_uninstall_where_setup_never_ran_is_one_line(tmp_path: Path) -> None:
    result = setup_claude("--uninstall", str(tmp_path))
    assert result.returncode == 1
    assert result.stderr == (
        f"coderows: coderows setup claude was not run in {tmp_path.resolve()} (no .claude/coderows-setup.json); nothing to remove\n"
    )


# --- the hook it installs ----------------------------------------------------------


def test_the_installed_hook_notes_a_grep_for_a_definition(project: Path) -> None:
    assert setup_claude(str(project)).returncode == 0
    output = run_hook(hook_command(project), bash('grep -rn "def compute_total" .'), project)
    assert note(output) == "\n".join(
        [
            "coderows has this project's Python definitions indexed; it answers this search exactly:",
            GET_COMPUTE_TOTAL,
            "Uses of a name: mcp__coderows__find_references name=...",
        ]
    )


@pytest.mark.parametrize(
    ("event", "line"),
    [
        (bash("rg -n '^\\s*def\\s+compute_total\\b' --type py"), GET_COMPUTE_TOTAL),
        (bash("git grep -n 'def compute_total('"), GET_COMPUTE_TOTAL),
        (bash("find . -name '*.py' | xargs grep -n 'async def compute_total'"), GET_COMPUTE_TOTAL),
        (bash("grep -rn --include='*.py' 'def[[:space:]]+compute_total' src"), GET_COMPUTE_TOTAL),
        (
            bash('rg "class Session\\b"'),
            (
                "- class Session: mcp__coderows__get_outline target='Session' (its methods and line ranges) "
                "or mcp__coderows__get_symbol name='Session' (its exact source and location)"
            ),
        ),
        (
            bash("grep -rnE '(def|class) fetch_\\w*' ."),
            "- any fetch_*: mcp__coderows__find_symbol query='fetch_*' lists every match with its location",
        ),
        (
            {"tool_name": "Grep", "tool_input": {"pattern": "def\\s+compute_total\\(", "output_mode": "content"}},
            GET_COMPUTE_TOTAL,
        ),
    ],
)
def test_the_hook_names_the_call_for_each_spelling_of_a_definition_search(project: Path, event: dict[str, object], line: str) -> None:
    command = f"{PYTHON} -m coderows.cli.claude_hook"
    assert note(run_hook(command, event, project)).splitlines()[1] == line


@pytest.mark.parametrize(
    "event",
    [
        bash("grep -rn 'def compute_total' --include='*.js' ."),
        bash("rg -t ts 'class Session'"),
        bash("grep -rn compute_total ."),
        bash("ls -la && git status"),
        bash("echo 'unbalanced"),
        {"tool_name": "Grep", "tool_input": {"pattern": "class Foo", "type": "js"}},
        {"tool_name": "Write", "tool_input": {"file_path": "x.py", "content": "def compute_total(): pass"}},
        {"tool_name": "Read", "tool_input": {"file_path": "calc.py"}},  # 2 lines: a whole read is cheap
    ],
)
def test_the_hook_stays_silent_on_other_calls(project: Path, event: dict[str, object]) -> None:
    assert run_hook(f"{PYTHON} -m coderows.cli.claude_hook", event, project) is None


def test_the_hook_notes_a_whole_read_of_a_large_python_file(project: Path) -> None:
    (project / "pkg").mkdir()
    (project / "pkg/big.py").write_text("x = 1\n" * 1234)
    output = run_hook(
        f"{PYTHON} -m coderows.cli.claude_hook",
        {"tool_name": "Read", "tool_input": {"file_path": str(project / "pkg/big.py")}},
        project,
    )
    assert note(output) == (
        "coderows: pkg/big.py has 1,234 lines. mcp__coderows__get_outline target='pkg/big.py' lists its "
        "classes and functions with line ranges, and mcp__coderows__get_symbol name=... returns just one "
        "of them; to edit, Read only the lines you change (offset/limit)."
    )


@pytest.mark.parametrize(
    "tool_input",
    [
        {"file_path": "BIG", "offset": 10, "limit": 50},  # a range: already what the note asks for
        {"file_path": "BIG", "limit": 2000},
        {"file_path": "/etc/OUTSIDE.py"},  # outside the project: not indexed
        {"file_path": "FIFO"},  # a FIFO named like a source file must not hang the hook
    ],
)
def test_the_hook_leaves_ranged_reads_and_files_it_cannot_index_alone(project: Path, tmp_path: Path, tool_input: dict[str, object]) -> None:
    (project / "big.py").write_text("x = 1\n" * 500)
    os.mkfifo(project / "pipe.py")
    (tmp_path / "outside.py").write_text("x = 1\n" * 500)
    paths = {"BIG": str(project / "big.py"), "/etc/OUTSIDE.py": str(tmp_path / "outside.py"), "FIFO": str(project / "pipe.py")}
    event = {"tool_name": "Read", "tool_input": {**tool_input, "file_path": paths[str(tool_input["file_path"])]}}
    assert run_hook(f"{PYTHON} -m coderows.cli.claude_hook", event, project) is None


def test_block_refuses_definition_searches_and_still_only_notes_reads(project: Path) -> None:
    assert setup_claude("--block", str(project)).returncode == 0
    command = hook_command(project)
    assert command == f"{SCRIPT_PYTHON} -m coderows.cli.claude_hook --block"
    refused = run_hook(command, bash('grep -rn "def compute_total" .'), project)
    assert refused is not None
    specific = refused["hookSpecificOutput"]
    assert isinstance(specific, dict)
    assert specific["permissionDecision"] == "deny"
    assert GET_COMPUTE_TOTAL in str(specific["permissionDecisionReason"])
    (project / "big.py").write_text("x = 1\n" * 500)
    # Claude Code's Edit needs a Read first: a read is never refused
    read = run_hook(command, {"tool_name": "Read", "tool_input": {"file_path": str(project / "big.py")}}, project)
    assert note(read).startswith("coderows: big.py has 500 lines.")


@pytest.mark.parametrize("stdin", ["", "not json", "[1, 2]", '{"tool_name": "Bash", "tool_input": "grep def x"}'])
def test_the_hook_ignores_input_it_cannot_read(stdin: str) -> None:
    done = subprocess.run(
        [PYTHON, "-m", "coderows.cli.claude_hook"], input=stdin, capture_output=True, text=True, check=False, timeout=60
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")


def test_the_hook_imports_no_database_driver_nor_the_cli() -> None:
    """It runs before every Bash/Grep/Glob/Read call: the standard library only."""
    done = subprocess.run(
        [PYTHON, "-X", "importtime", "-m", "coderows.cli.claude_hook"],
        input=json.dumps(bash('grep -rn "def compute_total" .')), capture_output=True, text=True, check=False, timeout=60,
    )
    imported = {line.split("|")[-1].strip().split(".")[0] for line in done.stderr.splitlines() if "|" in line}
    assert imported & {"psycopg", "click", "mcp", "tree_sitter", "rich", "pydantic"} == set()
    assert "coderows has this project's Python definitions indexed" in done.stdout


def test_a_file_linked_outside_the_project_is_not_written(project: Path, tmp_path: Path) -> None:
    outside = tmp_path / "authorized_keys"
    outside.write_text("ssh-ed25519 AAAA user@host\n")
    (project / "CLAUDE.md").unlink()
    (project / "CLAUDE.md").symlink_to(outside)
    before = snapshot(project)
    result = setup_claude(str(project))
    assert result.returncode == 1
    assert result.stderr == f"coderows: CLAUDE.md leads outside the project (to {outside.resolve()}); not writing there\n"
    assert outside.read_text() == "ssh-ed25519 AAAA user@host\n"
    assert snapshot(project) == before
