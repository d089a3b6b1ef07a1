"""`python -m coderows.server [PATH ...]`: the MCP server without the CLI (handy in tests).

The same as `coderows serve`: stdio by default, --http for streamable HTTP.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from coderows.db.connection import DatabaseError, resolve_database_url
from coderows.server.app import serve


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m coderows.server", description=__doc__)
    parser.add_argument("paths", nargs="*", type=Path, help="repository roots to keep indexed (default: .)")
    parser.add_argument("--database-url", help="libpq URL (default: CODEROWS_DATABASE_URL, else the embedded server)")
    parser.add_argument("--http", action="store_true", help="serve streamable HTTP instead of stdio")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args(argv)
    try:
        url = resolve_database_url(args.database_url)
    except DatabaseError as error:
        print(f"coderows: {error}", file=sys.stderr)
        return 1
    serve(url, args.paths or [Path.cwd()], http=args.http, host=args.host, port=args.port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
