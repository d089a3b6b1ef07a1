"""Where the index lives: connection settings, the embedded PostgreSQL server, the schema.

Every other part of coderows gets its connections from here, so there is one place that
decides which database is meant, sets the search path and makes sure the schema exists.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from coderows.db.connection import DatabaseError, connect, resolve_database_url

__all__ = ["DatabaseError", "connect", "resolve_database_url"]


def __getattr__(name: str) -> Any:
    """The connection module's names, loaded on first use: importing psycopg takes about a
    tenth of a second, which `coderows --help` and `from coderows.db import embedded`
    should not pay."""
    if name in __all__:
        from coderows.db import connection

        return getattr(connection, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
