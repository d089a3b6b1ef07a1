"""The read side's typed rows, and the SQL columns that build them.

Every row that comes from a file carries that file's stamp (repository root, path, size,
mtime_ns as last indexed), so the caller can compare it with disk before answering
(freshness.py), and its repository (repo_id, and the name answers show). Nothing here
formats text for the agent; render.py does that.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from typing import Any, Literal

from coderows.common.definition import DefinitionFields

Kind = Literal["class", "function", "method"]

# The repositories a query answers from (server/scope.py); None: every repository.
RepoIds = Sequence[int] | None

# What find_symbol's `kind` argument selects; "function" follows the `functions` view,
# which holds methods too, because agents rarely know which one a name is.
KIND_FILTERS: dict[str, list[str]] = {
    "class": ["class"],
    "function": ["function", "method"],
    "method": ["method"],
}


@dataclass(frozen=True)
class FileStamp:
    """A file as it was when indexed; compared with os.stat before answering."""

    root: str
    path: str
    size: int
    mtime_ns: int


class OnDisk:
    """A row that names its file (root, path) and the stat it was indexed under."""

    root: str
    path: str
    size: int
    mtime_ns: int

    @property
    def stamp(self) -> FileStamp:
        return FileStamp(self.root, self.path, self.size, self.mtime_ns)


@dataclass
class Symbol(DefinitionFields, OnDisk):
    """One row of `symbols` (without body), plus its file's stamp. Built by position
    from SYMBOL_COLUMNS, which follow its fields."""

    id: int
    module_id: int
    parent_id: int | None
    module: str
    path: str
    full_name: str
    root: str
    size: int
    mtime_ns: int
    repo_id: int
    repo: str  # the repository's name (repos.name)
    # Set when the row stands for several that Python treats as one definition (overloads
    # and their implementation, a property's accessors): what they are. start_line and
    # end_line then span them all.
    grouped: str | None = None


@dataclass(frozen=True)
class Module(OnDisk):
    """One row of `modules` (without source), plus its repository root."""

    id: int
    repo_id: int
    path: str
    name: str
    is_package: bool
    docstring: str | None
    line_count: int
    parse_status: str
    parse_error: str | None
    root: str
    size: int
    mtime_ns: int
    repo: str


Match = Literal["exact", "case-insensitive", "pattern", "contains", "none"]


@dataclass
class NameMatch:
    """What a name resolved to: the matches of the best stage, or suggestions."""

    name: str
    how: Match
    matches: list[Symbol]
    total: int  # matches before limit/offset
    suggestions: list[Symbol] = field(default_factory=list)
    modules: list[Module] = field(default_factory=list)  # modules of that name, for a hint

    @property
    def stamps(self) -> set[FileStamp]:
        return {s.stamp for s in [*self.matches, *self.suggestions]} | {m.stamp for m in self.modules}


# Symbol's fields in order, as SQL over SYMBOL_FROM: symbols s, unless named here.
_SYMBOL_FIELDS_ELSEWHERE = {"root": "r.root", "size": "m.size", "mtime_ns": "m.mtime_ns", "repo": "r.name"}
_SYMBOL_SQL = [_SYMBOL_FIELDS_ELSEWHERE.get(f.name, f"s.{f.name}") for f in fields(Symbol) if f.name != "grouped"]
SYMBOL_COLUMNS = ", ".join(_SYMBOL_SQL)
SYMBOL_COLUMN_COUNT = len(_SYMBOL_SQL)
SYMBOL_FROM = """
    symbols s JOIN modules m ON m.id = s.module_id AND m.repo_id = s.repo_id JOIN repos r ON r.id = m.repo_id
"""
MODULE_COLUMNS = """
    m.id, m.repo_id, m.path, m.name, m.is_package, m.docstring, m.line_count, m.parse_status,
    m.parse_error, r.root, m.size, m.mtime_ns, r.name AS repo
"""


def symbol_row(row: tuple[Any, ...]) -> Symbol:
    return Symbol(*row[:SYMBOL_COLUMN_COUNT])


def scope_param(repos: RepoIds) -> list[int] | None:
    """A scope as a query parameter: NULL (every repository) or the ids."""
    return None if repos is None else list(repos)


IN_SCOPE = "(%(repos)s::bigint[] IS NULL OR m.repo_id = ANY(%(repos)s))"


def like_escape(text: str) -> str:
    """`text` as a LIKE pattern that matches only itself."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def relative_path(path: str) -> str:
    """A path as the agent wrote it, without leading "./" (dot-folders such as .github stay)."""
    while path.startswith("./"):
        path = path[2:]
    return path


@dataclass(frozen=True)
class Hit(OnDisk):
    """One line that matched search_code, with its innermost enclosing definition."""

    module_id: int
    module: str
    path: str
    line: int
    text: str
    symbol: Symbol | None  # None: module-level code
    root: str
    size: int
    mtime_ns: int
    repo: str


@dataclass(frozen=True)
class Reference(OnDisk):
    """One resolved use of a definition, with the text of its line."""

    path: str
    line: int
    col: int
    kind: str
    name: str
    source_full_name: str
    text: str
    root: str
    size: int
    mtime_ns: int


@dataclass(frozen=True)
class References:
    """Where a definition is used: the resolved uses (a page of them, and how many
    there are) and the uses of its bare name whose target is unknown."""

    uses: list[Reference]
    total: int
    files: int
    name_matches: int
    name_match_files: int


@dataclass(frozen=True)
class Subclass:
    """A class below another: its depth (1: direct) and the class it inherits from on
    the nearest path (the queried class itself at depth 1)."""

    symbol: Symbol
    depth: int
    parent_full_name: str
