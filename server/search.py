"""search_code's SQL: the source lines that contain a text, each with the innermost
definition around it.

Lines are looked for in content_chunks (schema.sql): each content's source in pieces of
64 lines under a trigram index, never by splitting whole files. A rare text (in at most
RARE_CHUNKS pieces) is answered in full through the index, like a grep. A common one
(`self`, `import os`) is walked: its pieces are read in answer order (files by path,
pieces by line) with a plain match, no index, and the walk stops once it has the
definitions the requested page shows, and one more; so its answer is the same wherever
the walk stopped (tests/test_search_walk.py). The index names too many pieces of such a
text to check them all (`self`: 18,724 of 23,315 on the stdlib + Django), but serves one
whose page lies far down the order (`class Meta`: Django's, after the whole stdlib).
"""

from __future__ import annotations

import bisect
import math
import re
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg

from coderows.server.rows import (
    SYMBOL_COLUMNS,
    SYMBOL_FROM,
    Hit,
    RepoIds,
    Symbol,
    like_escape,
    scope_param,
    symbol_row,
)

# Beyond this many matching lines search_code stops looking and says so.
SEARCH_LINE_CAP = 2000
# A text in at most this many pieces is read in full (every line holding it); one in more
# is walked, only as far as the answer's page needs.
RARE_CHUNKS = 200
# Lines per piece in content_chunks (schema.sql's source_chunks).
CHUNK_LINES = 64
# Pieces a common text's walk reads in answer order per statement: first PROBE_FIRST,
# then 4 times more (past PROBE_BUDGET: twice what the page is still expected to need),
# at most PROBE_MOST.
PROBE_FIRST = 128
PROBE_MOST = 4096
# Pieces the walk reads before a text with a trigram may be looked up through the index
# instead (~20 ms of checking): the page of a text most files hold is full long before.
# It is when the index names fewer pieces than the walk is still expected to read; not
# for a text like `__all__`, for which it names 6,000 (pg_trgm reads `all`).
PROBE_BUDGET = 1024
# Pieces found through the index whose lines are read first, then 4 times more each time.
INDEXED_FIRST = 32
# Definitions wanted of a common text when the caller names no page.
DEFAULT_GROUPS = 50
# Beyond this many definitions wanted (a page past the 100th), a text with a trigram is
# walked before it is checked to be rare (matching_pieces): a text asked for that far is
# mostly common, and its walk then finds more pieces holding it than a rare text has.
WALK_FIRST_GROUPS = 100

# pg_trgm finds trigrams only in runs of 3 letters or digits: a text without one (`in`,
# `==`) would read the whole trigram index (0.5 s) to name every piece a candidate.
TRIGRAM = re.compile(r"[^\W_]{3}")
# The lines of a piece k, numbered from 1 (l.n).
PIECE_LINES = "LATERAL unnest(string_to_array(k.text, E'\\n')) WITH ORDINALITY AS l(text, n)"


@dataclass(frozen=True)
class Found:
    """The lines found, in answer order, and whether they are all the lines in scope
    that hold the text (else the search stopped: at the line cap, or once it had the
    definitions the page needed)."""

    hits: list[Hit]
    complete: bool


@dataclass(frozen=True)
class Holder:
    """A file in scope holding a content: what a line found in the content needs."""

    content_id: int
    module: str
    path: str
    size: int
    mtime_ns: int
    repo_id: int
    root: str
    repo: str


# (holder, line, text, innermost definition's id or None)
Line = tuple[Holder, int, str, "int | None"]


@dataclass(frozen=True)
class Pattern:
    """How SQL matches a line holding a text, case-insensitively: `column {op} text`."""

    op: str  # "ILIKE" or "~": written into the SQL, never user input
    text: str
    # The same match in Python (_lines_holding): the text's bytes, ASCII letters folded,
    # for ILIKE; the regular expression for "~".
    folded: bytes = b""
    regex: re.Pattern[str] | None = None


def text_pattern(text: str) -> Pattern:
    """An ASCII text is an ILIKE pattern (the "C" collation of content_chunks.text folds
    ASCII letters only, 3x faster than the locale's folding). A text with other letters
    is a regular expression with a bracket per letter holding its cases ([Éé]), as the
    locale's ILIKE matched them; pg_trgm's index serves both."""
    if text.isascii():
        return Pattern("ILIKE", "%" + like_escape(text) + "%", folded=text.encode().lower())
    parts = []
    for char in text:
        cases = dict.fromkeys(c for c in (char, char.lower(), char.upper()) if len(c) == 1)
        if len(cases) > 1:
            parts.append("[" + "".join(cases) + "]")
        else:
            parts.append(char if char.isalnum() else "\\" + char)
    expression = "".join(parts)
    return Pattern("~", expression, regex=re.compile(expression))


def search_lines(
    conn: psycopg.Connection,
    text: str,
    repos: RepoIds = None,
    *,
    groups: int = DEFAULT_GROUPS,
    first: Sequence[Symbol] = (),
    cap: int = SEARCH_LINE_CAP,
) -> Found:
    """Source lines containing `text` (case-insensitive), each with the innermost
    definition around it; at most `cap` lines, in answer order: repositories
    in the order of `first` (the definitions the answer lists before any line), then the
    others by root; in each, by path and line. A common text is read only until its lines
    make `groups` definitions (or module-level parts), besides those of `first`, whose
    own lines are read too: a page of the answer needs no more."""
    pattern = text_pattern(text)
    order = list(dict.fromkeys(symbol.repo_id for symbol in first))
    in_scope = scope_repos(conn, repos, order)
    indexed = TRIGRAM.search(text) is not None
    # A page far down is mostly asked of a common text: one the trigram index names more
    # than RARE_CHUNKS pieces for is walked first, and the walk mostly finds more than
    # RARE_CHUNKS pieces holding it, which spares the check (up to 13 ms). One it names
    # fewer for (`TODO`: 146) is rare: walking it would read 1,024 pieces for nothing.
    candidates = index_candidates(conn, pattern) if indexed and groups > WALK_FIRST_GROUPS else None
    walk_first = candidates is not None and candidates > RARE_CHUNKS
    chunks = matching_pieces(conn, pattern, RARE_CHUNKS) if indexed and not walk_first else None
    named: set[int] = set()
    if chunks is None:
        # The name matches on the page: at most `groups` of them come before its end.
        named = {symbol.id for symbol in first}
        shown = sorted(first, key=lambda symbol: order.index(symbol.repo_id))[:groups]
        # Only the lines of the named definitions themselves: a definition nested in one
        # is placed among the others by path, and found when its file is read.
        spans = _span_lines(conn, pattern, shown, in_scope)
        lines = [found for found in _with_innermost(conn, spans) if found[3] in named]
        tally = Tally(groups, cap, named, lines)
        tally.note(spans)
        complete = _common_lines(conn, pattern, in_scope, tally, indexed, candidates)
        if indexed and walk_first and len(tally.pieces) <= RARE_CHUNKS:
            # The walk did not show the text to be common: the check decides, as for a first page.
            chunks = matching_pieces(conn, pattern, RARE_CHUNKS)
    if chunks is not None:
        named = set()
        lines = _with_innermost(conn, _chunk_lines(conn, pattern, chunks, in_scope))
        complete = True
    rank = {repo_id: index for index, repo_id in enumerate(in_scope)}
    # A line inside a name match is found again when its whole file is read: once each.
    unique = {(found[0].repo_id, found[0].path, found[1]): found for found in lines}
    lines = sorted(unique.values(), key=lambda found: (rank[found[0].repo_id], found[0].path, found[1]))
    if not complete:
        lines = _first_groups(lines, groups, named)
    complete = complete and len(lines) < cap
    lines = lines[:cap]
    # Checkouts holding the same file share its definitions' ids: key by repository too.
    # The name matches' rows are those symbols_by_ids reads: only the others are read.
    known = {(symbol.repo_id, symbol.id): symbol for symbol in first}
    ids = sorted({found[3] for found in lines if found[3] is not None and (found[0].repo_id, found[3]) not in known})
    by_id = {(s.repo_id, s.id): s for s in symbols_by_ids(conn, ids, repos)} | known
    return Found([_hit(found, by_id.get((found[0].repo_id, found[3] or 0))) for found in lines], complete)


def scope_repos(conn: psycopg.Connection, repos: RepoIds, order: list[int]) -> dict[int, tuple[str, str]]:
    """{repo_id: (root, name)} of the repositories in scope, in answer order: those of
    `order` first, then by root."""
    rows = conn.execute(
        "SELECT id, root, name FROM repos WHERE %(repos)s::bigint[] IS NULL OR id = ANY(%(repos)s) ORDER BY root",
        {"repos": scope_param(repos)},
    ).fetchall()
    ranked = sorted(rows, key=lambda row: order.index(row[0]) if row[0] in order else len(order))
    return {row[0]: (row[1], row[2]) for row in ranked}


def matching_pieces(conn: psycopg.Connection, pattern: Pattern, most: int | None = None) -> list[tuple[int, int]] | None:
    """(content_id, first_line) of every piece whose text matches `pattern`, through the
    trigram index, or None when there are more than `most`: pieces are checked only
    until one more is found. The planner does not cost reading TOASTed text, so left to
    itself it would check every piece rather than let the trigram index narrow them down."""
    with conn.transaction():
        conn.execute("SELECT set_config('enable_seqscan', 'off', true), set_config('enable_indexscan', 'off', true)")
        rows = conn.execute(
            f"SELECT content_id, first_line FROM content_chunks WHERE text {pattern.op} %s LIMIT %s",
            [pattern.text, None if most is None else most + 1],
        ).fetchall()
    return None if most is not None and len(rows) > most else [(row[0], row[1]) for row in rows]


def index_candidates(conn: psycopg.Connection, pattern: Pattern) -> float:
    """How many pieces the trigram index names for `pattern`, each to be checked. pg_trgm
    offers no count; EXPLAIN ANALYZE of a lookup that stops at the first match reads it
    off the bitmap, built from the index alone (a few ms). Infinite when the plan has no
    bitmap (nothing then to gain from the index)."""
    with conn.transaction():
        conn.execute("SELECT set_config('enable_seqscan', 'off', true), set_config('enable_indexscan', 'off', true)")
        plan = conn.execute(
            f"EXPLAIN (ANALYZE, TIMING OFF, SUMMARY OFF, FORMAT JSON) SELECT 1 FROM content_chunks WHERE text {pattern.op} %s LIMIT 1",
            [pattern.text],
        ).fetchone()
    nodes = [plan[0][0]["Plan"]] if plan else []
    while nodes:
        node = nodes.pop()
        if node["Node Type"] == "Bitmap Index Scan":
            return float(node["Actual Rows"])
        nodes.extend(node.get("Plans", []))
    return math.inf


@dataclass
class Tally:
    """A common text's lines read so far, whole files at a time in answer order, and
    whether they fill the page: they make `groups` definitions or module-level parts
    besides the `named` ones, or `cap` lines of those and the named ones. Lines beyond
    are left out by _first_groups, so the answer is the same wherever the reading
    stopped once the page was full."""

    groups: int
    cap: int
    named: set[int]
    lines: list[Line]
    seen: set[tuple[int, str, int | None]] = field(default_factory=set)
    kept: int = 0
    # (content_id, first_line) of the pieces found to hold the text, in scope or not: more
    # than RARE_CHUNKS of them make it a common text, as matching_pieces would find.
    pieces: set[tuple[int, int]] = field(default_factory=set)

    def note(self, found: Iterable[tuple[Holder, int, str]]) -> None:
        """Count the pieces these lines are in."""
        self.pieces.update((holder.content_id, line - (line - 1) % CHUNK_LINES) for holder, line, _ in found)

    def add(self, lines: list[Line]) -> bool:
        """Add the lines of whole files, in answer order; True once the page is full."""
        self.lines.extend(lines)
        for found in lines:
            if found[3] not in self.named:
                key = (found[0].repo_id, found[0].path, found[3])
                if key not in self.seen:
                    if len(self.seen) >= self.groups:
                        continue
                    self.seen.add(key)
            self.kept += 1
        return len(self.seen) >= self.groups or self.kept >= self.cap

    def wanted(self, read: int) -> float:
        """How many more pieces the page needs, going by the `read` so far."""
        return (self.groups - len(self.seen)) * read / max(len(self.seen), 0.5)


def _common_lines(
    conn: psycopg.Connection,
    pattern: Pattern,
    in_scope: dict[int, tuple[str, str]],
    tally: Tally,
    indexed: bool,
    candidates: float | None = None,
) -> bool:
    """Add to tally.lines those of the files holding the text, in answer order, until the
    page is full (Tally.add); True when every file in scope was read. Pieces are read in
    answer order (PROBE_FIRST at a time, then 4 times more) with a plain ILIKE, which
    fills the page after a few files for a text most files hold (`self`: the trigram
    index would name nearly every piece, each then checked). After PROBE_BUDGET pieces a
    text with a trigram is looked up through the index instead when the index names fewer
    pieces than the walk is still expected to read: a text that only far down the order
    fills the page (`class Meta`: Django's, not the stdlib's; 1,958 pieces named), not
    one the index narrows down poorly (`__init__` at offset 100: 4,156). `candidates`:
    the index's count (index_candidates) when already known."""
    read = 0
    repo_ids = list(in_scope)
    for position, repo_id in enumerate(repo_ids):
        after: tuple[str, int] = ("", 0)
        pending: list[Line] = []
        size = PROBE_FIRST
        while True:
            if indexed and read >= PROBE_BUDGET:
                candidates = index_candidates(conn, pattern) if candidates is None else candidates
                # Checking each piece the index names costs about what reading one in order does.
                if candidates < tally.wanted(read):
                    return _indexed_lines(conn, pattern, in_scope, repo_ids[position:], after, pending, tally)
            found, last, count = _probe(conn, pattern, repo_id, in_scope[repo_id], after, size)
            read += count
            tally.note(found)
            pending.extend(_with_innermost(conn, found))
            if count < size:
                if tally.add(pending):
                    return False
                break
            # The last file read may go on in the next pieces: its lines wait for them.
            done = [line for line in pending if line[0].path < last[0]]
            pending = [line for line in pending if line[0].path >= last[0]]
            if tally.add(done):
                return False
            # Up to the budget, where the index may take over; then about as far as the
            # definitions found so far say the page is, twice over.
            most = PROBE_BUDGET - read if read < PROBE_BUDGET else max(PROBE_FIRST, 2 * int(tally.wanted(read)))
            after, size = last, min(size * 4, PROBE_MOST, most)
    return True


def _indexed_lines(
    conn: psycopg.Connection,
    pattern: Pattern,
    in_scope: dict[int, tuple[str, str]],
    repo_ids: list[int],
    after: tuple[str, int],
    pending: list[Line],
    tally: Tally,
) -> bool:
    """The rest of a common text's walk through the trigram index: every piece holding
    the text (each checked once), in answer order from `after` in the first of
    `repo_ids` on; their lines read a batch at a time until the page is full. `pending`:
    the lines already read of the file at `after`."""
    rank = {repo_id: index for index, repo_id in enumerate(repo_ids)}
    pieces = matching_pieces(conn, pattern) or []
    tally.pieces.update(pieces)
    held = _holders(conn, {content_id for content_id, _ in pieces}, {r: in_scope[r] for r in repo_ids})
    ordered = sorted(
        ((rank[holder.repo_id], holder.path, first_line), holder)
        for content_id, first_line in pieces
        for holder in held.get(content_id, [])
        if holder.repo_id != repo_ids[0] or (holder.path, first_line) > after
    )
    start, size = 0, INDEXED_FIRST
    while start < len(ordered):
        batch = ordered[start : start + size]
        start += size
        texts = _piece_lines(conn, pattern, {(holder.content_id, key[2]) for key, holder in batch})
        found = [(holder, line, text) for key, holder in batch for line, text in texts.get((holder.content_id, key[2]), [])]
        pending.extend(_with_innermost(conn, found))
        # The file of the next piece may hold more lines: those of the files before it are all read.
        upto = ordered[start][0][:2] if start < len(ordered) else None
        done = [line for line in pending if upto is None or (rank[line[0].repo_id], line[0].path) < upto]
        pending = [line for line in pending if upto is not None and (rank[line[0].repo_id], line[0].path) >= upto]
        if tally.add(sorted(done, key=lambda line: (rank[line[0].repo_id], line[0].path, line[1]))):
            return False
        size *= 4
    return True


def _first_groups(lines: list[Line], groups: int, named: set[int]) -> list[Line]:
    """The lines of the first `groups` definitions or module-level parts that are not
    among the `named` ones (in answer order), and of the named ones: a common text's
    answer is the same however many files were read to find them."""
    kept: set[tuple[int, str, int | None]] = set()
    first = []
    for found in lines:
        if found[3] not in named:
            key = (found[0].repo_id, found[0].path, found[3])
            if key not in kept:
                if len(kept) == groups:
                    continue
                kept.add(key)
        first.append(found)
    return first


def _holders(
    conn: psycopg.Connection, contents: Iterable[int], in_scope: dict[int, tuple[str, str]]
) -> dict[int, list[Holder]]:
    """{content_id: the files in scope holding it}."""
    sql = """
        SELECT f.content_id, c.name, f.path, f.size, f.mtime_ns, f.repo_id
        FROM files f JOIN contents c ON c.id = f.content_id
        WHERE f.content_id = ANY(%s) AND f.repo_id = ANY(%s)
    """
    held: dict[int, list[Holder]] = {}
    for content_id, module, path, size, mtime_ns, repo_id in _rows(conn, sql, [list(contents), list(in_scope)]):
        root, name = in_scope[repo_id]
        held.setdefault(content_id, []).append(Holder(content_id, module, path, size, mtime_ns, repo_id, root, name))
    return held


def _chunk_lines(
    conn: psycopg.Connection, pattern: Pattern, chunks: list[tuple[int, int]], in_scope: dict[int, tuple[str, str]]
) -> list[tuple[Holder, int, str]]:
    """The matching lines of these pieces, in every file in scope holding them."""
    held = _holders(conn, {content_id for content_id, _ in chunks}, in_scope)
    kept = [(content_id, first_line) for content_id, first_line in chunks if content_id in held]
    return [
        (holder, line, text)
        for (content_id, _), lines in _piece_lines(conn, pattern, kept).items()
        for line, text in lines
        for holder in held[content_id]
    ]


def _probe(
    conn: psycopg.Connection, pattern: Pattern, repo_id: int, repo: tuple[str, str], after: tuple[str, int], count: int
) -> tuple[list[tuple[Holder, int, str]], tuple[str, int], int]:
    """The matching lines of a repository's next `count` pieces after `after` (path,
    first_line) in answer order; the last piece read, and how many were read (fewer
    than `count`: the repository's last). The pieces are read through the files' and
    pieces' primary keys in order, never the trigram index, and matched here: each
    piece's text is then decompressed once, not for the filter and again for its lines,
    and split only where it matches (half the CPU of matching in SQL for `self`)."""
    sql = """
        SELECT f.path, f.content_id, f.size, f.mtime_ns, c.name, k.first_line, k.text
        FROM files f JOIN content_chunks k ON k.content_id = f.content_id JOIN contents c ON c.id = f.content_id
        WHERE f.repo_id = %(repo)s AND f.path >= %(path)s AND (f.path > %(path)s OR k.first_line > %(line)s)
        ORDER BY f.path, k.first_line LIMIT %(count)s
    """
    rows = _rows(conn, sql, {"repo": repo_id, "path": after[0], "line": after[1], "count": count})
    root, name = repo
    found: list[tuple[Holder, int, str]] = []
    for path, content_id, size, mtime_ns, module, first_line, text in rows:
        lines = _lines_holding(text, pattern)
        if lines:
            holder = Holder(content_id, module, path, size, mtime_ns, repo_id, root, name)
            found.extend((holder, first_line + index, line) for index, line in lines)
    last = (rows[-1][0], rows[-1][5]) if rows else after
    return found, last, len(rows)


def _lines_holding(piece: str, pattern: Pattern) -> list[tuple[int, str]]:
    """(index, text) of the piece's lines (split at \\n) that match, as SQL matches them:
    ILIKE in the "C" collation folds ASCII letters only, as bytes.lower() does. A text
    holding a line break is on no line."""
    found: list[tuple[int, str]] = []
    if pattern.regex is not None:
        start = 0
        while match := pattern.regex.search(piece, start):
            if "\n" in match.group():
                start = match.start() + 1
                continue
            begin = piece.rfind("\n", 0, match.start()) + 1
            end = piece.find("\n", match.end())
            end = len(piece) if end < 0 else end
            found.append((piece.count("\n", 0, begin), piece[begin:end]))
            start = end + 1
        return found
    if b"\n" in pattern.folded:
        return found
    data = piece.encode()
    folded = data.lower()
    at, counted, index = folded.find(pattern.folded), 0, 0
    while at >= 0:
        begin = folded.rfind(b"\n", 0, at) + 1
        end = folded.find(b"\n", at + len(pattern.folded))
        end = len(folded) if end < 0 else end
        index += folded.count(b"\n", counted, begin)
        counted = begin
        found.append((index, data[begin:end].decode()))
        at = folded.find(pattern.folded, end + 1) if end < len(folded) else -1
    return found


def _piece_lines(
    conn: psycopg.Connection, pattern: Pattern, pieces: Collection[tuple[int, int]]
) -> dict[tuple[int, int], list[tuple[int, str]]]:
    """{(content_id, first_line): [(line, text)]}: the matching lines of these pieces
    (those holding none are left out). Each piece is read whole and its lines matched
    here, as _probe does, not split into rows of lines in SQL to match each there: less
    of the server's CPU (bench_search.py's CPU p95 41.8 -> 39.3 ms, 7 interleaved runs
    each at load 3-5; the same answers for 211 texts and pages)."""
    sql = """
        SELECT k.content_id, k.first_line, k.text
        FROM unnest(%(contents)s::bigint[], %(first_lines)s::int[]) AS p(content_id, first_line)
        JOIN content_chunks k ON k.content_id = p.content_id AND k.first_line = p.first_line
    """
    params = {
        "contents": [content_id for content_id, _ in pieces],
        "first_lines": [first_line for _, first_line in pieces],
    }
    lines: dict[tuple[int, int], list[tuple[int, str]]] = {}
    for content_id, first_line, text in _rows(conn, sql, params):
        found = _lines_holding(text, pattern)
        if found:
            lines[(content_id, first_line)] = [(first_line + index, line) for index, line in found]
    return lines


def _span_lines(
    conn: psycopg.Connection, pattern: Pattern, symbols: Sequence[Symbol], in_scope: dict[int, tuple[str, str]]
) -> list[tuple[Holder, int, str]]:
    """The matching lines inside these definitions (each in its own repository's file).
    Their pieces are read through the primary key (OFFSET 0 keeps the text's filter out of
    the subquery): for a common text the planner would rather check every piece the
    trigram index names (0.5 s for `self`)."""
    if not symbols:
        return []
    held = _holders(conn, {symbol.module_id for symbol in symbols}, in_scope)
    sql = f"""
        SELECT DISTINCT s.repo_id, k.content_id, k.first_line + l.n::int - 1 AS line, l.text
        FROM unnest(%(repos)s::bigint[], %(contents)s::bigint[], %(starts)s::int[], %(ends)s::int[])
             AS s(repo_id, content_id, start_line, end_line)
        CROSS JOIN LATERAL (
            SELECT k.content_id, k.first_line, k.text FROM content_chunks k
            WHERE k.content_id = s.content_id AND k.first_line BETWEEN s.start_line - {CHUNK_LINES - 1} AND s.end_line
            OFFSET 0
        ) k, {PIECE_LINES}
        WHERE k.text {pattern.op} %(pattern)s AND l.text {pattern.op} %(pattern)s
          AND k.first_line + l.n::int - 1 BETWEEN s.start_line AND s.end_line
    """
    params = {
        "repos": [s.repo_id for s in symbols],
        "contents": [s.module_id for s in symbols],
        "starts": [s.start_line for s in symbols],
        "ends": [s.end_line for s in symbols],
        "pattern": pattern.text,
    }
    return [
        (holder, line, text)
        for repo_id, content_id, line, text in _rows(conn, sql, params)
        for holder in held.get(content_id, [])
        if holder.repo_id == repo_id
    ]


def _with_innermost(conn: psycopg.Connection, lines: list[tuple[Holder, int, str]]) -> list[Line]:
    """Each line with the id of the innermost definition spanning it (None: module level),
    worked out here from each file's definitions, read once: a lateral join per line read
    every definition of the file for each line (1.7 s for the 2,000 lines of `self` in
    21 files)."""
    # Only the definitions that overlap the lines found in a content can span one: not
    # the other 8,000 of the 96 files the 121 definitions named `*def*` are in.
    bounds: dict[int, tuple[int, int]] = {}
    for holder, line, _ in lines:
        low, high = bounds.get(holder.content_id, (line, line))
        bounds[holder.content_id] = (min(low, line), max(high, line))
    sql = """
        SELECT d.content_id, d.start_line, d.def_line, d.end_line, d.id
        FROM unnest(%s::bigint[], %s::int[], %s::int[]) AS w(content_id, low, high)
        JOIN content_definitions d ON d.content_id = w.content_id AND d.start_line <= w.high AND d.end_line >= w.low
    """
    params = [list(bounds), [low for low, _ in bounds.values()], [high for _, high in bounds.values()]]
    by_content: dict[int, list[tuple[int, int, int, int]]] = {}
    for content_id, start, def_line, end, definition in _rows(conn, sql, params) if bounds else []:
        by_content.setdefault(content_id, []).append((start, def_line, end, definition))
    spans: dict[int, tuple[list[int], list[int], list[int]]] = {}
    for content_id, content_spans in by_content.items():
        content_spans.sort()
        spans[content_id] = ([s[0] for s in content_spans], [s[2] for s in content_spans], [s[3] for s in content_spans])
    nothing: tuple[list[int], list[int], list[int]] = ([], [], [])
    return [(holder, line, text, _innermost(*spans.get(holder.content_id, nothing), line)) for holder, line, text in lines]


def _innermost(starts: list[int], ends: list[int], ids: list[int], line: int) -> int | None:
    """The innermost of a file's definitions (their start_line, end_line and id, in
    (start_line, def_line) order) spanning `line`: walking back from the last one
    starting at or before it, the first still open there (as ORDER BY start_line DESC,
    def_line DESC LIMIT 1 among those spanning it)."""
    index = bisect.bisect_right(starts, line)
    while index > 0:
        index -= 1
        if ends[index] >= line:
            return ids[index]
    return None


def _rows(conn: psycopg.Connection, sql: str, params: Sequence[Any] | dict[str, Any]) -> list[tuple[Any, ...]]:
    """All rows at once, in binary: a third of the Python time of iterating a cursor
    over text rows (the ~8,000 definitions an offset-100 page of `self` reads)."""
    with conn.cursor(binary=True) as cursor:
        return cursor.execute(sql, params).fetchall()


def _hit(found: Line, symbol: Symbol | None) -> Hit:
    holder, line, text, _ = found
    return Hit(
        holder.content_id, holder.module, holder.path, line, text, symbol, holder.root, holder.size,
        holder.mtime_ns, holder.repo,
    )


def symbols_by_ids(conn: psycopg.Connection, ids: list[int], repos: RepoIds = None) -> list[Symbol]:
    if not ids:
        return []
    sql = f"""
        SELECT {SYMBOL_COLUMNS} FROM {SYMBOL_FROM}
        WHERE s.id = ANY(%(ids)s) AND (%(repos)s::bigint[] IS NULL OR s.repo_id = ANY(%(repos)s))
    """
    return [symbol_row(row) for row in conn.execute(sql, {"ids": ids, "repos": scope_param(repos)}).fetchall()]
