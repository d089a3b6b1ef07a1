"""The edit tools as the MCP server and the CLI offer them.

Each edit is one operation: resolve the name as get_symbol does (an ambiguous name edits
nothing and lists the candidates), decide the changes from the rows, check and write
every file (write.py), then re-index the written files before answering, so the very
next call of any tool sees the edit; the repository's lock is held from the first write
until their rows are committed, so no watcher indexes them again. A file found changed on disk since its rows were
read is re-indexed and the edit decided once more; a second change refuses.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import psycopg
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations
from pydantic import Field

from coderows.common.files import inside
from coderows.common.lines import line_starts, split_lines
from coderows.edit import plan as planning
from coderows.edit.plan import ModuleFile, Position
from coderows.edit.rename import LISTED_LEFT_ALONE, NOTHING_WRITTEN, ChangedLine, RenamePlan, plan_rename
from coderows.edit.variables import Variable, find_variables, plan_variable_rename
from coderows.edit.write import EditRefused, FileChange, Prepared, StaleFile, prepare, write_all
from coderows.server import freshness, lookup, references, render
from coderows.server.app import text_tools
from coderows.server.limits import NAME_CHARS
from coderows.server.rows import NameMatch, Symbol
from coderows.server.scope import CallScope, resolve_scope
from coderows.server.source import find_modules

if TYPE_CHECKING:
    from coderows.server.tools import Tools

EDIT_TOOLS = ("replace_symbol", "insert_symbol", "delete_symbol", "rename_symbol")
DESTRUCTIVE = ToolAnnotations(read_only_hint=False, destructive_hint=True, idempotent_hint=False, open_world_hint=False)
SOURCE_CHARS = 200_000
SHOWN_LINES = 40  # of a replaced or inserted definition, in the answer
CHANGES_BYTES = 9_000  # of a rename's changed lines, in an MCP answer
BY_NAME_BYTES = 3_000  # of its lines renamed by name only, at least, past CHANGES_BYTES
LINE_CHARS = 160


@dataclass(frozen=True)
class Decision:
    """What an edit changes, and the answer once written (or not, for a dry run)."""

    changes: list[FileChange]
    answer: Callable[[list[Prepared], bool], str]


def perform(conn: psycopg.Connection, decide: Callable[[], Decision], *, write: bool = True) -> str:
    """Decide, check every file, write them all (unless `write` is False), re-index them.
    A file changed since its rows were read is re-indexed and the edit decided again once."""
    for attempt in (1, 2):
        decision = decide()
        try:
            prepared = [prepare(change) for change in decision.changes]
        except StaleFile as stale:
            if attempt == 2:
                raise
            freshness.refresh_changed(conn, stale.root, [stale.path])
            continue
        if write and prepared:
            written: dict[str, list[str]] = {}
            for item in prepared:
                written.setdefault(item.change.root, []).append(item.change.path)
            freshness.write_and_refresh(conn, written, partial(write_all, prepared))
        return decision.answer(prepared, write)
    raise AssertionError("unreachable")


# --- the decisions -----------------------------------------------------------------


def decide_replace(conn: psycopg.Connection, symbol: Symbol, source: str) -> Decision:
    file = planning.module_file(conn, symbol.repo_id, symbol.module_id)
    planning.refuse_unparsed(file)
    edit = planning.replace_edit(file, symbol, source)

    def answer(prepared: list[Prepared], _: bool) -> str:
        first = symbol.start_line
        return span_answer(f"replaced {symbol.kind} {symbol.full_name} ({render.location(symbol)}); now", prepared[0], file, first, edit.new)

    return Decision([file.change([edit])], answer)


def decide_insert(conn: psycopg.Connection, file: ModuleFile, anchor: Symbol | None, position: Position, source: str) -> Decision:
    planning.refuse_unparsed(file)
    edit = planning.insert_edit(file, anchor, position, source)
    where = f"at the end of module {file.path}" if anchor is None else (
        f"at the end of class {anchor.full_name}" if position == "end" else f"{position} {anchor.kind} {anchor.full_name}"
    )

    def answer(prepared: list[Prepared], _: bool) -> str:
        leading = len(edit.new) - len(edit.new.lstrip("\r\n"))
        first = line_of(prepared[0].new_text, edit.start + leading)
        return span_answer(f"inserted {where}:", prepared[0], file, first, edit.new.strip("\r\n"))

    return Decision([file.change([edit])], answer)


def decide_delete(conn: psycopg.Connection, symbol: Symbol) -> Decision:
    file = planning.module_file(conn, symbol.repo_id, symbol.module_id)
    planning.refuse_unparsed(file)
    edit = planning.delete_edit(file, symbol)
    used, files, _ = references.use_counts(conn, symbol)

    def answer(prepared: list[Prepared], _: bool) -> str:
        text = f"deleted {symbol.kind} {symbol.full_name} ({render.location(symbol)})"
        if edit.new:
            text += "; `pass` stands in its place, the only statement of its block"
        if used:
            text += f"\n[note: {plural(used, 'resolved use')} in {plural(files, 'file')} still name it: search_code({symbol.name!r}) finds them]"
        return text

    return Decision([file.change([edit])], answer)


def decide_rename(
    conn: psycopg.Connection, symbol: Symbol, new_name: str, include_overrides: bool, *, budget: int | None,
    include_name_only: bool = False,
) -> Decision:
    """With no budget (the CLI), every change and every use left alone is listed."""
    listed = LISTED_LEFT_ALONE if budget is not None else None
    plan = plan_rename(
        conn, symbol, new_name, include_overrides=include_overrides, include_name_only=include_name_only, listed=listed
    )

    def answer(_: list[Prepared], written: bool) -> str:
        return rename_answer(plan, written, budget=budget)

    return Decision(plan.changes, answer)


def decide_variable_rename(
    conn: psycopg.Connection, variable: Variable, new_name: str, *, budget: int | None, include_name_only: bool = False
) -> Decision:
    listed = LISTED_LEFT_ALONE if budget is not None else None
    plan = plan_variable_rename(conn, variable, new_name, include_name_only=include_name_only, listed=listed)

    def answer(_: list[Prepared], written: bool) -> str:
        return rename_answer(plan, written, budget=budget)

    return Decision(plan.changes, answer)


def one_variable(conn: psycopg.Connection, name: str, repo_ids: list[int] | None) -> Variable | None:
    """The module-level variable `name` denotes, when no definition has the name; None
    when there is none; refused when several repositories hold one."""
    found = find_variables(conn, name, repo_ids)
    if len(found) > 1:
        where = ", ".join(f"{v.root}/{v.path}:{v.line}" for v in found)
        raise EditRefused(f"{name} is a variable in several repositories ({where}): give repo; {NOTHING_WRITTEN}")
    return found[0] if found else None


def variable_decision(
    conn: psycopg.Connection, name: str, new_name: str, repo_ids: list[int] | None, *, budget: int | None,
    include_name_only: bool = False,
) -> Decision | None:
    """A rename of the module-level variable `name` (after bringing its repository up to
    date), or None when `name` is no such variable."""
    variable = one_variable(conn, name, repo_ids)
    if variable is None:
        return None
    catch_up(conn, variable.root)
    variable = one_variable(conn, name, repo_ids)
    if variable is None:
        raise EditRefused(f"{name} is no longer a module-level variable; {NOTHING_WRITTEN}")
    return decide_variable_rename(conn, variable, new_name, budget=budget, include_name_only=include_name_only)


# --- answers -----------------------------------------------------------------------


def line_of(text: str, offset: int) -> int:
    """The 1-based line holding character `offset` of `text`."""
    return bisect_right(line_starts(text), offset)


def span_answer(title: str, prepared: Prepared, file: ModuleFile, first: int, block: str) -> str:
    """The title with `path:first-last`, then the lines written, unnumbered as get_symbol
    shows a body: exactly as the file now holds them (a very long line cut and marked)."""
    lines = split_lines(block)
    last = first + len(lines) - 1
    shown = [clip_source(line) for line in lines[:SHOWN_LINES]]
    more = [f"[{len(lines) - SHOWN_LINES} more lines: get_symbol('{file.path}:{first}')]"] if len(lines) > SHOWN_LINES else []
    return "\n".join([f"{title} {file.path}:{first}-{last}", *shown, *more])


def rename_answer(plan: RenamePlan, written: bool, *, budget: int | None) -> str:
    symbol = plan.symbol
    files = len(plan.changes)
    verb = "renamed" if written else "dry run, nothing written: would rename"
    out = [
        f"{verb} {symbol.kind} {symbol.full_name} -> {plan.new_name}: {plural(plan.positions, 'change')} on "
        f"{plural(len(plan.lines), 'line')} in {plural(files, 'file')}"
    ]
    # A line holding a use renamed by name only is shown under that heading (with any
    # resolved use it also holds): the agent sees every such line apart.
    by_name = {(path, line) for path, line, _ in plan.by_name_only}
    resolved = [line for line in plan.lines if (line.path, line.line) not in by_name]
    used = changed_lines_answer(out, resolved, written, budget=budget)
    if by_name:
        verb = "renamed" if written else "would rename"
        out.append(
            f"{verb} by name only (objects of unknown type; nothing else in this repository is named {symbol.name}, "
            f"but code outside it may be; {plural(len(plan.by_name_only), 'use')}):"
        )
        changed_lines_answer(
            out, [line for line in plan.lines if (line.path, line.line) in by_name], written,
            budget=None if budget is None else max(budget - used, BY_NAME_BYTES),
        )
    if plan.by_name_refused:
        out.append(plan.by_name_refused)
    if plan.related:
        related = ", ".join(f"{name} ({how})" for name, how in plan.related)
        out.append(f"methods of the same name in the class hierarchy, not renamed (include_overrides=true renames them too): {related}")
    if plan.bases_outside:
        out.append(
            f"its class derives from classes outside the index ({', '.join(plan.bases_outside)}): if one of them "
            f"defines {symbol.name}, code there calls it by the old name"
        )
    if plan.protocols:
        out.append(
            f"the standard library defines {symbol.name} too ({', '.join(plan.protocols[:3])}): code that uses this "
            f"class's objects in their place (the standard library's own, by duck typing) calls it by the old name"
        )
    if plan.aliased:
        out.append(f"{plural(plan.aliased, 'use')} through another name (an `as` alias) unchanged: the alias still binds")
    if plan.name_only_total:
        out.append(f"left alone, known by name only (objects of unknown type; {plan.name_only_total}):")
        out.extend(f"  {u.path}:{u.line}: {clip(u.text)}" for u in plan.name_only)
        if plan.name_only_total > len(plan.name_only):
            out.append(f"  ... {plan.name_only_total - len(plan.name_only)} more")
    if plan.strings_total:
        cut = " (first files only)" if plan.strings_scan_cut else ""
        out.append(f"left alone, strings and comments holding {symbol.name!r}{cut} ({plan.strings_total}):")
        out.extend(f"  {u.path}:{u.line}: {clip(u.text)}" for u in plan.strings)
        if plan.strings_total > len(plan.strings):
            out.append(f"  ... {plan.strings_total - len(plan.strings)} more")
    return "\n".join(out)


def changed_lines_answer(out: list[str], lines: list[ChangedLine], written: bool, *, budget: int | None) -> int:
    """Append each changed line under its file's path, within `budget` characters
    (None: all); returns the characters used."""
    used = 0
    current = None
    for number, line in enumerate(lines):
        entry = f"  {line.line}: {clip(line.old)}  ->  {clip(line.new)}"
        heading = [line.path] if line.path != current else []
        cost = sum(len(text) + 1 for text in [*heading, entry])
        if budget is not None and used + cost > budget:
            rest = len(lines) - number
            how = "all were written" if written else "coderows rename --dry-run lists them all"
            out.append(f"[{rest} more changed lines not shown; {how}]")
            break
        out.extend([*heading, entry])
        used += cost
        current = line.path
    return used


def clip_source(line: str) -> str:
    return line if len(line) <= LINE_CHARS else f"{line[:LINE_CHARS]} ...[line cut: {len(line)} chars]"


def plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def clip(text: str) -> str:
    return text if len(text) <= LINE_CHARS else text[: LINE_CHARS - 3] + "..."


# --- names -------------------------------------------------------------------------


def one_definition(resolution: NameMatch, *, tool: str, repo: str | None, same_name_is_one: bool = False) -> Symbol | str:
    """The definition a name denotes, else the answer listing the candidates. With
    `same_name_is_one`, definitions sharing one full name in one repository (a property
    and its setter) count as one."""
    if resolution.total == 0:
        raise EditRefused(render.not_found(resolution))
    keys = {(s.repo_id, s.full_name) for s in resolution.matches}
    if resolution.total == 1 or (same_name_is_one and len(keys) == 1 and resolution.total == len(resolution.matches)):
        return resolution.matches[0]
    return render.ambiguous(resolution, tool=tool, repo=repo)


def catch_up(conn: psycopg.Connection, root: str) -> None:
    """The repository's rows brought up to date: a rename needs every use, also in files
    written a moment ago."""
    from coderows.indexer.pipeline import IndexingError

    try:
        freshness.catch_up_repository(conn, root)
    except IndexingError as error:
        raise EditRefused(f"cannot bring {root} up to date ({error}); nothing was written") from None


def refused(error: EditRefused) -> ToolError:
    return ToolError(str(error))


# --- the MCP tools -----------------------------------------------------------------


class EditTools:
    """The edit tools over a server's Tools (its connections, scope and freshness)."""

    def __init__(self, tools: Tools) -> None:
        self.tools = tools

    def resolve(self, conn: psycopg.Connection, scope: CallScope, name: str, *, tool: str, same_name_is_one: bool = False) -> Symbol | str:
        resolution = self.tools.resolve_fresh(conn, scope, lambda c: lookup.match_name(c, name, repos=scope.ids, limit=50))
        return one_definition(resolution, tool=tool, repo=scope.repo, same_name_is_one=same_name_is_one)

    def edit(
        self,
        name: str,
        repo: str | None,
        tool: str,
        decide: Callable[[psycopg.Connection, Symbol], Decision],
        fallback: Callable[[psycopg.Connection, CallScope], Decision | None] | None = None,
        **options: bool,
    ) -> str:
        """`fallback`: the decision when no definition has the name (else None)."""

        def work(conn: psycopg.Connection) -> str:
            try:
                def decision() -> Decision:
                    one = options.get("same_name_is_one", False)
                    scope = self.tools.scope(conn, repo)
                    try:
                        found = self.resolve(conn, scope, name, tool=tool, same_name_is_one=one)
                    except EditRefused:
                        instead = fallback(conn, scope) if fallback is not None else None
                        if instead is None:
                            raise
                        return instead
                    symbol = _definite(found)
                    if options.get("catch_up"):  # every use counts: the whole repository up to date first
                        catch_up(conn, symbol.root)
                        symbol = _definite(self.resolve(conn, scope, name, tool=tool, same_name_is_one=one))
                    return decide(conn, symbol)

                return perform(conn, decision, write=options.get("write", True))
            except _Ambiguous as ambiguous:
                return ambiguous.answer
            except EditRefused as error:
                raise refused(error) from None

        return self.tools.run(work)

    def replace_symbol(self, name: str, source: str, repo: str | None = None) -> str:
        return self.edit(name, repo, "replace_symbol", lambda conn, symbol: decide_replace(conn, symbol, source))

    def delete_symbol(self, name: str, repo: str | None = None) -> str:
        return self.edit(name, repo, "delete_symbol", decide_delete)

    def rename_symbol(
        self, name: str, new_name: str, dry_run: bool = False, include_overrides: bool = False, repo: str | None = None,
        include_name_only: bool = False,
    ) -> str:
        if self.tools.indexer.running:
            raise ToolError("rename_symbol waits for the first index of the repository to finish (index_status shows it); call again then.")

        def decide(conn: psycopg.Connection, symbol: Symbol) -> Decision:
            return decide_rename(conn, symbol, new_name, include_overrides, budget=CHANGES_BYTES, include_name_only=include_name_only)

        def variable(conn: psycopg.Connection, scope: CallScope) -> Decision | None:
            return variable_decision(conn, name, new_name, scope.ids, budget=CHANGES_BYTES, include_name_only=include_name_only)

        return self.edit(name, repo, "rename_symbol", decide, variable, same_name_is_one=True, catch_up=True, write=not dry_run)

    def insert_symbol(self, anchor: str, source: str, position: str = "after", repo: str | None = None) -> str:
        if position not in ("before", "after", "end"):
            raise ToolError("position is 'before' or 'after' a definition, or 'end' of a module or class.")

        def work(conn: psycopg.Connection) -> str:
            try:
                def decision() -> Decision:
                    scope = self.tools.scope(conn, repo)
                    if position == "end":
                        modules = self.tools.lookup(
                            conn,
                            scope,
                            lambda c: find_modules(c, anchor, scope.ids),
                            lambda ms: [m.stamp for m in ms],
                            lambda ms: False,
                        )
                        if len(modules) > 1:
                            raise _Ambiguous(render.modules_ambiguous(anchor, modules, tool="insert_symbol", arguments={"anchor": anchor, "position": position, "repo": repo}))
                        if modules:
                            module = modules[0]
                            return decide_insert(conn, planning.module_file(conn, module.repo_id, module.id), None, "end", source)
                    symbol = self.resolve(conn, scope, anchor, tool="insert_symbol")
                    if isinstance(symbol, str):
                        raise _Ambiguous(symbol)
                    file = planning.module_file(conn, symbol.repo_id, symbol.module_id)
                    return decide_insert(conn, file, symbol, position, source)  # type: ignore[arg-type]

                return perform(conn, decision)
            except _Ambiguous as ambiguous:
                return ambiguous.answer
            except EditRefused as error:
                raise refused(error) from None

        return self.tools.run(work)


def _definite(found: Symbol | str) -> Symbol:
    if isinstance(found, str):
        raise _Ambiguous(found)
    return found


class _Ambiguous(Exception):
    """A name denoting several definitions: the answer lists them; nothing is edited."""

    def __init__(self, answer: str) -> None:
        super().__init__("ambiguous")
        self.answer = answer


NameArg = Annotated[
    str,
    Field(
        description="The definition: a full name (pkg.mod.Class.meth), pkg.mod:Class.meth, a qualname, a bare name "
        "or path.py:LINE, resolved exactly as get_symbol resolves it; an ambiguous name edits nothing.",
        max_length=NAME_CHARS,
    ),
]
SourceArg = Annotated[
    str,
    Field(
        description="The complete definition (decorators, def/class line, docstring, body) at any indentation: it is "
        "placed at the target's indentation, with the file's line endings.",
        max_length=SOURCE_CHARS,
    ),
]
RepoArg = Annotated[
    str | None,
    Field(description="The repository (name or root path) when the name is in several.", max_length=NAME_CHARS),
]


def register(server: MCPServer, tools: Tools) -> None:
    """Add the edit tools to `server` (stdio always; HTTP only with serve --allow-edits)."""
    edits = EditTools(tools)
    destructive = text_tools(server, DESTRUCTIVE)

    @destructive(
        "Replace one class, function or method with new source, by name: no need to reproduce the old text. "
        "The new source may be written at any indentation; it is placed at the definition's, with the file's "
        "line endings and encoding. The edit is refused (nothing written) if the file changed since it was "
        "indexed, is read-only, or would not parse. Answers with the new lines and where they are (path:first-last)."
    )
    def replace_symbol(name: NameArg, source: SourceArg, repo: RepoArg = None) -> str:
        return edits.replace_symbol(name, source, repo)

    @destructive(
        "Insert new source (a definition or other statements) before or after a definition, or at the end of "
        "a module or class (position='end', anchor a module name, file path or class). Placed at the right "
        "indentation with PEP 8 blank lines; refused if the result would not parse."
    )
    def insert_symbol(
        anchor: Annotated[
            str,
            Field(description="A definition (as get_symbol names it), or for position='end' a module, file path or class.", max_length=NAME_CHARS),
        ],
        source: SourceArg,
        position: Annotated[Literal["before", "after", "end"], Field(description="Where, relative to the anchor.")] = "after",
        repo: RepoArg = None,
    ) -> str:
        return edits.insert_symbol(anchor, source, position, repo)

    @destructive(
        "Delete one class, function or method (with its decorators and docstring) by name. Says how many "
        "resolved uses still name it."
    )
    def delete_symbol(name: NameArg, repo: RepoArg = None) -> str:
        return edits.delete_symbol(name, repo)

    @destructive(
        "Rename a class, function or method and every use that resolves to it across its repository: calls, "
        "references, imports and re-exports, __all__, base classes, decorators, attributes through self/cls/"
        "super()/instances of known classes. Writes all files or none. Answers with every change (file:line, "
        "old -> new) and, separately, what it left alone: uses known by name only (unknown types) and strings "
        "or comments holding the name. dry_run=true answers the same without writing. For a method, "
        "include_overrides=true also renames the methods it overrides or that override it. "
        "include_name_only=true also renames the attributes known by name only (obj.name where obj's type is "
        "unknown), listed under their own heading, when nothing else in the repository has the name; else it "
        "renames none of them and says what shares the name."
    )
    def rename_symbol(
        name: NameArg,
        new_name: Annotated[str, Field(description="The new simple name (an identifier).", max_length=200)],
        dry_run: Annotated[bool, Field(description="Answer what would change, write nothing.")] = False,
        include_overrides: Annotated[
            bool, Field(description="A method: also rename the same-named methods up and down its class hierarchy.")
        ] = False,
        repo: RepoArg = None,
        include_name_only: Annotated[
            bool,
            Field(description="Also rename the uses known by name only (attributes of objects of unknown type), "
                  "when no other definition, class attribute or variable in the repository has the name."),
        ] = False,
    ) -> str:
        return edits.rename_symbol(name, new_name, dry_run, include_overrides, repo, include_name_only)


# --- the CLI -----------------------------------------------------------------------


class Ambiguous(EditRefused):
    """The name denotes several definitions; the message lists them."""


def cli_rename(
    conn: psycopg.Connection, name: str, new_name: str, *, dry_run: bool, include_overrides: bool, repo: str | None, cwd: Path,
    include_name_only: bool = False,
) -> str:
    """`coderows rename`: the repository holding `cwd` by default (else every one)."""
    here = str(cwd.resolve())
    roots = [Path(root) for (root,) in conn.execute("SELECT root FROM repos").fetchall() if inside(here, root) or here == root]
    scope = resolve_scope(conn, repo, roots)

    def resolve() -> Symbol:
        resolution = lookup.match_name(conn, name, repos=scope.ids, limit=50)
        if freshness.refresh(conn, resolution.stamps):
            resolution = lookup.match_name(conn, name, repos=scope.ids, limit=50)
        found = one_definition(resolution, tool="rename_symbol", repo=repo, same_name_is_one=True)
        if isinstance(found, str):
            raise Ambiguous(found)
        return found

    def decision() -> Decision:
        try:
            symbol = resolve()
        except Ambiguous:
            raise
        except EditRefused:  # no definition: a module-level variable?
            instead = variable_decision(conn, name, new_name, scope.ids, budget=None, include_name_only=include_name_only)
            if instead is None:
                raise
            return instead
        catch_up(conn, symbol.root)
        return decide_rename(conn, resolve(), new_name, include_overrides, budget=None, include_name_only=include_name_only)

    return perform(conn, decision, write=not dry_run)
