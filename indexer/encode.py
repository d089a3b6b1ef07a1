"""A parsed file's rows as COPY text, made where the file was parsed (a worker process),
so that the process writing to the database only streams bytes (load.py).

The rows follow schema.sql's contents and content_* tables; a definition's id is its
content's id shifted by SYMBOL_ID_BITS plus its ordinal in the file, so a file's rows can
reference their parents before they reach the database.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from coderows.common.lines import split_lines
from coderows.indexer.parser_version import PARSER_VERSION
from coderows.indexer.resolve import SYMBOL_ID_BITS

if TYPE_CHECKING:
    from coderows.indexer.extract_uses import Use
    from coderows.indexer.parse import ParsedModule


@dataclass(frozen=True, slots=True)
class FileVersion:
    """A parsed file together with the stat it was read under."""

    module: ParsedModule
    size: int
    mtime_ns: int


@dataclass(frozen=True, slots=True)
class EncodedFile:
    """A parsed file's rows as COPY text, made where it was parsed (a worker process) so
    that the process writing to the database only streams bytes."""

    path: str
    module_id: int  # the id of its new contents row
    repo_id: int  # the repository it was read for: a batch never mixes repositories
    module_name: str
    names_hash: str
    parse_status: str
    parse_error: str | None
    definition_count: int
    source_chars: int
    content: bytes
    definitions: bytes
    imports: bytes
    uses: bytes
    pieces: bytes  # content_chunks rows
    size: int = -1  # the stat the file was read under; -1: unknown, never superseded
    mtime_ns: int = -1


def encode(module_id: int, repo_id: int, version: FileVersion) -> EncodedFile:
    module = version.module
    names_hash = module.names_hash  # (a digest over every row: made once)
    return EncodedFile(
        path=module.path,
        module_id=module_id,
        repo_id=repo_id,
        module_name=module.name,
        names_hash=names_hash,
        parse_status=module.parse_status,
        parse_error=module.parse_error,
        definition_count=len(module.definitions),
        source_chars=len(module.source),
        content=_copy_line(_content_row(module_id, module, names_hash)).encode("utf-8"),
        definitions=_definitions_copy_text(module_id, module).encode("utf-8"),
        imports="".join(map(_copy_line, _import_rows(module_id, module))).encode("utf-8"),
        uses=_uses_copy_text(module_id, module).encode("utf-8"),
        pieces=pieces_copy_text(module_id, module.source).encode("utf-8"),
        size=version.size,
        mtime_ns=version.mtime_ns,
    )


# Lines per content_chunks piece (schema.sql; server/search.py reads them).
PIECE_LINES = 64


def pieces_copy_text(content_id: int, source: str) -> str:
    """The content_chunks rows of a source in COPY text format: the pieces of PIECE_LINES
    lines schema.sql's source_chunks(source) makes of the text the contents row stores
    (a NUL stored as the text \\x00), line breaks as \\n; none for an empty source, as
    string_to_array gives no element for ''. Made here, in the worker, instead of by the
    database on insert (which cost the writing process about 1 s of the stdlib's index)."""
    if not source:
        return ""
    text = source.replace("\0", "\\x00") if "\0" in source else source
    # copy_escape's escapes but the line breaks', which the split removes and the join
    # writes as \n; the split leaves no \r.
    if "\\" in text or "\t" in text:
        text = text.replace("\\", "\\\\").replace("\t", "\\t")
    lines = split_lines(text)
    if len(lines) <= PIECE_LINES:
        return f"{content_id}\t1\t{ESCAPED_BREAK.join(lines)}\n"
    return "".join([
        f"{content_id}\t{first + 1}\t{ESCAPED_BREAK.join(lines[first:first + PIECE_LINES])}\n"
        for first in range(0, len(lines), PIECE_LINES)
    ])


ESCAPED_BREAK = "\\n"  # a line break inside a COPY text field


def _content_row(module_id: int, m: ParsedModule, names_hash: str) -> tuple[Any, ...]:
    return (
        module_id, m.path, m.name, m.is_package, m.docstring, m.source, m.line_count,
        m.content_hash, m.encoding, m.parse_status, m.parse_error, names_hash, PARSER_VERSION,
    )


def _definitions_copy_text(module_id: int, module: ParsedModule) -> str:
    """The definitions rows of one file in COPY text format. The hottest loop of a full
    index, so written out by hand: only free text goes through escaping, and values
    shared by every row of the file are escaped once."""
    base = module_id << SYMBOL_ID_BITS
    module_name = copy_escape(module.name)
    lines = []
    for d in module.definitions:
        parent = NULL if d.parent_ordinal is None else str(base | d.parent_ordinal)
        qualname = copy_escape(d.qualname)
        class_name = NULL if d.class_name is None else copy_escape(d.class_name)
        decorators = copy_escape(_array_literal(d.decorators)) if d.decorators else "{}"
        bases = copy_escape(_array_literal(d.bases)) if d.bases else "{}"
        docstring = NULL if d.docstring is None else copy_escape(d.docstring)
        lines.append(
            f"{base | d.ordinal}\t{module_id}\t{parent}\t{module_name}\t{d.kind}\t{copy_escape(d.name)}\t"
            f"{qualname}\t{class_name}\t{d.def_line}\t{d.start_line}\t"
            f"{d.end_line}\t{copy_escape(d.signature)}\t{decorators}\t{bases}\t{'t' if d.is_async else 'f'}\t"
            f"{docstring}\t{d.body_start + 1}\t{d.body_length}\n"
        )
    return "".join(lines)


# content_uses.kind is one byte (schema.sql's use_kind() spells it out again in the views).
USE_KINDS = {"call": "c", "reference": "r", "import": "i", "inherit": "b", "decorator": "d"}


def _uses_copy_text(module_id: int, module: ParsedModule) -> str:
    """The name_uses rows of one file in COPY text format, written out by hand for the
    same reason as the definitions. Names and targets are identifiers, dots and `()`:
    only a file where one holds a character COPY escapes (a dotted name written across
    a backslash continuation) escapes them one by one."""
    uses = module.uses
    if not uses:
        return ""
    base = module_id << SYMBOL_ID_BITS
    source_ids = [str(base | ordinal) for ordinal in range(len(module.definitions))]
    written = "".join([use.name for use in uses]) + "".join([use.target for use in uses if use.target is not None])
    if _needs_escape(written):
        return _escaped_uses_copy_text(module_id, uses, source_ids)
    return "".join([
        f"{module_id}\t{NULL if use.source_ordinal is None else source_ids[use.source_ordinal]}\t{use.line}\t{use.col}\t"
        f"{USE_KINDS[use.kind]}\t{use.name}\t{NULL if use.target is None else use.target}\t"
        f"{'t' if use.via_super else 'f'}\n"
        for use in uses
    ])


def _escaped_uses_copy_text(module_id: int, uses: list[Use], source_ids: list[str]) -> str:
    lines = []
    for use in uses:
        source = NULL if use.source_ordinal is None else source_ids[use.source_ordinal]
        target = NULL if use.target is None else copy_escape(use.target)
        lines.append(
            f"{module_id}\t{source}\t{use.line}\t{use.col}\t{USE_KINDS[use.kind]}\t{copy_escape(use.name)}\t"
            f"{target}\t{'t' if use.via_super else 'f'}\n"
        )
    return "".join(lines)


def _import_rows(module_id: int, module: ParsedModule) -> Iterable[tuple[Any, ...]]:
    for imp in module.imports:
        yield (
            module_id, module.name, imp.line, imp.imported_module,
            imp.imported_name, imp.alias, imp.level, imp.target_module,
        )


# --- COPY text format (https://www.postgresql.org/docs/current/sql-copy.html) ---------

NULL = "\\N"


def _copy_line(row: tuple[Any, ...]) -> str:
    return "\t".join(map(_copy_field, row)) + "\n"


def _copy_field(value: object) -> str:
    if value is None:
        return NULL
    if value is True:
        return "t"
    if value is False:
        return "f"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, list):
        value = _array_literal(value)
    return copy_escape(str(value))


def _needs_escape(text: str) -> bool:
    """Whether copy_escape changes text (each test is a memchr: faster than one regex)."""
    return "\\" in text or "\n" in text or "\r" in text or "\t" in text or "\0" in text


def copy_escape(text: str) -> str:
    if "\\" in text or "\n" in text or "\r" in text or "\t" in text or "\0" in text:  # (_needs_escape, inline)
        # PostgreSQL text cannot hold NUL (a docstring may: "\0"): it is stored as \x00.
        text = text.replace("\0", "\\x00")
        return text.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")
    return text


def _array_literal(items: list[str]) -> str:
    """A text[] literal: every element quoted, so no element needs other escaping rules."""
    return "{" + ",".join('"' + item.replace("\\", "\\\\").replace('"', '\\"') + '"' for item in items) + "}"
