"""Small rules shared by the indexer and the server (imported as coderows.common)."""
