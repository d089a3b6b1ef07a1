"""Adapters for `bench/bench_peers.py`: one per MCP code-index server, coderows included."""

from __future__ import annotations

from .base import Answer, Definition, Peer, PeerUnavailable, References
from .code_index_mcp import CodeIndexMcp
from .codebase_memory import CodebaseMemory
from .coderows import Coderows
from .jcodemunch import Jcodemunch
from .tree_sitter import TreeSitter

PEERS: tuple[type[Peer], ...] = (Coderows, CodeIndexMcp, Jcodemunch, CodebaseMemory, TreeSitter)

__all__ = ["PEERS", "Answer", "Definition", "Peer", "PeerUnavailable", "References"]
