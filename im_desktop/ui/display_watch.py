"""Keeps the asyncio loop going after Qt gives up on a lost display, so the app still quits in order."""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import threading
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QEventLoop
from PySide6.QtGui import QGuiApplication

__all__ = ["DisplayWatch", "keep_xlib_from_exiting", "x11_connection_error"]

log = logging.getLogger(__name__)


class DisplayWatch:
    """Stands between qasync and the application.

    When the X server goes away (the person logs out of the desktop), Qt 6.11 prints "The X11 connection broke"
    and calls QCoreApplication::exit(1), and again at every later wake-up of its event loop. qasync takes the end
    of exec() for the end of the asyncio loop: the app's tasks stopped mid-flight and Runner.close() then waited
    forever for a worker thread blocked on the sandbox server, deaf to SIGTERM. Qt's event dispatcher itself
    still works without the display (timers, sockets and cross-thread calls), so when exec() ends without qasync
    asking, this tells the app to quit and keeps dispatching until qasync stops the loop: the quit goes through
    the app's ordered shutdown. A watchdog ends the process if that shutdown does not finish within `grace`.

    qasync drives `app` (a stand-in for the application) instead of the application itself.
    """

    def __init__(
        self, app: QGuiApplication, grace: float = 20.0, hard_exit: Callable[[int], object] | None = None
    ) -> None:
        self.app = _DrivenApp(app, self._loop_ended)
        self.on_lost: Callable[[], None] | None = None  # asks the app to quit (DesktopApp.quit)
        self._qt_app = app
        self._grace = grace
        self._hard_exit = hard_exit or _exit_now
        self._lost = False
        self._done = threading.Event()
        if keep_xlib_from_exiting(app):
            log.debug("Xlib's exit on a lost display is replaced by the ordered quit")

    @property
    def lost(self) -> bool:
        """Qt's event loop ended without the app asking (the display went away)."""
        return self._lost

    def close(self) -> None:
        """The app has finished: the watchdog, if armed, stands down."""
        self._done.set()

    def _loop_ended(self, code: int) -> None:
        if self._lost:
            return  # Qt says it at every wake-up from now on; once is enough
        self._lost = True
        error = x11_connection_error(self._qt_app)
        if error:
            reason = f"the X display went away (X11 connection error {error})"
        else:
            reason = f"Qt ended its event loop by itself (code {code})"
        log.warning("%s: quitting", reason)
        threading.Thread(target=self._watchdog, name="quit-watchdog", daemon=True).start()
        if self.on_lost is not None:
            self.on_lost()

    def _watchdog(self) -> None:
        # The ordered shutdown normally takes well under a second; if something in it hangs, the process must
        # still end rather than live on without a display (the sandbox server follows through its stdin pipe).
        if self._done.wait(self._grace):
            return
        log.error("the app did not finish quitting within %g s after its event loop ended; exiting now", self._grace)
        self._hard_exit(1)


def _exit_now(code: int) -> None:
    logging.shutdown()  # the log says why, even though nothing else is cleaned up
    os._exit(code)


class _DrivenApp:
    """What qasync calls exec() and exit() on; everything else goes to the real application."""

    def __init__(self, app: QGuiApplication, ended: Callable[[int], None]) -> None:
        self._app = app
        self._ended = ended
        self._exit_asked = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._app, name)

    def exec(self) -> int:
        self._exit_asked = False
        code = self._app.exec()
        if not self._exit_asked:
            self._ended(code)
            # Not exec(): Qt would end it again at the next wake-up. The dispatcher alone ignores Qt's exit().
            dispatcher = self._app.eventDispatcher()
            while not self._exit_asked and dispatcher is not None:
                dispatcher.processEvents(QEventLoop.ProcessEventsFlag.WaitForMoreEvents)
        return code

    def exit(self, code: int = 0) -> None:
        self._exit_asked = True  # qasync's stop(): the run it was asked for is complete
        self._app.exit(code)


# void (*)(Display *, void *): called where Xlib would exit() after a fatal I/O error (libX11 1.7 and later).
_IO_EXIT_HANDLER = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p)


def _stay(_display: int | None, _data: int | None) -> None:
    """Returning is the point: the process lives on, and Qt's event loop then ends with the connection error
    that DisplayWatch turns into the app's ordered quit."""


_STAY = _IO_EXIT_HANDLER(_stay)  # module globals: the C side keeps only the pointers
# int (*)(Display *): Xlib's I/O error handler. Qt's own prints a warning and calls libX11's default, which
# exits; this one only returns, so that the exit handler above is reached.
_IO_ERROR_HANDLER = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p)
_RETURN = _IO_ERROR_HANDLER(lambda _display: 0)


def keep_xlib_from_exiting(app: QGuiApplication) -> bool:
    """When the X server goes away, whichever of Qt's two X connections notices first wins: through xcb, Qt ends
    its event loop (handled above); through Xlib, libX11 calls exit(1) at once, skipping the app's shutdown and
    its exit code. Xlib's exit is replaced by a handler that returns. False when not on X11 or libX11 has no such
    hook (before 1.7)."""
    if app.platformName() != "xcb":
        return False
    with contextlib.suppress(OSError, AttributeError, TypeError, ValueError):
        display = int(app.nativeInterface().display())  # type: ignore[attr-defined]
        libx11 = ctypes.CDLL("libX11.so.6")  # already loaded by Qt's xcb plugin: this finds that copy
        libx11.XSetIOErrorExitHandler.argtypes = [ctypes.c_void_p, _IO_EXIT_HANDLER, ctypes.c_void_p]
        libx11.XSetIOErrorExitHandler.restype = None
        libx11.XSetIOErrorHandler.argtypes = [_IO_ERROR_HANDLER]
        libx11.XSetIOErrorHandler.restype = ctypes.c_void_p
        if display:
            libx11.XSetIOErrorHandler(_RETURN)
            libx11.XSetIOErrorExitHandler(display, _STAY, None)
            return True
    return False


def x11_connection_error(app: QGuiApplication) -> int:
    """xcb's error code for the application's X connection (0: fine, or not on X11)."""
    if app.platformName() != "xcb":
        return 0  # Wayland, offscreen, Windows, macOS: no X connection to ask about
    with contextlib.suppress(OSError, AttributeError, TypeError, ValueError):
        connection = int(app.nativeInterface().connection())  # type: ignore[attr-defined]
        libxcb = ctypes.CDLL("libxcb.so.1")  # already loaded by Qt's xcb plugin: this finds that copy
        libxcb.xcb_connection_has_error.argtypes = [ctypes.c_void_p]
        libxcb.xcb_connection_has_error.restype = ctypes.c_int
        return int(libxcb.xcb_connection_has_error(connection)) if connection else 0
    return 0
