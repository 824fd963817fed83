"""Folders and files only their owner can read (0700, 0600), and a warning when an existing one is open to others."""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

__all__ = [
    "PRIVATE_DIR_MODE",
    "PRIVATE_FILE_MODE",
    "ensure_private_file",
    "private_dir",
    "read_regular_file",
    "warn_if_open",
]

log = logging.getLogger(__name__)

PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600
# Windows has no group or other bits (st_mode says 0o666 for every writable file): its ACLs are left alone there.
_POSIX = os.name == "posix"


def private_dir(path: Path, *, warn: bool = True) -> Path:
    """Create the folder readable by this user only (its missing parents get the usual mode). One that already
    exists is left as the user set it; if it is open to others, the log says so (unless `warn` is False)."""
    path.mkdir(mode=PRIVATE_DIR_MODE, parents=True, exist_ok=True)
    if warn:
        warn_if_open(path, "folder", PRIVATE_DIR_MODE)
    return path


def ensure_private_file(path: Path) -> None:
    """Create the file empty with mode 0600 if it does not exist yet. SQLite gives a database's -wal, -shm and
    journal files the mode of the database file, so creating it first this way keeps all of them private."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, PRIVATE_FILE_MODE)
    os.close(fd)


def _open_to_others(path: Path) -> int | None:
    """The group and other permission bits of an existing path (0 if private), or None if it has none to check."""
    if not _POSIX:
        return None
    try:
        return path.stat().st_mode & 0o077
    except OSError:
        return None


def warn_if_open(path: Path, what: str, private_mode: int) -> bool:
    """Log a warning naming the path if others may read it; True if it did."""
    bits = _open_to_others(path)
    if not bits:
        return False
    mode = path.stat().st_mode & 0o777
    log.warning("the %s %s is open to other users of this computer (mode %03o); to fix it: chmod %03o %s",
                what, path, mode, private_mode, path)  # fmt: skip
    return True


def read_regular_file(path: str | Path, limit: int) -> bytes:
    """At most `limit` + 1 bytes of a regular file (so the caller can tell "too large" without reading more).
    It is opened without blocking and refused unless it is a regular file: a FIFO or a device named by a user
    or a setting would block or never end. OSError when it cannot be opened (with `filename` set) or read,
    and ValueError("is not a file") for anything but a regular file."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ValueError("is not a file")
        with os.fdopen(os.dup(fd), "rb") as fh:
            return fh.read(limit + 1)
    finally:
        os.close(fd)


def replace_file(path: Path, data: bytes, mode: int = PRIVATE_FILE_MODE) -> None:
    """Write `path` whole or not at all: a new file beside it (with `mode` from the start, not whatever a leftover
    had), then renamed over it. A write that fails (a full disk) leaves the old file and no temporary one."""
    tmp = path.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)  # a leftover from a crash keeps its old mode: start from a new file
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
