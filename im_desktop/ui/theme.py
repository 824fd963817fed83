"""Light, dark or the system's colour scheme, and the few colours of our own that must read on both."""

from __future__ import annotations

import logging
from typing import TypeVar

from PySide6.QtCore import QObject, Qt, QTimer
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication, QWidget

from im_desktop.local.settings import THEMES

__all__ = ["THEMES", "ThemeKeeper", "contrast", "dark_palette", "error_color", "is_dark", "light_palette",
           "mark_error"]  # fmt: skip

log = logging.getLogger(__name__)

_W = TypeVar("_W", bound=QWidget)
_SCHEMES = {"light": Qt.ColorScheme.Light, "dark": Qt.ColorScheme.Dark}
_TONE = "imTone"  # the dynamic property that marks a widget coloured by us (refreshed when the scheme changes)
# Error text: each at least 4.5:1 (WCAG AA) on its scheme's window and base colours; no one red does both.
ERROR_ON_LIGHT = QColor("#c62828")
ERROR_ON_DARK = QColor("#ff8a80")

_Role, _Group = QPalette.ColorRole, QPalette.ColorGroup
_DARK = {
    _Role.Window: "#2d2d30", _Role.WindowText: "#e8e8e8", _Role.Base: "#1e1e1e", _Role.AlternateBase: "#262629",
    _Role.Text: "#e8e8e8", _Role.Button: "#3a3a3d", _Role.ButtonText: "#e8e8e8", _Role.BrightText: "#ff8a80",
    _Role.ToolTipBase: "#3a3a3d", _Role.ToolTipText: "#e8e8e8", _Role.PlaceholderText: "#a0a0a0",
    _Role.Highlight: "#3874d8", _Role.HighlightedText: "#ffffff", _Role.Link: "#7cb7ff", _Role.LinkVisited: "#c5a3ff",
    _Role.Light: "#505054", _Role.Midlight: "#444448", _Role.Mid: "#38383b", _Role.Dark: "#1a1a1c",
    _Role.Shadow: "#000000", _Role.Accent: "#3874d8",
}  # fmt: skip
_DARK_DISABLED = {_Role.WindowText: "#808080", _Role.Text: "#808080", _Role.ButtonText: "#808080",
                  _Role.Highlight: "#505054", _Role.HighlightedText: "#b0b0b0"}  # fmt: skip
_LIGHT = {
    _Role.Window: "#efefef", _Role.WindowText: "#000000", _Role.Base: "#ffffff", _Role.AlternateBase: "#f7f7f7",
    _Role.Text: "#000000", _Role.Button: "#efefef", _Role.ButtonText: "#000000", _Role.BrightText: "#ffffff",
    _Role.ToolTipBase: "#ffffdc", _Role.ToolTipText: "#000000", _Role.PlaceholderText: "#6e6e6e",
    _Role.Highlight: "#2f74c0", _Role.HighlightedText: "#ffffff", _Role.Link: "#0b57d0", _Role.LinkVisited: "#7b1fa2",
    _Role.Light: "#ffffff", _Role.Midlight: "#cacaca", _Role.Mid: "#b8b8b8", _Role.Dark: "#9f9f9f",
    _Role.Shadow: "#767676", _Role.Accent: "#2f74c0",
}  # fmt: skip
_LIGHT_DISABLED = {_Role.WindowText: "#8c8c8c", _Role.Text: "#8c8c8c", _Role.ButtonText: "#8c8c8c",
                   _Role.Highlight: "#919191", _Role.HighlightedText: "#ffffff"}  # fmt: skip


def _palette(colours: dict[QPalette.ColorRole, str], disabled: dict[QPalette.ColorRole, str]) -> QPalette:
    palette = QPalette()
    for role, colour in colours.items():
        palette.setColor(role, QColor(colour))
    for role, colour in disabled.items():
        palette.setColor(_Group.Disabled, role, QColor(colour))
    return palette


def dark_palette() -> QPalette:
    return _palette(_DARK, _DARK_DISABLED)


def light_palette() -> QPalette:
    return _palette(_LIGHT, _LIGHT_DISABLED)


def _luminance(colour: QColor) -> float:
    def channel(value: float) -> float:
        return value / 12.92 if value <= 0.04045 else ((value + 0.055) / 1.055) ** 2.4

    return 0.2126 * channel(colour.redF()) + 0.7152 * channel(colour.greenF()) + 0.0722 * channel(colour.blueF())


def contrast(a: QColor, b: QColor) -> float:
    """WCAG 2 contrast ratio, 1 to 21 (4.5 for text, 3 for large text and icons)."""
    high, low = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def is_dark(palette: QPalette) -> bool:
    return palette.color(_Role.Window).lightness() < palette.color(_Role.WindowText).lightness()


def error_color(palette: QPalette) -> QColor:
    return QColor(ERROR_ON_DARK if is_dark(palette) else ERROR_ON_LIGHT)


def _error_style() -> str:
    return f"color: {error_color(QApplication.palette()).name()};"


def mark_error(widget: _W) -> _W:
    """Error text in the error colour of the scheme in force, kept right when the scheme changes."""
    widget.setProperty(_TONE, "error")
    widget.setStyleSheet(_error_style())
    return widget


def _refresh_tones() -> None:
    style = _error_style()
    for widget in QApplication.allWidgets():
        if widget.property(_TONE) == "error" and widget.styleSheet() != style:
            widget.setStyleSheet(style)


class ThemeKeeper(QObject):
    """Puts the chosen theme in force and keeps our own colours right when the system's scheme changes.

    "system" follows the desktop (Qt's style hints); "light" and "dark" ask the platform for that scheme
    (Windows, macOS, some Linux desktops honour it) and, where it is not honoured, set Fusion with a palette
    of that scheme, so the choice holds everywhere."""

    def __init__(self, app: QApplication, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._app = app
        self._native_style = app.style().name()
        self._forced = False
        self.choice = "system"
        app.styleHints().colorSchemeChanged.connect(self._scheme_changed)

    def _scheme_changed(self, _scheme: Qt.ColorScheme) -> None:
        # Qt updates the palette around this signal; reading it a moment later sees the new one.
        QTimer.singleShot(0, self, _refresh_tones)

    def apply(self, choice: str) -> None:
        if choice not in THEMES:
            choice = "system"
        hints = self._app.styleHints()
        if choice == "system":
            hints.unsetColorScheme()
            self._unforce()
        else:
            wanted = _SCHEMES[choice]
            hints.setColorScheme(wanted)
            if hints.colorScheme() == wanted:
                self._unforce()
            else:  # the platform cannot switch (X11 without a desktop theme, the offscreen platform)
                if self._app.style().name().lower() != "fusion":
                    self._app.setStyle("Fusion")  # native styles draw with the system's colours, not a palette
                self._app.setPalette(dark_palette() if choice == "dark" else light_palette())
                self._forced = True
        self.choice = choice
        log.info("theme: %s (%s)", choice, "dark" if is_dark(self._app.palette()) else "light")
        _refresh_tones()

    def _unforce(self) -> None:
        if not self._forced:
            return
        self._forced = False
        if self._app.style().name().lower() != self._native_style.lower():
            self._app.setStyle(self._native_style)
        self._app.setPalette(QPalette())  # an empty palette: the platform's own again, following it from now on
