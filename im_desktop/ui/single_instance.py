"""One instance per user: a second launch asks the first to raise its window, then exits."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtNetwork import QLocalServer, QLocalSocket

__all__ = ["SingleInstance"]

_RAISE = b"raise\n"


class SingleInstance(QObject):
    """A named local socket per user and app home; the first process listens, later ones knock.

    Signals:
        raise_requested(): another launch asked this instance to show itself.
    """

    raise_requested = Signal()

    def __init__(self, home: Path, parent: QObject | None = None) -> None:
        super().__init__(parent)
        digest = hashlib.sha256(f"{os.getuid() if hasattr(os, 'getuid') else ''}:{home}".encode()).hexdigest()
        self.name = f"im-desktop-{digest[:16]}"
        self._server = QLocalServer(self)
        self._server.newConnection.connect(self._on_knock)

    def claim(self) -> bool:
        """True if this is the first instance (and now listens); False if one is already running."""
        if self._knock():
            return False
        QLocalServer.removeServer(self.name)  # a stale socket left by a crash would block listen()
        return self._server.listen(self.name)

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
            socket.readyRead.connect(lambda s=socket: self._read(s))
            socket.disconnected.connect(socket.deleteLater)

    def _read(self, socket: QLocalSocket) -> None:
        if bytes(socket.readAll().data()).startswith(_RAISE.strip()):
            self.raise_requested.emit()

    def close(self) -> None:
        self._server.close()
