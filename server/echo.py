"""How an error echoes the agent's own input: cut, so that a huge argument cannot bloat
the answer. Its own module because limits.py imports the MCP SDK and scope.py must not."""

from __future__ import annotations

SHOWN_INPUT_CHARS = 60  # of an echoed value


def shown(text: str) -> str:
    """`text` quoted as Python would, cut to SHOWN_INPUT_CHARS with "..." when longer."""
    return repr(text if len(text) <= SHOWN_INPUT_CHARS else text[:SHOWN_INPUT_CHARS] + "...")
