"""What `coderows setup claude` tells Claude Code: a skill (loaded when a task matches its
description) and a short section of the project's CLAUDE.md (always in context). Kept
as Python strings so that they ship with the package whatever the install method.
"""

from __future__ import annotations

SECTION_BEGIN = "<!-- coderows:begin (added by `coderows setup claude`; `coderows setup claude --uninstall` removes it) -->"
SECTION_END = "<!-- coderows:end -->"

SKILL_MARKER = "<!-- written by `coderows setup claude`; `coderows setup claude --uninstall` removes it -->"

SKILL = f"""---
name: coderows
description: Look up this project's Python code through the coderows MCP tools instead of grep, cat or reading whole files. Use when finding where a class, function or method is defined, reading one definition, seeing what a module or class contains, finding who calls or uses something, or asking questions across the code base (counts, subclasses, biggest functions).
---
{SKILL_MARKER}

# coderows: the project's Python code as an index

Every module, class, function and method of this project is indexed, with its exact source
and line range, and the index follows edits on disk (each answer re-checks its files). One
call returns the lines you need instead of a search plus a whole-file read.

| you want | call | instead of |
| --- | --- | --- |
| where `X` is defined | `mcp__coderows__find_symbol query='X'` (`'X*'`, `'*Error'` for patterns) | `grep -rn "def X"`, `rg "class X"` |
| the source of one definition | `mcp__coderows__get_symbol name='Class.method'` | reading the whole file |
| what a file or class contains | `mcp__coderows__get_outline target='pkg/mod.py'` or `target='pkg.mod.Class'` | reading the whole file |
| who calls or uses `X` | `mcp__coderows__find_references name='pkg.mod.X'` | `grep -rn "X("` |
| text inside bodies or docstrings | `mcp__coderows__search_code query='retry budget'` | `grep -rn "retry budget"` |
| anything else (counts, subclasses, imports) | `mcp__coderows__run_sql query='SELECT ...'` | scripts over grep output |
| whether the index is complete | `mcp__coderows__index_status` | |

Names can be written as a full name (`pkg.mod.Class.meth`), `pkg.mod:Class.meth`, a
qualname (`Class.meth`) or a bare name; an ambiguous name lists the candidates with the
call that picks one.

## Examples

- "How does `Session.request` build the request?": `get_symbol name='Session.request'`, then
  `get_symbol` on the helpers it names.
- "What is in `models.py`?": `get_outline target='models.py'` (signatures and line ranges,
  no bodies), then `get_symbol` for the parts you need.
- "What breaks if I change `parse_header`'s signature?": `find_references name='parse_header'`.
- "Which classes subclass `BaseAdapter`?": `get_outline target='BaseAdapter' subclasses=true`,
  or `run_sql query="SELECT subclass_full_name FROM subclasses WHERE base_full_name LIKE '%.BaseAdapter'"`.

## Editing

`get_symbol` gives `path:start-end`, then the definition's exact source, unnumbered: its lines
can go into the Edit tool's `old_string` as they are (a later page of a long definition says
which lines it holds; `context_lines` blocks are set apart by `-- context A-B --` lines).
The Edit tool still wants the file Read first: Read just those lines (`offset` = start line,
`limit` = its length); a whole-file Read is rarely needed. `mcp__coderows__replace_symbol`
replaces a definition by name, with no old text at all. Files that are not Python, and text
outside definitions (configuration, comments at module level), still call for grep and Read.
"""

SECTION = f"""{SECTION_BEGIN}
## Code navigation: coderows

This project's Python code is indexed by coderows (MCP server `coderows`). Before grepping for
a definition or reading a whole .py file, ask the index; it answers with just the lines needed:
- where something is defined: `mcp__coderows__find_symbol query='Name'`
- one definition's source: `mcp__coderows__get_symbol name='Class.method'`
- what a file or class holds: `mcp__coderows__get_outline target='pkg/module.py'`
- who uses something: `mcp__coderows__find_references name='pkg.module.func'`
The `coderows` skill has more (text search, SQL over the index, examples).
{SECTION_END}
"""
