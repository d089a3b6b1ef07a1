"""One file's work is bounded and linear in its size (indexer/extract_uses.py): hostile
files that took minutes (or forever) are indexed in seconds, definitions always, uses as
far as the bounds, and the file is `partial` with parse_error saying what was left out.

The files are indexed by the real `coderows index` and read back from PostgreSQL. Time
limits are an order of magnitude above what the bounded code needs on a loaded 2-core
machine; the exact row counts are what pins the bounds."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from coderows.indexer.extract_uses import MAX_TREE_DEPTH, MAX_USE_NAME_CHARS, USE_TEXT_FLOOR, USE_TEXT_PER_SOURCE_BYTE
from coderows.indexer.parse import parse_module

CODEROWS = str(Path(sys.executable).with_name("coderows"))


def index(db_url: str, root: Path, timeout: float = 120) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("CODEROWS_DATABASE_URL", "CODEROWS_DATA_DIR")}
    result = subprocess.run(
        [CODEROWS, "index", "--database-url", db_url, str(root)],
        capture_output=True, text=True, env=env, timeout=timeout, check=False,
    )
    assert result.returncode == 0, result.stderr


def indexed_file(db_url: str, tmp_path: Path, text: str) -> dict:
    """Index a repository holding only m.py with `text`; its module row, definitions
    and uses as the database holds them."""
    (tmp_path / "m.py").write_text(text, encoding="utf-8")
    index(db_url, tmp_path)
    with psycopg.connect(db_url, options="-c search_path=coderows") as conn:
        status, error = conn.execute("SELECT parse_status, parse_error FROM modules WHERE path = 'm.py'").fetchone()
        symbols = [row[0] for row in conn.execute("SELECT qualname FROM symbols ORDER BY start_line")]
        uses = conn.execute("SELECT line, name FROM usages ORDER BY line, col").fetchall()
    return {"status": status, "error": error, "symbols": symbols, "uses": uses}


# --- attribute chains -----------------------------------------------------------------


def test_a_long_attribute_chain_keeps_uses_up_to_the_name_bound_and_says_how_many_it_left_out(
    db_url: str, tmp_path: Path
) -> None:
    # 2,400 links: each link's use is named by the chain up to it, so the old code built
    # 2,400 names of up to 7,200 characters (resolving them took over a minute).
    links = 2_400
    row = indexed_file(db_url, tmp_path, "import os\n\n\ndef f():\n    pass\n\n\nx = os" + ".bb" * links + "\n")
    kept = (MAX_USE_NAME_CHARS - len("os")) // len(".bb")  # 332 names of at most 1,000 characters
    assert row["status"] == "partial"
    assert row["error"] == f"{links - kept} uses in attribute chains longer than {MAX_USE_NAME_CHARS} characters not indexed"
    assert row["symbols"] == ["f"]
    assert row["uses"] == [(1, "os")] + [(8, "os" + ".bb" * k) for k in range(1, kept + 1)]


def test_a_24000_link_chain_is_indexed_in_seconds_with_its_definitions(db_url: str, tmp_path: Path) -> None:
    # 21.8 s in the parse alone before; 48 KB of source.
    row = indexed_file(db_url, tmp_path, "def f():\n    pass\n\n\nx = a" + ".b" * 24_000 + "\n\n\ndef g():\n    pass\n")
    assert row["status"] == "partial"
    assert row["error"] == f"uses from line 5 on not indexed: the code there nests deeper than {MAX_TREE_DEPTH} levels"
    assert row["symbols"] == ["f", "g"]
    assert row["uses"] == []


def test_many_chains_within_the_name_bound_stop_at_the_files_text_budget() -> None:
    # 300-link chains (600 characters) on 1,000 lines: 180,000 names of 300 characters
    # on average, 54M characters for a 600 KB file. The budget is a multiple of the size.
    line = "x = a" + ".b" * 300 + "\n"
    data = (line * 1_000).encode()
    module = parse_module("m.py", data)
    budget = USE_TEXT_FLOOR + USE_TEXT_PER_SOURCE_BYTE * len(data)
    spent = sum(len(use.name) + len(use.target or "") for use in module.uses)
    cut = re.fullmatch(r"attribute uses from line (\d+) on not indexed: their names would exceed (\d+) characters", module.parse_error or "")
    assert module.parse_status == "partial"
    assert cut is not None and int(cut[2]) == budget
    assert budget - 2 * 600 < spent <= budget
    # every line before the cut has all its 300 uses; none after it has any
    cut_line = int(cut[1])
    assert len([use for use in module.uses if use.line < cut_line and "." in use.name]) == 300 * (cut_line - 1)
    assert max(use.line for use in module.uses if "." in use.name) == cut_line


def test_chains_with_spaces_comments_and_calls_are_named_as_before() -> None:
    source = "import os\nos.path.join\nos . path\n(os.\n  # c\n  path).sep\nf().x.y\nNone.__new__\n"
    module = parse_module("m.py", source.encode())
    assert module.parse_status == "ok"
    assert [(use.line, use.name, use.target) for use in module.uses] == [
        (1, "os", "os"),
        (2, "os.path", "os.path"),
        (2, "os.path.join", "os.path.join"),
        (3, "os.path", "os.path"),
        (6, "path", None),
        (6, "sep", None),
        (7, "f", None),
        (7, "x", None),
        (7, "y", None),
        (8, "None.__new__", None),
    ]


# --- deep nesting ---------------------------------------------------------------------


def test_80000_chained_calls_keep_the_uses_before_them_and_say_where_they_stop(db_url: str, tmp_path: Path) -> None:
    # 38 s inside tree-sitter's query before, and every use of the file silently lost.
    text = "import os\nos.getcwd()\nx = f" + "()" * 80_000 + "\n\n\ndef g():\n    return os.sep\n"
    row = indexed_file(db_url, tmp_path, text)
    assert row["status"] == "partial"
    assert row["error"] == f"uses from line 3 on not indexed: the code there nests deeper than {MAX_TREE_DEPTH} levels"
    assert row["symbols"] == ["g"]
    assert row["uses"] == [(1, "os"), (2, "os.getcwd")]


@pytest.mark.parametrize(
    ("nested", "python_says"),
    [
        ("(" * 100_000 + "1" + ")" * 100_000, "SyntaxError: too many nested parentheses (line 3)"),
        ("[" * 100_000 + "]" * 100_000, "SyntaxError: too many nested parentheses (line 3)"),
    ],
    ids=["parentheses", "lists"],
)
def test_100000_nested_brackets_are_indexed_with_their_definitions(
    db_url: str, tmp_path: Path, nested: str, python_says: str
) -> None:
    text = "def f():\n    return 1\nx = " + nested + "\n\n\nclass C:\n    def m(self):\n        pass\n"
    row = indexed_file(db_url, tmp_path, text)
    assert row["status"] == "partial"
    assert row["error"] == f"uses from line 3 on not indexed: the code there nests deeper than {MAX_TREE_DEPTH} levels"
    assert row["symbols"] == ["f", "C", "C.m"]


@pytest.mark.parametrize(
    "expression",
    [
        "+".join(["a"] * 100_000),
        "not " * 100_000 + "a",
        "-" * 100_000 + "a",
        "lambda: " * 50_000 + "a",
        "a if b else " * 50_000 + "c",
        "a" + "[0]" * 100_000,
    ],
    ids=["sum", "not", "minus", "lambda", "conditional", "subscript"],
)
def test_deep_expressions_of_every_shape_stop_the_uses_with_a_note(expression: str) -> None:
    module = parse_module("m.py", f"import os\nx = {expression}\ndef g():\n    pass\n".encode())
    assert module.parse_status == "partial"
    assert module.parse_error.startswith(f"uses from line 2 on not indexed: the code there nests deeper than {MAX_TREE_DEPTH} levels")
    assert [d.qualname for d in module.definitions] == ["g"]
    assert [(use.line, use.name) for use in module.uses] == [(1, "os")]


def test_nesting_real_code_reaches_is_not_cut() -> None:
    # 50 levels of brackets, calls and attributes: everything is indexed.
    source = "import os\nx = " + "f(" * 50 + "os.path.sep" + ")" * 50 + "\n"
    module = parse_module("m.py", source.encode())
    assert (module.parse_status, module.parse_error) == ("ok", None)
    assert [use.name for use in module.uses].count("os.path.sep") == 1


# --- long lines -----------------------------------------------------------------------


def test_a_one_megabyte_line_gets_every_use() -> None:
    count = 60_000
    source = "class A:\n    def m(self):\n        return [" + ", ".join(f"self.a{i}" for i in range(count)) + "]\n"
    module = parse_module("m.py", source.encode())
    assert (module.parse_status, module.parse_error) == ("ok", None)
    attribute_uses = [use for use in module.uses if use.name.startswith("self.")]
    assert len(attribute_uses) == count
    assert attribute_uses[-1].name == f"self.a{count - 1}" and attribute_uses[-1].target == f"m.A.a{count - 1}"
