"""Accuracy of coderows' cross-references (the `usages` view) against jedi's get_references.

    .venv/bin/python bench/bench_references.py --database-url URL --json bench/results/references.json
    .venv/bin/python bench/bench_references.py --count 60 --seed 1      # a quicker, smaller sample

The corpus is the sdist of a pinned PyPI project that coderows' tests do not use
(werkzeug 3.1.9), fetched once into /tmp/coderows-bench/sdists and indexed whole (src/,
tests/, examples/, docs/) as one repository with `index_repository(..., full=True)`
(timed; the database's coderows schema is created if needed and this root re-indexed).

Targets: --count (default 250) seeded-random distinct full_names from `symbols` under
src/werkzeug/: classes, functions and methods; skipped are definitions inside functions
(`<locals>`) and dunder names (`__init__`, `__call__`, ...: the code calls them implicitly,
which neither tool lists). A full_name defined more than once (typing overloads, property
setters, conditional definitions) is one target; all its definition sites are excluded.

Truth: jedi (pinned, installed into a throwaway venv under /tmp/coderows-bench/jedi-venv,
never a coderows dependency) run as a subprocess of that venv's python, two at a time:
jedi.Script(path, project=jedi.Project(root, added_sys_path=[root/src])).get_references(
line=def_line, column=<the name in the def line>, include_builtins=False), less the target's
own definition sites and anything outside the root. jedi columns are 0-based, coderows'
1-based: jedi's are shifted by one. For `from m import X as X` jedi names both X's; the
as-name is dropped when jedi also names the imported one (coderows records the import once).
Results are cached in /tmp/coderows-bench/jedi-cache by project, version, jedi version and
target, so a rerun asks jedi only about what it has not seen.

coderows: SELECT path, line, col FROM usages WHERE target_full_name = <target>; compared
with jedi as sets of (path, line, col). Reported: micro precision and recall over all
pairs, macro averages over targets, and every miss classified from the code at its
position (import, annotation, self.attr, attribute of a local bound more than once, a name
imported inside a function, ...) with what the other tool says there: for a false
negative, what coderows recorded at that position (nothing, an unresolved target, a name
only); for a false positive, where jedi's own goto (following imports) and infer go from
it. A false positive that they put on the target is one jedi's get_references missed (as
is a property that jedi takes for the instance attribute `self.x = ...` its setter
stores): the row "all, jedi's misses counted" counts those as right.

Issue 5's targets: precision >= 95% (jedi's misses counted as above) and recall >= 85% of
jedi's references as they are; the exit code is 1 when either is missed. The per-miss
list is in the JSON (`misses`), for whoever improves the extractor.
"""

from __future__ import annotations

import argparse
import ast
import bisect
import hashlib
import io
import json
import os
import queue
import random
import re
import shutil
import subprocess
import sys
import threading
import time
import tokenize
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPOSITORY = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPOSITORY))
from bench import CACHE, add_json_argument, markdown_table, sdist, write_result  # noqa: E402

PROJECT, VERSION = "werkzeug", "3.1.9"
PACKAGE_DIR = "src/werkzeug/"     # where targets are sampled from
SYS_PATH = ["src"]                # added to jedi's sys.path, as an installed package would be
JEDI = "jedi==0.19.2"
JEDI_VENV = CACHE / "jedi-venv"
JEDI_CACHE = CACHE / "jedi-cache"
TIMEOUT = 300.0                   # seconds jedi may take for one question
PRECISION_TARGET, RECALL_TARGET = 0.95, 0.85

ROOT = Path()                     # the unpacked sdist, set by run()

Position = tuple[str, int, int]   # (path relative to the root, line 1-based, column 1-based in characters)


# --- the jedi side: a worker run by the throwaway venv's python -----------------------------


def jedi_worker(root: str, sys_path: list[str], cache_dir: str) -> None:
    """Answer questions, one JSON line in, one JSON line out, until stdin closes."""
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() not in (REPOSITORY, REPOSITORY / "bench")]
    import jedi

    jedi.settings.cache_directory = cache_dir
    project = jedi.Project(root, added_sys_path=[os.path.join(root, p) for p in sys_path])
    environment = jedi.InterpreterEnvironment()
    for line in sys.stdin:
        request = json.loads(line)
        started = time.perf_counter()
        try:
            script = jedi.Script(path=request["path"], project=project, environment=environment)
            if request["op"] == "references":
                names = script.get_references(line=request["line"], column=request["column"], include_builtins=False)
            else:  # where the name goes: goto (following imports), then what it infers to
                names = script.goto(line=request["line"], column=request["column"], follow_imports=True)
                names += script.infer(line=request["line"], column=request["column"])
            found = [[str(n.module_path) if n.module_path else None, n.line, n.column, n.type, n.full_name]
                     for n in names]
            answer: dict[str, Any] = {"names": found}
        except Exception as error:  # noqa: BLE001  # one question jedi cannot answer is reported, not fatal
            answer = {"error": f"{type(error).__name__}: {error}"[:300]}
        answer["seconds"] = round(time.perf_counter() - started, 4)
        print(json.dumps(answer), flush=True)


def jedi_python(requirement: str) -> Path:
    """The throwaway venv's python with `requirement` installed (created once)."""
    python = JEDI_VENV / "bin" / "python"
    marker = JEDI_VENV / ".bench-installed"
    if marker.is_file() and marker.read_text() == requirement and python.exists():
        return python
    if JEDI_VENV.exists():
        shutil.rmtree(JEDI_VENV)
    print(f"installing {requirement} into {JEDI_VENV}", file=sys.stderr, flush=True)
    subprocess.run([sys.executable, "-m", "venv", str(JEDI_VENV)], check=True, capture_output=True, timeout=300)
    done = subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", requirement],
                          capture_output=True, text=True, timeout=600)
    if done.returncode:
        raise SystemExit(f"pip install {requirement} into {JEDI_VENV} failed:\n{done.stderr[-2000:]}")
    marker.write_text(requirement)
    return python


class JediPool:
    """`jobs` worker processes answering questions from a shared queue, every answer cached on disk."""

    def __init__(self, python: Path, root: Path, jobs: int, cache: Path) -> None:
        self.command = [str(python), "-I", str(Path(__file__).resolve()), "--jedi-worker", "--root", str(root),
                        "--jedi-home", str(cache / "jedi-home")]
        self.root, self.jobs, self.cache = root, jobs, cache
        self.env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")}
        self.asked = 0

    def ask(self, questions: dict[str, dict[str, Any]], label: str) -> dict[str, dict[str, Any]]:
        """Answers by key; cached ones from disk, the rest from the workers."""
        answers: dict[str, dict[str, Any]] = {}
        todo: queue.Queue[tuple[str, dict[str, Any]]] = queue.Queue()
        for key, question in questions.items():
            cached = self._cached(key)
            if cached is not None:
                answers[key] = {**cached, "cached": True}
            else:
                todo.put((key, question))
        total = todo.qsize()
        if not total:
            return answers
        print(f"jedi {label}: {total} to ask ({len(answers)} cached), {self.jobs} processes", file=sys.stderr, flush=True)
        lock = threading.Lock()
        done = [0]

        def work() -> None:
            process, lines = self._start()
            try:
                while True:
                    try:
                        key, question = todo.get_nowait()
                    except queue.Empty:
                        return
                    assert process.stdin is not None
                    process.stdin.write(json.dumps(question) + "\n")
                    process.stdin.flush()
                    try:
                        line = lines.get(timeout=TIMEOUT)
                    except queue.Empty:
                        line = None
                    if line is None:  # timed out or died: a fresh worker for the next question
                        self._stop(process)
                        answer: dict[str, Any] = {"error": f"no answer within {TIMEOUT:.0f} s", "seconds": TIMEOUT}
                        process, lines = self._start()
                    else:
                        answer = json.loads(line)
                        if "error" not in answer:
                            self._store(key, answer)
                    with lock:
                        answers[key] = answer
                        done[0] += 1
                        if done[0] % 25 == 0 or done[0] == total:
                            print(f"  jedi {label}: {done[0]}/{total}", file=sys.stderr, flush=True)
            finally:
                self._stop(process)

        threads = [threading.Thread(target=work, daemon=True) for _ in range(min(self.jobs, total))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return answers

    def _start(self) -> tuple[subprocess.Popen[str], queue.Queue[str | None]]:
        process = subprocess.Popen(self.command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=self.env,
                                   cwd=self.root)
        lines: queue.Queue[str | None] = queue.Queue()

        def pump() -> None:
            assert process.stdout is not None
            for line in process.stdout:
                if line.startswith("{"):  # anything else jedi might print is not an answer
                    lines.put(line)
            lines.put(None)

        threading.Thread(target=pump, daemon=True).start()
        return process, lines

    @staticmethod
    def _stop(process: subprocess.Popen[str]) -> None:
        try:
            if process.stdin:
                process.stdin.close()
            process.wait(10)
        except (OSError, subprocess.TimeoutExpired):
            process.kill()
            process.wait()

    def _file(self, key: str) -> Path:
        return self.cache / hashlib.sha1(key.encode()).hexdigest()[:20] / "answer.json"

    def _cached(self, key: str) -> dict[str, Any] | None:
        try:
            stored = json.loads(self._file(key).read_text())
        except (OSError, ValueError):
            return None
        return stored["answer"] if stored.get("key") == key else None

    def _store(self, key: str, answer: dict[str, Any]) -> None:
        target = self._file(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(".partial")
        partial.write_text(json.dumps({"key": key, "answer": answer}))
        partial.replace(target)


# --- the code at a position: what kind of use it is ------------------------------------------


@dataclass
class Use:
    role: str                 # name, attribute, import, import-as, definition, keyword
    name: str = ""            # the identifier
    qualifier: str = ""       # for an attribute: the object as written ("self", "super()", "r")
    context: set[str] = field(default_factory=set)  # annotation, decorator, base, call, store


class FileFacts:
    """One file's names by position (ast), strings and comments (tokenize), module aliases."""

    def __init__(self, root: Path, path: str) -> None:
        self.path = path
        try:
            self.source = (root / path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            self.source = ""
        self.lines = self.source.splitlines()
        self.uses: dict[tuple[int, int], Use] = {}
        self.strings: list[tuple[tuple[int, int], tuple[int, int], str]] = []  # (start, end, STRING|COMMENT)
        self.string_starts: list[tuple[int, int]] = []
        self.modules: set[str] = set()   # names bound to modules by imports
        # every function's (and the module's) names: (first line, last line, {name: how it is bound})
        self.scopes: list[tuple[int, int, dict[str, str], set[str]]] = []  # flags: method, nested-in-method, ...
        try:
            tree = ast.parse(self.source)
        except SyntaxError:
            return
        self._visit(tree, set())
        self._scopes(tree)
        try:
            for token in tokenize.generate_tokens(io.StringIO(self.source).readline):
                if token.type in (tokenize.STRING, tokenize.COMMENT) or token.type == getattr(tokenize, "FSTRING_START", -1):
                    self.strings.append((token.start, token.end, tokenize.tok_name[token.type]))
        except (tokenize.TokenError, SyntaxError):
            pass
        self.string_starts = [start for start, _, _ in self.strings]

    def col(self, line: int, offset: int) -> int:
        """1-based character column of an ast byte offset."""
        text = self.lines[line - 1] if 0 < line <= len(self.lines) else ""
        return len(text.encode("utf-8")[:offset].decode("utf-8", "ignore")) + 1

    def _add(self, line: int, col: int, use: Use) -> None:
        self.uses.setdefault((line, col), use)

    def _visit(self, node: ast.AST, context: set[str]) -> None:
        if isinstance(node, ast.Name):
            self._add(node.lineno, self.col(node.lineno, node.col_offset),
                      Use("name", node.id, "", context | ({"store"} if isinstance(node.ctx, ast.Store) else set())))
        elif isinstance(node, ast.Attribute) and node.end_lineno is not None and node.end_col_offset is not None:
            line = node.end_lineno
            col = self.col(line, node.end_col_offset) - len(node.attr)
            self._add(line, col, Use("attribute", node.attr, ast.unparse(node.value),
                                     context | ({"store"} if isinstance(node.ctx, (ast.Store, ast.Del)) else set())))
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            self._visit_import(node)
            return
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            text = self.lines[node.lineno - 1]
            found = re.search(r"\b(?:def|class)\s+(" + re.escape(node.name) + r")\b", text)
            if found:
                self._add(node.lineno, found.start(1) + 1, Use("definition"))
            for decorator in node.decorator_list:
                self._visit(decorator, context | {"decorator"})
            if isinstance(node, ast.ClassDef):
                for base in node.bases:
                    self._visit(base, context | {"base"})
                for keyword in node.keywords:
                    self._visit(keyword.value, context | {"base"})
                for statement in node.body:
                    self._visit(statement, context - {"annotation"})
                return
            self._visit(node.args, context)
            if node.returns is not None:
                self._visit(node.returns, context | {"annotation"})
            for statement in node.body:
                self._visit(statement, context)
            return
        elif isinstance(node, ast.arg):
            if node.annotation is not None:
                self._visit(node.annotation, context | {"annotation"})
            return
        elif isinstance(node, ast.AnnAssign):
            self._visit(node.annotation, context | {"annotation"})
            self._visit(node.target, context)
            if node.value is not None:
                self._visit(node.value, context)
            return
        elif isinstance(node, ast.Call):
            self._visit(node.func, context | {"call"})
            for child in [*node.args, *node.keywords]:
                self._visit(child, context - {"call"})
            return
        for child in ast.iter_child_nodes(node):
            self._visit(child, context - {"call"})

    def _scopes(self, tree: ast.Module) -> None:
        parents: dict[ast.AST, ast.AST] = {}
        for node in ast.walk(tree):
            for child in ast.iter_child_nodes(node):
                parents[child] = node
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                first, last = node.lineno, node.end_lineno or node.lineno
                body = [node.args] + (node.body if isinstance(node.body, list) else [node.body])
            elif isinstance(node, ast.Module):
                first, last, body = 0, len(self.lines) + 1, node.body
            else:
                continue
            names: dict[str, str] = {}
            flags: set[str] = set()
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                if isinstance(parents.get(node), ast.ClassDef):
                    flags.add("method")
                    if re.search(r"\(\s*#", self.lines[node.lineno - 1]):
                        flags.add("comment before the first parameter")
                ancestor = parents.get(node)
                while ancestor is not None and "method" not in flags:
                    if isinstance(ancestor, (ast.FunctionDef, ast.AsyncFunctionDef)) and isinstance(parents.get(ancestor), ast.ClassDef):
                        flags.add("nested in a method")
                        break
                    ancestor = parents.get(ancestor)
            arguments = node.args if not isinstance(node, ast.Module) else None
            if arguments is not None:
                for arg in [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs, arguments.vararg, arguments.kwarg]:
                    if arg is not None:
                        names.setdefault(arg.arg, "an annotated parameter" if arg.annotation is not None else "a parameter")
            stack = list(reversed(body))
            while stack:  # in source order
                child = stack.pop()
                if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)) and child is not node:
                    if not isinstance(child, ast.Lambda):
                        names.setdefault(child.name, "a definition")
                    continue
                if isinstance(child, ast.Assign) or isinstance(child, ast.AnnAssign) or isinstance(child, ast.NamedExpr):
                    targets = child.targets if isinstance(child, ast.Assign) else [child.target]
                    how = ("a local assigned an annotated value" if isinstance(child, ast.AnnAssign)
                           else "a local assigned from a call" if isinstance(child.value, ast.Call)
                           else "a local assigned otherwise")
                    for target in targets:
                        if isinstance(target, ast.Name):
                            names[target.id] = how if target.id not in names else "a local assigned more than once"
                        elif isinstance(target, (ast.Tuple, ast.List)):
                            for inner in ast.walk(target):
                                if isinstance(inner, ast.Name) and isinstance(inner.ctx, ast.Store):
                                    names.setdefault(inner.id, "a local unpacked from a tuple")
                elif isinstance(child, (ast.For, ast.AsyncFor, ast.comprehension)):
                    for inner in ast.walk(child.target):
                        if isinstance(inner, ast.Name):
                            names.setdefault(inner.id, "a loop variable")
                elif isinstance(child, ast.withitem) and child.optional_vars is not None:
                    for inner in ast.walk(child.optional_vars):
                        if isinstance(inner, ast.Name):
                            names.setdefault(inner.id, "a `with ... as` name")
                elif isinstance(child, ast.ExceptHandler) and child.name:
                    names.setdefault(child.name, "an `except ... as` name")
                elif isinstance(child, (ast.Import, ast.ImportFrom)):
                    for alias in child.names:
                        names.setdefault((alias.asname or alias.name).split(".")[0], "an imported name")
                stack.extend(reversed(list(ast.iter_child_nodes(child))))
            self.scopes.append((first, last, names, flags))

    def binding(self, name: str, line: int) -> str | None:
        """How `name` is bound where it is used on `line`: innermost function first, then outwards
        ("... inside a function" for a function's import)."""
        for first, last, names, _ in sorted(self.scopes, key=lambda scope: scope[0], reverse=True):
            if first <= line <= last and name in names:
                return names[name] + (" inside a function" if first and names[name] == "an imported name" else "")
        return None

    def function_flags(self, line: int) -> set[str]:
        """The flags of the innermost function around `line`."""
        around = [scope for scope in self.scopes if scope[0] and scope[0] <= line <= scope[1]]
        return max(around, key=lambda scope: scope[0])[3] if around else set()

    def _visit_import(self, node: ast.Import | ast.ImportFrom) -> None:
        for alias in node.names:
            if alias.lineno is None:
                continue
            line, col = alias.lineno, self.col(alias.lineno, alias.col_offset)
            self._add(line, col, Use("import"))
            if isinstance(node, ast.Import):  # every part of a dotted name: import a.b.c
                offset = 0
                for part in alias.name.split(".")[:-1]:
                    offset += len(part) + 1
                    self._add(line, col + offset, Use("import"))
                self.modules.add(alias.asname or alias.name.split(".")[0])
            if alias.asname:
                text = self.lines[line - 1]
                found = re.compile(r"\bas\s+(" + re.escape(alias.asname) + r")\b").search(text, col - 1)
                if found:
                    self._add(line, found.start(1) + 1, Use("import-as"))
        if isinstance(node, ast.ImportFrom):  # `from pkg import module`: names a module?
            for alias in node.names:
                self.modules.add(f"?{node.level}:{node.module or ''}:{alias.name}:{alias.asname or alias.name}")

    def token_at(self, line: int, col: int) -> str | None:
        """STRING or COMMENT when (line, col 1-based) lies inside one."""
        position = (line, col - 1)
        index = bisect.bisect_right(self.string_starts, position) - 1
        while index >= 0:
            start, end, kind = self.strings[index]
            if start <= position < end:
                return "STRING" if kind != "COMMENT" else "COMMENT"
            if end[0] < line - 200:
                break
            index -= 1
        return None


class Classifier:
    def __init__(self, root: Path, module_paths: set[str]) -> None:
        self.root = root
        self.module_paths = module_paths   # dotted names of every indexed module
        self.files: dict[str, FileFacts] = {}

    def facts(self, path: str) -> FileFacts:
        if path not in self.files:
            self.files[path] = FileFacts(self.root, path)
        return self.files[path]

    def line(self, position: Position) -> str:
        facts = self.facts(position[0])
        return facts.lines[position[1] - 1] if 0 < position[1] <= len(facts.lines) else ""

    def classify(self, position: Position) -> str:
        path, line, col = position
        facts = self.facts(path)
        use = facts.uses.get((line, col))
        if use is None:
            token = facts.token_at(line, col)
            text = self.line(position).lstrip()
            if token == "COMMENT":
                return "comment / type comment"
            if token == "STRING":
                if any(u.role in ("name", "attribute") and "annotation" in u.context for (use_line, _), u in facts.uses.items() if use_line == line) \
                        or re.search(r"(:|->)\s*[\"']", self.line(position)) or "TypeVar" in text or "cast(" in text:
                    return "string annotation"
                return "docstring / string"
            return "other (no name at that position)"
        if use.role == "import-as":
            return "import (as-name)"
        if use.role == "import":
            return "import"
        if use.role == "definition":
            return "definition site (another def of the name)"
        where = ""
        if "decorator" in use.context:
            where = "decorator"
        elif "base" in use.context:
            where = "inherit"
        elif "annotation" in use.context:
            where = "annotation"
        if "store" in use.context:
            where = "assigned to"
        if use.role == "attribute":
            qualifier = use.qualifier
            head = re.match(r"\w+", qualifier)
            if qualifier.startswith("super("):
                what = "super().attr"
            elif qualifier in ("self", "cls"):
                flags = facts.function_flags(line)
                how = facts.binding(qualifier, line)
                what = (f"{qualifier}.attr: in a function nested in a method (closure)" if "nested in a method" in flags
                        else f"{qualifier}.attr: a comment between `(` and `{qualifier}` in the def" if "comment before the first parameter" in flags
                        else f"{qualifier}.attr: `{qualifier}` annotated in a plain function" if "method" not in flags and how == "an annotated parameter"
                        else f"{qualifier}.attr")
            elif self._is_module(facts, qualifier):
                what = "module.attr (imported module)"
            elif re.fullmatch(r"(\w+\.)*_*[A-Z]\w*", qualifier) and not qualifier.isupper():
                what = "Class.attr"
            elif qualifier.endswith(")"):
                what = "instance attribute: of a call's result `f(...).x`"
            elif qualifier.startswith(("self.", "cls.")):
                what = "instance attribute: of self.attr `self.a.x`"
            elif head and head.group() == qualifier:
                how = facts.binding(qualifier, line)
                what = f"instance attribute: of {how or 'a module-level or undefined name'}"
            else:
                what = "instance attribute: of another expression"
        else:
            how = facts.binding(use.name, line)
            what = "bare name: imported inside the function" if how == "an imported name inside a function" else "bare name"
        return f"{where}: {what}" if where else what

    def _is_module(self, facts: FileFacts, qualifier: str) -> bool:
        first = qualifier.split(".")[0]
        if first in facts.modules:
            return True
        for entry in facts.modules:
            if entry.startswith("?") and entry.endswith(":" + first):
                level_text, module, name, _ = entry[1:].split(":")
                level = int(level_text)
                if level:
                    package = module_of(facts.path).split(".")
                    if not facts.path.endswith("/__init__.py"):
                        package = package[:-1]
                    base = package[: len(package) - (level - 1)]
                    module = ".".join(base + ([module] if module else []))
                if f"{module}.{name}" in self.module_paths:
                    return True
        return False


def module_of(path: str) -> str:
    parts = path.removesuffix(".py").split("/")
    if parts[0] == "src":
        parts = parts[1:]
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


# --- the run ---------------------------------------------------------------------------------


@dataclass
class Target:
    full_name: str
    kind: str
    name: str
    path: str
    line: int
    column: int                     # 1-based column of the name in the def line
    sites: set[Position]            # every definition site of the full_name
    is_property: bool = False       # decorated @property, @x.setter, @cached_property, ...
    jedi: set[Position] = field(default_factory=set)
    coderows: set[Position] = field(default_factory=set)
    outside: int = 0                # jedi references outside the root
    error: str | None = None
    jedi_seconds: float = 0.0
    cached: bool = False
    confirmed: set[Position] = field(default_factory=set)  # coderows-only uses that jedi's goto/infer puts on the target
    disputed: set[Position] = field(default_factory=set)   # jedi-only positions that are no uses: definitions, rebindings


def index(url: str, root: Path) -> tuple[float, str]:
    from coderows.db.connection import connect
    from coderows.indexer.pipeline import index_repository

    with connect(url, autocommit=True) as conn:
        summary = index_repository(conn, root, full=True)
    return summary.seconds, summary.line()


def sample(conn: Any, repo_id: int, count: int, seed: int) -> tuple[list[Target], int]:
    """`count` seeded-random distinct full_names of the package, each with all its definition sites."""
    rows = conn.execute(
        """SELECT full_name, kind, name, path, def_line, decorators FROM symbols
           WHERE repo_id = %s AND path LIKE %s AND qualname NOT LIKE '%%<locals>%%' AND name NOT LIKE '\\_\\_%%\\_\\_'
           ORDER BY full_name, path, def_line""",
        (repo_id, PACKAGE_DIR + "%"),
    ).fetchall()
    by_name: dict[str, list[tuple]] = defaultdict(list)
    for row in rows:
        by_name[row[0]].append(row)
    names = sorted(by_name)
    chosen = random.Random(seed).sample(names, min(count, len(names)))
    targets = []
    lines_of: dict[str, list[str]] = {}
    for full_name in chosen:
        sites: set[Position] = set()
        first = None
        decorators: set[str] = set()
        for _, kind, name, path, def_line, written in by_name[full_name]:
            decorators.update(written)
            lines = lines_of.setdefault(path, (ROOT / path).read_text(encoding="utf-8").splitlines())
            found = re.search(r"\b(?:def|class)\s+(" + re.escape(name) + r")\b", lines[def_line - 1])
            if found is None:
                continue
            sites.add((path, def_line, found.start(1) + 1))
            if first is None:
                first = (kind, name, path, def_line, found.start(1) + 1)
        if first is not None:
            kind, name, path, def_line, column = first
            targets.append(Target(full_name, kind, name, path, def_line, column, sites,
                                  is_property=any(d in ("property", "cached_property") or d.endswith((".setter", "_property"))
                                                  for d in decorators)))
    return targets, len(names)


def _references_key(target: Target) -> str:
    return f"references:{target.path}:{target.line}:{target.column}:{target.full_name}"


def references_from_jedi(targets: list[Target], pool: JediPool) -> None:
    questions = {
        _references_key(t): {"op": "references", "path": str(ROOT / t.path), "line": t.line, "column": t.column - 1}
        for t in targets
    }
    answers = pool.ask(questions, "references")
    root = str(ROOT) + "/"
    # By key, not by position: two equal targets share one question (a dict key).
    for target in targets:
        answer = answers[_references_key(target)]
        target.jedi_seconds = answer.get("seconds", 0.0)
        target.cached = bool(answer.get("cached"))
        if "error" in answer:
            target.error = answer["error"]
            continue
        for module_path, line, column, _, _ in answer["names"]:
            if not module_path or not module_path.startswith(root):
                target.outside += 1
                continue
            target.jedi.add((module_path[len(root):], line, column + 1))
        target.jedi -= target.sites


def normalise_import_aliases(targets: list[Target], classifier: Classifier) -> int:
    """Drop jedi's `as X` of `from m import X as X` when it also names the imported X."""
    dropped = 0
    for target in targets:
        for position in list(target.jedi):
            path, line, col = position
            use = classifier.facts(path).uses.get((line, col))
            if use is not None and use.role == "import-as" and any(
                p[0] == path and p[1] == line and p[2] < col for p in target.jedi
            ):
                target.jedi.discard(position)
                dropped += 1
    return dropped


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=os.environ.get("CODEROWS_DATABASE_URL"),
                        help="PostgreSQL to index into (default: $CODEROWS_DATABASE_URL, else a throwaway embedded server)")
    parser.add_argument("--count", type=int, default=250, help="targets to sample (default 250)")
    parser.add_argument("--seed", type=int, default=20250601, help="random seed of the sample")
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1), help="jedi processes (default 2)")
    parser.add_argument("--jedi", default=JEDI, help=f"the jedi requirement for the throwaway venv (default {JEDI})")
    parser.add_argument("--examples", type=int, default=2, help="examples printed per miss category")
    add_json_argument(parser)
    parser.add_argument("--jedi-worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--root", help=argparse.SUPPRESS)
    parser.add_argument("--jedi-home", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.jedi_worker:
        jedi_worker(args.root, SYS_PATH, args.jedi_home)
        return
    sys.path.insert(0, str(REPOSITORY / "bench"))
    from bench_index import database

    with database(args.database_url) as url:
        ok = run(url, args)
    sys.exit(0 if ok else 1)


def run(url: str, args: argparse.Namespace) -> bool:
    global ROOT
    from coderows.db.connection import connect

    ROOT = sdist(f"{PROJECT}=={VERSION}")
    python = jedi_python(args.jedi)
    index_seconds, index_line = index(url, ROOT)
    print(f"coderows index: {index_line}", file=sys.stderr, flush=True)
    with connect(url, autocommit=True) as conn:
        repo = conn.execute("SELECT id FROM repos WHERE root = %s", (str(ROOT),)).fetchone()
        if repo is None:
            raise SystemExit(f"{ROOT} is not indexed in {url}")
        repo_id = repo[0]
        targets, pool_size = sample(conn, repo_id, args.count, args.seed)
        module_names = {row[0] for row in conn.execute("SELECT name FROM modules WHERE repo_id = %s", (repo_id,))}
        query_started = time.perf_counter()
        for target in targets:
            target.coderows = {
                (path, line, col) for path, line, col in conn.execute(
                    "SELECT path, line, col FROM usages WHERE repo_id = %s AND target_full_name = %s",
                    (repo_id, target.full_name),
                )
            }
        query_seconds = time.perf_counter() - query_started
        by_name = {
            target.full_name: {
                (path, line, col) for path, line, col in conn.execute(
                    "SELECT path, line, col FROM usages WHERE repo_id = %s AND target IS NULL AND short_name = %s",
                    (repo_id, target.name),
                )
            }
            for target in targets
        }

        jedi_version = args.jedi.split("==")[-1]
        pool = JediPool(python, ROOT, args.jobs, JEDI_CACHE / f"{PROJECT}-{VERSION}" / f"jedi-{jedi_version}")
        jedi_started = time.perf_counter()
        references_from_jedi(targets, pool)
        jedi_wall = time.perf_counter() - jedi_started
        classifier = Classifier(ROOT, module_names)
        aliases = normalise_import_aliases(targets, classifier)

        failed = [t for t in targets if t.error]
        scored = [t for t in targets if not t.error]
        misses: list[dict[str, Any]] = []
        for target in scored:
            for position in sorted(target.jedi - target.coderows):
                misses.append({"side": "false negative", "target": target, "position": position})
            for position in sorted(target.coderows - target.jedi):
                misses.append({"side": "false positive", "target": target, "position": position})

        # What the other tool says at each miss.
        kinds = dict(conn.execute("SELECT full_name, min(kind) FROM symbols WHERE repo_id = %s GROUP BY 1", (repo_id,)).fetchall())
        resolved = dict(conn.execute(
            "SELECT DISTINCT ON (target) target, target_full_name FROM usages WHERE repo_id = %s AND resolved", (repo_id,)
        ).fetchall())
        for miss in misses:
            path, line, col = miss["position"]
            if miss["side"] == "false negative":
                there = conn.execute(
                    "SELECT kind, name, target, target_full_name FROM usages WHERE repo_id = %s AND path = %s AND line = %s AND col = %s",
                    (repo_id, path, line, col),
                ).fetchall()
                if not there:
                    miss["verdict"] = "coderows: no use recorded there"
                elif there[0][3]:
                    miss["verdict"] = "coderows: resolved to another definition"
                    miss["detail"] = f"coderows {there[0][0]} {there[0][1]} -> {there[0][3]}"
                elif there[0][2]:
                    miss["verdict"] = "coderows: unresolved, " + unresolved_shape(there[0][2], kinds, resolved)
                    miss["detail"] = f"coderows {there[0][0]} {there[0][1]}, target {there[0][2]} (unresolved)"
                else:
                    miss["verdict"] = "coderows: known by name only"
                    miss["detail"] = f"coderows {there[0][0]} {there[0][1]}, target NULL"
        questions = {
            f"goto+infer:{m['position'][0]}:{m['position'][1]}:{m['position'][2]}":
                {"op": "goto", "path": str(ROOT / m["position"][0]), "line": m["position"][1], "column": m["position"][2] - 1}
            for m in misses if m["side"] == "false positive"
        }
        goto_started = time.perf_counter()
        gotos = pool.ask(questions, "goto at false positives") if questions else {}
        goto_wall = time.perf_counter() - goto_started
        root = str(ROOT) + "/"
        for miss in misses:
            if miss["side"] != "false positive":
                continue
            path, line, col = miss["position"]
            answer = gotos.get(f"goto+infer:{path}:{line}:{col}", {})
            target = miss["target"]
            names = answer.get("names") or []
            places = {(n[0][len(root):] if n[0] and n[0].startswith(root) else n[0], n[1]) for n in names}
            if "error" in answer:
                miss["verdict"] = "jedi goto failed"
            elif not names:
                miss["verdict"] = "jedi: cannot infer it"
            elif any(place in {(s[0], s[1]) for s in target.sites} for place in places):
                miss["verdict"] = "jedi goto/infer: the target (its references missed it)"
                target.confirmed.add(miss["position"])
            elif target.is_property and any(
                (n[4] or "").startswith(target.full_name.rsplit(".", 1)[0] + ".") and (n[4] or "").endswith("." + target.name)
                and (n[4] or "") != target.full_name for n in names
            ):
                miss["verdict"] = "jedi: an instance attribute `self.x = ...`, but x is a property of the class (coderows right)"
                miss["detail"] = "jedi goto/infer -> " + ", ".join(sorted({str(n[4] or f"{n[0]}:{n[1]}") for n in names}))[:160]
                target.confirmed.add(miss["position"])
            else:
                miss["verdict"] = "jedi goto/infer: elsewhere"
                miss["detail"] = "jedi goto/infer -> " + ", ".join(sorted({str(n[4] or f"{n[0]}:{n[1]}") for n in names}))[:160]
        for miss in misses:
            miss["category"] = classifier.classify(miss["position"])
            if miss["side"] == "false negative" and miss["category"].startswith(("definition site", "assigned to: bare name")):
                miss["verdict"] = "jedi: not a use but another definition or a rebinding of the name (coderows right)"
                miss["target"].disputed.add(miss["position"])

    return report(args, targets, scored, failed, misses, by_name, pool_size, index_seconds, index_line, query_seconds,
                  jedi_wall, goto_wall, len(questions), aliases, classifier, jedi_version)


def unresolved_shape(target: str, kinds: dict[str, str], resolved: dict[str, str]) -> str:
    """What an unresolved target's prefix is: what a function returns, an attribute of an
    attribute, ..."""

    def kind(name: str) -> str | None:
        if name in kinds:
            return kinds[name]
        return kinds.get(resolved.get(name, ""))

    prefix = target.rsplit(".", 1)[0]
    if "<locals>" in target:
        return "inside a class defined in a function (`<locals>`)"
    what = kind(prefix)
    if what in ("function", "method"):
        return "an attribute of what a function returns"
    if what == "class":
        return "a class attribute with no definition row (inherited from elsewhere, or a variable)"
    parent = prefix.rsplit(".", 1)[0] if "." in prefix else ""
    if kind(parent) == "class":
        return "an attribute of a class's attribute or instance variable (`self.x.y`)"
    return "other"


def ratio(numerator: int, denominator: int) -> float | None:
    return round(numerator / denominator, 4) if denominator else None


def pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def report(args: argparse.Namespace, targets: list[Target], scored: list[Target], failed: list[Target],
           misses: list[dict[str, Any]], by_name: dict[str, set[Position]], pool_size: int, index_seconds: float,
           index_line: str, query_seconds: float, jedi_wall: float, goto_wall: float, gotos: int, aliases: int,
           classifier: Classifier, jedi_version: str) -> bool:
    columns = ["targets", "n", "jedi refs", "coderows refs", "both", "precision %", "recall %",
               "macro precision %", "macro recall %", "jedi s", "coderows ms"]
    rows = []
    overall: dict[str, float | None] = {}
    for label, group in (("all", scored), *((kind, [t for t in scored if t.kind == kind]) for kind in ("class", "function", "method"))):
        if not group:
            continue
        jedi_total = sum(len(t.jedi) for t in group)
        coderows_total = sum(len(t.coderows) for t in group)
        both = sum(len(t.jedi & t.coderows) for t in group)
        precisions = [len(t.jedi & t.coderows) / len(t.coderows) for t in group if t.coderows]
        recalls = [len(t.jedi & t.coderows) / len(t.jedi) for t in group if t.jedi]
        row = [label, len(group), jedi_total, coderows_total, both, ratio(both, coderows_total), ratio(both, jedi_total),
               ratio(sum(precisions), len(precisions)), ratio(sum(recalls), len(recalls)),
               round(sum(t.jedi_seconds for t in group), 1), round(1000 * query_seconds * len(group) / len(targets), 1)]
        rows.append(row)
        if label == "all":
            overall = {"precision": row[5], "recall": row[6], "macro_precision": row[7], "macro_recall": row[8]}
    if scored:  # jedi's misses counted: what its own goto/infer confirms, less what is no use at all
        truths = {t.full_name: (t.jedi - t.disputed) | t.confirmed for t in scored}
        truth = sum(len(truths[t.full_name]) for t in scored)
        coderows_total = sum(len(t.coderows) for t in scored)
        both = sum(len(truths[t.full_name] & t.coderows) for t in scored)
        precisions = [len(truths[t.full_name] & t.coderows) / len(t.coderows) for t in scored if t.coderows]
        recalls = [len(truths[t.full_name] & t.coderows) / len(truths[t.full_name]) for t in scored if truths[t.full_name]]
        rows.insert(1, ["all, jedi's misses counted", len(scored), truth, coderows_total, both, ratio(both, coderows_total),
                        ratio(both, truth), ratio(sum(precisions), len(precisions)), ratio(sum(recalls), len(recalls)), None, None])
        overall["adjusted_precision"], overall["adjusted_recall"] = rows[1][5], rows[1][6]
    shown = [[*r[:5], *(None if v is None else round(100 * v, 1) for v in r[5:9]), *r[9:]] for r in rows]

    # Misses by category, with what the other tool says there.
    groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for miss in misses:
        groups[(miss["side"], miss["category"])].append(miss)
    miss_rows = []
    example_lines = []
    for (side, category), found in sorted(groups.items(), key=lambda item: (item[0][0], -len(item[1]), item[0][1])):
        verdicts = Counter(m["verdict"] for m in found)
        miss_rows.append([side, category, len(found), "; ".join(f"{v} {n}" for v, n in verdicts.most_common())])
        example_lines.append(f"{side} / {category} ({len(found)}):")
        # examples: one per verdict first, then the rest, spread over targets
        picked: list[dict[str, Any]] = []
        for verdict, _ in verdicts.most_common():
            picked.append(next(m for m in found if m["verdict"] == verdict))
        seen_targets = {id(m["target"]) for m in picked}
        for m in found:
            if len(picked) >= max(args.examples, 1):
                break
            if id(m["target"]) not in seen_targets and m not in picked:
                picked.append(m)
                seen_targets.add(id(m["target"]))
        for m in picked[: max(args.examples, min(len(verdicts), 4))]:
            path, line, col = m["position"]
            code = classifier.line(m["position"]).strip()
            example_lines.append(f"  {path}:{line}:{col}  {code[:110]}  [target {m['target'].full_name}; {m.get('detail', m['verdict'])}]")
    name_only_fn = sum(1 for m in misses if m["side"] == "false negative" and m["position"] in by_name[m["target"].full_name])
    name_only_total = sum(len(by_name[t.full_name]) for t in scored)
    jedi_total = sum(len(t.jedi) for t in scored)
    both_total = sum(len(t.jedi & t.coderows) for t in scored)
    with_name_only = sum(len(t.jedi & (t.coderows | by_name[t.full_name])) for t in scored)
    with_name_only_listed = sum(len(t.coderows | by_name[t.full_name]) for t in scored)
    fn_total = sum(1 for m in misses if m["side"] == "false negative")

    jedi_sum = sum(t.jedi_seconds for t in targets)
    cached = sum(t.cached for t in targets)
    kinds = Counter(t.kind for t in scored)
    # Precision counts what jedi's own goto/infer confirms (its get_references misses those);
    # recall is of jedi's references as they are, the stricter of the two readings.
    precision, recall = overall.get("adjusted_precision"), overall.get("recall")
    ok = precision is not None and recall is not None and precision >= PRECISION_TARGET and recall >= RECALL_TARGET
    header = [
        f"project: {PROJECT} {VERSION} (sdist, {ROOT}); {len(targets)} targets of {pool_size} eligible "
        f"(seed {args.seed}): {kinds['class']} classes, {kinds['function']} functions, {kinds['method']} methods; "
        f"jedi {jedi_version}",
        f"coderows index (full, {PROJECT} whole sdist): {index_seconds:.2f} s: {index_line}",
        f"jedi get_references: {jedi_sum:.1f} s summed over targets"
        + (f" ({cached} answers from the cache of an earlier run)" if cached else "")
        + f", {jedi_wall:.1f} s wall with {args.jobs} processes; coderows' usages queries: {1000 * query_seconds:.0f} ms for all targets",
    ]
    from bench.__main__ import code_version

    notes = [
        *header,
        f"code: {code_version()}",
        f"jedi: Script(path, project=Project(root, added_sys_path=[root/{SYS_PATH[0]}])).get_references(def line, "
        "column of the name, include_builtins=False); targets: distinct full_names under "
        f"{PACKAGE_DIR}, neither `<locals>` nor dunders; references anywhere in the sdist count",
        f"issue 5: precision {pct(precision)} (target >= {PRECISION_TARGET:.0%}; uses jedi's own goto/infer puts on the "
        f"target count as right, {pct(overall.get('precision'))} against get_references alone), recall {pct(recall)} of "
        f"jedi's references (target >= {RECALL_TARGET:.0%}): {'met' if ok else 'NOT met'}",
        "positions are (path, line, 1-based character column of the name itself); jedi's 0-based columns are shifted by one; "
        "the target's own definition sites and jedi answers outside the root "
        f"({sum(t.outside for t in scored)}) are left out; {aliases} `as X` positions of `from m import X as X` dropped",
        "macro: mean over targets of per-target precision (targets where coderows found any) and recall (where jedi found any)",
        "row `all, jedi's misses counted`: a use only coderows lists counts as right when jedi's own goto (following "
        "imports) or infer at that position lands on the target's definition (jedi's get_references missed it), or when "
        "jedi takes a property for the instance attribute `self.x = ...` that its setter stores; such uses join the truth, "
        "and jedi's positions that are no uses (another class's def of the name, `Name = ...` rebinding it) leave it",
        f"false negatives ({fn_total}) that coderows lists among its by-name uses (target IS NULL, same short name): "
        f"{name_only_fn}; by-name uses of the targets' names in all: {name_only_total}; counted as answers they would "
        f"make recall {pct(ratio(with_name_only, jedi_total))} and precision {pct(ratio(with_name_only, with_name_only_listed))} "
        f"(raw), against {pct(ratio(both_total, jedi_total))} and {pct(overall.get('precision'))}",
        f"jedi goto/infer at the {gotos} false positives: {goto_wall:.1f} s wall",
    ]
    if failed:
        notes.append(f"{len(failed)} targets left out, jedi failed: "
                     + "; ".join(f"{t.full_name}: {t.error}" for t in failed[:5]))
    print("\n".join(header))
    print()
    print(markdown_table(columns, shown))
    print()
    print("Misses by category (false negative: jedi lists it, coderows does not; false positive: the reverse):")
    print()
    print(markdown_table(["side", "category", "count", "what the other tool says there"], miss_rows))
    print()
    print("\n".join(example_lines))
    print()
    for note in notes[len(header):]:
        print(f"- {note}")
    write_result(
        args.json, "references", columns, shown, notes,
        tables=[{"title": "misses by category", "columns": ["side", "category", "count", "what the other tool says there"],
                 "rows": miss_rows}],
        examples=example_lines,
        misses=[[m["side"], m["category"], m["verdict"], ":".join(map(str, m["position"])), m["target"].full_name,
                 classifier.line(m["position"]).strip()[:120], m.get("detail", "")] for m in misses],
        project=f"{PROJECT}=={VERSION}", jedi=jedi_version, seed=args.seed, targets=len(targets),
        index_seconds=round(index_seconds, 3), jedi_seconds=round(jedi_sum, 1), jedi_wall_seconds=round(jedi_wall, 1),
        **{k: v for k, v in overall.items()}, ok=ok,
    )
    return ok


if __name__ == "__main__":
    main()
