"""codebase-memory-mcp (PyPI `codebase-memory-mcp`): the PyPI package is only a launcher;
on first run it downloads the native server from GitHub Releases into its cache and execs
it. That download cannot happen here (only package registries are reachable), so the peer
runs only when the binary is already in the cache."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from .base import Peer, PeerUnavailable


class CodebaseMemory(Peer):
    name = "codebase-memory-mcp"
    requirements = ("codebase-memory-mcp",)
    executable = "codebase-memory-mcp"

    def installed_version(self) -> str:
        python = self.venv / "bin" / "python"
        done = subprocess.run(
            [str(python), "-c", "from importlib.metadata import version; print(version('codebase-memory-mcp'))"],
            capture_output=True, text=True, timeout=60,
        )
        return done.stdout.strip()

    def preflight(self) -> None:
        version = self.installed_version()
        cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "codebase-memory-mcp" / version
        if not (cache / "codebase-memory-mcp").is_file():
            raise PeerUnavailable(
                "needs network at run time: the PyPI package is a launcher that downloads its native "
                f"binary from GitHub Releases on first run (into {cache}); only package registries are "
                "reachable here, so it never starts"
            )
        # The binary is there (fetched elsewhere): its tools were never seen by this bench, so
        # there is no verified mapping of them onto the five questions.
        raise PeerUnavailable(f"binary present in {cache}, but this bench has no adapter for its tools yet")
