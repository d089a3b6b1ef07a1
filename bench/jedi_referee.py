"""The referee of bench_references.py: jedi, asked where a definition is used and where a
name goes, in worker processes of a throwaway venv (jedi is never a coderows dependency).

Everything that says what the code at a position is comes from jedi here, or from
coderows' own rows in bench_references.py; this module adds only the two bits of text
reading that asking jedi needs (where a def's name stands, so jedi can be asked about it,
and jedi's own double naming of `X as X`), never a classifier of uses of its own.

A worker is this file run by the venv's python:

    <venv>/bin/python -I bench/jedi_referee.py --root ROOT --sys-path src --jedi-home DIR

and answers one JSON line per question read from stdin:

    {"op": "references", "path": ..., "line": 1-based, "column": 0-based}
        -> Script.get_references(line, column, include_builtins=False)
    {"op": "goto", ...}  -> Script.goto(follow_imports=True) + Script.infer()
        -> {"names": [[module_path, line, column (0-based), type, full_name], ...], "seconds": ...}
           or {"error": "...", "seconds": ...}

This module imports nothing outside the standard library (the venv has only jedi).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import queue
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

TIMEOUT = 300.0   # seconds jedi may take for one question

Answer = dict[str, Any]


# --- in the worker process ------------------------------------------------------------------


def serve(root: str, sys_path: list[str], cache_dir: str) -> None:
    """Answer questions, one JSON line in, one JSON line out, until stdin closes."""
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
            answer: Answer = {"names": found}
        except Exception as error:  # noqa: BLE001  # one question jedi cannot answer is reported, not fatal
            answer = {"error": f"{type(error).__name__}: {error}"[:300]}
        answer["seconds"] = round(time.perf_counter() - started, 4)
        print(json.dumps(answer), flush=True)


# --- in the bench's process -----------------------------------------------------------------


def venv_python(venv: Path, requirement: str) -> Path:
    """The python of `venv` with `requirement` installed (created once, recreated when the
    requirement changes)."""
    python = venv / "bin" / "python"
    marker = venv / ".bench-installed"
    if marker.is_file() and marker.read_text() == requirement and python.exists():
        return python
    if venv.exists():
        shutil.rmtree(venv)
    print(f"installing {requirement} into {venv}", file=sys.stderr, flush=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True, timeout=300)
    done = subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", requirement],
                          capture_output=True, text=True, timeout=600)
    if done.returncode:
        raise SystemExit(f"pip install {requirement} into {venv} failed:\n{done.stderr[-2000:]}")
    marker.write_text(requirement)
    return python


class JediPool:
    """`jobs` worker processes answering questions from a shared queue, every answer cached on
    disk under `cache` by its key (so a rerun asks jedi only about what it has not seen)."""

    def __init__(self, python: Path, root: Path, sys_path: list[str], jobs: int, cache: Path) -> None:
        self.command = [str(python), "-I", str(Path(__file__).resolve()), "--root", str(root),
                        "--sys-path", *sys_path, "--jedi-home", str(cache / "jedi-home")]
        self.root, self.jobs, self.cache = root, jobs, cache
        self.env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")}

    def ask(self, questions: dict[str, Answer], label: str) -> dict[str, Answer]:
        """Answers by key; cached ones from disk (marked "cached"), the rest from the workers."""
        answers: dict[str, Answer] = {}
        todo: queue.Queue[tuple[str, Answer]] = queue.Queue()
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
                        answer: Answer = {"error": f"no answer within {TIMEOUT:.0f} s", "seconds": TIMEOUT}
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

    def _cached(self, key: str) -> Answer | None:
        try:
            stored = json.loads(self._file(key).read_text())
        except (OSError, ValueError):
            return None
        answer: Answer | None = stored["answer"] if stored.get("key") == key else None
        return answer

    def _store(self, key: str, answer: Answer) -> None:
        target = self._file(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(".partial")
        partial.write_text(json.dumps({"key": key, "answer": answer}))
        partial.replace(target)


# --- the two bits of text reading that asking jedi needs ------------------------------------


def name_column(def_line: str, name: str) -> int | None:
    """1-based column of `name` in the line `def name(` / `class name(` of a definition
    (coderows' rows give the line, jedi wants the name itself), or None when it is not there."""
    found = re.search(r"\b(?:def|class)\s+(" + re.escape(name) + r")\b", def_line)
    return found.start(1) + 1 if found else None


def follows_as(line: str, column: int) -> bool:
    """Whether the name at `column` (1-based) directly follows `as`: in `from m import X as X`
    jedi names both X's, where coderows records the import once at the first."""
    return re.search(r"\bas\s+$", line[: column - 1]) is not None


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="a jedi worker: one JSON question a line on stdin")
    parser.add_argument("--root", required=True)
    parser.add_argument("--sys-path", nargs="*", default=[])
    parser.add_argument("--jedi-home", required=True)
    arguments = parser.parse_args()
    serve(arguments.root, arguments.sys_path, arguments.jedi_home)
