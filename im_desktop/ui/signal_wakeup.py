"""Lets Python signal handlers (SIGTERM, SIGINT) run promptly while the Qt event loop idles."""

from __future__ import annotations

import contextlib
import signal
import socket

from PySide6.QtCore import QSocketNotifier

__all__ = ["SignalWakeup"]


class SignalWakeup:
    """Python runs a signal handler only when the interpreter next executes bytecode, and an idle Qt loop
    may not call into Python for a long time. The C-level handler writes to this socket; Qt sees it
    readable and calls in, so SIGTERM at an idle login window is handled at once."""

    def __init__(self) -> None:
        self._reader, self._writer = socket.socketpair()
        self._reader.setblocking(False)
        self._writer.setblocking(False)
        self._previous = signal.set_wakeup_fd(self._writer.fileno())
        self._notifier = QSocketNotifier(self._reader.fileno(), QSocketNotifier.Type.Read)
        self._notifier.activated.connect(self._drain)

    def _drain(self) -> None:
        with contextlib.suppress(BlockingIOError):
            self._reader.recv(64)

    def close(self) -> None:
        self._notifier.setEnabled(False)
        signal.set_wakeup_fd(self._previous)
        self._reader.close()
        self._writer.close()
