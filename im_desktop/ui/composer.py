"""The message composer: plain text, Enter sends, Shift+Enter starts a new line."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFontMetrics, QKeyEvent
from PySide6.QtWidgets import QPlainTextEdit, QWidget

__all__ = ["Composer"]

_LINES = 3  # visible lines; longer messages scroll inside the box


class Composer(QPlainTextEdit):
    """Typed text only (a paste of rich text arrives as its plain text). What it holds is escaped as Satori
    content when it is sent (session.sync), so `<b>` typed here reaches the other side as the characters.

    Signals:
        submitted(): Enter (or the keypad's Enter) without Shift.
    """

    submitted = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setTabChangesFocus(True)  # Tab moves on to Send, as in a line edit
        self.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)
        margins = self.contentsMargins()
        frame = 2 * self.frameWidth() + margins.top() + margins.bottom()
        height = QFontMetrics(self.font()).lineSpacing() * _LINES + frame + 2 * int(self.document().documentMargin())
        self.setFixedHeight(height)

    def text(self) -> str:
        return self.toPlainText()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            if event.modifiers() & Qt.KeyboardModifier.ShiftModifier:
                self.textCursor().insertText("\n")  # a new line, never the line-separator a bare Shift+Enter makes
            else:
                self.submitted.emit()
            event.accept()
            return
        super().keyPressEvent(event)
