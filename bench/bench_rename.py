"""Rename by symbol, refereed by rope: on the werkzeug and flask sdists, rename seeded-random
definitions (functions, methods with their hierarchy, classes) with `coderows rename` and with rope (PyPI,
installed into this interpreter for the bench only: `pip install rope`), and compare the
positions each changed; then run the project's own test suite on the renamed copy.

    python bench/bench_rename.py [--count 25] [--seed 17] [--no-suite PROJECT] [--database-url URL] [--json out.json]

For each definition, two fresh copies of the project are renamed, one by each tool; a
position is (file, line, column) of an identifier (or string) token whose text changed.
A third run renames a fresh copy with `coderows rename --include-name-only` (the uses
known by name only renamed too when nothing else has the name): its compileall and
suite counts are printed beside the default's and rope's (its suite is run only when
it changes other positions than the default rename; rope's only when rope's positions
differ from coderows' or coderows' suite changed: else it is the same as coderows').
Reported per project: positions both changed, positions only rope changed (coderows
missed them), positions only coderows changed (beyond rope: each listed with its line
for the report), whether `compileall` is clean after the coderows rename, and whether
the project's test suite gives every test the same outcome as on the untouched copy.

Each position only one tool changed is printed with why: a test failing at that line
after the other tool's rename only (the tool that left or changed it was wrong there), a
property's setter decorator, and what coderows' index resolves the name there to. Each
test whose outcome changes after coderows' rename is printed with its cause: a use
coderows listed as left alone on its traceback or in the test function ("told": the
agent was shown it), else where it fails; "suite changes told" counts the renames whose
every changed test was told (or failed where coderows warned that code outside the index
may call the old name: its class derives from classes outside the index, or the standard
library defines a method of that name and calls it by duck typing).

The suites run offline in a throwaway virtual environment (SUITE_VENV, created once with
the projects' test dependencies from the package index; neither flask nor werkzeug is
installed into it from there for the project under test: the copy's src/ comes first on
PYTHONPATH). Flask's suite takes seconds, werkzeug's about a minute (it starts real
development servers), each run once untouched and once after every rename.

Give it an empty database (--database-url, else an embedded one): a file whose content
is already in the database is not parsed again, so rows written by an older coderows
would be measured instead of the current code's.

Module-level variables (names bound by assignment at a module's top level) are sampled
apart (--variables per project): they have no definition rows; `coderows rename
pkg.mod.X` finds them in the module's source (edit/variables.py).
"""

from __future__ import annotations

import argparse
import ast
import io
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import tokenize
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass, field
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))

from bench import CACHE, add_json_argument, markdown_table, sdist, write_result  # noqa: E402

PROJECTS = (("werkzeug==3.1.9", "werkzeug-3.1.9"), ("flask==3.1.3", "flask-3.1.3"))
CODEROWS = str(Path(sys.executable).with_name("coderows"))
SUITE_VENV = CACHE / "suite-venv"
# The two projects' test dependencies and flask's runtime ones (pytest 9 dropped a name
# flask 3.1.3's tests import).
SUITE_REQUIREMENTS = (
    "pytest<9", "pytest-timeout", "asgiref", "greenlet", "python-dotenv", "ephemeral-port-reserve", "watchdog",
    "cryptography", "werkzeug>=3.1.0", "jinja2>=3.1.2", "itsdangerous>=2.2", "click>=8.1.3", "blinker>=1.9",
    "markupsafe>=2.1.1",
)
SUITE_TIMEOUT_S = 1800

Position = tuple[str, int, int]


@dataclass
class Trial:
    project: str
    full_name: str
    kind: str
    both: int = 0
    rope_only: list[str] = field(default_factory=list)
    coderows_only: list[str] = field(default_factory=list)
    compiles: bool = True
    suite: str = "not run"  # "as before", "not run", or the tests whose outcome changed
    rope_suite: str = "not run"  # the same after rope's rename, run when coderows' differs
    error: str = ""
    left_alone: set[tuple[str, int]] = field(default_factory=set)  # what coderows listed as left alone
    causes: list[str] = field(default_factory=list)  # per test whose outcome changed, why
    told: str = ""  # "n/m": tests whose cause coderows listed as left alone (or outside the repository)
    rope_compiles: bool = True
    # The third run: coderows rename --include-name-only (uses known by name only renamed
    # too when nothing else in the repository has the name).
    by_name: str = ""  # "renamed N lines by name only", "refused (why)", or "" (no such use)
    by_name_compiles: bool = True
    by_name_suite: str = "not run"

    @property
    def rope_as_before(self) -> bool:
        """rope's suite is run only when coderows' changes differ or fail: else the same."""
        return self.rope_suite == "as before" or (self.rope_suite == "not run" and self.suite == "as before")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=25, help="definitions per project (default 25)")
    parser.add_argument("--variables", type=int, default=5, help="module-level variables per project, besides (default 5)")
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--quick", action="store_true", help="5 definitions per project")
    parser.add_argument("--no-suite", action="append", default=[], metavar="PROJECT",
                        help="do not run this project's test suite (werkzeug or flask; repeatable)")
    parser.add_argument("--project", action="append", default=[], metavar="PROJECT",
                        help="rename in this project only (werkzeug or flask; repeatable; default both)")
    parser.add_argument("--database-url", default=None)
    add_json_argument(parser)
    args = parser.parse_args()
    count = 5 if args.quick else args.count
    variables = 1 if args.quick else args.variables
    try:
        import rope  # noqa: F401
    except ImportError:
        raise SystemExit("bench_rename needs rope: pip install rope (into this interpreter only)") from None
    url = args.database_url or _embedded_url()
    trials: list[Trial] = []
    with tempfile.TemporaryDirectory(prefix="coderows-bench-rename-") as scratch:
        for requirement, folder in PROJECTS:
            if args.project and requirement.split("==")[0] not in args.project:
                continue
            source = sdist(requirement, folder)
            with_suite = requirement.split("==")[0] not in args.no_suite
            trials.extend(run_project(source, Path(scratch), url, count, variables, args.seed, with_suite))
    columns, rows = summary(trials)
    print(markdown_table(columns, rows))
    details = print_details(trials)
    write_result(
        args.json, "rename", columns, rows,
        notes=[f"seed {args.seed}, {count} definitions per project", *details],
        trials=[[t.project, t.kind, t.full_name, t.both, len(t.rope_only), len(t.coderows_only), t.compiles, t.suite,
                 t.rope_suite, t.error, t.told, t.causes, t.by_name, t.by_name_compiles, t.by_name_suite,
                 t.rope_compiles]
                for t in trials],
    )


def _embedded_url() -> str:
    from coderows.db.embedded import start

    return start()


def run_project(source: Path, scratch: Path, url: str, count: int, variables: int, seed: int, with_suite: bool) -> list[Trial]:
    from coderows.db.connection import connect
    from coderows.indexer.pipeline import index_repository

    reference = scratch / f"{source.name}-reference"
    shutil.copytree(source, reference)
    with connect(url, autocommit=True) as conn:
        index_repository(conn, reference, jobs=1)
        picks = pick_definitions(conn, reference, count, seed) + pick_variables(conn, reference, variables, seed)
    baseline = run_suite(fresh_copy(reference, scratch / "untouched")) if with_suite else None
    if baseline is not None:
        counts = {outcome: sum(o == outcome for o in baseline.values()) for outcome in sorted(set(baseline.values()))}
        print(f"{source.name} untouched: {len(baseline)} tests, " + ", ".join(f"{n} {o}" for o, n in counts.items()), flush=True)
    trials = []
    for full_name, kind, path, def_line, name in picks:
        trial = Trial(source.name, full_name, kind)
        try:
            rope_copy = fresh_copy(reference, scratch / "rope")
            ours = fresh_copy(reference, scratch / "coderows")
            # A method is renamed with the methods of its hierarchy by both tools (rope's
            # in_hierarchy, coderows' --include-overrides): renaming a base method alone
            # cuts it from its overrides, and the suite fails for either tool.
            hierarchy = kind == "method"
            rope_rename(rope_copy, path, def_line, name, name + "_renamed", in_hierarchy=hierarchy)
            with connect(url, autocommit=True) as conn:
                index_repository(conn, ours, jobs=1)  # the same root every trial: an incremental run
            done = subprocess.run(
                [CODEROWS, "rename", "--database-url", url, "--repo", str(ours.resolve()), full_name, name + "_renamed"]
                + (["--include-overrides"] if hierarchy else []),
                capture_output=True, text=True, timeout=600, cwd=ours,
            )
            if done.returncode:
                trial.error = done.stderr.strip()[:200]
            trial.left_alone = left_alone(done.stdout)
            trial.rope_compiles = compiles(rope_copy)
            rope_positions = changed_positions(reference, rope_copy)
            our_positions = changed_positions(reference, ours)
            trial.both = len(rope_positions & our_positions)
            rope_only, coderows_only = sorted(rope_positions - our_positions), sorted(our_positions - rope_positions)
            trial.compiles = compiles(ours)
            ours_failing: dict[str, list[tuple[str, int]]] = {}
            rope_failing: dict[str, list[tuple[str, int]]] = {}
            if baseline is not None:
                texts: dict[str, str] = {}
                after = run_suite(ours, texts)
                trial.suite = compare_suite(baseline, after)
                ours_failing = newly_failing(baseline, after, texts)
                if trial.suite != "as before" or rope_only or coderows_only:  # rope's rename: the same tests?
                    rope_texts: dict[str, str] = {}
                    rope_after = run_suite(rope_copy, rope_texts)
                    trial.rope_suite = compare_suite(baseline, rope_after)
                    rope_failing = newly_failing(baseline, rope_after, rope_texts)
                if trial.suite != "as before":
                    explain(trial, baseline, after, texts, done.stdout, reference)
            by_name_only(trial, reference, ours, url, full_name, name, hierarchy, our_positions, baseline)
            with connect(url, autocommit=True) as conn:
                trial.rope_only = [describe(reference, p) + "\n      why: " + why_rope_only(conn, reference, p, rope_failing, ours_failing)
                                   for p in rope_only]
                trial.coderows_only = [
                    describe(reference, p) + "\n      why: " + why_coderows_only(conn, reference, p, rope_failing, ours_failing)
                    for p in coderows_only
                ]
        except Exception as error:  # a trial that fails is reported, the bench goes on
            trial.error = f"{type(error).__name__}: {str(error)[:200]}"
        trials.append(trial)
        print(
            f"{trial.project} {trial.full_name}: {trial.both} both, {len(trial.rope_only)} only rope, "
            f"{len(trial.coderows_only)} only coderows, compiles {trial.compiles}, suite {trial.suite}"
            + (f" (after rope: {trial.rope_suite})" if trial.rope_suite != "not run" else "")
            + (f"; include_name_only: {trial.by_name}, compiles {trial.by_name_compiles}, suite {trial.by_name_suite}"
               if trial.by_name else "") + f" {trial.error}",
            flush=True,
        )
    return trials


def compiles(root: Path) -> bool:
    return subprocess.run([sys.executable, "-m", "compileall", "-q", str(root)], capture_output=True, timeout=600).returncode == 0


BY_NAME_HEADING = "renamed by name only"
BY_NAME_REFUSED = "not renamed by name only: "


def by_name_only(
    trial: Trial, reference: Path, ours: Path, url: str, full_name: str, name: str, hierarchy: bool,
    default_positions: set[Position], baseline: dict[str, str] | None,
) -> None:
    """The third run: the rename again on a fresh copy with --include-name-only. When it
    changes the same positions as the default rename, its compileall and suite are the
    default's (not run again)."""
    from coderows.db.connection import connect
    from coderows.indexer.pipeline import index_repository

    fresh_copy(reference, ours)
    with connect(url, autocommit=True) as conn:
        index_repository(conn, ours, jobs=1)
    done = subprocess.run(
        [CODEROWS, "rename", "--database-url", url, "--repo", str(ours.resolve()), full_name, name + "_renamed",
         "--include-name-only"] + (["--include-overrides"] if hierarchy else []),
        capture_output=True, text=True, timeout=600, cwd=ours,
    )
    trial.by_name = by_name_outcome(done.stdout)
    if done.returncode:
        trial.by_name = "error: " + done.stderr.strip()[:200]
    if changed_positions(reference, ours) == default_positions:
        trial.by_name_compiles, trial.by_name_suite = trial.compiles, trial.suite
        return
    trial.by_name_compiles = compiles(ours)
    if baseline is not None:
        trial.by_name_suite = compare_suite(baseline, run_suite(ours))


def by_name_outcome(answer: str) -> str:
    """What `coderows rename --include-name-only` said of the uses known by name only."""
    lines = answer.splitlines()
    refused = next((line for line in lines if line.startswith(BY_NAME_REFUSED)), None)
    if refused is not None:
        return "refused (" + refused.removeprefix(BY_NAME_REFUSED)[:160] + ")"
    start = next((i for i, line in enumerate(lines) if line.startswith(BY_NAME_HEADING)), None)
    if start is None:
        return ""
    rest = lines[start + 1:]
    end = next((i for i, line in enumerate(rest) if not line.startswith("  ") and not line.endswith(".py")), len(rest))
    return f"renamed {sum(line.startswith('  ') for line in rest[:end])} lines by name only"


def suite_python() -> Path:
    """The throwaway environment's interpreter, created once with SUITE_REQUIREMENTS."""
    python = SUITE_VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(SUITE_VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", *SUITE_REQUIREMENTS], check=True)
    return python


def run_suite(root: Path, texts: dict[str, str] | None = None) -> dict[str, str]:
    """Each test of the project's suite (tests/) run on `root`, its src/ first on the
    path: test id -> passed | failed | error | skipped; `texts` gets each failed or
    erroring test's report (its traceback)."""
    report = root.parent / f"{root.name}-suite.xml"
    report.unlink(missing_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "CODEROWS"))}
    env |= {"PYTHONPATH": str(root / "src"), "PYTHONDONTWRITEBYTECODE": "1"}
    subprocess.run(
        [str(suite_python()), "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junit-xml={report}",
         "-o", "junit_logging=all", "tests"],
        cwd=root, env=env, capture_output=True, timeout=SUITE_TIMEOUT_S,
    )
    if not report.exists():
        return {"(the suite did not run)": "error"}
    outcomes = {}
    for case in ElementTree.parse(report).iter("testcase"):
        found = {child.tag: child for child in case}
        outcome = next((tag for tag in ("error", "failure", "skipped") if tag in found), "passed")
        test = f"{case.get('classname')}::{case.get('name')}".replace(str(root), "<root>")  # (paths as parameters)
        outcomes[test] = outcome.replace("failure", "failed")
        if texts is not None and outcome in ("error", "failure"):
            # The traceback, then what the test logged: an exception the project caught
            # and logged (flask answers 500) names the frames the assertion cannot.
            logged = "\n".join(found[tag].text or "" for tag in ("system-out", "system-err") if tag in found)
            texts[test] = "\n".join([logged_frames(logged, root), found[outcome].text or "",
                                     found[outcome].get("message") or ""])
    return outcomes


def compare_suite(before: dict[str, str], after: dict[str, str]) -> str:
    """'as before' when every test has the same outcome, else the tests that changed."""
    changed = sorted(
        f"{test}: {before.get(test, 'absent')} -> {after.get(test, 'absent')}"
        for test in before.keys() | after.keys() if before.get(test) != after.get(test)
    )
    if not changed:
        return "as before"
    return f"{len(changed)} tests changed outcome: " + "; ".join(changed[:3]) + ("; ..." if len(changed) > 3 else "")


# A frame of a pytest traceback: "src/flask/app.py:123: in wsgi_app", "tests/t.py:9: AttributeError".
FRAME = re.compile(r"^(\S+?\.py):(\d+): ", re.MULTILINE)
# What coderows says about a method whose class derives from a class outside the index
# (edit/tools.py rename_answer): code there may call the method by its old name.
OUTSIDE_WARNING = "derives from classes outside the index"
PROTOCOL_WARNING = "the standard library defines"


LOGGED_FRAME = re.compile(r'^\s*File "([^"]+\.py)", line (\d+)', re.MULTILINE)


def logged_frames(text: str, root: Path) -> str:
    """The frames of tracebacks in logged text, as pytest writes frames ("path:line: "),
    paths in the copy relative to it: they are the project's frames. Logged tracebacks
    are put before the failure's own, whose innermost frame stays last."""
    lines = []
    for path, line in LOGGED_FRAME.findall(text):
        inside = Path(path).is_relative_to(root) if Path(path).is_absolute() else False
        lines.append(f"{Path(path).relative_to(root) if inside else '/' + path.lstrip('/')}:{line}: logged")
    return "\n".join(lines)


SETTER = re.compile(r"@\w+\.(setter|deleter|getter)\b")


def newly_failing(before: dict[str, str], after: dict[str, str], texts: dict[str, str]) -> dict[str, list[tuple[str, int]]]:
    """The tests that pass untouched and fail or error after a rename: the frames of each."""
    return {
        test: [(path, int(line)) for path, line in FRAME.findall(texts.get(test, ""))]
        for test, outcome in after.items() if outcome in ("failed", "error") and before.get(test) == "passed"
    }


def failing_at(position: Position, failing: dict[str, list[tuple[str, int]]], other: dict[str, list[tuple[str, int]]]) -> list[str]:
    """Tests failing after one tool's rename only with a frame at the position's line."""
    return sorted(test for test, frames in failing.items() if (position[0], position[1]) in frames and test not in other)


def resolution_at(conn, reference: Path, position: Position) -> str:
    """What coderows' index of the untouched copy says the name at the position is."""
    path, line, col = position
    row = conn.execute(
        """
        SELECT u.target, u.target_full_name FROM usages u JOIN repos r ON r.id = u.repo_id
        WHERE r.root = %s AND u.path = %s AND u.line = %s AND u.col = %s
        """,
        [str(reference.resolve()), path, line, col + 1],
    ).fetchone()
    if row is None:
        return "coderows has no use at this position"
    target, full_name = row
    return f"coderows resolves it to {full_name} ({target})" if full_name else f"coderows leaves it unresolved ({target})"


def why_rope_only(conn, reference: Path, position: Position, rope_failing: dict, ours_failing: dict) -> str:
    """Why coderows did not change a position rope changed: a test failing there after
    rope's rename only shows rope was wrong; else what coderows knows of the name."""
    tests = failing_at(position, rope_failing, ours_failing)
    if tests:
        return f"rope is wrong here: {len(tests)} tests fail at this line after rope's rename only ({tests[0]}); " + \
            resolution_at(conn, reference, position)
    return resolution_at(conn, reference, position)


def why_coderows_only(conn, reference: Path, position: Position, rope_failing: dict, ours_failing: dict) -> str:
    """Why coderows changed a position rope left: rope's rename fails a test there; a
    property's setter decorator; or the use coderows resolved to the renamed definition."""
    tests = failing_at(position, rope_failing, ours_failing)
    text = (reference / position[0]).read_text(errors="replace").splitlines()[position[1] - 1]
    reasons = []
    if tests:
        reasons.append(f"rope leaves it and {len(tests)} tests fail at this line after rope's rename only ({tests[0]})")
    if text[position[2]:position[2] + 1] in ("'", '"'):
        within = sorted(test for test in rope_failing if test not in ours_failing and position[:2] in test_lines(reference, test))
        reasons.append(
            "a string naming the renamed definition through its class or module, or by its full name (patch.object(C, \"name\"))"
            + (f": rope leaves it and {len(within)} tests holding it fail after rope's rename only ({within[0]})" if within else "")
        )
        return "; ".join(reasons)
    if SETTER.search(text):
        reasons.append("the decorator names the property renamed (both tools rename its defs): left as it was, it names nothing")
    reasons.append(resolution_at(conn, reference, position))
    return "; ".join(reasons)


def left_alone(answer: str) -> set[tuple[str, int]]:
    """(path, line) of every use `coderows rename` listed as left alone."""
    listed: set[tuple[str, int]] = set()
    inside = False
    for line in answer.splitlines():
        if line.startswith("left alone"):
            inside = True
        elif not line.startswith("  "):
            inside = False
        elif inside and (found := re.match(r"  (\S+?\.py):(\d+): ", line)):
            listed.add((found[1], int(found[2])))
    return listed


def explain(trial: Trial, before: dict[str, str], after: dict[str, str], texts: dict[str, str], answer: str, reference: Path) -> None:
    """Why each test whose outcome changed did: the frames of its traceback in the
    project's code, and whether coderows listed one of them as left alone, or one of the
    lines of the test function itself (a decorator, a call that did not raise); failing
    outside the repository or on an assertion with no such line, whether coderows warned
    that code outside the index may call the old name (bases outside the index, or a
    method name the standard library defines)."""
    changed = sorted(test for test in before.keys() | after.keys() if before.get(test) != after.get(test))
    warned = OUTSIDE_WARNING in answer or PROTOCOL_WARNING in answer
    told = 0
    for test in changed:
        frames = [(path, int(line)) for path, line in FRAME.findall(texts.get(test, ""))]
        ours = [frame for frame in frames if not frame[0].startswith(("/", ".."))]
        listed = [frame for frame in ours if frame in trial.left_alone]
        in_test = sorted(trial.left_alone & test_lines(reference, test))
        if listed or in_test:
            told += 1
            cause = "listed as left alone: " + ", ".join(f"{p}:{n}" for p, n in (listed[-2:] or in_test[:2]))
        elif warned:
            told += 1
            where = frames[-1] if frames else ("?", 0)
            cause = (f"fails at {'/'.join(Path(where[0]).parts[-2:])}:{where[1]}; no listed use on the way: "
                     "coderows warned that code outside the index may call the old name")
        elif frames:
            cause = "NOT TOLD: fails at " + ", ".join(f"{'/'.join(Path(p).parts[-2:])}:{n}" for p, n in frames[-2:])
        else:
            cause = "NOT TOLD: no traceback (" + texts.get(test, after.get(test, "absent")).strip()[:80] + ")"
        trial.causes.append(f"{test}: {cause}")
    trial.told = f"{told}/{len(changed)}"


def test_lines(reference: Path, test: str) -> set[tuple[str, int]]:
    """(path, line) of every line of a test's function: "tests.test_cli::test_x[a]"
    or "tests.test_x.TestClass::test_y" in the untouched copy."""
    module, _, name = test.partition("::")
    name = name.split("[", 1)[0]
    parts = module.split(".")
    for end in range(len(parts), 0, -1):
        path = Path(*parts[:end]).with_suffix(".py")
        if (reference / path).exists():
            break
    else:
        return set()
    try:
        tree = ast.parse((reference / path).read_text())
    except (SyntaxError, ValueError):
        return set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == name and node.end_lineno:
            first = min([node.lineno, *(d.lineno for d in node.decorator_list)])  # @patch.object(C, "name")
            return {(str(path), line) for line in range(first, node.end_lineno + 1)}
    return set()


def pick_definitions(conn, root: Path, count: int, seed: int) -> list[tuple[str, str, str, int, str]]:
    """Seeded-random non-dunder, non-local definitions of the project's own package code."""
    rows = conn.execute(
        """
        SELECT s.full_name, s.kind, s.path, s.def_line, s.name FROM symbols s JOIN repos r ON r.id = s.repo_id
        WHERE r.root = %s AND s.path LIKE 'src/%%' AND s.qualname NOT LIKE '%%<locals>%%' AND s.name NOT LIKE '\\_\\_%%'
        ORDER BY s.full_name, s.path, s.def_line
        """,
        [str(root.resolve())],
    ).fetchall()
    unique: dict[str, tuple[str, str, str, int, str]] = {}
    for row in rows:
        unique.setdefault(row[0], row)
    chosen = sorted(unique.values())
    random.Random(seed).shuffle(chosen)
    return chosen[:count]


def pick_variables(conn, root: Path, count: int, seed: int) -> list[tuple[str, str, str, int, str]]:
    """Seeded-random non-dunder module-level variables of the project's package code
    (names bound by assignment at a module's top level: no definition rows)."""
    from coderows.edit.variables import top_level_bindings

    rows = conn.execute(
        """
        SELECT m.name, m.path, m.source FROM modules m JOIN repos r ON r.id = m.repo_id
        WHERE r.root = %s AND m.path LIKE 'src/%%' ORDER BY m.path
        """,
        [str(root.resolve())],
    ).fetchall()
    found = []
    for module, path, source in rows:
        bindings = top_level_bindings(ast.parse(source))
        found.extend((f"{module}.{name}", "variable", path, line, name)
                     for name, line in sorted(bindings.items()) if not name.startswith("__"))
    random.Random(seed).shuffle(found)
    return found[:count]


def fresh_copy(reference: Path, place: Path) -> Path:
    shutil.rmtree(place, ignore_errors=True)
    shutil.copytree(reference, place)
    return place


def rope_rename(root: Path, path: str, def_line: int, old: str, new: str, *, in_hierarchy: bool) -> None:
    from rope.base.project import Project
    from rope.refactor.rename import Rename

    text = (root / path).read_text()
    lines = text.splitlines(keepends=True)
    line = lines[def_line - 1]
    found = re.search(rf"\b(?:def|class)\s+({re.escape(old)})\b", line) or re.search(rf"(?<![\w.])({re.escape(old)})\b", line)
    assert found is not None, f"{path}:{def_line} has no definition of {old}"
    offset = sum(len(x) for x in lines[: def_line - 1]) + found.start(1)
    project = Project(str(root), ropefolder=None)
    try:
        resource = project.get_resource(path)
        project.do(Rename(project, resource, offset).get_changes(new, in_hierarchy=in_hierarchy))
    finally:
        project.close()


def changed_positions(reference: Path, renamed: Path) -> set[Position]:
    """(path, line, col) of every token whose text differs between the two trees."""
    changed: set[Position] = set()
    for new_path in renamed.rglob("*.py"):
        relative = new_path.relative_to(renamed)
        old_path = reference / relative
        if not old_path.exists():
            continue
        old, new = old_path.read_bytes(), new_path.read_bytes()
        if old == new:
            continue
        old_tokens, new_tokens = tokens(old), tokens(new)
        if len(old_tokens) != len(new_tokens):
            changed.add((str(relative), 0, 0))  # not a rename-shaped change: counted once
            continue
        for (start, text), (_, other) in zip(old_tokens, new_tokens, strict=True):
            if text != other:
                changed.add((str(relative), *start))
    return changed


def tokens(data: bytes) -> list[tuple[tuple[int, int], str]]:
    try:
        return [(t.start, t.string) for t in tokenize.tokenize(io.BytesIO(data).readline) if t.type in (tokenize.NAME, tokenize.STRING)]
    except (tokenize.TokenError, SyntaxError):
        return []


def describe(reference: Path, position: Position) -> str:
    path, line, col = position
    if line == 0:
        return f"{path}: changed beyond tokens"
    text = (reference / path).read_text(errors="replace").splitlines()[line - 1].strip()
    return f"{path}:{line}:{col}: {text[:100]}"


def summary(trials: list[Trial]) -> tuple[list[str], list[list[object]]]:
    columns = [
        "project", "renames", "positions both", "only rope", "only coderows", "compileall clean",
        "suite as before", "suite changes told", "errors",
        "include_name_only: renamed / refused", "include_name_only: compileall clean", "include_name_only: suite as before",
        "rope: compileall clean", "rope: suite as before",
    ]
    rows: list[list[object]] = []
    for project in dict.fromkeys(t.project for t in trials):
        mine = [t for t in trials if t.project == project]
        ran = [t for t in mine if t.suite != "not run"]
        rows.append([
            project, len(mine), sum(t.both for t in mine), sum(len(t.rope_only) for t in mine),
            sum(len(t.coderows_only) for t in mine), f"{sum(t.compiles for t in mine)}/{len(mine)}",
            f"{sum(t.suite == 'as before' for t in ran)}/{len(ran)}" if ran else "not run",
            told_renames(ran), sum(bool(t.error) for t in mine),
            f"{sum(t.by_name.startswith('renamed') for t in mine)} / {sum(t.by_name.startswith('refused') for t in mine)}",
            f"{sum(t.by_name_compiles for t in mine)}/{len(mine)}",
            f"{sum(t.by_name_suite == 'as before' for t in ran)}/{len(ran)}" if ran else "not run",
            f"{sum(t.rope_compiles for t in mine)}/{len(mine)}",
            f"{sum(t.rope_as_before for t in ran)}/{len(ran)}" if ran else "not run",
        ])
    return columns, rows


def told_renames(ran: list[Trial]) -> str:
    """Renames whose every changed test has a cause coderows told, of those that changed any."""
    changed = [t for t in ran if t.told]
    return f"{sum(t.told.split('/')[0] == t.told.split('/')[1] for t in changed)}/{len(changed)}" if changed else "-"


def print_details(trials: list[Trial]) -> list[str]:
    """Every trial with a difference, an error or a changed suite, printed; the lines."""
    lines = []
    for trial in trials:
        if trial.rope_only or trial.coderows_only or trial.error or trial.suite not in ("as before", "not run") or trial.by_name:
            lines.append(f"{trial.project} {trial.kind} {trial.full_name}: {trial.error}".rstrip(": "))
            lines.extend(f"  only rope:     {line}" for line in trial.rope_only)
            lines.extend(f"  only coderows: {line}" for line in trial.coderows_only)
            if trial.suite not in ("as before", "not run"):
                lines.append(f"  suite after coderows: {trial.suite}")
                lines.append(f"  suite after rope:     {trial.rope_suite}")
                lines.append(f"  tests whose cause coderows told: {trial.told}")
                by_cause: dict[str, list[str]] = {}
                for test, cause in (c.split(": ", 1) for c in trial.causes):
                    by_cause.setdefault(cause, []).append(test)
                lines.extend(f"    {len(tests)} ({tests[0]}{', ...' if len(tests) > 1 else ''}): {cause}"
                             for cause, tests in by_cause.items())
            if trial.by_name:
                lines.append(f"  include_name_only: {trial.by_name}; compileall clean {trial.by_name_compiles}; "
                             f"suite {trial.by_name_suite}")
    print("\n".join(lines))
    return lines


if __name__ == "__main__":
    main()
