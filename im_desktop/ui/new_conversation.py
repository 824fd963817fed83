"""The "New conversation" dialog: a UserID, checked as it is typed, for a direct conversation."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QFormLayout, QLineEdit, QVBoxLayout, QWidget

from im_desktop.ui.plain import plain_label
from im_desktop.ui.qt_async import await_dialog
from im_desktop.ui.theme import mark_error
from im_desktop.ui.user_id_hint import is_valid_user_id, user_id_problem

__all__ = ["NewConversationDialog", "ask_user_id"]


class NewConversationDialog(QDialog):
    """Window-modal; read `user_id()` after it is accepted (used with await_dialog, never exec()). OK stays
    disabled until the UserID follows the rule, and the hint says what to change, as in the login window.

    Signals: only QDialog's own (`finished(int)`, `accepted()`, `rejected()`).
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(self.tr("New conversation"))
        self.setWindowModality(Qt.WindowModality.WindowModal)
        self.setMinimumWidth(360)
        self._tried = False
        self.user_id_edit = QLineEdit()
        self.user_id_edit.setAccessibleName(self.tr("UserID"))
        self.user_id_edit.setPlaceholderText(self.tr("letters, digits, _ and -"))
        self.user_id_edit.setInputMethodHints(Qt.InputMethodHint.ImhNoAutoUppercase | Qt.InputMethodHint.ImhLatinOnly)
        self.hint = plain_label()
        mark_error(self.hint)
        self.hint.setWordWrap(True)
        self.hint.setAccessibleName(self.tr("Problem"))
        label = plain_label(self.tr("&Who:"))
        label.setBuddy(self.user_id_edit)
        form = QFormLayout()
        form.addRow(label, self.user_id_edit)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.ok_button = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok_button.setText(self.tr("&Open"))
        self.ok_button.setAccessibleName(self.tr("Open the conversation"))
        self.buttons.button(QDialogButtonBox.StandardButton.Cancel).setText(self.tr("Cancel"))
        layout = QVBoxLayout(self)
        layout.addWidget(plain_label(self.tr("Write to someone directly: type their UserID.")))
        layout.addLayout(form)
        layout.addWidget(self.hint)
        layout.addWidget(self.buttons)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self.user_id_edit.textChanged.connect(self._check)
        self._check()

    def user_id(self) -> str:
        return self.user_id_edit.text()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        # Enter reaches accept() even while OK is disabled, so an empty or bad UserID gets its hint.
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            event.accept()
            self.accept()
            return
        super().keyPressEvent(event)

    def accept(self) -> None:
        if not is_valid_user_id(self.user_id()):  # Enter on a bad or empty UserID says what is wrong instead
            self._tried = True
            self._check()
            return
        super().accept()

    def _check(self) -> None:
        problem = user_id_problem(self.user_id(), tried=self._tried)
        self.hint.setText(problem)
        self.hint.setVisible(bool(problem))
        self.user_id_edit.setAccessibleDescription(problem)
        self.ok_button.setEnabled(is_valid_user_id(self.user_id()))


async def ask_user_id(parent: QWidget) -> str:
    """The UserID the person wants to write to, or "" if they cancelled."""
    dialog = NewConversationDialog(parent)
    try:
        return dialog.user_id() if await await_dialog(dialog) == QDialog.DialogCode.Accepted else ""
    finally:
        dialog.deleteLater()
