"""Edits of a JSON file as text: add one member or one array item and leave every other
byte as it was, so that removing exactly the inserted text gives the file back byte for
byte (`coderows setup claude --uninstall` relies on it). Rewriting the whole document
with json.dumps would reformat the user's own settings.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

WHITESPACE = " \t\n\r"
_decoder = json.JSONDecoder()


class JsonTextError(ValueError):
    """The text is not the JSON shape an edit needs; the message says where."""


@dataclass(frozen=True)
class Insertion:
    text: str  # the whole document after the edit
    fragment: str  # exactly the characters inserted


def add_member(text: str, path: list[str], key: str, value: Any) -> Insertion:
    """`text` with `"key": value` added to the object at `path` (keys from the top)."""
    start, end = _container(text, path, "{")
    entry = json.dumps(key, ensure_ascii=False) + ": "
    return _insert(text, start, end, _object_children(text, start), entry, value)


def add_item(text: str, path: list[str], item: Any) -> Insertion:
    """`text` with `item` appended to the array at `path`."""
    start, end = _container(text, path, "[")
    return _insert(text, start, end, _array_children(text, start), "", item)


def remove_fragment(text: str, fragment: str) -> str | None:
    """`text` without `fragment`, if it occurs exactly once; else None (edited since)."""
    if not fragment or text.count(fragment) != 1:
        return None
    return text.replace(fragment, "", 1)


def _insert(text: str, start: int, end: int, children: list[tuple[int, int]], prefix: str, value: Any) -> Insertion:
    if children:
        first_start, _ = children[0]
        last_start, last_end = children[-1]
        if "\n" in text[start:first_start]:
            indent = _line_indent(text, last_start)
            unit = indent[len(_line_indent(text, start)) :] or "  "
            fragment = ",\n" + indent + prefix + _dumped(value, indent, unit)
        else:
            fragment = ", " + prefix + json.dumps(value, ensure_ascii=False)
        at = last_end
    else:
        outer = _line_indent(text, start)
        inner = outer + "  "
        fragment = "\n" + inner + prefix + _dumped(value, inner, "  ")
        if "\n" not in text[start + 1 : end - 1]:
            fragment += "\n" + outer
        at = start + 1
    return Insertion(text[:at] + fragment + text[at:], fragment)


def _dumped(value: Any, indent: str, unit: str = "  ") -> str:
    """value as JSON indented by `unit` per level, its continuation lines starting at `indent`."""
    return json.dumps(value, indent=unit, ensure_ascii=False).replace("\n", "\n" + indent)


def _line_indent(text: str, position: int) -> str:
    line_start = text.rfind("\n", 0, position) + 1
    line = text[line_start:position]
    return line[: len(line) - len(line.lstrip(" \t"))]


def _container(text: str, path: list[str], opener: str) -> tuple[int, int]:
    """(start, end) of the object or array at `path`; end is past its closing bracket."""
    start = _skip(text, 0)
    for depth, key in enumerate(path):
        if start >= len(text) or text[start] != "{":
            raise JsonTextError(f"{_where(path[:depth])} is not a JSON object")
        found = [value_start for name, _, value_start in _object_members(text, start) if name == key]
        if not found:
            raise JsonTextError(f"{_where(path[: depth + 1])} is missing")
        start = found[-1]  # as json.loads: the last of duplicate keys wins
    if start >= len(text) or text[start] != opener:
        kind = "an object" if opener == "{" else "an array"
        raise JsonTextError(f"{_where(path)} is not {kind}")
    return start, _value_end(text, start)


def _object_members(text: str, start: int) -> list[tuple[str, int, int]]:
    """(key, start of the key, start of its value) of each member of the object at `start`."""
    members = []
    i = _skip(text, start + 1)
    while i < len(text) and text[i] != "}":
        if text[i] != '"':
            raise JsonTextError(f"a JSON object key was expected at character {i}")
        key_start = i
        key, i = _decoder.raw_decode(text, i)
        i = _skip(text, i)
        if i >= len(text) or text[i] != ":":
            raise JsonTextError(f"':' was expected at character {i}")
        value_start = _skip(text, i + 1)
        members.append((key, key_start, value_start))
        i = _after_child(text, _value_end(text, value_start), "}")
    return members


def _object_children(text: str, start: int) -> list[tuple[int, int]]:
    """(start of key, end of value) of each member of the object at `start`."""
    return [(key_start, _value_end(text, value_start)) for _, key_start, value_start in _object_members(text, start)]


def _array_children(text: str, start: int) -> list[tuple[int, int]]:
    children = []
    i = _skip(text, start + 1)
    while i < len(text) and text[i] != "]":
        end = _value_end(text, i)
        children.append((i, end))
        i = _after_child(text, end, "]")
    return children


def _after_child(text: str, end: int, closer: str) -> int:
    """The start of the next child after one ending at `end`, or the closer's index."""
    i = _skip(text, end)
    if i < len(text) and text[i] == ",":
        return _skip(text, i + 1)
    if i < len(text) and text[i] == closer:
        return i
    raise JsonTextError(f"',' or '{closer}' was expected at character {i}")


def _value_end(text: str, start: int) -> int:
    try:
        return _decoder.raw_decode(text, start)[1]
    except json.JSONDecodeError as error:
        raise JsonTextError(f"invalid JSON at line {error.lineno} column {error.colno}: {error.msg}") from None


def _skip(text: str, i: int) -> int:
    while i < len(text) and text[i] in WHITESPACE:
        i += 1
    return i


def _where(path: list[str]) -> str:
    return "the top level" if not path else "/".join(path)
