"""The tray icon: connection state in the icon and tooltip, unread count as a badge, a small menu."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QCoreApplication, QObject, QRectF, QSize, Qt, QTimer, Signal, SignalInstance, Slot
from PySide6.QtGui import QAction, QColor, QFont, QIcon, QPainter, QPen
from PySide6.QtSvg import QSvgRenderer  # imported here also so a frozen build collects Qt's SVG plugins
from PySide6.QtWidgets import QMenu, QSystemTrayIcon

__all__ = ["TRAY_STATES", "TrayIcon"]

_CONTEXT = "TrayIcon"
TRAY_STATES = ("online", "connecting", "offline", "needs-login", "kicked")
# The status bar's words for the same states, so either can feed the tray.
_ALIASES = {"reconnecting": "connecting"}
# Tray hosts ask for anything from 16 px to 256 px (HiDPI, Windows' large icons); each size is drawn,
# never scaled up, so the badge's digits stay sharp.
_SIZES = (16, 20, 22, 24, 32, 40, 48, 64, 96, 128, 256)
_BADGE_FILL = QColor("#E5322D")
_BADGE_TEXT = QColor("#FFFFFF")
_OPEN_REASONS = {
    QSystemTrayIcon.ActivationReason.Trigger,
    QSystemTrayIcon.ActivationReason.DoubleClick,
    QSystemTrayIcon.ActivationReason.MiddleClick,
}


def _tr(text: str, n: int = -1) -> str:
    return QCoreApplication.translate(_CONTEXT, text, None, n)


def _state_words(state: str) -> str:
    return {
        "online": _tr("Online"),
        "connecting": _tr("Connecting…"),
        "offline": _tr("Offline"),
        "needs-login": _tr("Needs a new login ticket"),
        "kicked": _tr("Signed out by the server"),
    }[state]


class TrayIcon(QObject):
    """A QSystemTrayIcon that shows the connection state and the unread count; dumb, like every view.

    The icons are `tray-<state>.svg` from `icons_dir` (the repo's `resources/icons`, or the bundled
    copy in a frozen build). Check `available()` first: without a tray the window must stay reachable.

    Signals:
        open_requested(): show and raise the main window ("Open", or a click on the icon).
        reconnect_requested(): "Reconnect now" in the menu.
        logout_requested(): "Log out" in the menu.
        quit_requested(): "Quit" in the menu.
    """

    open_requested = Signal()
    reconnect_requested = Signal()
    logout_requested = Signal()
    quit_requested = Signal()

    def __init__(self, icons_dir: Path, parent: QObject | None = None, *, tick_ms: int = 1000,
                 clock: Callable[[], float] = time.monotonic) -> None:  # fmt: skip
        super().__init__(parent)
        self._clock = clock
        self._base: dict[str, QIcon] = {}
        for state in TRAY_STATES:
            path = Path(icons_dir) / f"tray-{state}.svg"
            # Fail here, at start-up, rather than with an invisible tray icon later.
            if not path.is_file():
                raise FileNotFoundError(f"tray icon missing: {path}")
            if not QSvgRenderer(str(path)).isValid():
                raise ValueError(f"tray icon is not a valid SVG: {path}")
            self._base[state] = QIcon(str(path))
        self._icons: dict[str, QIcon] = {}
        self._state = "offline"
        self._unread = 0
        self._logged_in = False
        self._retry_deadline: float | None = None
        self._tooltip = ""
        self._icon_key = ""
        self._unencrypted = False

        self._tray = QSystemTrayIcon(self)
        # A QMenu cannot have a QObject parent; this object keeps it alive and it dies with us.
        self._menu = QMenu()
        self._menu.setAccessibleName(_tr("im-desktop tray menu"))
        self._open = self._add_action(_tr("Open"), self.open_requested)
        self._reconnect = self._add_action(_tr("Reconnect now"), self.reconnect_requested)
        self._logout = self._add_action(_tr("Log out"), self.logout_requested)
        self._menu.addSeparator()
        self._quit = self._add_action(_tr("Quit"), self.quit_requested)
        self.destroyed.connect(self._menu.deleteLater)
        self._menu.aboutToShow.connect(self._refresh_menu)
        self._tray.setContextMenu(self._menu)
        self._tray.activated.connect(self._on_activated)

        self._tick = QTimer(self)  # keeps "Reconnecting in N s" in the tooltip true while it waits
        self._tick.setInterval(tick_ms)
        self._tick.timeout.connect(self._refresh)
        self._refresh()

    @staticmethod
    def available() -> bool:
        """Whether the desktop has a system tray at all."""
        return QSystemTrayIcon.isSystemTrayAvailable()

    def show(self) -> None:
        self._tray.show()

    def hide(self) -> None:
        self._tray.hide()

    # -- read-only views for tests and the composition root -------------------------------------
    @property
    def state(self) -> str:
        return self._state

    @property
    def tooltip_text(self) -> str:
        return self._tooltip

    @property
    def current_icon_key(self) -> str:
        """Which icon is shown: the state, plus "+<badge>" when there are unread messages ("online+3")."""
        return self._icon_key

    @property
    def menu(self) -> QMenu:
        return self._menu

    @property
    def tray_icon(self) -> QSystemTrayIcon:
        return self._tray

    def menu_actions(self) -> list[tuple[str, bool]]:
        """The menu as (text, enabled), separators left out."""
        return [(action.text(), action.isEnabled()) for action in self._menu.actions() if not action.isSeparator()]

    # -- slots ----------------------------------------------------------------------------------
    @Slot(str)
    def on_state(self, state: str) -> None:
        """One of online, connecting, offline, needs-login, kicked ("reconnecting" counts as connecting)."""
        state = _ALIASES.get(state, state)
        if state not in TRAY_STATES:
            raise ValueError(f"unknown tray state: {state!r}")
        self._state = state
        if state != "connecting":
            self._retry_deadline = None  # online, or stopped trying: no next attempt to announce
        self._refresh()

    @Slot(int)
    def on_unread(self, count: int) -> None:
        self._unread = max(count, 0)
        self._refresh()

    @Slot(object)
    def on_next_retry(self, seconds: float | None) -> None:
        """When the next connection attempt starts, or None when none is planned."""
        self._retry_deadline = None if seconds is None else self._clock() + max(float(seconds), 0.0)
        self._refresh()

    def set_unencrypted(self, unencrypted: bool) -> None:
        """Whether the current server profile talks to another computer over plain http:// (its user's choice)."""
        self._unencrypted = unencrypted
        self._refresh()

    @Slot(bool)
    def on_logged_in(self, logged_in: bool) -> None:
        self._logged_in = logged_in
        self._refresh_menu()

    # -- internals ------------------------------------------------------------------------------
    def _add_action(self, text: str, signal: SignalInstance) -> QAction:
        action = QAction(text, self._menu)
        action.triggered.connect(signal)
        self._menu.addAction(action)
        return action

    def _on_activated(self, reason: QSystemTrayIcon.ActivationReason) -> None:
        # The context click opens the menu instead. Some hosts report a double click as Trigger followed
        # by DoubleClick; opening twice is harmless.
        if reason in _OPEN_REASONS:
            self.open_requested.emit()

    def _refresh_menu(self) -> None:
        self._reconnect.setEnabled(self._state != "online")
        self._logout.setEnabled(self._logged_in)

    def _refresh(self) -> None:
        badge = "" if self._unread == 0 else str(self._unread) if self._unread <= 9 else "9+"
        key = f"{self._state}+{badge}" if badge else self._state
        if key != self._icon_key:
            self._icon_key = key
            self._tray.setIcon(self._icon(key, self._state, badge))
        lines = [_tr("im-desktop — {state}").format(state=_state_words(self._state))]
        if self._unencrypted:
            lines.append(_tr("The connection is not encrypted"))
        if self._unread:
            lines.append(_tr("%n unread message(s)", self._unread))
        left = None if self._retry_deadline is None else self._retry_deadline - self._clock()
        if left is not None and left > 0:
            lines.append(_tr("Reconnecting in {seconds} s").format(seconds=math.ceil(left)))
            if not self._tick.isActive():
                self._tick.start()
        else:
            self._retry_deadline = None
            self._tick.stop()
        tooltip = "\n".join(lines)
        if tooltip != self._tooltip:
            self._tooltip = tooltip
            # Only our own words go here: tray hosts differ on markup (StatusNotifierItem hosts may render it,
            # the XEmbed fallback guesses), so text from a server would have no one safe form.
            self._tray.setToolTip(tooltip)
        self._refresh_menu()

    def _icon(self, key: str, state: str, badge: str) -> QIcon:
        if not badge:
            return self._base[state]  # the SVG engine draws it sharp at any size
        if key not in self._icons:
            self._icons[key] = _with_badge(self._base[state], badge)
        return self._icons[key]


def _with_badge(base: QIcon, badge: str) -> QIcon:
    """The icon drawn at every size with a red, white-rimmed count in the top right corner."""
    icon = QIcon()
    for size in _SIZES:
        pixmap = base.pixmap(QSize(size, size), 1.0)
        painter = QPainter(pixmap)
        painter.setRenderHints(QPainter.RenderHint.Antialiasing | QPainter.RenderHint.TextAntialiasing)
        # Small icons get a relatively bigger badge (at 16 px smaller digits are unreadable); big ones a
        # smaller one, so the state's glyph stays visible next to it.
        small = size <= 24
        height = size * (0.66 if small else 0.46)
        width = height * (1.4 if len(badge) > 1 else 1.0)
        rim = max(1.0, size / 32)
        rect = QRectF(size - width - rim / 2, rim / 2, width, height)
        painter.setPen(QPen(_BADGE_TEXT, rim))
        painter.setBrush(_BADGE_FILL)
        painter.drawRoundedRect(rect, height / 2, height / 2)
        font = painter.font()
        font.setBold(True)
        font.setPixelSize(max(7, round(height * (0.8 if small else 0.72))))
        if size <= 20:
            font.setStyleStrategy(QFont.StyleStrategy.NoAntialias)  # 7-8 px digits blur when smoothed
        painter.setFont(font)
        painter.setPen(_BADGE_TEXT)
        painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, badge)
        painter.end()
        icon.addPixmap(pixmap)
    return icon
