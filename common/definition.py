"""One definition (a class, function or method) as both sides know it: what a row of
schema.sql's `definitions` table says of it beyond its ids and its file.

The indexer's parse writes it (indexer/parse.py `Definition` adds the row's place in its
file and its body's span); the server reads it back (server/rows.py `Symbol` adds its
ids, module, file and repository). Each layer's own types that describe a definition
hold only what that layer needs of one: an extractor's tree node (indexer/outline.py
`RawDefinition`), the uses pass's key (extract_uses `DefinitionKey`), resolution's
namespace entry (indexer/resolve.py `Def`).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)  # not frozen: a frozen dataclass takes three times as long to make, per definition parsed
class DefinitionFields:
    kind: str  # class | function | method
    name: str
    qualname: str  # as CPython's __qualname__
    class_name: str | None  # a method's class
    def_line: int  # line of `def` / `class`
    start_line: int  # first decorator's line, else def_line
    end_line: int  # last line of code (trailing comments excluded, as ast does)
    signature: str  # the header from `def` / `class` to its colon, compacted
    decorators: list[str]
    bases: list[str]  # a class's bases as written
    is_async: bool
    docstring: str | None
