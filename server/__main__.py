"""`python -m coderows.server [OPTIONS] [PATH ...]` is `coderows serve`: the same command,
for environments where the console script is not on PATH."""

from __future__ import annotations

import sys

from coderows.cli.main import main

if __name__ == "__main__":
    main(["serve", *sys.argv[1:]], prog_name="python -m coderows.server")
