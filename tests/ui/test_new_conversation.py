"""The "New conversation" dialog: the UserID is checked as it is typed; only a valid one can be accepted."""

from __future__ import annotations

from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from im_desktop.ui.new_conversation import NewConversationDialog


def test_the_user_id_is_checked_as_typed_and_enter_opens_only_a_valid_one(qtbot: QtBot) -> None:
    dialog = NewConversationDialog()
    qtbot.addWidget(dialog)
    dialog.show()
    assert not dialog.ok_button.isEnabled() and dialog.hint.isHidden()  # empty, not yet an error
    qtbot.keyClicks(dialog.user_id_edit, "bob smith")
    assert dialog.hint.text() == "Only letters, digits, _ and - (not space)."
    assert not dialog.ok_button.isEnabled()
    qtbot.keyClick(dialog.user_id_edit, Qt.Key.Key_Return)
    assert dialog.isVisible()  # Enter on a bad UserID keeps the dialog open
    dialog.user_id_edit.setText("")
    qtbot.keyClick(dialog.user_id_edit, Qt.Key.Key_Return)
    assert dialog.hint.text() == "Enter a UserID."
    qtbot.keyClicks(dialog.user_id_edit, "bob")
    assert dialog.ok_button.isEnabled() and dialog.hint.isHidden()
    with qtbot.waitSignal(dialog.accepted):
        qtbot.keyClick(dialog.user_id_edit, Qt.Key.Key_Return)
    assert dialog.user_id() == "bob"


def test_a_user_id_over_32_bytes_says_how_long_it_is(qtbot: QtBot) -> None:
    dialog = NewConversationDialog()
    qtbot.addWidget(dialog)
    dialog.user_id_edit.setText("a" * 33)
    assert dialog.hint.text() == "At most 32 bytes (33 now)."
    assert dialog.user_id_edit.accessibleName() == "UserID" and dialog.ok_button.accessibleName()
