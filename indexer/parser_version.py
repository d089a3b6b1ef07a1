"""Which parser made a content's rows (contents.parser_version).

A content's rows are made once and then shared and kept while its bytes stay the same, so
rows made by an older coderows would outlive an upgrade that extracts more or differently.
Raise PARSER_VERSION with every change to parse_module, the extractors it calls or encode's
rows (pieces included) that makes different rows from the same bytes: each repository's
next index run, watcher or server start then parses again every file whose content an
older version wrote, and no such content is shared. Rows of a newer version are kept: an
older coderows sharing the database does not undo them (nor the two take turns parsing). A change that makes the same rows (faster
code, say) leaves it alone: bench/parse_equivalence.py checks that.

Its own module, not parse.py's: the loader reads it on every run, a no-op included, and
parse.py imports tree-sitter and every extractor.
"""

PARSER_VERSION = 1
