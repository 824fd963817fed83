"""Windows that fit the screen they open on, at any scale (860 logical pixels are 1720 real ones at 200 %)."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, QRect
from PySide6.QtWidgets import QWidget

__all__ = ["FitOnShow", "fit_to_screen", "usable_area"]


def usable_area(available: QRect, screen: QRect) -> QRect:
    """The screen's free area, kept inside the screen. With a scale factor Qt (6.11, X11) scales the free area's
    size but not where it starts: below a 24-pixel top panel at 200 % it says (0, 24, 640, 388) on a 640x400
    screen, 12 logical pixels past the bottom edge. Inside both, a window is clear of the panel and on screen."""
    inside = available.intersected(screen)
    return inside if not inside.isEmpty() else screen


def fit_to_screen(window: QWidget) -> None:
    """Shrink the window (never below its minimum size) and move it so its frame lies inside the available
    area of its screen: the desktop's panels stay clear and no edge is out of reach."""
    screen = window.screen()
    if screen is None:
        return
    area = usable_area(screen.availableGeometry(), screen.geometry())
    frame, inner = window.frameGeometry(), window.geometry()
    # The window manager's decorations; before the first show Qt does not know them yet (0 then).
    extra_w, extra_h = frame.width() - inner.width(), frame.height() - inner.height()
    width = max(min(inner.width(), area.width() - extra_w), window.minimumWidth())
    height = max(min(inner.height(), area.height() - extra_h), window.minimumHeight())
    if (width, height) != (inner.width(), inner.height()):
        window.resize(width, height)
    # Moved only when an edge is out of the area: an unplaced window (at 0, 0, its frame a little outside) keeps
    # being placed by Qt (a dialog over its parent) or the window manager.
    frame, inner = window.frameGeometry(), window.geometry()
    x, y = frame.x(), frame.y()
    if frame.right() > area.right() or inner.x() < area.x():
        x = area.x() + max(area.width() - frame.width(), 0) if frame.right() > area.right() else area.x()
    if frame.bottom() > area.bottom() or inner.y() < area.y():
        y = area.y() + max(area.height() - frame.height(), 0) if frame.bottom() > area.bottom() else area.y()
    if (x, y) != (frame.x(), frame.y()):
        window.move(x, y)


class FitOnShow(QObject):
    """Fits each window it watches whenever it is about to be shown (on whatever screen that is)."""

    def watch(self, *windows: QWidget) -> None:
        for window in windows:
            window.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Show and isinstance(watched, QWidget) and watched.isWindow():
            fit_to_screen(watched)
        return False
