"""The Settings dialog: start at login, start hidden in the tray, notifications, language and theme."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QCoreApplication, Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QVBoxLayout,
    QWidget,
)

from im_desktop.ui.plain import plain_label

__all__ = ["SettingsChoice", "SettingsDialog"]


@dataclass(frozen=True, slots=True)
class SettingsChoice:
    """What the dialog shows and returns; `language` and `theme` are the keys of settings.LANGUAGES/THEMES."""

    start_at_login: bool
    start_hidden: bool
    notifications: bool
    language: str
    theme: str


def _note(text: str) -> QLabel:
    label = plain_label(text)
    label.setWordWrap(True)
    font = label.font()
    font.setPointSizeF(font.pointSizeF() * 0.9)
    label.setFont(font)
    return label


class SettingsDialog(QDialog):
    """Window-modal; read `choice()` after it is accepted (used with await_dialog, never exec()). `tray`: whether
    there is a system tray to start hidden in (without one the window always opens)."""

    def __init__(self, current: SettingsChoice, *, tray: bool, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(self.tr("Settings"))
        self.setWindowModality(Qt.WindowModality.WindowModal)
        self.start_at_login = QCheckBox(self.tr("Start im-desktop when I &log in"))
        self.start_at_login.setAccessibleName(self.tr("Start at login"))
        self.start_hidden = QCheckBox(self.tr("Start &hidden in the tray"))
        self.start_hidden.setAccessibleName(self.tr("Start hidden in the tray"))
        self.start_hidden.setEnabled(tray)
        self.notifications = QCheckBox(self.tr("Show &notifications for new messages"))
        self.notifications.setAccessibleName(self.tr("Notifications"))
        self.language = QComboBox()
        self.language.setAccessibleName(self.tr("Language"))
        self.language.addItem(self.tr("System language"), "system")
        # Each language in its own words, so a person can find theirs whatever the app speaks now.
        self.language.addItem("English", "en")
        self.language.addItem("简体中文", "zh_CN")
        self.theme = QComboBox()
        self.theme.setAccessibleName(self.tr("Theme"))
        self.theme.addItem(self.tr("System"), "system")
        self.theme.addItem(self.tr("Light"), "light")
        self.theme.addItem(self.tr("Dark"), "dark")
        self.language_note = _note(self.tr("A new language is used from the next start of im-desktop."))
        self.language_note.hide()
        no_tray = self.tr("There is no system tray here, so the window always opens.")
        self.tray_note = _note(no_tray)
        self.tray_note.setVisible(not tray)

        startup = QVBoxLayout()
        for widget in (self.start_at_login, self.start_hidden, self.tray_note, self.notifications):
            startup.addWidget(widget)
        form = QFormLayout()
        form.addRow(self._buddy(self.tr("&Language:"), self.language), self.language)
        form.addRow("", self.language_note)
        form.addRow(self._buddy(self.tr("&Theme:"), self.theme), self.theme)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        layout = QVBoxLayout(self)
        layout.addLayout(startup)
        layout.addLayout(form)
        layout.addWidget(self.buttons)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)

        self._language_at_start = current.language
        self._hidden_kept = current.start_hidden  # without a tray here, kept as it is for a desktop that has one
        self.start_at_login.setChecked(current.start_at_login)
        self.start_hidden.setChecked(current.start_hidden)
        self.notifications.setChecked(current.notifications)
        self._select(self.language, current.language)
        self._select(self.theme, current.theme)
        self.language.currentIndexChanged.connect(self._on_language)

    @staticmethod
    def _buddy(text: str, widget: QWidget) -> QLabel:
        label = plain_label(text)
        label.setBuddy(widget)  # Alt+<underlined letter> moves to the field
        return label

    @staticmethod
    def _select(box: QComboBox, key: str) -> None:
        index = box.findData(key)
        box.setCurrentIndex(max(index, 0))  # an unknown key (a newer version's file): the first, "system"

    def _on_language(self) -> None:
        self.language_note.setVisible(self.language.currentData() != self._language_at_start)

    @staticmethod
    def autostart_problem(reason: str) -> str:
        """What the status bar says when the desktop's start-at-login entry could not be changed."""
        text = QCoreApplication.translate(
            "SettingsDialog", "Could not change whether im-desktop starts at login: {reason}"
        )
        return text.format(reason=reason)

    def choice(self) -> SettingsChoice:
        return SettingsChoice(
            start_at_login=self.start_at_login.isChecked(),
            start_hidden=self.start_hidden.isChecked() if self.start_hidden.isEnabled() else self._hidden_kept,
            notifications=self.notifications.isChecked(),
            language=str(self.language.currentData()),
            theme=str(self.theme.currentData()),
        )
