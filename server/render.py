"""Rows -> compact, line-oriented text for an agent's context window.

Pure functions: no database, no I/O. Every answer is built through `Page`, which stops
adding lines at a byte budget and ends a cut answer with one line saying what was left
out and the exact call that returns the rest. A location is always `path:start-end`
(1-based, inclusive), the form agents and editors already understand.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from coderows.db.repo_status import RepoPlace, RepoStatus, place_note
from coderows.server.rows import Hit, Module, NameMatch, References, Subclass, Symbol

# Claude Code warns at 10,000 tokens (~35 KB of code). 16 KB (~4,500 tokens) leaves the
# agent room for several answers per turn while still fitting any ordinary function.
DEFAULT_MAX_BYTES = 16_000

DOC_LINE_CHARS = 120  # first docstring lines are cut here: they are hints, not the docs
CELL_CHARS = 500  # run_sql cells longer than this are cut (get_symbol returns whole bodies)
SEARCH_LINES_PER_DEFINITION = 3
TRAILING_PAGE_SHARE = 10  # no last page of a paged answer holds less than 1/10 of the budget
SIGNATURE_CHARS = 240  # signatures in lists are cut here (a long one is a get_symbol away)


@dataclass
class Page:
    """Lines of one answer, kept under a byte budget."""

    max_bytes: int = DEFAULT_MAX_BYTES
    lines: list[str] = field(default_factory=list)
    size: int = 0
    cut: bool = False

    def add(self, line: str) -> bool:
        """Append a line if it fits; False (and nothing added) once the budget is spent."""
        cost = len(line.encode("utf-8")) + 1
        if self.cut or self.size + cost > self.max_bytes:
            self.cut = True
            return False
        self.lines.append(line)
        self.size += cost
        return True

    def add_all(self, lines: Iterable[str]) -> bool:
        return all(self.add(line) for line in lines)

    def add_cut(self, line: str) -> None:
        """Add as much of an oversized line as the budget allows, marked as cut, so
        that paging always moves forward (minified code can have 100 KB lines)."""
        marker = f" ...[line cut: {len(line.encode('utf-8'))} bytes]"
        room = max(self.max_bytes - self.size - len(marker) - 1, 200)
        self.lines.append(line.encode("utf-8")[:room].decode("utf-8", errors="ignore") + marker)
        self.size += room + len(marker) + 1
        self.cut = True

    def text(self, tail: str | None = None) -> str:
        """The answer; `tail` (the paging line) is always kept, even over budget."""
        return "\n".join([*self.lines, tail] if tail else self.lines)

    def fill(self, entries: Sequence[Sequence[str]]) -> int:
        """Add whole entries (a definition's lines, one source line) while they fit;
        returns how many went in. Paging by construction cannot loop or trail off:
        - a page always takes at least one entry, cut inside when it alone is bigger
          than what is left (the cut line says so), so the next page starts further on;
        - an entry bigger than half a page is cut where it stands, not moved on to fill
          the next page by itself;
        - when what would be left for the next page is under a tenth of the budget, this
          page ends earlier, so that the last page is never a sliver under its headers."""
        sizes = [sum(len(line.encode("utf-8")) + 1 for line in entry) for entry in entries]
        room = self.max_bytes - self.size
        count = used = 0
        while count < len(entries) and used + sizes[count] <= room and not self.cut:
            used += sizes[count]
            count += 1
        if count < len(entries):
            left = sum(sizes[count:])
            while count > 1 and left < self.max_bytes // TRAILING_PAGE_SHARE:
                count -= 1
                left += sizes[count]
        for entry in entries[:count]:
            self.add_all(entry)
        if count == len(entries):
            return count
        if count == 0 or sizes[count] >= self.max_bytes // 2:
            self._add_entry_cut(entries[count])
            return count + 1
        self.cut = True
        return count

    def _add_entry_cut(self, entry: Sequence[str]) -> None:
        """As much of an entry as the budget allows, its last line cut and marked."""
        for line in entry:
            if not self.add(line):
                self.cut = False
                self.add_cut(line)
                return
        self.cut = True


def call(tool: str, **arguments: Any) -> str:
    """A tool call as the agent would write it, for paging hints."""
    args = ", ".join(f"{key}={value!r}" for key, value in arguments.items() if value is not None)
    return f"{tool}({args})"


def location(symbol: Symbol) -> str:
    return f"{symbol.path}:{symbol.start_line}-{symbol.end_line}"


def header(symbol: Symbol) -> str:
    """`kind full_name  path:start-end`, the line that names a definition everywhere."""
    return f"{symbol.kind} {symbol.full_name}  {location(symbol)}"


def repo_line(repo: str, root: str | None = None) -> str:
    """The line that opens a repository's group in an answer drawn from several."""
    return f"repo {repo}" + (f"  ({root})" if root else "") + ":"


def with_repo_lines(entries: Iterable[tuple[str, list[str]]], show_repo: bool) -> Iterable[list[str]]:
    """Each entry's lines, led by a repository line where the repository changes (when
    answers name repositories at all): a repository's name once per group, not per line."""
    current = None
    for repo, lines in entries:
        if show_repo and repo != current:
            lines = [repo_line(repo), *lines]
        current = repo
        yield lines


def first_doc_line(docstring: str | None) -> str | None:
    if not docstring:
        return None
    for line in docstring.splitlines():
        text = line.strip()
        if text:
            return text if len(text) <= DOC_LINE_CHARS else text[: DOC_LINE_CHARS - 3] + "..."
    return None


def summary_lines(symbol: Symbol) -> list[str]:
    """Header, signature and first docstring line of a definition."""
    lines = [header(symbol), "  " + listed_signature(symbol)]
    doc = first_doc_line(symbol.docstring)
    if doc:
        lines.append("  " + doc)
    return lines


def decorated_signature(symbol: Symbol) -> str:
    decorators = "".join(f"@{d} " for d in symbol.decorators if len(d) <= 40)
    return decorators + symbol.signature


def listed_signature(symbol: Symbol) -> str:
    """A signature as lists show it: cut at SIGNATURE_CHARS with an elision mark (FastAPI
    signatures embed whole docs in Annotated[..., Doc(...)]); get_symbol has it all."""
    text = decorated_signature(symbol)
    if len(text) <= SIGNATURE_CHARS:
        return text
    return f"{text[:SIGNATURE_CHARS]}…[+{len(text) - SIGNATURE_CHARS} chars]"


def match_note(resolution: NameMatch) -> str:
    if resolution.how == "contains":
        return " (no exact name; names containing it)"
    if resolution.how in ("exact", "pattern"):
        return ""
    return f" ({resolution.how} match)"


# --- find_symbol ---------------------------------------------------------------------


def symbol_list(
    resolution: NameMatch,
    *,
    tool: str,
    arguments: dict[str, Any],
    offset: int,
    max_bytes: int = DEFAULT_MAX_BYTES,
    show_repo: bool = False,
) -> str:
    """Matches of find_symbol (summary lines each), or suggestions when there are none."""
    if not resolution.matches:
        if resolution.total:
            return f"{resolution.total} definitions match {resolution.name!r}; offset {offset} is past the end."
        return not_found(resolution)
    page = Page(max_bytes)
    total = resolution.total
    page.add(
        f"{total} definition{'s match' if total != 1 else ' matches'} {resolution.name!r}{match_note(resolution)}:"
    )
    entries = ((symbol.repo, summary_lines(symbol)) for symbol in resolution.matches)
    shown = page.fill(list(with_repo_lines(entries, show_repo)))
    return page.text(more_tail(tool, arguments, offset, shown, total, "definitions"))


def more_tail(
    tool: str, arguments: dict[str, Any], offset: int, shown: int, total: int, unit: str, *, at_least: bool = False
) -> str | None:
    """The paging line: what was shown, how many there are (`at_least`: or more), the
    call for the next page."""
    if offset + shown >= total:
        return None
    next_call = call(tool, **{**arguments, "offset": offset + shown})
    return f"[cut: showed {unit} {offset + 1}-{offset + shown} of {total}{'+' if at_least else ''}; next page: {next_call}]"


def not_found(resolution: NameMatch) -> str:
    """No match: the modules of that name, the namesakes, the similar names."""
    path, colon, line = resolution.name.strip().rpartition(":")
    if colon and path.endswith(".py") and line.isdigit():
        return (
            f"No definition spans line {line} of {path} (module-level code, or no such indexed file). "
            f"get_outline({path!r}) lists the file's definitions."
        )
    lines = []
    for module in resolution.modules:
        lines.append(
            f"{resolution.name!r} is a module ({module.path}): get_outline({module.name!r}) lists its definitions."
        )
    if resolution.suggestions:
        lines.append(f"No definition matches {resolution.name!r}. Did you mean:")
        lines.extend(header(s) for s in resolution.suggestions)
    elif not resolution.modules:
        lines.append(
            f"No definition matches {resolution.name!r} and no name is similar. "
            f"search_code({resolution.name!r}) looks inside bodies and docstrings; index_status shows what is indexed."
        )
    return "\n".join(lines)


def ambiguous(resolution: NameMatch, *, tool: str, repo: str | None = None) -> str:
    """Candidates for a name that denotes several definitions; never an arbitrary pick.
    Candidates from several repositories are grouped by repository, and the example call
    names one: a name repeated across checkouts is told apart by `repo`, nothing else."""
    page = Page()
    repos = list(dict.fromkeys(s.repo for s in resolution.matches))
    several = len(repos) > 1
    where = f" in {len(repos)} repositories" if several else ""
    how = "one of these full names and its repo" if several else "one of these full names"
    page.add(
        f"{resolution.name!r} is ambiguous: {resolution.total} definitions match{where}{match_note(resolution)}. "
        f"Call {tool} again with {how}:"
    )
    shown = 0
    for lines in with_repo_lines(((s.repo, [header(s)]) for s in resolution.matches), several):
        if not page.add_all(lines):
            break
        shown += 1
    if shown < resolution.total:
        next_call = call("find_symbol", query=resolution.name, offset=shown, repo=repo)
        return page.text(f"[cut: showed candidates 1-{shown} of {resolution.total}; more: {next_call}]")
    first = resolution.matches[0]
    same_repo = [s for s in resolution.matches if s.repo == first.repo]
    repeated = len({s.full_name for s in same_repo}) < len(same_repo)
    if several:
        # A path and line tells apart a full name repeated within one repository.
        name = f"{same_repo[-1].path}:{same_repo[-1].def_line}" if repeated else first.full_name
        page.add("e.g. " + call(tool, name=name, repo=first.repo))
    elif repeated:
        # Same full name twice (a property and its setter, `if`/`else` variants): a path
        # and line tells them apart.
        example = resolution.matches[-1]
        page.add(f"(where full names repeat, name one by path and line, e.g. {example.path}:{example.def_line})")
    return page.text()


# --- get_symbol ----------------------------------------------------------------------


def symbol_answer(
    symbol: Symbol,
    *,
    body_lines: list[str] | None,
    body_first_line: int,
    context_before: list[str],
    context_after: list[str],
    offset: int,
    arguments: dict[str, Any],
    uses: tuple[int, int, int] | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    show_repo: bool = False,
) -> str:
    """One definition: header, its use counts, then either its exact source (with
    context) or its signature and whole docstring.

    The source is unnumbered, byte for byte what the file holds, so that it can be copied
    into replace_symbol or an Edit tool as it is (line numbers on every line made answers
    ~17% bigger than the source): the header's `path:start-end` gives the first line, and
    each later page of a paged body says which lines it holds."""
    page = Page(max_bytes)
    title = header(symbol) + (f"  ({symbol.grouped})" if symbol.grouped else "") + (f"  (repo {symbol.repo})" if show_repo else "")
    if body_lines is None:
        page.add(title)
        if uses is not None:
            page.add(use_counts_line(*uses))
        signature = decorated_signature(symbol)
        if not page.add(signature):
            page.cut = False
            page.add_cut(signature)  # marked as cut; the body (include_body=true) pages through it
        if symbol.docstring:
            page.add_all(f"  {line}".rstrip() for line in inspect.cleandoc(symbol.docstring).splitlines())
        if page.cut:
            rest = call("get_symbol", **{**arguments, "include_body": None})
            return page.text(f"[cut at the answer's byte budget; the source, paged: {rest}]")
        return page.text()
    # Context, then the definition's own lines; offset skips into that whole range.
    entries = source_entries(context_before, body_lines, context_after, body_first_line)
    first = body_first_line - len(context_before)
    last = first + len(entries) - 1
    if offset >= len(entries):
        page.add(title)
        page.add(f"[offset {offset} is past the end: the answer holds {len(entries)} lines, {first}-{last}]")
        return page.text()
    if offset == 0:
        page.add(title)
        if uses is not None:
            page.add(use_counts_line(*uses))
    else:
        # A later page: its lines, not the counts again. Sized for its widest last line,
        # then set to the line it really ends at.
        page.add(title + page_lines(first + offset, last, first, last))
    shown = page.fill(entries[offset:])
    last_shown = first + offset + shown - 1
    if offset:
        held = title + page_lines(first + offset, last_shown, first, last)
        page.size -= len(page.lines[0].encode("utf-8")) - len(held.encode("utf-8"))
        page.lines[0] = held
    if offset + shown >= len(entries):
        return page.text()
    next_call = call("get_symbol", **{**arguments, "offset": offset + shown})
    members = f"; members only: get_outline({symbol.full_name!r})" if symbol.kind == "class" else ""
    return page.text(
        f"[cut: showed lines {first + offset}-{last_shown} of {first}-{last}; rest: {next_call}{members}]"
    )


def page_lines(start: int, end: int, first: int, last: int) -> str:
    """What a later page of a paged body holds, on its header line."""
    return f"  (lines {start}-{end} of {first}-{last})"


def source_entries(before: list[str], body: list[str], after: list[str], body_first_line: int) -> list[list[str]]:
    """One entry per source line, for paging. When context is shown, a marker line
    (`-- context 21-22 --`, `-- definition 23-26 --`) opens each block, so that the
    definition's own lines stay told apart from the lines around it."""
    if not before and not after:
        return [[line] for line in body]
    entries = []
    number = body_first_line - len(before)
    for kind, block in (("context", before), ("definition", body), ("context", after)):
        for index, line in enumerate(block):
            marker = [f"-- {kind} {number}-{number + len(block) - 1} --"] if index == 0 else []
            entries.append([*marker, line])
        number += len(block)
    return entries


def use_counts_line(used: int, files: int, calls: int) -> str:
    """get_symbol's one line of cross-references (find_references lists them)."""
    return (
        f"references: {used} in {files} file{'s' if files != 1 else ''};"
        f" calls {calls} indexed definition{'s' if calls != 1 else ''}"
    )


# --- find_references -----------------------------------------------------------------


def references_answer(
    symbol: Symbol,
    found: References,
    *,
    offset: int,
    arguments: dict[str, Any],
    max_bytes: int = DEFAULT_MAX_BYTES,
    shared_database: bool = False,
) -> str:
    """Resolved uses grouped by file, each with its line, column, kind, the enclosing
    definition and the line's text; then the uses known by name only, counted (and, in
    a database shared with other repositories, the SQL for them keeps to this one)."""
    page = Page(max_bytes)
    total = found.total
    page.add(
        f"{header(symbol)}: {total} resolved use{'s' if total != 1 else ''}"
        f" in {found.files} file{'s' if found.files != 1 else ''}"
    )
    entries = []
    path = None
    for use in found.uses:
        lines = [] if use.path == path else [use.path]
        text = use.text.strip()
        text = text if len(text) <= 160 else text[:157] + "..."
        lines.append(f"  {use.line}:{use.col}  {use.kind}  in {use.source_full_name}  | {text}")
        entries.append(lines)
        path = use.path
    shown = page.fill(entries)
    if found.name_matches:
        page.add(
            f"not resolved: {found.name_matches} use{'s' if found.name_matches != 1 else ''} of the name "
            f"{symbol.name!r} on objects of unknown type, in {found.name_match_files} "
            f"file{'s' if found.name_match_files != 1 else ''} (may or may not be this one): "
            f"run_sql(\"SELECT path, line, name, source_full_name FROM usages WHERE short_name = '{symbol.name}'"
            f" AND target IS NULL{f' AND repo_id = {symbol.repo_id}' if shared_database else ''}\")"
        )
    return page.text(more_tail("find_references", arguments, offset, shown, total, "uses"))


# --- get_outline ---------------------------------------------------------------------


def outline_entry(symbol: Symbol, depth: int) -> list[str]:
    indent = "  " * depth
    lines = [f"{indent}{listed_signature(symbol)}  {symbol.start_line}-{symbol.end_line}"]
    doc = first_doc_line(symbol.docstring)
    if doc:
        lines.append(f"{indent}  {doc}")
    return lines


def outline(
    title: list[str],
    members: list[Symbol],
    base_depth: int,
    *,
    arguments: dict[str, Any],
    offset: int,
    limit: int,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> str:
    """A title block, then one entry per member, indented by nesting (qualname depth)."""
    page = Page(max_bytes)
    page.add_all(title)
    shown = page.fill(
        [outline_entry(symbol, symbol.qualname.count(".") - base_depth) for symbol in members[offset : offset + limit]]
    )
    if not members:
        page.add("(no classes or functions)" if title[0].startswith("module ") else "(no methods or nested classes)")
    return page.text(more_tail("get_outline", arguments, offset, shown, len(members), "entries"))


def related_classes(
    subclasses: list[Subclass] | None, inherited: list[tuple[Symbol, str]] | None
) -> list[str]:
    """get_outline's optional sections for a class: its subclasses and what it inherits."""
    lines = []
    if subclasses is not None:
        lines.append(f"subclasses ({len(subclasses)}):" if subclasses else "subclasses: none indexed")
        lines.extend(f"  {'  ' * (sub.depth - 1)}{sub.symbol.full_name}  {location(sub.symbol)}" for sub in tree_order(subclasses))
    if inherited is not None:
        lines.append(f"inherited ({len(inherited)}):" if inherited else "inherited: nothing from indexed bases")
        owner = None
        for member, from_class in inherited:
            if from_class != owner:
                lines.append(f"  from {from_class}")
                owner = from_class
            lines.append(f"    {listed_signature(member)}  {location(member)}")
    return lines


def tree_order(subclasses: list[Subclass]) -> list[Subclass]:
    """Subclasses depth first, each under the class it inherits from, so that indentation
    draws the real tree (by depth alone, a depth-2 class sat under the last depth-1 one)."""
    children: dict[str, list[Subclass]] = {}
    for sub in subclasses:
        children.setdefault(sub.parent_full_name, []).append(sub)
    roots = [sub for sub in subclasses if sub.depth == 1]
    ordered: list[Subclass] = []
    stack = list(reversed(roots))
    while stack:
        sub = stack.pop()
        ordered.append(sub)
        stack.extend(reversed(children.get(sub.symbol.full_name, [])))
    return ordered


def module_title(module: Module, submodules: Sequence[str] = ()) -> list[str]:
    lines = [f"module {module.name}  {module.path}  ({module.line_count} lines)"]
    if submodules:
        prefix = len(module.name) + 1 if module.name else 0
        lines.append("submodules: " + ", ".join(name[prefix:] for name in submodules))
    if module.parse_status != "ok":
        lines.append(f"parse_status {module.parse_status}: {module.parse_error or ''}".rstrip(": "))
    doc = first_doc_line(module.docstring)
    if doc:
        lines.append(doc)
    return lines


def class_title(symbol: Symbol, bases: dict[str, Symbol]) -> list[str]:
    """Header, signature, bases (with where each is defined, when that is unambiguous)."""
    lines = [header(symbol), listed_signature(symbol)]
    if symbol.bases:
        described = []
        for base in symbol.bases:
            found = bases.get(base)
            described.append(f"{base} ({found.full_name} {location(found)})" if found else base)
        lines.append("bases: " + ", ".join(described))
    doc = first_doc_line(symbol.docstring)
    if doc:
        lines.append(doc)
    return lines


def modules_ambiguous(target: str, modules: list[Module], *, tool: str, arguments: dict[str, Any]) -> str:
    """Files that `target` names; across repositories, the follow-up call names one."""
    lines = [f"{target!r} names {len(modules)} files. Call {tool} again with one of these paths or names:"]
    lines.extend(f"module {m.name}  {m.path}  (repo {m.repo}, {m.root})" for m in modules)
    first = modules[0]
    several = len({m.repo for m in modules}) > 1
    example = {**arguments, "target": first.path, "repo": first.repo if several else arguments.get("repo")}
    lines.append("e.g. " + call(tool, **example))
    return "\n".join(lines)


# --- search_code ---------------------------------------------------------------------


@dataclass
class SearchGroup:
    """A definition (or a module's top-level code) and its matching lines."""

    symbol: Symbol | None
    module: str
    path: str
    name_match: bool
    hits: list[Hit]
    repo: str


def search_groups(name_matches: list[Symbol], hits: list[Hit]) -> list[SearchGroup]:
    """Definitions whose name matches first, then every definition with a matching line,
    in path and line order; each definition once."""
    groups: dict[tuple[str, int | None, str], SearchGroup] = {}
    for symbol in name_matches:
        groups[(symbol.root, symbol.id, symbol.path)] = SearchGroup(
            symbol, symbol.module, symbol.path, True, [], symbol.repo
        )
    for hit in hits:
        key = (hit.root, hit.symbol.id if hit.symbol else None, hit.path)
        group = groups.get(key)
        if group is None:
            group = groups[key] = SearchGroup(hit.symbol, hit.module, hit.path, False, [], hit.repo)
        group.hits.append(hit)
    # Grouped by repository (stable: each keeps its order), so a repository is named once.
    order = list(dict.fromkeys(group.repo for group in groups.values()))
    return sorted(groups.values(), key=lambda group: order.index(group.repo))


def search_answer(
    query: str,
    groups: list[SearchGroup],
    *,
    capped: bool,
    offset: int,
    limit: int,
    arguments: dict[str, Any],
    max_bytes: int = DEFAULT_MAX_BYTES,
    show_repo: bool = False,
) -> str:
    if not groups:
        return f"Nothing matches {query!r} in any definition's name, docstring or code (case-insensitive)."
    page = Page(max_bytes)
    total = len(groups)
    page.add(
        f"{total}{'+' if capped else ''} definition{'s match' if total != 1 or capped else ' matches'} {query!r} "
        "(name, docstring or code; case-insensitive):"
    )
    entries = ((group.repo, search_group_lines(group)) for group in groups[offset : offset + limit])
    shown = page.fill(list(with_repo_lines(entries, show_repo)))
    tail = more_tail("search_code", arguments, offset, shown, total, "definitions", at_least=capped)
    if capped and tail is None:
        tail = f"[cut: stopped after the first {len(groups)} definitions' matches; use a more specific query]"
    return page.text(tail)


def search_group_lines(group: SearchGroup) -> list[str]:
    if group.symbol is not None:
        lines = [header(group.symbol)]
        if group.name_match and not group.hits:
            lines.append("  " + listed_signature(group.symbol))
    else:
        lines = [f"module {group.module}  {group.path}"]
    width = max((len(str(h.line)) for h in group.hits), default=1)
    for hit in group.hits[:SEARCH_LINES_PER_DEFINITION]:
        text = hit.text.strip()
        text = text if len(text) <= 200 else text[:197] + "..."
        lines.append(f"  {hit.line:>{width}}  {text}")
    extra = len(group.hits) - SEARCH_LINES_PER_DEFINITION
    if extra > 0:
        lines.append(f"  (+{extra} more matching line{'s' if extra > 1 else ''})")
    return lines


# --- run_sql -------------------------------------------------------------------------


def cell(value: Any) -> str:
    """One value on one line: NULL spelled out, line breaks escaped, long text cut."""
    if value is None:
        return "NULL"
    if isinstance(value, list | tuple):
        text = "{" + ",".join(cell(v) for v in value) + "}"
    else:
        text = str(value)
    text = text.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r")
    return text if len(text) <= CELL_CHARS else text[: CELL_CHARS - 3] + f"...({len(text)} chars)"


def sql_rows(
    columns: list[str], rows: list[tuple[Any, ...]], *, more: bool, limit: int, max_bytes: int = DEFAULT_MAX_BYTES
) -> str:
    """psql-like unaligned output: a header line, then one line per row, ' | ' between."""
    page = Page(max_bytes)
    page.add(" | ".join(columns))
    shown = 0
    for row in rows:
        if not page.add(" | ".join(cell(v) for v in row)):
            break
        shown += 1
    count = f"({shown} row{'s' if shown != 1 else ''})"
    if shown < len(rows) or more:
        reason = "the answer's byte budget" if shown < len(rows) else f"limit={limit}"
        return page.text(
            f"{count} [cut at {reason}; there are more rows: select fewer columns, "
            f"add WHERE / LIMIT ... OFFSET {shown}, or raise limit]"
        )
    return page.text(count)


# --- index_status --------------------------------------------------------------------


def status_answer(
    repos: list[RepoStatus],
    progress: list[str],
    changed: dict[str, list[str]],
    problems: list[Module],
    problem_total: int,
    *,
    served: Sequence[int] | None = None,
    places: dict[str, RepoPlace] | None = None,
) -> str:
    """Per repository: where it is (git branch and commit, whether it still exists, and
    whether this server answers from it), counts, files changed on disk, files not
    parsed cleanly (the most severe first); then what the background indexer is doing."""
    page = Page()
    if not repos:
        page.add("No repository is indexed yet.")
    for repo in repos:
        place = (places or {}).get(repo.root)
        in_scope = served is None or repo.id in served
        page.add(f"repo {repo.name}  {repo.root}{place_note(place)}{'' if in_scope else f'  (outside this server scope: repo={repo.name!r} reaches it)'}")
        page.add(f"  {repo.modules} files, {repo.symbols} definitions, last indexed {repo.last_indexed}")
        if repo.excludes:
            page.add(f"  excluding: {' '.join(repo.excludes)}")
        stale = changed.get(repo.root, [])
        if stale:
            page.add(
                f"  {len(stale)} file{'s' if len(stale) != 1 else ''} changed on disk since indexed "
                "(refreshed when a tool reads them): "
                + ", ".join(stale[:10])
            )
        if repo.not_ok:
            page.add(f"  {repo.not_ok} file{'s' if repo.not_ok != 1 else ''} not parsed cleanly:")
            for module in (m for m in problems if m.root == repo.root):
                page.add(f"    {module.parse_status} {module.path}  {module.parse_error or ''}".rstrip())
    if problem_total > len(problems):
        page.add(
            f"  [cut: {problem_total - len(problems)} more files not parsed cleanly; "
            "run_sql(\"SELECT path, parse_status, parse_error FROM modules WHERE parse_status <> 'ok'\")]"
        )
    page.add_all(progress)
    if page.cut:
        return page.text("[cut at the answer's byte budget: run_sql over repos and modules gives the rest]")
    return page.text()
