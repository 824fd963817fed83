"""Desktop notifications (freedesktop on D-Bus, else the tray's balloon); what the person sees of a window."""

from __future__ import annotations

import asyncio
import contextlib
import html
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QCoreApplication, QEvent, QObject, Signal, Slot
from PySide6.QtGui import QGuiApplication, QWindow
from PySide6.QtWidgets import QSystemTrayIcon, QWidget

from im_desktop.ui.notify_rules import Notice, WindowState

__all__ = ["APP_NAME", "DESKTOP_ENTRY", "Notifier", "WindowWatch", "inert", "session_bus_address"]

log = logging.getLogger(__name__)

_CONTEXT = "Notifications"
APP_NAME = "im-desktop"
DESKTOP_ENTRY = "org.imdesktop.ImDesktop"  # the .desktop file's name: desktops take the icon and grouping from it
_SERVICE, _PATH = "org.freedesktop.Notifications", "/org/freedesktop/Notifications"
CALL_TIMEOUT = 5.0  # a notification service that does not answer in this time is taken for absent
RETRY_FLOOR = 30.0  # after a failure, the service is not asked again sooner (the tray shows notices meanwhile)
_MAX_TRACKED = 256  # notification ids remembered for clicks; more than this are old and likely dismissed
_BALLOON_MS = 10_000
_WATCHED = {QEvent.Type.ActivationChange, QEvent.Type.WindowStateChange, QEvent.Type.Show, QEvent.Type.Hide}


def _tr(text: str) -> str:
    return QCoreApplication.translate(_CONTEXT, text)


def inert(text: str) -> str:
    """Text for the tray balloon, which takes no text format: Qt's own balloon guesses rich text from a tag, and a
    StatusNotifierItem tray hands it to a notification service that may read markup. A word joiner after each
    "<" leaves no tag to find, and looks the same."""
    return text.replace("<", "<\u2060")


class WindowWatch(QObject):
    """Follows what the person can see of a window: shown or hidden, minimised, focused.

    Signals:
        changed(): any of those changed; `state()` says how things are now.
    """

    changed = Signal()

    def __init__(self, window: QWidget, open_channel: Callable[[], str]) -> None:
        super().__init__(window)
        self._window, self._open_channel = window, open_channel
        window.installEventFilter(self)
        app = QGuiApplication.instance()
        if isinstance(app, QGuiApplication):
            app.focusWindowChanged.connect(self._focus_changed)  # a method: disconnected when this object goes

    def state(self) -> WindowState:
        w = self._window
        # The platform's focus window (QWindow.isActive), not QApplication's active window, which can stay
        # empty after a hidden window is shown and activated again (seen on Qt's offscreen platform).
        handle = w.windowHandle()
        active = handle is not None and handle.isActive()
        return WindowState(w.isVisible(), w.isMinimized(), active, self._open_channel())

    @Slot(QWindow)
    def _focus_changed(self, _window: QWindow | None) -> None:
        self.changed.emit()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self._window and event.type() in _WATCHED:
            self.changed.emit()
        return False


def session_bus_address(environ: dict[str, str] | None = None) -> str | None:
    """The session bus: $DBUS_SESSION_BUS_ADDRESS, else the systemd user bus in $XDG_RUNTIME_DIR."""
    env = os.environ if environ is None else environ
    if env.get("DBUS_SESSION_BUS_ADDRESS"):
        return env["DBUS_SESSION_BUS_ADDRESS"]
    runtime = env.get("XDG_RUNTIME_DIR")
    if runtime and (Path(runtime) / "bus").is_socket():
        return f"unix:path={Path(runtime) / 'bus'}"
    return None


class _Link:
    """One connection to the notification service (jeepney on the asyncio loop: PySide6's QtDBus cannot send
    the uint32 that Notify's replaces_id is, and the service refuses the call typed any other way)."""

    def __init__(self, conn: Any, router: Any, on_signal: Callable[[str, tuple[Any, ...]], None]) -> None:
        self._conn, self._router, self._on_signal = conn, router, on_signal
        self.capabilities: frozenset[str] = frozenset()
        self.service = ""  # the unique bus name that answered: signals from anyone else are ignored
        self._filter: Any = None
        self._listener: asyncio.Task[None] | None = None

    @classmethod
    async def open(cls, address: str, on_signal: Callable[[str, tuple[Any, ...]], None]) -> _Link:
        from jeepney import MatchRule, message_bus  # type: ignore[import-untyped]
        from jeepney.io.asyncio import DBusRouter, open_dbus_connection  # type: ignore[import-untyped]

        conn = await asyncio.wait_for(open_dbus_connection(address), CALL_TIMEOUT)
        link = cls(conn, DBusRouter(conn), on_signal)
        try:
            rule = MatchRule(type="signal", interface=_SERVICE, path=_PATH)
            link._filter = link._router.filter(rule, bufsize=64)
            await link._call(message_bus.AddMatch(rule))  # some services broadcast their signals
            reply = await link._call(link._method("GetCapabilities"), sender=True)
            caps = reply[0] if reply and isinstance(reply[0], list) else []
            link.capabilities = frozenset(c for c in caps[:64] if isinstance(c, str))
            link._listener = asyncio.get_running_loop().create_task(link._listen(), name="notification-signals")
        except BaseException:
            await link.close()
            raise
        return link

    @staticmethod
    def _method(name: str, signature: str | None = None, body: tuple[Any, ...] = ()) -> Any:
        from jeepney import DBusAddress, new_method_call

        return new_method_call(DBusAddress(_PATH, bus_name=_SERVICE, interface=_SERVICE), name, signature, body)

    async def _call(self, message: Any, *, sender: bool = False) -> tuple[Any, ...]:
        from jeepney import HeaderFields
        from jeepney.wrappers import unwrap_msg  # type: ignore[import-untyped]

        reply = await asyncio.wait_for(self._router.send_and_get_reply(message), CALL_TIMEOUT)
        body = unwrap_msg(reply)  # an error reply raises DBusErrorResponse
        if sender:
            self.service = str(reply.header.fields.get(HeaderFields.sender, ""))
        return tuple(body)

    async def notify(self, notice: Notice, replaces: int) -> int:
        markup = "body-markup" in self.capabilities  # then the body is markup: our plain text must be escaped
        body = html.escape(notice.body, quote=False) if markup else notice.body
        hints = {"category": ("s", "im.received"), "desktop-entry": ("s", DESKTOP_ENTRY), "urgency": ("y", 1)}
        args = (APP_NAME, replaces, "", notice.summary, body, ["default", _tr("Open")], hints, -1)
        reply = await self._call(self._method("Notify", "susssasa{sv}i", args), sender=True)
        if not reply or not isinstance(reply[0], int):
            raise ValueError("Notify answered without an id")
        return int(reply[0])

    async def close_notification(self, notification_id: int) -> None:
        from jeepney.wrappers import DBusErrorResponse

        # An error is the spec's answer when it is gone already (dismissed, expired): nothing left to do.
        with contextlib.suppress(DBusErrorResponse):
            await self._call(self._method("CloseNotification", "u", (notification_id,)))

    async def _listen(self) -> None:
        """Hands on ActionInvoked / NotificationClosed from the service; ends when the link is closed."""
        from jeepney import HeaderFields

        while True:
            message = await self._filter.queue.get()
            fields = message.header.fields
            if fields.get(HeaderFields.sender) != self.service:
                continue  # only the service we talk to says what was clicked
            try:
                self._on_signal(str(fields.get(HeaderFields.member, "")), tuple(message.body))
            except Exception:  # a failing handler must not end the listening
                log.exception("a notification signal could not be handled")

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            await asyncio.wait([self._listener])
        if self._filter is not None:
            self._filter.close()
        try:
            await self._router.__aexit__(None, None, None)  # re-raises what ended its receiver, if anything
        except Exception as exc:
            log.info("the D-Bus connection had ended: %s", type(exc).__name__)
        with contextlib.suppress(OSError):  # already gone: nothing left to release
            await self._conn.close()


class Notifier(QObject):
    """Shows notices one at a time, in order, from one task (`run`). Each conversation has at most one
    notification: a newer message replaces it (`replaces_id`). Without a notification service (Windows, macOS,
    a bare X session) the tray's balloon shows it; after a service failure the balloon is used for
    RETRY_FLOOR seconds before the service is asked again.

    Signals:
        open_requested(str): the person clicked the notification of this conversation (channel id).
    """

    open_requested = Signal(str)

    def __init__(self, tray: QSystemTrayIcon | None, parent: QObject | None = None, *,
                 address: Callable[[], str | None] = session_bus_address, retry_floor: float = RETRY_FLOOR,
                 clock: Callable[[], float] = time.monotonic) -> None:  # fmt: skip
        super().__init__(parent)
        self._tray, self._address, self._floor, self._clock = tray, address, retry_floor, clock
        self._pending: dict[str, Notice | None] = {}  # per conversation, newest wins; None: withdraw it
        self._wake: asyncio.Event | None = None
        self._link: _Link | None = None
        self._retry_at = 0.0
        self._ids: dict[str, int] = {}  # channel -> the service's notification id
        self._balloon_channel = ""  # the conversation of the tray balloon shown last
        self.shown = 0  # notices shown (by either means), for the logs and the tests
        if tray is not None:
            tray.messageClicked.connect(self._balloon_clicked)

    @property
    def backend(self) -> str:
        """The means in use: "freedesktop" while a service is connected, else "tray" ("" without a tray)."""
        return "freedesktop" if self._link is not None else "tray" if self._tray is not None else ""

    def notify(self, notice: Notice) -> None:
        self._pending.pop(notice.channel_id, None)  # re-queued at the end: conversations keep arrival order
        self._pending[notice.channel_id] = notice
        self._kick()

    def withdraw(self, channel_id: str) -> None:
        """The conversation has been read: its notification goes away (it said nothing new any more)."""
        if channel_id in self._ids or self._pending.get(channel_id) is not None:
            self._pending[channel_id] = None
            self._kick()

    def _kick(self) -> None:
        if self._wake is not None:
            self._wake.set()

    async def run(self) -> None:
        """The notifier's task: runs until cancelled, and closes the D-Bus connection then."""
        self._wake = asyncio.Event()
        self._wake.set()
        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                while self._pending:
                    channel_id = next(iter(self._pending))
                    await self._deliver(channel_id, self._pending.pop(channel_id))
        finally:
            self._wake = None
            await self._disconnect()

    async def _deliver(self, channel_id: str, notice: Notice | None) -> None:
        link = await self._connected()
        if link is not None:
            try:
                if notice is None:  # withdrawn: its popup, if it got one and the service has not closed it already
                    shown_id = self._ids.pop(channel_id, None)
                    if shown_id is not None:
                        await link.close_notification(shown_id)
                    return
                self._remember(channel_id, await link.notify(notice, self._ids.get(channel_id, 0)))
                self.shown += 1
                return
            # Anything the service or the bus does wrong ends in the balloon; this task must go on regardless.
            except Exception as exc:
                log.warning("the notification service failed (%s: %s); the tray shows notices for a while",
                            type(exc).__name__, exc)  # fmt: skip
                await self._disconnect()
                self._retry_at = self._clock() + self._floor
        self._ids.pop(channel_id, None)
        if notice is not None and self._tray is not None:
            self._balloon_channel = channel_id
            self._tray.showMessage(inert(notice.summary), inert(notice.body), QSystemTrayIcon.MessageIcon.Information,
                                   _BALLOON_MS)  # fmt: skip
            self.shown += 1

    async def _connected(self) -> _Link | None:
        if self._link is not None or self._clock() < self._retry_at:
            return self._link
        address = self._address()
        try:
            if address is None:
                raise OSError("no session bus")
            self._link = await _Link.open(address, self._on_signal)
        except Exception as exc:  # no bus, no service, a refusal: all mean "use the tray for now"
            log.info("no desktop notification service (%s: %s)", type(exc).__name__, exc)
            self._retry_at = self._clock() + self._floor
            return None
        log.info("desktop notifications through %s", _SERVICE)
        return self._link

    async def _disconnect(self) -> None:
        link, self._link = self._link, None
        self._ids.clear()  # ids belong to that connection's service
        if link is not None:
            await link.close()

    def _remember(self, channel_id: str, notification_id: int) -> None:
        self._ids.pop(channel_id, None)
        self._ids[channel_id] = notification_id
        while len(self._ids) > _MAX_TRACKED:
            del self._ids[next(iter(self._ids))]

    def _channel_of(self, notification_id: object) -> str:
        return next((c for c, n in self._ids.items() if n == notification_id), "")

    def _on_signal(self, member: str, body: tuple[Any, ...]) -> None:
        if len(body) < 2 or not isinstance(body[0], int):
            return
        channel_id = self._channel_of(body[0])
        if not channel_id:
            return  # another application's notification, or one we no longer track
        if member == "ActionInvoked" and isinstance(body[1], str):
            self.open_requested.emit(channel_id)
        elif member == "NotificationClosed":
            del self._ids[channel_id]  # gone: the next message gets a notification of its own

    def _balloon_clicked(self) -> None:
        if self._balloon_channel:
            self.open_requested.emit(self._balloon_channel)
