"""Where the index lives: connection settings, the embedded PostgreSQL server, the schema.

Every other part of coderows gets its connections from here, so there is one place that
decides which database is meant, sets the search path and makes sure the schema exists.
"""

from coderows.db.connection import DatabaseError, connect, resolve_database_url

__all__ = ["DatabaseError", "connect", "resolve_database_url"]
