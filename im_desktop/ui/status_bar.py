"""The connection state in words, calmly: no flicker for short drops, a countdown only for long waits."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from PySide6.QtCore import QCoreApplication, QDateTime, QLocale, QSize, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import QLabel, QSizePolicy, QStatusBar, QToolButton, QWidget

from im_desktop.protocol.models import LoginStatus
from im_desktop.ui.messages import describe_error, describe_kick, valid_ms
from im_desktop.ui.plain import SHORT, plain_label, plain_tooltip, shown

__all__ = ["COUNTDOWN_MIN_SECONDS", "ConnectionStatusBar"]

_CONTEXT = "ConnectionStatusBar"
# Telegram's rule: a shorter wait is over before anyone could read a number, so none is shown.
COUNTDOWN_MIN_SECONDS = 4.0
# Kick reasons that really mean "you logged in somewhere else"; the others are the server's doing.
_ELSEWHERE = {"multi_device", "multi_instance"}


def _tr(text: str, n: int = -1) -> str:
    return QCoreApplication.translate(_CONTEXT, text, None, n)


class _ElidingLabel(QLabel):
    """A label that shortens its text with "…" instead of widening the window to fit a long error."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._full = ""
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)
        self.setTextFormat(Qt.TextFormat.PlainText)  # server messages end up here: never rich text

    @property
    def full_text(self) -> str:
        return self._full

    def set_full_text(self, text: str) -> None:
        self._full = text
        self._elide()

    def sizeHint(self) -> QSize:
        # Wide enough for the whole text: the shortened one must not become the new preference.
        margins = self.contentsMargins()
        width = self.fontMetrics().horizontalAdvance(self._full) + margins.left() + margins.right() + 2 * self.margin()
        return QSize(width, super().sizeHint().height())

    def minimumSizeHint(self) -> QSize:
        return QSize(0, super().minimumSizeHint().height())

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._elide()

    def _elide(self) -> None:
        width, metrics = self.contentsRect().width(), self.fontMetrics()
        # elidedText() measures a little wider than horizontalAdvance(), which sizeHint() uses, so it would
        # shorten a text that fits exactly; and before the first layout the width is 0.
        if width <= 0 or metrics.horizontalAdvance(self._full) <= width:
            self.setText(self._full)
        else:
            self.setText(metrics.elidedText(self._full, Qt.TextElideMode.ElideRight, width))


class ConnectionStatusBar(QStatusBar):
    """The main window's status bar: how the connection is, and what waits to be sent.

    Feed it the session's signals through the on_* slots. A drop from "Online" that heals within
    `debounce_ms` shows nothing at all; a countdown appears only for waits of at least 4 s. The state
    is also in the dynamic property `connection` (online, connecting, reconnecting, offline,
    needs-login, kicked) for style sheets.

    Signals:
        retry_requested(): the user clicked "Retry now"; the session should skip the rest of its wait.
    """

    retry_requested = Signal()

    def __init__(self, parent: QWidget | None = None, *, debounce_ms: int = 1000, tick_ms: int = 1000,
                 clock: Callable[[], float] = time.monotonic) -> None:  # fmt: skip
        super().__init__(parent)
        self._clock = clock
        self._tick_ms = tick_ms
        self._status = int(LoginStatus.OFFLINE)
        # The model: what should be on screen. It reaches the screen at once, or after the debounce.
        self._kind = "offline"
        self._text = _tr("Offline")
        self._retry_wanted = False
        self._deadline: float | None = None  # monotonic time of the next attempt, while a countdown runs
        self._last_error = ""
        self._shown_kind = ""
        self._identity: tuple[str, str] | None = None

        self._label = _ElidingLabel(self)
        self._label.setObjectName("connectionState")
        self._label.setAccessibleName(_tr("Connection status"))
        self._retry = QToolButton(self)
        self._retry.setObjectName("retryNow")
        self._retry.setText(_tr("Retry now"))
        self._retry.setAccessibleName(_tr("Retry now"))
        self._retry.setToolTip(_tr("Try to connect now instead of waiting"))
        self._retry.setAutoRaise(True)
        self._retry.clicked.connect(self._on_retry_clicked)
        self._outbox = plain_label(parent=self)
        self._outbox.setObjectName("outbox")
        self._outbox.setAccessibleName(_tr("Messages waiting to be sent"))
        self._outbox.hide()
        # A standing warning, not a state: it holds online and offline alike while the profile is unencrypted.
        self._unencrypted = plain_label(_tr("Not encrypted"), parent=self)
        self._unencrypted.setObjectName("unencrypted")
        self._unencrypted.setAccessibleName(_tr("Connection security"))
        self._unencrypted.setToolTip(plain_tooltip(_tr(
            "The connection to this server is not encrypted: anyone on the network can read your messages and "
            "login ticket.")))  # fmt: skip
        self._unencrypted.hide()
        # No stretch: "Retry now" sits right after the words, the free space goes between them and the outbox.
        self.addWidget(self._label)
        self.addWidget(self._retry)
        self.addPermanentWidget(self._outbox)
        self.addPermanentWidget(self._unencrypted)
        self.setAccessibleName(_tr("Connection status bar"))

        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(debounce_ms)
        self._debounce.timeout.connect(self._render)
        self._tick = QTimer(self)
        self._tick.setSingleShot(True)  # re-armed by every render, aimed at the next change of the number
        self._tick.timeout.connect(self._render)
        self._render()

    # -- read-only views for tests and the composition root -------------------------------------
    @property
    def state_text(self) -> str:
        """The main text as it is on screen now (whole, even when the label has to shorten it)."""
        return self._label.full_text

    @property
    def retry_visible(self) -> bool:
        return self._retry.isVisibleTo(self)

    @property
    def security_text(self) -> str:
        """The "not encrypted" warning, or "" when there is none."""
        return self._unencrypted.text() if self._unencrypted.isVisibleTo(self) else ""

    @property
    def outbox_text(self) -> str:
        """The outbox notice, or "" when nothing waits."""
        return self._outbox.text() if self._outbox.isVisibleTo(self) else ""

    # -- slots ----------------------------------------------------------------------------------
    @Slot(int)
    def on_status_changed(self, status: int) -> None:
        """Satori LoginStatus of the current login."""
        self._status = status
        if status == LoginStatus.ONLINE:
            self._last_error = ""
            self._set("online", self._online_words())
        elif status == LoginStatus.CONNECT:
            self._set("connecting", _tr("Connecting…"), transient=True)
        elif status == LoginStatus.RECONNECT and self._kind == "reconnecting" and self._deadline is not None:
            pass  # a countdown already says more than "Reconnecting…"
        elif status in (LoginStatus.DISCONNECT, LoginStatus.RECONNECT):
            self._set("reconnecting", _tr("Reconnecting…"), transient=True)
        elif status == LoginStatus.OFFLINE:
            # The session is over. The reason (kick, expired ticket, error) may already be on screen,
            # or follows right after; either way it says more than a bare "Offline".
            if self._kind in ("kicked", "needs-login", "offline"):
                self._set(self._kind, self._text)
            else:
                self._set("offline", _tr("Offline"))

    def set_identity(self, user_id: str, server: str) -> None:
        """Who is logged in and where, for "Online as alice · Built-in sandbox" ("" for nobody)."""
        self._identity = (shown(user_id, SHORT), shown(server, SHORT)) if user_id else None
        if self._kind == "online":
            self._set("online", self._online_words())

    def _online_words(self) -> str:
        if self._identity is None:
            return _tr("Online")
        user, server = self._identity
        return (
            _tr("Online as {user} · {server}").format(user=user, server=server)
            if server
            else _tr("Online as {user}").format(user=user)
        )

    def set_unencrypted(self, unencrypted: bool) -> None:
        """Whether the current server profile talks to another computer over plain http:// (its user's choice)."""
        self._unencrypted.setVisible(unencrypted)

    @Slot(float)
    def on_reconnect_scheduled(self, seconds: float) -> None:
        """The next attempt starts in `seconds`."""
        if seconds >= COUNTDOWN_MIN_SECONDS:
            self._set("reconnecting", _tr("Reconnecting…"), retry=True, deadline=self._clock() + seconds,
                      transient=True)  # fmt: skip
        else:
            self._set("reconnecting", _tr("Reconnecting…"), transient=True)

    @Slot(int, str)
    def on_connect_failed(self, code: int, message: str) -> None:
        """An attempt failed. While the session lives another one follows, so Retry is offered."""
        self._last_error = describe_error(code, message)
        alive = self._status != LoginStatus.OFFLINE
        text = _tr("Offline: {reason}").format(reason=self._last_error)
        self._set("offline", text, retry=alive, transient=alive)

    @Slot(object)
    def on_kicked(self, info: object) -> None:
        """The server ended this session: dict with reason, code, message, by {platform, device_name}, at (ms)."""
        details: dict[str, object] = info if isinstance(info, dict) else {}
        sentence = describe_kick(details)
        at = details.get("at")
        if valid_ms(at):
            assert isinstance(at, int)
            sentence += " " + _tr("At {time}.").format(time=_local_time(at))
        if details.get("reason") in _ELSEWHERE:
            text = _tr("Logged in elsewhere: {reason}").format(reason=sentence)
        else:
            text = _tr("Signed out by the server: {reason}").format(reason=sentence)
        self._last_error = ""
        self._set("kicked", text)

    @Slot()
    def on_needs_ticket(self) -> None:
        """The login ticket ran out and could not be renewed here."""
        self._last_error = ""
        self._set("needs-login", _tr("Needs a new login ticket"))

    @Slot()
    def on_logged_out(self) -> None:
        self._status = int(LoginStatus.OFFLINE)
        self._last_error = ""
        self._set("offline", _tr("Logged out"))

    @Slot(int)
    def on_outbox_changed(self, pending: int) -> None:
        """How many messages wait to be sent."""
        self._outbox.setText(_tr("%n message(s) waiting to be sent", max(pending, 0)))
        self._outbox.setVisible(pending > 0)

    # -- internals ------------------------------------------------------------------------------
    def _on_retry_clicked(self) -> None:
        # The attempt starts now; without this the old countdown would sit there until it ends.
        self._set("reconnecting", _tr("Reconnecting…"))
        self.retry_requested.emit()

    def _set(self, kind: str, text: str, *, retry: bool = False, deadline: float | None = None,
             transient: bool = False) -> None:  # fmt: skip
        """Change the model; show it now, or (a transient state replacing "Online") after the debounce."""
        self._kind, self._text, self._retry_wanted, self._deadline = kind, text, retry, deadline
        if transient and self._shown_kind == "online":
            if not self._debounce.isActive():
                self._debounce.start()  # not restarted by later changes: a long outage shows after 1 s
            return
        self._debounce.stop()
        self._render()

    def _render(self) -> None:
        self._tick.stop()
        text, retry = self._text, self._retry_wanted
        if self._deadline is not None:
            left = self._deadline - self._clock()
            if left > 0:
                shown = math.ceil(left)
                text = _tr("Reconnecting in {seconds} s").format(seconds=shown)
                until_change_ms = math.ceil((left - (shown - 1)) * 1000) + 5
                self._tick.start(max(1, min(self._tick_ms, until_change_ms)))
            else:
                self._deadline = None
                self._text, text = _tr("Reconnecting…"), _tr("Reconnecting…")
                self._retry_wanted = retry = False  # the attempt is under way; its result comes as a signal
        if text != self._label.full_text:
            self._label.set_full_text(text)
            self._label.setAccessibleDescription(text)  # what a screen reader says, even when elided
            self._label.updateGeometry()  # its size hint follows the whole text
        detail = self._last_error if self._last_error and self._last_error not in text else ""
        self._label.setToolTip(plain_tooltip("\n".join(part for part in (text, detail) if part)))
        self._retry.setVisible(retry)
        if self._kind != self._shown_kind:
            self._shown_kind = self._kind
            for widget in (self, self._label):
                widget.setProperty("connection", self._kind)
                widget.style().unpolish(widget)  # so `[connection="offline"]` rules apply again
                widget.style().polish(widget)


def _local_time(ms: int) -> str:
    """When, in the user's locale: the time for today, date and time for an older event."""
    when = QDateTime.fromMSecsSinceEpoch(ms).toLocalTime()
    locale = QLocale()
    if when.date() == QDateTime.currentDateTime().date():
        return locale.toString(when.time(), QLocale.FormatType.ShortFormat)
    return locale.toString(when, QLocale.FormatType.ShortFormat)
