"""One instance per user: a second launch asks the first to raise its window, then exits."""

from __future__ import annotations

import contextlib
import enum
import hashlib
import os
import stat
import sys
import tempfile
from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtNetwork import QAbstractSocket, QLocalServer, QLocalSocket

__all__ = ["Claim", "SingleInstance", "socket_name"]

_RAISE = b"raise\n"


class Claim(enum.Enum):
    FIRST = "first"  # this process listens now: it is the instance
    RUNNING = "running"  # another instance answered and was asked to show itself
    UNAVAILABLE = "unavailable"  # no socket could be made (see `problem`); run without the guard


def _private(folder: Path) -> bool:
    """A folder only this user can enter: ours, not a symlink, no group or other permissions."""
    try:
        info = os.lstat(folder)
    except OSError:
        return False
    return stat.S_ISDIR(info.st_mode) and info.st_uid == os.getuid() and not info.st_mode & 0o077


def _runtime_dir() -> Path:
    """XDG_RUNTIME_DIR when it is private (it is, on a systemd desktop), else a private folder of our own in
    the temp folder; never the shared temp folder itself, where anyone could take the name first."""
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    if xdg and _private(Path(xdg)):
        return Path(xdg)
    folder = Path(tempfile.gettempdir()) / f"im-desktop-{os.getuid()}"
    with contextlib.suppress(FileExistsError):
        folder.mkdir(mode=0o700)
    if not _private(folder):
        raise OSError(f"{folder} is not a folder only this user can use")
    return folder


def socket_name(home: Path) -> str:
    """Per user and app home. On Windows a named pipe (QLocalServer makes it user-only); elsewhere a socket
    file in a private runtime folder, short enough for the 108-byte limit of socket paths."""
    user = os.getuid() if hasattr(os, "getuid") else os.environ.get("USERNAME", "")
    name = "im-desktop-" + hashlib.sha256(f"{user}:{home}".encode()).hexdigest()[:16]
    if sys.platform == "win32":
        return name
    return str(_runtime_dir() / f"{name}.sock")


class SingleInstance(QObject):
    """The first process listens on the socket, later ones knock. `problem` says why there is no socket when
    `claim()` gives UNAVAILABLE, which is not the same as another instance running.

    Signals:
        raise_requested(): another launch asked this instance to show itself.
    """

    raise_requested = Signal()

    def __init__(self, home: Path, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._home = home
        self.name = ""
        self.problem = ""
        self._server = QLocalServer(self)
        self._server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
        self._server.newConnection.connect(self._on_knock)

    def claim(self) -> Claim:
        try:
            self.name = socket_name(self._home)
        except OSError as exc:
            self.problem = str(exc)
            return Claim.UNAVAILABLE
        if self._knock():
            return Claim.RUNNING
        QLocalServer.removeServer(self.name)  # a stale socket left by a crash would block listen()
        if self._server.listen(self.name):
            return Claim.FIRST
        if self._server.serverError() == QAbstractSocket.SocketError.AddressInUseError and self._knock():
            return Claim.RUNNING  # another launch won the race between our knock and our listen
        self.problem = self._server.errorString()
        return Claim.UNAVAILABLE

    def _knock(self) -> bool:
        socket = QLocalSocket()
        socket.connectToServer(self.name)
        if not socket.waitForConnected(300):
            return False
        socket.write(_RAISE)
        socket.waitForBytesWritten(300)
        socket.disconnectFromServer()
        return True

    def _on_knock(self) -> None:
        while self._server.hasPendingConnections():
            socket = self._server.nextPendingConnection()
            socket.readyRead.connect(self._read)
            socket.disconnected.connect(socket.deleteLater)

    def _read(self) -> None:
        socket = self.sender()
        if isinstance(socket, QLocalSocket) and bytes(socket.readAll().data()).startswith(_RAISE.strip()):
            self.raise_requested.emit()

    def close(self) -> None:
        self._server.close()
        for socket in self._server.findChildren(QLocalSocket):
            socket.abort()
