"""An exclusive lock on the server's data folder, held for the server's life: two servers never share a database."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path

__all__ = ["LOCK_FILE_NAME", "DataDirBusy", "lock_data_dir"]

LOCK_FILE_NAME = "server.lock"
# Windows locks byte ranges and a locked byte cannot be read by others: lock one far past the pid written at
# the start, so a second server can still say who holds the folder.
_WINDOWS_LOCK_OFFSET = 1 << 30


class DataDirBusy(Exception):
    """Another live process holds the data folder."""


@contextlib.contextmanager
def lock_data_dir(data_dir: Path) -> Iterator[Path]:
    """Hold DATA_DIR/server.lock until the block ends. The operating system drops the lock when the holder's
    process ends however it ends (a crash, SIGKILL), so a stale lock file never blocks a restart."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / LOCK_FILE_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            _lock(fd)
        except OSError:
            holder = _holder(fd)
            who = f"another server (pid {holder})" if holder else "another server"
            raise DataDirBusy(f"{who} is using the data folder {data_dir}; stop it first") from None
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield path
    finally:
        os.close(fd)  # releases the lock


def _holder(fd: int) -> int:
    """The pid the holder wrote, if it can be read (0 if not)."""
    with contextlib.suppress(OSError, ValueError):
        os.lseek(fd, 0, os.SEEK_SET)
        pid = int(os.read(fd, 24).decode("ascii").strip() or "0")
        return pid if pid > 0 else 0
    return 0


if sys.platform == "win32":
    import msvcrt

    def _lock(fd: int) -> None:
        os.lseek(fd, _WINDOWS_LOCK_OFFSET, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)  # raises OSError if another process holds it

else:
    import fcntl

    def _lock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # raises BlockingIOError if another process holds it
