"""Write the files an edit changes: checked against the rows it was decided on, parsed
before anything is written, all files or none.

For each file, in order:
1. where: the indexed path, links followed, must still lie inside its repository's root
   and not be ignored or excluded by the rules the indexer walks with (a link may lead
   to a file elsewhere in the root; then that file is the one written);
2. what: its bytes must hash to the content_hash of the rows the edit was decided on
   (StaleFile otherwise: the caller re-decides or refuses), it must be writable, and
   its bytes must decode in its own encoding (PEP 263 cookie, BOM);
3. the result is the decided text with the edits applied, encoded back in that same
   encoding (line breaks are never touched: edits carry the file's own), and must
   parse with `ast` (a syntax error refuses the whole edit, naming the file and line).
Only when every file has passed are the new files written, each beside its original
(same folder, a temporary name, fsync), then renamed into place one after the other,
each original re-checked just before. A failure midway puts back the originals of the
files already replaced. Folders are opened once and every later step goes through the
folder's descriptor, so a folder swapped for a link meanwhile cannot redirect a write.
"""

from __future__ import annotations

import io
import os
import secrets
import stat
import time
import tokenize
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from coderows.common.files import UnsafeFileError, inside, read_file
from coderows.indexer.discover import IgnoreRules
from coderows.indexer.parse import content_hash

# Larger files are not edited (the indexer's own default limit is 5 MB).
MAX_EDIT_BYTES = 8 * 1024 * 1024
# Test hook: with this set to a path, a multi-file write creates that file after its
# first rename into place and waits until it is removed (at most PAUSE_SECONDS), so that
# a test can kill it midway, or change a file it has yet to replace.
PAUSE_ENV = "CODEROWS_EDIT_PAUSE_FILE"
PAUSE_SECONDS = 600
NOTHING_WRITTEN = "nothing was written"


class EditRefused(ValueError):
    """An edit that was not made; the message is one line saying why."""


class StaleFile(EditRefused):
    """A file no longer holds the bytes the edit was decided on."""

    def __init__(self, root: str, path: str) -> None:
        super().__init__(
            f"{path} changed on disk since it was indexed (its content hash differs); {NOTHING_WRITTEN}: "
            "call again to decide the edit on its current text"
        )
        self.root = root
        self.path = path


@dataclass(frozen=True)
class TextEdit:
    """Replace decided_text[start:end] with `new` (character offsets)."""

    start: int
    end: int
    new: str


@dataclass(frozen=True)
class FileChange:
    """The edits of one file, as decided from its rows."""

    root: str  # the repository root (absolute, links resolved)
    path: str  # repository-relative, as indexed
    expected_hash: str  # modules.content_hash the edits were decided on
    decided_text: str  # modules.source: what the edits' offsets refer to
    edits: tuple[TextEdit, ...]
    excludes: tuple[str, ...] = ()  # the repository's recorded --exclude patterns


@dataclass
class Prepared:
    """A file that passed every check, with its new bytes."""

    change: FileChange
    real: str  # the file written: the indexed path with links followed
    original: bytes
    info: os.stat_result
    new: bytes
    new_text: str


def apply_edits(text: str, edits: Sequence[TextEdit]) -> str:
    """`text` with every edit applied; edits must not overlap."""
    ordered = sorted(edits, key=lambda e: (e.start, e.end))
    pieces = []
    position = 0
    for edit in ordered:
        if edit.start < position or edit.end < edit.start or edit.end > len(text):
            raise EditRefused(f"the edit's changes overlap at character {edit.start}; {NOTHING_WRITTEN}")
        pieces.append(text[position : edit.start])
        pieces.append(edit.new)
        position = edit.end
    pieces.append(text[position:])
    return "".join(pieces)


def prepare(change: FileChange) -> Prepared:
    """Every check of one file, and its new bytes; EditRefused (StaleFile) otherwise."""
    real = locate(change.root, change.path, change.excludes)
    try:
        original, info = read_file(real, MAX_EDIT_BYTES, root=change.root)
    except UnsafeFileError as error:
        raise EditRefused(f"{change.path}: {error}; {NOTHING_WRITTEN}") from None
    except FileNotFoundError:
        raise StaleFile(change.root, change.path) from None
    except OSError as error:
        raise EditRefused(f"{change.path}: cannot read it: {error.strerror or error}; {NOTHING_WRITTEN}") from None
    if content_hash(original) != change.expected_hash:
        raise StaleFile(change.root, change.path)
    refuse_read_only(change.path, real, info)
    text, encoding = decode_strictly(change.path, original)
    if text != change.decided_text:  # same bytes, other text: decoded otherwise when indexed
        raise StaleFile(change.root, change.path)
    new_text = apply_edits(text, change.edits)
    try:
        new = new_text.encode(encoding)
    except UnicodeEncodeError as error:
        raise EditRefused(
            f"{change.path}: the new text has {error.object[error.start:error.end]!r}, which its encoding "
            f"{encoding} cannot hold; {NOTHING_WRITTEN}"
        ) from None
    check_parses(change.path, new)
    return Prepared(change, real, original, info, new, new_text)


def locate(root: str, path: str, excludes: Sequence[str] = ()) -> str:
    """The real path of root/path, refused when it leads out of the root or is ignored."""
    if os.path.realpath(root) != root or not os.path.isdir(root):
        raise EditRefused(f"the repository root {root} is no longer a folder at that path; {NOTHING_WRITTEN}")
    real = os.path.realpath(os.path.join(root, path))
    if not inside(real, root):
        raise EditRefused(f"{path} leads outside the repository root {root} (through a link); {NOTHING_WRITTEN}")
    rules = IgnoreRules(Path(root), list(excludes))
    for relative in dict.fromkeys([path, os.path.relpath(real, root)]):
        if rules.is_ignored(relative, False):
            raise EditRefused(
                f"{relative} is ignored or excluded (.gitignore, .git/info/exclude, --exclude); {NOTHING_WRITTEN}"
            )
    return real


def refuse_read_only(path: str, real: str, info: os.stat_result) -> None:
    # As root os.access says yes to everything: the mode bits are what the user set.
    if not info.st_mode & stat.S_IWUSR or not os.access(real, os.W_OK):
        raise EditRefused(f"{path} is read-only; {NOTHING_WRITTEN}")


def decode_strictly(path: str, data: bytes) -> tuple[str, str]:
    """(text, encoding) by the file's own declaration; refused when its bytes do not decode."""
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
        return data.decode(encoding), encoding
    except (SyntaxError, LookupError) as error:
        raise EditRefused(f"{path}: its encoding declaration is not usable ({error}); {NOTHING_WRITTEN}") from None
    except UnicodeDecodeError as error:
        raise EditRefused(
            f"{path}: its bytes do not decode as {error.encoding} (byte {error.start}), so it cannot be edited "
            f"without changing them; {NOTHING_WRITTEN}"
        ) from None


def check_parses(path: str, data: bytes) -> None:
    """The new file must compile as Python does at import (the parser alone accepts
    `return` outside a function, a misplaced `from __future__` and the like)."""
    try:
        compile(data, path, "exec", dont_inherit=True)
    except SyntaxError as error:
        message = error.msg if isinstance(error.msg, str) else str(error)
        raise EditRefused(
            f"{path}:{error.lineno}: the edited file would not compile ({message}); {NOTHING_WRITTEN}"
        ) from None
    except (ValueError, RecursionError, MemoryError) as error:
        raise EditRefused(f"{path}: the edited file would not compile ({type(error).__name__}); {NOTHING_WRITTEN}") from None


# --- writing -----------------------------------------------------------------------


@dataclass
class _Staged:
    prepared: Prepared
    folder: int  # descriptor of the file's folder
    name: str  # the file's name in it
    temp: str | None = None  # the new content's temporary name, until renamed into place


@dataclass
class _Writing:
    staged: list[_Staged] = field(default_factory=list)
    replaced: list[_Staged] = field(default_factory=list)


def write_all(prepared: Sequence[Prepared]) -> None:
    """Write every prepared file, or none: see the module's docstring."""
    writing = _Writing()
    try:
        for change in prepared:
            writing.staged.append(_stage(change))
        for index, item in enumerate(writing.staged):
            _still_original(item)
            # temp is set from _stage until this rename
            os.replace(item.temp, item.name, src_dir_fd=item.folder, dst_dir_fd=item.folder)  # type: ignore[arg-type]
            item.temp = None
            writing.replaced.append(item)
            if index == 0 and len(writing.staged) > 1:
                _pause_for_tests()
        for item in writing.staged:
            os.fsync(item.folder)
    except BaseException as error:
        failed = _restore(writing.replaced)
        if failed:
            raise EditRefused(
                f"writing failed midway ({_reason(error)}) and {', '.join(failed)} could not be put back: "
                "check them with git diff"
            ) from None
        if isinstance(error, EditRefused):
            raise
        if isinstance(error, OSError):
            path = getattr(error, "coderows_path", None) or "a file"
            raise EditRefused(f"{path}: cannot write: {_reason(error)}; {NOTHING_WRITTEN}") from None
        raise
    finally:
        _clean_up(writing.staged)


def _stage(item: Prepared) -> _Staged:
    """The new content written beside the original under a temporary name, synced."""
    folder_path, name = os.path.split(item.real)
    try:
        folder = os.open(folder_path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as error:
        error.coderows_path = item.change.path  # type: ignore[attr-defined]
        raise
    staged = _Staged(item, folder, name)
    try:
        if not inside(os.readlink(f"/proc/self/fd/{folder}"), item.change.root):
            raise EditRefused(f"{item.change.path}: its folder now leads outside the repository; {NOTHING_WRITTEN}")
        _remove_orphaned_temps(folder, name)
        staged.temp = _write_temp(folder, name, item.new, item.info)
    except OSError as error:
        error.coderows_path = item.change.path  # type: ignore[attr-defined]
        _clean_up([staged])
        raise
    except BaseException:
        _clean_up([staged])
        raise
    return staged


def _remove_orphaned_temps(folder: int, name: str) -> None:
    """Temporary files beside `name` left by a writer that was killed (its pid is gone)."""
    prefix = f".{name}.coderows-"
    for entry in os.listdir(folder):
        if not (entry.startswith(prefix) and entry.endswith(".tmp")):
            continue
        pid = entry[len(prefix) :].split("-", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and not _running(int(pid)):
            try:
                os.unlink(entry, dir_fd=folder)
            except OSError:
                pass  # another writer removed it first


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _write_temp(folder: int, name: str, data: bytes, info: os.stat_result) -> str:
    """A new file in `folder` beside `name`, holding `data` with the original's mode and
    owner, synced; its name."""
    temp = f".{name}.coderows-{os.getpid()}-{secrets.token_hex(4)}.tmp"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    descriptor = os.open(temp, flags, 0o600, dir_fd=folder)
    try:
        _write_fully(descriptor, data)
        os.fchmod(descriptor, stat.S_IMODE(info.st_mode))
        if os.geteuid() == 0:
            os.fchown(descriptor, info.st_uid, info.st_gid)
        os.fsync(descriptor)
    except BaseException:
        os.close(descriptor)
        os.unlink(temp, dir_fd=folder)
        raise
    os.close(descriptor)
    return temp


def _write_fully(descriptor: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(descriptor, view) :]


def _still_original(item: _Staged) -> None:
    """The file about to be replaced still holds the bytes that were checked."""
    try:
        descriptor = os.open(item.name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=item.folder)
    except OSError:
        raise StaleFile(item.prepared.change.root, item.prepared.change.path) from None
    try:
        chunks = []
        while chunk := os.read(descriptor, 1 << 20):
            chunks.append(chunk)
    finally:
        os.close(descriptor)
    if b"".join(chunks) != item.prepared.original:
        raise StaleFile(item.prepared.change.root, item.prepared.change.path)


def _restore(replaced: list[_Staged]) -> list[str]:
    """Put back the originals of files already replaced; the paths that could not be."""
    failed = []
    for item in reversed(replaced):
        try:
            temp = _write_temp(item.folder, item.name, item.prepared.original, item.prepared.info)
            os.replace(temp, item.name, src_dir_fd=item.folder, dst_dir_fd=item.folder)
            os.fsync(item.folder)
        except OSError:
            failed.append(item.prepared.change.path)
    return failed


def _clean_up(staged: Sequence[_Staged]) -> None:
    for item in staged:
        if item.temp is not None:
            try:
                os.unlink(item.temp, dir_fd=item.folder)
            except OSError:
                pass  # already gone: nothing to clean
            item.temp = None
        try:
            os.close(item.folder)
        except OSError:
            pass  # closed already


def _reason(error: BaseException) -> str:
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return str(error).splitlines()[0] if str(error) else type(error).__name__


def _pause_for_tests() -> None:
    marker = os.environ.get(PAUSE_ENV)
    if not marker:
        return
    Path(marker).write_text("replaced one file\n")
    deadline = time.monotonic() + PAUSE_SECONDS
    while os.path.exists(marker) and time.monotonic() < deadline:
        time.sleep(0.05)
