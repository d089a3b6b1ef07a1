"""Claude Code PreToolUse hook installed by `coderows setup claude`.

Claude Code runs it before each Bash, Grep, Glob and Read call with the event as JSON on
stdin. When the call is a search for a Python definition (`grep -n "def X"`, `rg "class
X"`, the Grep tool with such a pattern), a Glob for a .py file, or a Read of a whole large
.py file, it prints a PreToolUse `additionalContext` note naming the coderows call that
answers it; Claude Code shows that note to the model next to the tool's result. With
--block, definition searches are refused instead (the model then sees the note as the
reason). Reads are never refused: Claude Code's Edit needs the file to have been Read.

It runs on every such tool call, so it imports only the standard library (no psycopg, no
click, no database) and never fails the call: anything it cannot read means no note.

    python -m coderows.cli.claude_hook [--block] < event.json
"""

from __future__ import annotations

import itertools
import json
import os
import re
import shlex
import stat
import sys
from pathlib import Path
from typing import Any

TOOL_PREFIX = "mcp__coderows__"
READ_NOTE_MIN_LINES = 200  # a whole-file Read of a shorter file costs little
MAX_EVENT_BYTES = 4 * 2**20
MAX_COUNTED_BYTES = 16 * 2**20  # a bigger .py file is noted as having at least its lines so far
MAX_NAMES = 3  # names noted per call; more would bloat the note
MAX_SHOWN = 200  # characters of a path or name echoed into a note
GREP_PROGRAMS = frozenset({"grep", "egrep", "fgrep", "rg", "ag", "ack", "ack-grep", "git-grep", "pt", "sift", "ugrep"})
WHOLE_FILE_PROGRAMS = frozenset({"cat", "bat", "batcat", "less", "more", "nl"})
PYTHON_EXTENSIONS = frozenset({"py", "pyi", "pyw"})

# Regular-expression spellings of "some whitespace" and of word anchors, as agents write
# them in grep/rg patterns: `def\s+name`, `def[[:space:]]+name`, `^\s*class\b`.
_SPACE = re.compile(r"\\s[+*?]?|\[\[:space:\]\][+*?]?|\[(?: |\\t|\t)+\][+*?]?|\\ | [+*?]|\\t[+*?]?")
_ANCHOR = re.compile(r"\\[b<>]|\^|\$")
_EITHER_KIND = re.compile(r"\((?:\?:)?(?:def\|class|class\|def|(?:async )?def\|(?:async )?class)\)")
_OPTIONAL_ASYNC = re.compile(r"\((?:\?:)?async ?\)\??|\(async \)\?")
_DEFINITION = re.compile(
    r"(?<![\w.])(?:async +)?(def|class|any) +([A-Za-z_][A-Za-z0-9_]*)((?:\\w|\[[^\]]*\]|\.)[*+])?"
)
_EXTENSION = re.compile(r"\*\.\{?([A-Za-z0-9_,]+)\}?")
_GLOB_CHARS = frozenset("*?[{")


def main(argv: list[str]) -> int:
    block = "--block" in argv
    try:
        event = json.loads(sys.stdin.read(MAX_EVENT_BYTES))
    except (ValueError, UnicodeDecodeError, OSError):
        return 0
    if not isinstance(event, dict) or event.get("hook_event_name", "PreToolUse") != "PreToolUse":
        return 0
    tool_input = event.get("tool_input")
    if not isinstance(tool_input, dict):
        return 0
    note, is_search = note_for(str(event.get("tool_name", "")), tool_input, project_dir(event))
    if note:
        print(json.dumps(hook_output(note, refuse=block and is_search)))
    return 0


def project_dir(event: dict[str, Any]) -> Path:
    """The project Claude Code runs in: the folder setup was run for."""
    return Path(os.environ.get("CLAUDE_PROJECT_DIR") or str(event.get("cwd") or ".") or ".")


def hook_output(note: str, *, refuse: bool) -> dict[str, Any]:
    if refuse:
        specific = {"hookEventName": "PreToolUse", "permissionDecision": "deny", "permissionDecisionReason": note}
    else:
        specific = {"hookEventName": "PreToolUse", "additionalContext": note}
    return {"hookSpecificOutput": specific}


def note_for(tool: str, tool_input: dict[str, Any], project: Path) -> tuple[str | None, bool]:
    """(the note for this call or None, whether the call is a definition search)."""
    if tool == "Bash":
        return bash_note(_text(tool_input.get("command")), project)
    if tool == "Grep":
        if not _searches_python([_text(tool_input.get("glob")), "*." + _text(tool_input.get("type"))]):
            return None, False
        return definitions_note(definitions_in(_text(tool_input.get("pattern")))), True
    if tool == "Glob":
        return glob_note(_text(tool_input.get("pattern"))), False
    if tool == "Read":
        if tool_input.get("offset") is not None or tool_input.get("limit") is not None:
            return None, False
        return read_note(_text(tool_input.get("file_path")), project), False
    return None, False


def bash_note(command: str, project: Path) -> tuple[str | None, bool]:
    words = _shell_words(command)
    programs = {Path(word).name for word in words}
    if "git" in programs and "grep" in words:
        programs.add("git-grep")
    if programs & GREP_PROGRAMS and _searches_python(words):
        names = [name for word in words for name in definitions_in(word)]
        note = definitions_note(list(dict.fromkeys(names)))
        if note:
            return note, True
    if programs & WHOLE_FILE_PROGRAMS and not programs & {"head", "tail", "sed", "awk"}:
        notes = [read_note(word, project) for word in words if word.endswith(".py")]
        shown = [note for note in notes if note]
        return ("\n".join(shown[:MAX_NAMES]) or None), False
    return None, False


def definitions_in(pattern: str) -> list[tuple[str, str]]:
    """(kind, name) of each definition a grep pattern looks for: `def X`, `class X`,
    `(def|class) X` (kind 'any'); a name followed by a wildcard ends in '*'."""
    text = _EITHER_KIND.sub("any", pattern)
    text = _OPTIONAL_ASYNC.sub("", text)
    text = _SPACE.sub(" ", _ANCHOR.sub("", text))
    found = []
    for match in _DEFINITION.finditer(text):
        kind, name, wildcard = match.groups()
        found.append((kind, name + ("*" if wildcard else "")))
    return found


def definitions_note(names: list[tuple[str, str]]) -> str | None:
    if not names:
        return None
    lines = ["coderows has this project's Python definitions indexed; it answers this search exactly:"]
    for kind, name in names[:MAX_NAMES]:
        if name.endswith("*"):
            lines.append(f"- {kind} {name}: {TOOL_PREFIX}find_symbol query={_quoted(name)} lists every match with its location")
        elif kind == "class":
            lines.append(
                f"- class {name}: {TOOL_PREFIX}get_outline target={_quoted(name)} (its methods and line ranges) "
                f"or {TOOL_PREFIX}get_symbol name={_quoted(name)} (its exact source and location)"
            )
        else:
            lines.append(
                f"- {'def' if kind == 'def' else 'definition'} {name}: {TOOL_PREFIX}get_symbol name={_quoted(name)} "
                f"(its exact source and location; an ambiguous name lists the candidates) or "
                f"{TOOL_PREFIX}find_symbol query={_quoted(name + '*')} (every definition whose name starts so)"
            )
    lines.append(f"Uses of a name: {TOOL_PREFIX}find_references name=...")
    return "\n".join(lines)


def glob_note(pattern: str) -> str | None:
    """A Glob for one named .py file (e.g. **/sessions.py): its outline answers what is in it."""
    name = pattern.rsplit("/", 1)[-1]
    if not name.endswith(".py") or _GLOB_CHARS & set(name) or not _showable(name):
        return None
    return (
        f"coderows: {TOOL_PREFIX}get_outline target={_quoted(name)} lists what {name} defines "
        f"(classes, functions, methods with line ranges) without reading it; {TOOL_PREFIX}get_symbol "
        f"name=... then reads one definition."
    )


def read_note(file_path: str, project: Path) -> str | None:
    """A note for reading a whole .py file inside the project of at least READ_NOTE_MIN_LINES lines."""
    if not file_path.endswith((".py", ".pyi")) or not _showable(file_path):
        return None
    path = Path(file_path) if os.path.isabs(file_path) else project / file_path
    try:
        relative = Path(os.path.normpath(path)).relative_to(os.path.normpath(project.absolute()))
    except ValueError:  # outside the project: not in the index
        return None
    lines = count_lines(path)
    if lines < READ_NOTE_MIN_LINES:
        return None
    target = relative.as_posix()
    return (
        f"coderows: {target} has {lines:,} lines. "
        f"{TOOL_PREFIX}get_outline target={_quoted(target)} lists its classes and functions with line "
        f"ranges, and {TOOL_PREFIX}get_symbol name=... returns just one of them; to edit, Read only the "
        f"lines you change (offset/limit)."
    )


def count_lines(path: Path) -> int:
    """Lines of a regular file (of its first MAX_COUNTED_BYTES); 0 when it cannot be
    read. Non-blocking, so that a FIFO named like a source file cannot hang the hook."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return 0
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return 0
        count, last, read = 0, b"\n", 0
        while read < MAX_COUNTED_BYTES:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                break
            count += chunk.count(b"\n")
            last, read = chunk[-1:], read + len(chunk)
        return count + (last != b"\n")
    except OSError:
        return 0
    finally:
        os.close(fd)


def _searches_python(words: list[str]) -> bool:
    """Whether a search may cover Python files: no file-type filter, or one naming Python."""
    extensions: set[str] = set()
    for word in words:
        for match in _EXTENSION.finditer(word):
            extensions.update(part.lower() for part in match.group(1).split(","))
    for flag, value in itertools.pairwise(words):
        if flag in ("-t", "--type"):
            extensions.add(value.lower())
    for word in words:
        if word.startswith("--type="):
            extensions.add(word.split("=", 1)[1].lower())
    extensions.discard("")
    return not extensions or "python" in extensions or bool(extensions & PYTHON_EXTENSIONS)


def _shell_words(command: str) -> list[str]:
    lexer = shlex.shlex(command, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    try:
        return list(lexer)
    except ValueError:  # unbalanced quotes: fall back to plain words
        return command.split()


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _showable(text: str) -> bool:
    """Whether text may be echoed into the model's context as it is: bounded, no control characters."""
    return 0 < len(text) <= MAX_SHOWN and text.isprintable()


def _quoted(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
