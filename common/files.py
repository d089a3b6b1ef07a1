"""The one way coderows opens a file of a repository: bounded, non-blocking, and never
outside the root it belongs to.

A repository is untrusted input. A FIFO named ``.gitignore`` or ``x.py`` would block
``open()`` itself forever; a link to ``/dev/zero`` reads until memory runs out; a folder
swapped for a link to ``/elsewhere`` between listing and reading would bring text from
outside the root into ``modules.source``. So ``read_file``:

- opens with ``O_NONBLOCK`` (a FIFO's open returns at once instead of waiting for a
  writer) after a ``stat`` that spares devices the open at all, and then judges the
  *opened* file with ``fstat``: only regular files are read;
- reads at most ``max_bytes`` (one more byte tells that the file is larger);
- with ``root`` given, asks the kernel where the opened file really is
  (``/proc/self/fd/N``) and refuses it unless that lies inside ``root``. The check is on
  the descriptor that is read, so no swap of a folder for a link between the check and
  the read can get past it, whichever path components were links at opening time.
"""

from __future__ import annotations

import os
import stat

__all__ = [
    "FileTooLargeError",
    "NotRegularFileError",
    "OutsideRootError",
    "UnsafeFileError",
    "inside",
    "read_file",
]

OPEN_FLAGS = os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
READ_CHUNK = 1 << 20


class UnsafeFileError(OSError):
    """A file coderows refuses to read; the message says why in one line."""


class NotRegularFileError(UnsafeFileError):
    """A FIFO, device, socket or folder where a file's contents were expected."""


class OutsideRootError(UnsafeFileError):
    """The file's real path, every link followed, lies outside its repository root."""


class FileTooLargeError(UnsafeFileError):
    """Larger than the caller's limit; `size` is what was seen (st_size or bytes read)."""

    def __init__(self, message: str, size: int, info: os.stat_result) -> None:
        super().__init__(message)
        self.size = size
        self.info = info


def read_file(path: str, max_bytes: int, *, root: str | None = None) -> tuple[bytes, os.stat_result]:
    """The bytes of the regular file at `path` and its stat taken before reading (a
    write after it shows up as a newer mtime next time).

    Raises NotRegularFileError, OutsideRootError (only with `root`, which must be
    resolved), FileTooLargeError, or the OSError of stat/open/read (FileNotFoundError
    for a file that is gone)."""
    _refuse_unless_regular(path, os.stat(path))  # a device is never opened at all
    descriptor = os.open(path, OPEN_FLAGS)
    try:
        info = os.fstat(descriptor)
        _refuse_unless_regular(path, info)  # what was opened is what counts
        if root is not None:
            _refuse_unless_inside(descriptor, path, info, root)
        if info.st_size > max_bytes:
            raise FileTooLargeError(f"{path}: {info.st_size} bytes, over the {max_bytes}-byte limit", info.st_size, info)
        data = _read_at_most(descriptor, max_bytes + 1)
        if len(data) > max_bytes:  # it grew since fstat, or its size lies (procfs)
            raise FileTooLargeError(f"{path}: over the {max_bytes}-byte limit", len(data), info)
        return data, info
    finally:
        os.close(descriptor)


def inside(real: str, root: str) -> bool:
    """Whether the resolved path `real` is `root` or below it (`root` resolved too)."""
    return real == root or real.startswith(root.rstrip("/") + "/")


def kind_of(mode: int) -> str:
    """What a file that is not regular is, for a message."""
    for test, name in (
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISDIR, "a folder"),
    ):
        if test(mode):
            return name
    return "not a regular file"


def _refuse_unless_regular(path: str, info: os.stat_result) -> None:
    if not stat.S_ISREG(info.st_mode):
        raise NotRegularFileError(f"{path}: {kind_of(info.st_mode)}, not a regular file")


def _refuse_unless_inside(descriptor: int, path: str, info: os.stat_result, root: str) -> None:
    real = _real_path(descriptor, path, info)
    if not inside(real, root):
        raise OutsideRootError(f"{path}: leads outside {root} (to {real})")


def _real_path(descriptor: int, path: str, info: os.stat_result) -> str:
    """Where the open file really is. Linux names it in /proc; elsewhere resolve the path
    and make sure it still names the very file we opened."""
    try:
        return os.readlink(f"/proc/self/fd/{descriptor}")
    except OSError:
        pass
    real = os.path.realpath(path)
    try:
        now = os.stat(real)
    except OSError as error:
        raise OutsideRootError(f"{path}: moved while it was opened") from error
    if (now.st_dev, now.st_ino) != (info.st_dev, info.st_ino):
        raise OutsideRootError(f"{path}: replaced while it was opened")
    return real


def _read_at_most(descriptor: int, limit: int) -> bytes:
    chunks: list[bytes] = []
    left = limit
    while left > 0:
        chunk = os.read(descriptor, min(left, READ_CHUNK))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)
