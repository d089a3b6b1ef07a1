"""Edits by symbol: replace, insert, delete and rename definitions through the index.

The index is the plan, the files are the truth. plan.py turns rows (a definition's
lines, the resolved uses of a name) into text changes of files; write.py checks that
every file still holds the bytes those rows were read from, parses every result, and
writes all files or none; rename.py collects what a rename changes and what it leaves
alone; tools.py is the MCP (and CLI) face of it.
"""
