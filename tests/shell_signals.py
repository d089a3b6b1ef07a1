"""Start a command as an interactive shell or an MCP client would: SIGINT and SIGHUP at
their default actions.

A process inherits through exec the signals its parent ignores: under `nohup` SIGHUP, and
in a non-interactive shell's background job (`cmd &`) SIGINT too. A coderows command
started so rightly keeps running on them, so tests that stop one with Ctrl-C or a hangup
start it through default_signals() whatever way the test run itself was started.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager

DEFAULTED = (signal.SIGINT, signal.SIGHUP)


@contextmanager
def default_signals() -> Iterator[None]:
    """While the block starts a child process: this process's SIGINT and SIGHUP at their
    default actions (a child inherits those, not handlers), then restored. Main thread only."""
    previous = {sig: signal.signal(sig, signal.SIG_DFL) for sig in DEFAULTED}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
