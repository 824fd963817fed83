"""The Settings dialog: shows what is in force, returns what was chosen, says when a choice waits for a restart,
and never offers to start hidden where there is no tray to find the app in."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QCheckBox, QComboBox
from pytestqt.qtbot import QtBot

from im_desktop.local.settings import LANGUAGES, THEMES
from im_desktop.ui.settings_dialog import SettingsChoice, SettingsDialog

DEFAULTS = SettingsChoice(start_at_login=False, start_hidden=False, notifications=True, language="system",
                          theme="system")  # fmt: skip


def _dialog(qtbot: QtBot, current: SettingsChoice = DEFAULTS, *, tray: bool = True) -> SettingsDialog:
    dialog = SettingsDialog(current, tray=tray)
    qtbot.addWidget(dialog)
    return dialog


def test_it_shows_the_settings_in_force(qtbot: QtBot) -> None:
    current = SettingsChoice(start_at_login=True, start_hidden=True, notifications=False, language="zh_CN",
                             theme="dark")  # fmt: skip
    dialog = _dialog(qtbot, current)
    assert dialog.choice() == current
    assert dialog.windowModality() == Qt.WindowModality.WindowModal


def test_the_choices_come_back_as_picked(qtbot: QtBot) -> None:
    dialog = _dialog(qtbot)
    dialog.show()
    qtbot.mouseClick(dialog.start_at_login, Qt.MouseButton.LeftButton)
    qtbot.mouseClick(dialog.start_hidden, Qt.MouseButton.LeftButton)
    qtbot.mouseClick(dialog.notifications, Qt.MouseButton.LeftButton)
    dialog.language.setCurrentIndex(dialog.language.findData("en"))
    dialog.theme.setCurrentIndex(dialog.theme.findData("light"))
    assert dialog.choice() == SettingsChoice(True, True, False, "en", "light")


def test_every_language_and_theme_of_the_settings_is_offered(qtbot: QtBot) -> None:
    dialog = _dialog(qtbot)
    assert [dialog.language.itemData(i) for i in range(dialog.language.count())] == list(LANGUAGES)
    assert [dialog.theme.itemData(i) for i in range(dialog.theme.count())] == list(THEMES)
    # Each language is named in its own words, whatever the app speaks now.
    assert dialog.language.itemText(dialog.language.findData("zh_CN")) == "简体中文"
    assert dialog.language.itemText(dialog.language.findData("en")) == "English"


def test_a_new_language_says_it_waits_for_the_next_start(qtbot: QtBot) -> None:
    dialog = _dialog(qtbot)
    dialog.show()
    assert not dialog.language_note.isVisible()
    dialog.language.setCurrentIndex(dialog.language.findData("zh_CN"))
    assert dialog.language_note.isVisible() and "next start" in dialog.language_note.text()
    dialog.language.setCurrentIndex(dialog.language.findData("system"))
    assert not dialog.language_note.isVisible()


def test_without_a_tray_start_hidden_is_not_offered_and_kept_as_it_was(qtbot: QtBot) -> None:
    dialog = _dialog(qtbot, SettingsChoice(False, True, True, "system", "system"), tray=False)
    dialog.show()
    assert not dialog.start_hidden.isEnabled()
    assert dialog.tray_note.isVisible() and "no system tray" in dialog.tray_note.text()
    assert dialog.choice().start_hidden is True  # for the desktop that has a tray; this one opens the window
    dialog.theme.setCurrentIndex(dialog.theme.findData("dark"))
    assert dialog.choice() == SettingsChoice(False, True, True, "system", "dark")


def test_an_unknown_value_from_a_newer_version_shows_as_system(qtbot: QtBot) -> None:
    dialog = _dialog(qtbot, SettingsChoice(False, False, True, "fr", "sepia"))
    assert (dialog.choice().language, dialog.choice().theme) == ("system", "system")


def test_every_control_has_an_accessible_name(qtbot: QtBot) -> None:
    dialog = _dialog(qtbot)
    controls = dialog.findChildren(QCheckBox) + dialog.findChildren(QComboBox)
    assert len(controls) == 5
    assert all(control.accessibleName() for control in controls)
