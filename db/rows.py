"""Reading rows whose number the query itself fixes."""

from __future__ import annotations

import psycopg
from psycopg.rows import Row


class MissingRow(RuntimeError):
    """A query that always returns a row returned none: a bug in the query, not the data."""


def one_row(cursor: psycopg.Cursor[Row]) -> Row:
    """The row of a query that always returns exactly one (an aggregate without GROUP BY)."""
    row = cursor.fetchone()
    if row is None:
        raise MissingRow("no row from a query that always returns one")
    return row
