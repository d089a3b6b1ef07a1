"""The user-SQL sandbox: one read-only statement from a user (`coderows sql`) or an agent
(`run_sql`), run so that it can neither change anything nor flood its caller.

Layers, each enough for an honest mistake and together for a hostile query:
- the session is the read-only login (coderows.db.readonly): it can only SELECT the
  coderows schema, whatever the statement says;
- the text is lexed here as PostgreSQL lexes it (comments, nested comments, '' / E'' /
  U&'' strings, "identifiers", $tag$ dollar quotes$tag$): exactly one statement, its
  parentheses balanced, starting with SELECT, WITH, VALUES, TABLE or EXPLAIN;
- it reaches the server only over the extended query protocol (a server-side cursor),
  which refuses a second statement in any case: the simple protocol, which runs every
  ';'-separated statement, is never used for a user's text;
- it runs inside a subquery (only a query survives there) in a READ ONLY transaction
  with statement, lock and idle timeouts and a work_mem cap, always rolled back;
- rows are cut at `limit` and at a byte budget measured as the client receives them
  (each row's text), and a row larger than its share is never sent.
EXPLAIN cannot be a subquery or a cursor, so it runs through coderows.explain_lines
(installed with the reader role, coderows.db.readonly), whose lines come back as rows of
a query like any other, under the same budget.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from coderows.db.readonly import EXPLAIN_FUNCTION, READER_SETTINGS

# The time limit of one typed query in all (a module attribute so tests can shorten it).
SQL_STATEMENT_TIMEOUT = READER_SETTINGS["statement_timeout"]
# Limits set again on each query's transaction: the role's defaults are the one list.
# standard_conforming_strings is not a limit: it makes the server lex '...' as we do.
_TRANSACTION_LIMITS = ("lock_timeout", "idle_in_transaction_session_timeout", "work_mem")
SQL_MAX_QUERY_CHARS = 100_000
# The most bytes of rows a run_sql answer receives, as text (what travels and what the
# client then holds), not as the server stores them: 1e131071::numeric is 60 KB stored
# and 131 KB as text.
SQL_MAX_ANSWER_BYTES = 8 * 1024 * 1024
# A row may take at most this share of the byte budget; the rest is fetched in batches
# sized so that one batch can never overshoot the budget by more than one row's share.
SQL_ROW_SHARE_OF_BUDGET = 16
# What one cell costs the client beyond its text (a Python object and its slot in the
# row): counted against the budget so that a million tiny cells cannot cost gigabytes.
SQL_CELL_OVERHEAD_BYTES = 64

READ_KEYWORDS = ("select", "with", "values", "table", "explain")
# First words of statements that are not queries: refused without asking the server.
# Any other unknown first word is shown to the server's parser (never executed), so a
# typo gets its syntax error rather than a refusal.
_NOT_QUERIES = frozenset(
    {
        "abort", "alter", "analyze", "begin", "call", "checkpoint", "close", "cluster", "comment", "commit",
        "copy", "create", "deallocate", "declare", "delete", "discard", "do", "drop", "end", "execute", "fetch",
        "grant", "import", "insert", "listen", "load", "lock", "merge", "move", "notify", "prepare", "reassign",
        "refresh", "reindex", "release", "reset", "revoke", "rollback", "savepoint", "security", "set", "show",
        "start", "truncate", "unlisten", "update", "vacuum",
    }
)


class RejectedQuery(ValueError):
    """The text is not one read-only statement; the message says why."""


# --- lexing ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Token:
    kind: str  # "word" (a keyword or bare identifier, lower-cased), "quoted", "punct", "other"
    text: str
    start: int


def _is_ident_start(char: str) -> bool:
    return char.isalpha() or char == "_" or ord(char) >= 0x80


def _is_ident_char(char: str) -> bool:
    return _is_ident_start(char) or char.isdigit() or char == "$"


def tokens(text: str) -> Iterator[Token]:
    """The tokens of `text` as PostgreSQL's lexer cuts it, comments and blanks left out.
    An unterminated string, identifier or comment is a RejectedQuery."""
    i, n = 0, len(text)
    while i < n:
        char = text[i]
        if char.isspace():
            i += 1
        elif text.startswith("--", i):
            i = _line_end(text, i)
        elif text.startswith("/*", i):
            i = _comment_end(text, i)
        elif char == "'":
            end = _quoted_end(text, i, "'", backslashes=False)
            yield Token("quoted", text[i:end], i)
            i = end
        elif char == '"':
            end = _quoted_end(text, i, '"', backslashes=False)
            yield Token("quoted", text[i:end], i)
            i = end
        elif char == "$" and i + 1 < n and text[i + 1].isdigit():
            end = i + 1
            while end < n and text[end].isdigit():
                end += 1
            yield Token("other", text[i:end], i)
            i = end
        elif char == "$" and (tag := _dollar_tag(text, i)) is not None:
            close = text.find(tag, i + len(tag))
            if close < 0:
                raise RejectedQuery(f"unterminated dollar-quoted string starting at {tag}")
            yield Token("quoted", text[i : close + len(tag)], i)
            i = close + len(tag)
        elif _is_ident_start(char):
            end = i + 1
            while end < n and _is_ident_char(text[end]):
                end += 1
            word = text[i:end].lower()
            prefixed = _prefixed_literal_end(text, word, end)
            if prefixed is not None:
                yield Token("quoted", text[i:prefixed], i)
                i = prefixed
            else:
                yield Token("word", word, i)
                i = end
        elif char.isdigit() or (char == "." and i + 1 < n and text[i + 1].isdigit()):
            end = i + 1
            while end < n and (text[end].isalnum() or text[end] in "._"):
                end += 1
            yield Token("other", text[i:end], i)
            i = end
        else:
            yield Token("punct", char, i)
            i += 1


def _line_end(text: str, i: int) -> int:
    ends = [p for p in (text.find("\n", i), text.find("\r", i)) if p >= 0]
    return min(ends) + 1 if ends else len(text)


def _comment_end(text: str, i: int) -> int:
    """The end of a /* */ comment, which nests in PostgreSQL."""
    depth, j = 0, i
    while j < len(text):
        if text.startswith("/*", j):
            depth, j = depth + 1, j + 2
        elif text.startswith("*/", j):
            depth, j = depth - 1, j + 2
            if depth == 0:
                return j
        else:
            j += 1
    raise RejectedQuery("unterminated /* comment")


def _quoted_end(text: str, i: int, quote: str, *, backslashes: bool) -> int:
    """The end of a quoted string or identifier starting at i; a doubled quote is one
    quote character, and in E'' strings a backslash escapes the next character."""
    j = i + 1
    while j < len(text):
        char = text[j]
        if backslashes and char == "\\":
            j += 2
        elif char == quote:
            if text.startswith(quote * 2, j):
                j += 2
            else:
                return j + 1
        else:
            j += 1
    raise RejectedQuery(f"unterminated quoted {'identifier' if quote == chr(34) else 'string'}")


def _dollar_tag(text: str, i: int) -> str | None:
    """`$tag$` or `$$` when a dollar quote opens at i (it cannot follow an identifier
    character: `a$b$` is one identifier)."""
    if i > 0 and _is_ident_char(text[i - 1]):
        return None
    j = i + 1
    if j < len(text) and _is_ident_start(text[j]):
        j += 1
        while j < len(text) and _is_ident_char(text[j]) and text[j] != "$":
            j += 1
    if j < len(text) and text[j] == "$":
        return text[i : j + 1]
    return None


def _prefixed_literal_end(text: str, word: str, end: int) -> int | None:
    """The end of E'...', B'...', X'...', N'...', U&'...' or U&"..." when `word` (just
    lexed, ending at `end`) is such a prefix; else None."""
    if word in ("e", "b", "x", "n") and text.startswith("'", end):
        return _quoted_end(text, end, "'", backslashes=word == "e")
    if word == "u" and (text.startswith("&'", end) or text.startswith('&"', end)):
        return _quoted_end(text, end + 1, text[end + 1], backslashes=False)
    return None


# --- what the text is -----------------------------------------------------------------


@dataclass(frozen=True)
class Statement:
    text: str  # the one statement, without a trailing ';'
    keyword: str  # its first word, lower-cased ('' when it starts with no word)
    keyword_at: int  # where that word starts in text


def one_statement(text: str) -> Statement:
    """The single statement in `text`, or a RejectedQuery saying why there is not one:
    empty, too long, more than one statement, or parentheses that do not balance (which
    would let the text close the subquery it runs in)."""
    if len(text) > SQL_MAX_QUERY_CHARS:
        raise RejectedQuery(f"the query is longer than {SQL_MAX_QUERY_CHARS} characters")
    found = list(tokens(text))
    end = next((t.start for t in found if t.kind == "punct" and t.text == ";"), len(text))
    if any(not (t.kind == "punct" and t.text == ";") for t in found if t.start > end):
        raise RejectedQuery("only one statement is allowed; remove the ';' and what follows")
    body = [t for t in found if t.start < end]
    if not body:
        raise RejectedQuery("the query is empty")
    _check_parentheses(body)
    first = next((t for t in body if not (t.kind == "punct" and t.text == "(")), body[0])
    keyword = first.text if first.kind == "word" else ""
    leading_blank = len(text[:end]) - len(text[:end].lstrip())
    return Statement(text[:end].strip(), keyword, first.start - leading_blank)


def _check_parentheses(body: list[Token]) -> None:
    depth = 0
    for token in body:
        if token.kind == "punct" and token.text in "()":
            depth += 1 if token.text == "(" else -1
            if depth < 0:
                raise RejectedQuery("a ')' closes nothing; the parentheses must balance")
    if depth:
        raise RejectedQuery(f"{depth} '(' never closed; the parentheses must balance")


def leading_keyword(text: str) -> str:
    """The first word of a statement, after comments and opening parentheses."""
    for token in tokens(text):
        if token.kind == "punct" and token.text == "(":
            continue
        return token.text if token.kind == "word" else ""
    return ""


# --- running it -----------------------------------------------------------------------


def run_readonly(
    conn: psycopg.Connection, text: str, limit: int, *, max_bytes: int = SQL_MAX_ANSWER_BYTES
) -> tuple[list[str], list[tuple[Any, ...]], bool]:
    """(columns, at most `limit` rows, whether there were more) of one read-only query.

    `conn` should be a reader session (coderows.db.readonly.connect_reader): a login that
    can only SELECT the coderows schema, which is what makes this safe against a hostile
    query; the rest bounds what an honest one may cost (see the module's docstring)."""
    statement = one_statement(text)
    with conn.transaction(force_rollback=True):
        _limit_transaction(conn)
        if statement.keyword not in READ_KEYWORDS:
            _refuse_non_query(conn, statement)
        try:
            if statement.keyword == "explain":
                explain = statement.text[statement.keyword_at :]
                return _fetch_capped(conn, _explain_query(), [explain], limit, max_bytes)
            return _fetch_capped(conn, sql.SQL(statement.text), None, limit, max_bytes)  # user-supplied by design
        except psycopg.errors.SyntaxError as error:
            # The lexer above already refuses a second statement; this is the server's word.
            if "multiple commands" in str(error):
                raise RejectedQuery("only one statement is allowed; remove the ';' and what follows") from None
            raise
        except psycopg.errors.UndefinedFunction as error:
            if statement.keyword == "explain" and EXPLAIN_FUNCTION in str(error):
                raise RejectedQuery(
                    f"EXPLAIN is not available: {EXPLAIN_FUNCTION} is missing (coderows installs it when its "
                    "database user may create objects in the coderows schema)"
                ) from None
            raise


def _limit_transaction(conn: psycopg.Connection) -> None:
    conn.execute("SET TRANSACTION READ ONLY")
    conn.execute("SELECT set_config('statement_timeout', %s, true)", [SQL_STATEMENT_TIMEOUT])
    for name in _TRANSACTION_LIMITS:
        conn.execute("SELECT set_config(%s, %s, true)", [name, READER_SETTINGS[name]])
    conn.execute("SELECT set_config('standard_conforming_strings', 'on', true)")


def _refuse_non_query(conn: psycopg.Connection, statement: Statement) -> None:
    """Refuse a statement that is not a query; a first word PostgreSQL does not know is
    shown to its parser alone (Parse, never executed) so that it names the syntax error."""
    found = statement.keyword.upper() or statement.text[:20]
    refusal = RejectedQuery(
        f"only one read-only query is allowed (SELECT, WITH, VALUES, TABLE or EXPLAIN), not {found!r}"
    )
    if statement.keyword in _NOT_QUERIES or not statement.keyword:
        raise refusal
    result = conn.pgconn.prepare(b"", statement.text.encode(conn.info.encoding), None)
    if result.status == psycopg.pq.ExecStatus.FATAL_ERROR:
        raise psycopg.errors.error_from_result(result, encoding=conn.info.encoding)
    raise refusal


def _explain_query() -> sql.Composable:
    return sql.SQL('SELECT line AS "QUERY PLAN" FROM {}(%s) AS line').format(
        sql.Identifier(*EXPLAIN_FUNCTION.split("."))
    )


def _fetch_capped(
    conn: psycopg.Connection, statement: sql.Composable, params: list[Any] | None, limit: int, max_bytes: int
) -> tuple[list[str], list[tuple[Any, ...]], bool]:
    """Rows of the statement through a server-side cursor (the extended protocol: one
    statement only), so that rows are made only as they are fetched: at most limit + 1
    of them, each measured by the server as text, which sends a row too large for its
    share of the budget as NULLs (fits = false) instead."""
    row_cap = max(1, max_bytes // SQL_ROW_SHARE_OF_BUDGET)
    rows: list[tuple[Any, ...]] = []
    used, cut = 0, False
    deadline = time.monotonic() + _seconds(SQL_STATEMENT_TIMEOUT)
    with conn.cursor(name="coderows_agent_query") as cur:
        cur.execute(_measured_query(statement, limit, row_cap), params)
        columns = [column.name for column in cur.description or []][:-2]
        per_row = SQL_CELL_OVERHEAD_BYTES * (len(columns) + 1)
        while not cut and len(rows) <= limit:
            # Each FETCH is a statement with a timer of its own: give it what is left of
            # the query's time, so that all of them together stay within the limit.
            left_ms = int((deadline - time.monotonic()) * 1000)
            if left_ms <= 0:
                raise psycopg.errors.QueryCanceled("canceling statement due to statement timeout")
            conn.execute("SELECT set_config('statement_timeout', %s, true)", [f"{left_ms}ms"])
            # Batches double from one row: a row too large ends the answer, and the rows
            # fetched after it would have been made (and measured) for nothing.
            room = (max_bytes - used) // (row_cap + per_row)
            batch = cur.fetchmany(max(1, min(limit + 1 - len(rows), room, 2 * len(rows) or 1)))
            if not batch:
                break
            for row in batch:
                size = row[-2] + per_row
                if not row[-1] or size > row_cap + per_row or used + size > max_bytes:
                    cut = True
                    break
                used += size
                rows.append(row[:-2])
    return columns, rows[:limit], cut or len(rows) > limit


def _seconds(setting: str) -> float:
    """'5s' or '1500ms' as seconds."""
    if setting.endswith("ms"):
        return int(setting[:-2]) / 1000
    return float(setting.rstrip("s"))


def _measured_query(statement: sql.Composable, limit: int, row_cap: int) -> sql.Composed:
    """SELECT the statement's columns, then each row's size as text and whether it is
    within row_cap; a row past row_cap comes as NULLs. A row's text form (the record's
    output) is at least as long as its cells' texts together, which is what the client
    receives. (row).* needs the row type the subquery registers, hence the lateral."""
    cap = sql.Literal(row_cap)
    # Line breaks keep a trailing "-- comment" in the user's text from eating the ")".
    return sql.Composed(
        [
            sql.SQL("SELECT (fitting.agent_row).*, sized.size, sized.size <= {cap} AS fits FROM (\n").format(cap=cap),
            sql.SQL("SELECT agent_query AS agent_row, octet_length(agent_query::text) AS size FROM (\n"),
            statement,
            sql.SQL("\n) AS agent_query LIMIT {rows}) AS sized\n").format(rows=sql.Literal(limit + 1)),
            sql.SQL("LEFT JOIN LATERAL (SELECT sized.agent_row WHERE sized.size <= {cap}) AS fitting ON true").format(cap=cap),
        ]
    )
