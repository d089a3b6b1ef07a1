"""Find the Python files of one repository root: the first stage of discover -> parse -> load.

A file is listed when it is a regular file named ``*.py`` somewhere under the root and
nothing below rules it out (README.md, "What is indexed"):

- Folders named in ``ALWAYS_SKIPPED_DIRS`` (``.git``, ``__pycache__``, ``site-packages``,
  ``node_modules``, VCS folders and tool caches) are never entered.
- A virtualenv, i.e. a folder holding a ``pyvenv.cfg``, is never entered. A folder merely
  *named* ``venv`` is walked like any other: the stdlib has a real ``venv`` package. The root
  itself is always walked, even when it holds a ``pyvenv.cfg`` (``python -m venv .``): the
  user asked for it, and its ``lib/.../site-packages`` is skipped by name anyway.
- ``.gitignore`` files at every level, with git's semantics: patterns are relative to the
  folder holding the file, a deeper file overrides a shallower one, within one file the last
  matching pattern wins (``!`` re-includes), a trailing ``/`` matches folders only, and a
  pattern speaks only about the path it names. An ignored folder is pruned, so nothing
  inside it can be re-included and its own ``.gitignore`` is never read.
  ``.git/info/exclude`` applies from the root below every ``.gitignore``.
  ``build/`` and ``dist/`` are skipped only when such a rule says so, never by name.
- ``excludes`` (``--exclude GLOB``): gitignore-style patterns relative to the root, checked
  before everything else. They only ever exclude; no ``.gitignore`` can bring a path back.
- Symlinks are followed only when the resolved target lies inside the root, is not itself
  ignored, and (for a folder) is not one of the folders already being walked on the way
  down, which is what makes a loop terminate. A link to a folder that is walked anyway is
  followed, so its files are also listed under the link's path. Dangling links and links
  leaving the root are skipped silently. Rules are matched against the path as reached
  (the link's path), like everything else.
- Only regular files: a FIFO or a folder called ``x.py`` is not listed (reading a FIFO
  would block the parser). Unreadable folders and files that vanish while we look are
  skipped, not fatal; an unreadable root is an error.
- Ignore files (``.gitignore``, ``.git/info/exclude``) and a ``.git`` pointer file are read
  only when they are regular files of at most ``MAX_RULE_FILE_BYTES`` (1 MiB), and a
  ``.gitignore`` only when its real path lies inside the root (files.read_file); anything
  else (a FIFO, a link to ``/dev/zero``, a huge file) is skipped with a logged warning,
  as if it were not there. Nothing the walk does can block or read without bound.

``IgnoreRules.is_ignored`` answers the same question for one path (a watcher's event)
and caches each folder's parsed ``.gitignore``; ``discover`` walks with the same rules.

pathspec compiles the patterns, but ``GitIgnoreSpec.check_file`` is built to judge whole
file paths: it lets a pattern match a path through a folder above it (``a/b/`` "matches"
``a/b/c.py``) and, asked about a folder, answers for the folder's contents. Pruning on its
answers drops files git keeps: with ``*`` + ``!*/`` + ``!*.py`` every folder looks
ignored, ``gen/**`` makes ``gen/`` itself ignored so ``!gen/keep.py`` cannot work, and it
reads ``a/**/`` as ``a/``. So we re-derive from each pattern's regex the forms that match
only the path the pattern names (see ``_rule``) and pick the last matching pattern
ourselves. This depends on the regex shape of pathspec 1.x; a shape we do not recognise
raises instead of silently changing which files are indexed.
"""

from __future__ import annotations

import logging
import os
import re
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pathspec import GitIgnoreSpec, RegexPattern
from pathspec.patterns.gitignore import GitIgnorePatternError

from coderows.common.files import NotRegularFileError, UnsafeFileError, read_file

__all__ = ["ALWAYS_SKIPPED_DIRS", "IgnoreRules", "SourceFile", "discover"]

log = logging.getLogger(__name__)

ALWAYS_SKIPPED_DIRS: frozenset[str] = frozenset(
    {
        ".git",
        ".hg",
        ".svn",
        "__pycache__",
        "site-packages",
        "node_modules",
        ".tox",
        ".nox",
        ".mypy_cache",
        ".pytest_cache",
        ".ruff_cache",
    }
)

VENV_MARKER = "pyvenv.cfg"
GITIGNORE = ".gitignore"
PY_SUFFIX = ".py"
# Larger .gitignore, .git/info/exclude or .git pointer files are skipped with a warning:
# real ones are a few KB (CPython's is 4 KB); a bound keeps a hostile one from using
# the memory and time of every walk.
MAX_RULE_FILE_BYTES = 1024 * 1024

# pathspec marks "the pattern matched a folder, the rest of the path lies inside it" with
# this group; it is the part of its regexes that does not match git's per-path semantics.
_DIR_MARK = "(?P<ps_d>/)"
_NEVER = "(?!)"
# pathspec's prefix for a pattern without a slash, which names a path at any depth
_ANY_FOLDERS = "^(?:.+/)?"


@dataclass(frozen=True, slots=True)
class SourceFile:
    """One file to index, with what a later run needs to tell whether it changed."""

    path: str  # POSIX path relative to the root, e.g. "pkg/mod.py"
    size: int  # st_size
    mtime_ns: int  # st_mtime_ns


class _PatternList:
    """The patterns of one ignore file (or of ``--exclude``), each asked about one path only.

    ``verdict`` is git's answer at this level: True (ignored), False (re-included by a
    ``!`` pattern) or None (no pattern names the path, ask the next level).
    """

    __slots__ = ("_includes", "_name_itself", "_name_as_dir", "_path_itself", "_path_as_dir")

    def __init__(self, rules: Sequence[_Rule]) -> None:
        self._includes = [rule.include for rule in rules]
        numbered = list(enumerate(rules))
        self._name_itself = _Alternation([(i, r.itself) for i, r in numbered if r.name_only and r.itself])
        self._name_as_dir = _Alternation([(i, r.as_dir) for i, r in numbered if r.name_only and r.as_dir])
        self._path_itself = _Alternation([(i, r.itself) for i, r in numbered if not r.name_only and r.itself])
        self._path_as_dir = _Alternation([(i, r.as_dir) for i, r in numbered if not r.name_only and r.as_dir])

    @classmethod
    def from_lines(cls, lines: Sequence[str], source: str, *, strict: bool) -> _PatternList | None:
        """None when no line holds a pattern. `strict` raises ValueError on an invalid
        pattern (a user's --exclude); otherwise the line is dropped, as git does."""
        patterns: list[RegexPattern]
        try:
            patterns = list(GitIgnoreSpec.from_lines(lines).patterns)
        except GitIgnorePatternError as error:
            if strict:
                raise ValueError(f"invalid pattern in {source}: {error}") from error
            patterns = _patterns_of_valid_lines(lines, source)
        rules = [_rule(*_line_and_regex(p), p.include) for p in patterns if p.include is not None]
        return cls(rules) if rules else None

    def verdict(self, path: str, is_dir: bool) -> bool | None:
        name = path.rpartition("/")[2]
        winner = max(self._name_itself.winner(name), self._path_itself.winner(path))
        if is_dir:
            # a folder pattern ("build/") only matches with the folder's trailing slash
            winner = max(winner, self._name_as_dir.winner(name + "/"), self._path_as_dir.winner(path + "/"))
        return None if winner < 0 else self._includes[winner]


class _Alternation:
    """Several patterns in one regex, tried last first, so the first branch that matches is
    the pattern git would pick; each branch ends in an empty group telling which one it was.
    One C-level match instead of a Python loop over a 100-line .gitignore for every path."""

    __slots__ = ("_regex", "_order")

    def __init__(self, variants: list[tuple[int, str]]) -> None:
        self._order = tuple(index for index, _ in reversed(variants))
        self._regex = re.compile("|".join(f"(?:{text})()" for _, text in reversed(variants))) if variants else None
        if self._regex is not None and self._regex.groups != len(self._order):
            raise RuntimeError("unexpected capture groups in pathspec regexes: discover.py needs an update")

    def winner(self, text: str) -> int:
        """The index of the last pattern matching `text`, -1 when none does."""
        if self._regex is None:
            return -1
        match = self._regex.match(text)
        if match is None or match.lastindex is None:
            return -1
        return self._order[match.lastindex - 1]


@dataclass(frozen=True, slots=True)
class _Rule:
    """One pattern line as regexes (for re.match) that only match paths it names itself."""

    include: bool  # True ignores, False ("!") re-includes
    itself: str | None  # matches a file or folder path the pattern names
    as_dir: str | None  # matches "folder/" for a folder the pattern names as a folder
    name_only: bool  # both look at the last path component only


def _rule(line: str, text: str, include: bool) -> _Rule:
    """Re-derive one pathspec regex so that it never matches a path merely because the path
    lies inside a folder the pattern names (git handles that by pruning, not matching)."""
    below = _subfolders_regex(line)
    if below is not None:
        # "a/**/" names the folders below a/; as_dir sees "folder/", so one more character
        return _anchored(_Rule(include, None, below + "[^/]", name_only=False))
    if _DIR_MARK in text:
        itself, as_dir = text.replace(_DIR_MARK, _NEVER), text.replace(_DIR_MARK, "/\\Z")
    else:
        itself, as_dir = text, None
    if "(?P<" in itself or (as_dir is not None and "(?P<" in as_dir):
        raise RuntimeError(f"unexpected pathspec regex {text!r}: discover.py needs an update")
    rest = itself.removeprefix(_ANY_FOLDERS)
    if rest != itself and "/" not in rest.replace("[^/]", ""):
        # a pattern without a slash names a path at any depth by its last component: matching
        # just that name is ~40x faster than letting the regex backtrack over the whole path
        return _Rule(include, rest, as_dir.removeprefix(_ANY_FOLDERS) if as_dir else None, name_only=True)
    return _anchored(_Rule(include, itself, as_dir, name_only=False))


def _subfolders_regex(line: str) -> str | None:
    """For "a/**/", the regex of "a/**" (ending in "a/"), else None. pathspec reads "a/**/"
    as "a/", but git ignores only the folders below a/, not a/ itself, so "!a/**" can still
    bring a's own files back."""
    pattern = line.rstrip()
    if not pattern.endswith("/**/") or pattern.removeprefix("!") == "/**/":
        return None
    _, text = _line_and_regex(GitIgnoreSpec.from_lines([pattern[:-1]]).patterns[0])
    return text if text.startswith("^") and text.endswith("/") else None


def _anchored(rule: _Rule) -> _Rule:
    """pathspec's unanchored regexes ("." for "*") are meant for re.search; we use re.match."""
    def anchor(text: str | None) -> str | None:
        return text if text is None or text.startswith("^") else "(?s:.*?)" + text

    return _Rule(rule.include, anchor(rule.itself), anchor(rule.as_dir), rule.name_only)


def _line_and_regex(pattern: RegexPattern) -> tuple[str, str]:
    """An including or excluding pattern read from a line of text: (the line, its regex)."""
    regex = pattern.regex
    if not isinstance(pattern.pattern, str) or regex is None or not isinstance(regex.pattern, str):
        raise RuntimeError(f"unexpected pattern from pathspec: {pattern!r}: discover.py needs an update")
    return pattern.pattern, regex.pattern


def _patterns_of_valid_lines(lines: Sequence[str], source: str) -> list[RegexPattern]:
    patterns: list[RegexPattern] = []
    for number, line in enumerate(lines, start=1):
        try:
            patterns.extend(GitIgnoreSpec.from_lines([line]).patterns)
        except GitIgnorePatternError as error:
            log.debug("%s:%d: pattern dropped: %s", source, number, error)
    return patterns


@dataclass(frozen=True, slots=True)
class _Level:
    """One ignore file's patterns, anchored at the folder holding it."""

    offset: int  # len("a/b/") for a/b/.gitignore: path[offset:] is relative to that folder
    patterns: _PatternList


@dataclass(frozen=True, slots=True)
class _Folder:
    """A folder waiting to be listed, and how the walk reached it."""

    path: str  # absolute path as reached (through followed links)
    rel: str  # POSIX path relative to the root, "" for the root
    real: str  # resolved path, to refuse following a link into a folder we are inside
    inherited: tuple[_Level, ...]  # levels of the folders above, deepest first
    parent: _Folder | None

    def passes_through(self, real: str) -> bool:
        """Whether the walk down to this folder (itself included) went through `real`."""
        folder: _Folder | None = self
        while folder is not None:
            if folder.real == real:
                return True
            folder = folder.parent
        return False


class IgnoreRules:
    """Everything that decides whether a path under `root` is ignored."""

    def __init__(self, root: Path, excludes: Sequence[str] = ()) -> None:
        self.root = root
        self._root = os.fspath(root)
        # every absolute path below the root starts with this ("" when the root is "/")
        self._prefix = self._root.rstrip("/")
        if isinstance(excludes, str):
            # a lone string would otherwise be read as one pattern per character
            raise TypeError("excludes must be a sequence of patterns, not a str")
        self._excludes = _PatternList.from_lines(list(excludes), "--exclude", strict=True)
        self._gitignores: dict[str, _PatternList | None] = {}
        self._info_exclude: _Level | None = None
        self._info_exclude_loaded = False
        self._saw_link = False  # the last walk met a symbolic link

    def is_ignored(self, rel_path: str, is_dir: bool) -> bool:
        """True if the path, or any folder above it, is ignored by the rules discover() applies.

        Says nothing about the file type or name: a watcher still filters on ``*.py``.
        Symlinks are not resolved; the path is judged as written.
        """
        parts = _split_relative(rel_path)
        levels = self._root_levels(None)
        for depth, name in enumerate(parts, start=1):
            rel = "/".join(parts[:depth])
            is_last = depth == len(parts)
            entry_is_dir = is_dir or not is_last
            if entry_is_dir and name in ALWAYS_SKIPPED_DIRS:
                return True
            if self._matches(rel, entry_is_dir, levels):
                return True
            if entry_is_dir and os.path.lexists(f"{self._prefix}/{rel}/{VENV_MARKER}"):
                return True
            if not is_last:
                levels = self._levels_below(rel, levels, None)
        return False

    def forget(self, rel_dir: str) -> None:
        """Drop the cached .gitignore of one folder ("" = the root), e.g. after it changed.
        Forgetting the root also re-reads .git/info/exclude on next use."""
        key = "/".join(_split_relative(rel_dir))
        self._gitignores.pop(key, None)
        if not key:
            self._info_exclude, self._info_exclude_loaded = None, False

    def has_links(self) -> bool:
        """Whether a walk meets a symbolic link anywhere it goes (followed or not). Through
        a link, one file can be listed under two paths, or a path can start or stop being
        listed when something else changes (a dangling link's target appears): a watcher
        cannot map such changes to paths from events, so it re-walks instead."""
        self._walk()
        return self._saw_link

    def _walk(self) -> list[SourceFile]:
        """Every listed file, in walk order (discover() sorts). Iterative: deep trees must
        not hit the recursion limit."""
        found: list[SourceFile] = []
        self._saw_link = False
        root = _Folder(path=self._root, rel="", real=self._root, inherited=(), parent=None)
        stack = [root]
        while stack:
            folder = stack.pop()
            entries = self._list(folder)
            if entries is None:
                continue
            names = {entry.name for entry in entries}
            if folder.rel and VENV_MARKER in names:
                continue
            if folder.rel:
                levels = self._levels_below(folder.rel, folder.inherited, GITIGNORE in names)
            else:
                levels = self._root_levels(GITIGNORE in names)
            prefix = f"{folder.rel}/" if folder.rel else ""
            for entry in entries:
                try:
                    self._visit(entry, prefix + entry.name, folder, levels, stack, found)
                except OSError as error:
                    # is_dir()/is_symlink() can still fail (e.g. EACCES on an odd mount)
                    log.debug("skipped %s: %s", entry.path, error)
        return found

    # -- the walk ---------------------------------------------------------------------------

    def _list(self, folder: _Folder) -> list[os.DirEntry[str]] | None:
        try:
            with os.scandir(folder.path) as iterator:
                return list(iterator)
        except OSError as error:
            if folder.parent is None:
                raise
            log.debug("skipped unreadable folder %s: %s", folder.path, error)
            return None

    def _visit(
        self,
        entry: os.DirEntry[str],
        rel: str,
        folder: _Folder,
        levels: tuple[_Level, ...],
        stack: list[_Folder],
        found: list[SourceFile],
    ) -> None:
        name = entry.name
        if entry.is_symlink():
            self._visit_link(entry, rel, folder, levels, stack, found)
        elif entry.is_dir(follow_symlinks=False):
            if name not in ALWAYS_SKIPPED_DIRS and not self._matches(rel, True, levels):
                real = os.path.join(folder.real, name)
                stack.append(_Folder(entry.path, rel, real, levels, folder))
        elif name.endswith(PY_SUFFIX) and entry.is_file(follow_symlinks=False):
            if not self._matches(rel, False, levels):
                try:
                    st = entry.stat(follow_symlinks=False)
                except FileNotFoundError:
                    return  # deleted since the folder was listed
                found.append(SourceFile(rel, st.st_size, st.st_mtime_ns))

    def _visit_link(
        self,
        entry: os.DirEntry[str],
        rel: str,
        folder: _Folder,
        levels: tuple[_Level, ...],
        stack: list[_Folder],
        found: list[SourceFile],
    ) -> None:
        name = entry.name
        self._saw_link = True
        target = os.path.realpath(entry.path)
        target_rel = self._relative(target)
        if target_rel is None:
            return  # leaves the root
        try:
            st = os.stat(target)
        except OSError:
            return  # dangling, or a loop of links
        if stat.S_ISDIR(st.st_mode):
            if (
                name not in ALWAYS_SKIPPED_DIRS
                and not self._matches(rel, True, levels)
                and not folder.passes_through(target)
                and not self.is_ignored(target_rel, True)
            ):
                stack.append(_Folder(entry.path, rel, target, levels, folder))
        elif stat.S_ISREG(st.st_mode) and name.endswith(PY_SUFFIX):
            if not self._matches(rel, False, levels) and not self.is_ignored(target_rel, False):
                found.append(SourceFile(rel, st.st_size, st.st_mtime_ns))

    def _relative(self, real: str) -> str | None:
        """`real` relative to the root ("" for the root itself), None when outside it."""
        if real == self._root:
            return ""
        if real.startswith(self._prefix + "/"):
            return real[len(self._prefix) + 1 :]
        return None

    # -- the rules --------------------------------------------------------------------------

    def _matches(self, rel: str, is_dir: bool, levels: tuple[_Level, ...]) -> bool:
        """Whether the rules ignore this one path (its folders already passed)."""
        if self._excludes is not None and self._excludes.verdict(rel, is_dir):
            return True
        for level in levels:
            verdict = level.patterns.verdict(rel[level.offset :], is_dir)
            if verdict is not None:
                return verdict
        return False

    def _root_levels(self, has_gitignore: bool | None) -> tuple[_Level, ...]:
        info_exclude = self._load_info_exclude()
        levels = (info_exclude,) if info_exclude is not None else ()
        patterns = self._gitignore("", has_gitignore)
        return (_Level(0, patterns),) + levels if patterns is not None else levels

    def _levels_below(
        self, rel_dir: str, inherited: tuple[_Level, ...], has_gitignore: bool | None
    ) -> tuple[_Level, ...]:
        patterns = self._gitignore(rel_dir, has_gitignore)
        if patterns is None:
            return inherited
        return (_Level(len(rel_dir) + 1, patterns),) + inherited

    def _gitignore(self, rel_dir: str, exists: bool | None) -> _PatternList | None:
        """The folder's parsed .gitignore, cached. `exists` comes from a listing we already
        have (False spares an open() per folder); None means look."""
        if rel_dir in self._gitignores:
            return self._gitignores[rel_dir]
        patterns = None
        if exists is not False:
            folder = f"{self._prefix}/{rel_dir}" if rel_dir else self._root
            patterns = _read_ignore_file(os.path.join(folder, GITIGNORE), self._root)
        self._gitignores[rel_dir] = patterns
        return patterns

    def _load_info_exclude(self) -> _Level | None:
        if not self._info_exclude_loaded:
            git_dir = _common_git_dir(self._root)
            patterns = None
            if git_dir is not None:
                patterns = _read_ignore_file(os.path.join(git_dir, "info", "exclude"), None)
            self._info_exclude = _Level(0, patterns) if patterns is not None else None
            self._info_exclude_loaded = True
        return self._info_exclude


def _split_relative(rel_path: str) -> list[str]:
    """"a/b/" -> ["a", "b"]; "" and "." -> [] (the root). Refuses paths that are not
    relative to the root, rather than guessing."""
    parts = [part for part in rel_path.split("/") if part not in ("", ".")]
    if rel_path.startswith("/") or ".." in parts:
        raise ValueError(f"not a path relative to the root: {rel_path!r}")
    return parts


def _read_ignore_file(path: str, root: str | None) -> _PatternList | None:
    """The patterns of one ignore file; None when there is none or it is not safe to read.
    `root`: the file must really lie inside it (None for .git/info/exclude, whose git dir
    may live elsewhere, e.g. for a worktree)."""
    data = _read_small_file(path, root)
    if data is None:
        return None
    # git reads bytes; filenames come from os.scandir as utf-8 with surrogateescape
    text = data.decode("utf-8", "surrogateescape").removeprefix("\ufeff")
    lines = [line.removesuffix("\r") for line in text.split("\n")]
    return _PatternList.from_lines(lines, path, strict=False)


def _read_small_file(path: str, root: str | None) -> bytes | None:
    """The bytes of a file coderows reads for its own rules (ignore files, .git pointers);
    None, with a warning when it is not simply missing, for anything that is not a
    regular file of at most MAX_RULE_FILE_BYTES inside `root`: a FIFO would block
    forever, a link to /dev/zero would read until memory runs out."""
    try:
        data, _ = read_file(path, MAX_RULE_FILE_BYTES, root=root)
    except (FileNotFoundError, NotADirectoryError):
        return None  # git skips a missing file without complaint too
    except NotRegularFileError as error:
        if not os.path.isdir(path):  # a folder named .gitignore is no one's mistake to report
            log.warning("skipped %s: its rules are not applied", error)
        return None
    except UnsafeFileError as error:
        log.warning("skipped %s: its rules are not applied", error)
        return None
    except OSError as error:
        log.warning("skipped %s: %s: its rules are not applied", path, error.strerror or error)
        return None
    return data


def _common_git_dir(root: str) -> str | None:
    """The folder holding info/exclude: `.git`, or for a worktree or submodule (where `.git`
    is a file saying "gitdir: ..."), that git dir's common dir."""
    dot_git = os.path.join(root, ".git")
    if os.path.isdir(dot_git):
        return dot_git
    if not os.path.lexists(dot_git):
        return None
    pointer = _first_line(dot_git, root)
    if pointer is None or not pointer.startswith("gitdir:"):
        return None
    git_dir = os.path.join(root, pointer.removeprefix("gitdir:").strip())
    common = os.path.join(git_dir, "commondir")
    if not os.path.lexists(common):
        return git_dir  # a submodule's git dir is its own common dir
    relative = _first_line(common, None)  # a worktree's git dir lies outside the root
    return os.path.join(git_dir, relative) if relative is not None else git_dir


def _first_line(path: str, root: str | None) -> str | None:
    data = _read_small_file(path, root)
    if data is None:
        return None
    return data.decode("utf-8", "surrogateescape").partition("\n")[0].strip()


def discover(root: Path, excludes: Sequence[str] = ()) -> list[SourceFile]:
    """Every ``*.py`` regular file under `root` that is not ignored, sorted by path.

    `root` must be resolved (absolute, no symlinks). Raises NotADirectoryError when it is
    not a folder, FileNotFoundError when it is missing, OSError when it cannot be listed,
    ValueError for an invalid exclude pattern.
    """
    if not os.path.exists(root):
        raise FileNotFoundError(f"no such folder: {root}")
    if not os.path.isdir(root):
        raise NotADirectoryError(f"not a folder: {root}")
    found = IgnoreRules(root, excludes)._walk()
    found.sort(key=lambda source: source.path)
    return found
