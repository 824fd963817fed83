"""KickedDialog and TicketDialog: what they show, the result each choice returns through `finished`, modality."""

from __future__ import annotations

import time

import pytest
from PySide6.QtCore import QDate, QDateTime, QLocale, Qt, QTime
from PySide6.QtWidgets import QDialog, QLabel, QLineEdit, QPushButton, QWidget

from im_desktop.ui.dialogs import (
    KICK_LOG_OUT,
    KICK_LOGIN_AGAIN,
    KICK_QUIT,
    KickedDialog,
    TicketDialog,
    format_kick_time,
)


def kick(**changes: object) -> dict[str, object]:
    info: dict[str, object] = {
        "reason": "multi_device",
        "code": 6208,
        "message": "Logged in on another device.",
        "by": {"platform": "Android", "device_name": "Pixel 8", "device_id": "d-2"},
        "at": int(time.time() * 1000),
    }
    info.update(changes)
    return info


@pytest.fixture
def parent(qtbot):
    window = QWidget()
    window.resize(640, 480)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    return window


def texts(dialog: QDialog) -> str:
    return "\n".join(label.text() for label in dialog.findChildren(QLabel) if not label.isHidden())


def short_time(hour: int, minute: int) -> str:
    return QLocale().toString(QTime(hour, minute), QLocale.FormatType.ShortFormat)


def test_the_kick_says_why_which_device_and_when(parent):
    dialog = KickedDialog(kick(), parent)
    shown = texts(dialog)
    # The device and platform come from the server: each sits in a bidi isolate (U+2068 ... U+2069).
    assert "Your account was logged in on another device. Device: \u2068Pixel 8\u2069 (\u2068Android\u2069)." in shown
    assert "Pixel 8" in shown
    assert "Android" in shown
    assert dialog.when_text.startswith(("today at ", "yesterday at "))  # the latter only across midnight
    assert dialog.when_text in shown
    assert "6208" in shown
    assert "stay on this computer" in shown  # nothing is deleted, whatever the choice
    assert not dialog.login_again_note.isHidden()
    assert "other device out" in dialog.login_again_button.accessibleDescription()


def test_a_platform_without_a_device_name_is_still_shown(parent):
    dialog = KickedDialog(kick(by={"platform": "iPad", "device_name": ""}), parent)
    assert "iPad" in texts(dialog)


def test_an_operator_kick_has_no_other_device(parent):
    dialog = KickedDialog(kick(reason="admin", by=None, at=0), parent)
    shown = texts(dialog)
    assert "administrator" in shown
    assert dialog.login_again_note.isHidden()
    assert dialog.when_text == ""  # no time given: no made-up time


def test_kick_times_read_like_people_talk():
    now = QDateTime(QDate(2024, 3, 14), QTime(18, 30))
    at = QDateTime(QDate(2024, 3, 14), QTime(14, 3)).toMSecsSinceEpoch()
    assert format_kick_time(at, now) == f"today at {short_time(14, 3)}"
    yesterday = QDateTime(QDate(2024, 3, 13), QTime(23, 59)).toMSecsSinceEpoch()
    assert format_kick_time(yesterday, now) == f"yesterday at {short_time(23, 59)}"
    older = QDateTime(QDate(2023, 11, 2), QTime(9, 5)).toMSecsSinceEpoch()
    full_date = QLocale().toString(QDate(2023, 11, 2), QLocale.FormatType.LongFormat)
    assert format_kick_time(older, now) == f"{full_date} at {short_time(9, 5)}"
    assert "2023" in format_kick_time(older, now)


@pytest.mark.parametrize(
    ("button", "code"),
    [("login_again_button", KICK_LOGIN_AGAIN), ("log_out_button", KICK_LOG_OUT), ("quit_button", KICK_QUIT)],
)
def test_each_choice_returns_its_code_through_finished(parent, qtbot, button, code):
    dialog = KickedDialog(kick(), parent)
    dialog.open()
    with qtbot.waitSignal(dialog.finished, timeout=1000) as finished:
        qtbot.mouseClick(getattr(dialog, button), Qt.MouseButton.LeftButton)
    assert finished.args == [code]
    assert dialog.result() == code
    assert dialog.isHidden()


@pytest.mark.parametrize("key", [Qt.Key.Key_Escape, Qt.Key.Key_Return])
def test_escape_and_enter_never_log_the_other_device_out(parent, qtbot, key):
    dialog = KickedDialog(kick(), parent)
    dialog.open()
    with qtbot.waitSignal(dialog.finished, timeout=1000) as finished:
        qtbot.keyClick(dialog, key)
    assert finished.args == [KICK_LOG_OUT]


def test_closing_the_window_is_log_out_too(parent, qtbot):
    dialog = KickedDialog(kick(), parent)
    dialog.open()
    with qtbot.waitSignal(dialog.finished, timeout=1000) as finished:
        dialog.close()
    assert finished.args == [KICK_LOG_OUT]


def test_the_result_codes_are_distinct_and_clear_of_accepted_and_rejected():
    codes = {KICK_LOGIN_AGAIN, KICK_LOG_OUT, KICK_QUIT}
    assert len(codes) == 3
    assert min(codes) >= 10


def test_both_dialogs_are_window_modal_and_open_without_exec(parent, qtbot):
    for dialog in (KickedDialog(kick(), parent), TicketDialog("alice", "password", parent)):
        assert dialog.windowModality() is Qt.WindowModality.WindowModal
        dialog.open()  # returns at once: await_dialog relies on that
        qtbot.waitExposed(dialog)
        assert dialog.isVisible()
        assert dialog.parentWidget() is parent
        dialog.reject()


def test_every_button_and_field_has_an_accessible_name(parent):
    for dialog in (KickedDialog(kick(), parent), TicketDialog("alice", "usersig", parent)):
        assert dialog.accessibleName()
        controls = dialog.findChildren(QPushButton) + dialog.findChildren(QLineEdit)
        assert controls
        for control in controls:
            assert control.accessibleName(), f"{control.text()!r} has no accessible name"


def test_ticket_dialog_ok_waits_for_a_password_and_returns_it(parent, qtbot):
    dialog = TicketDialog("alice", "password", parent)
    dialog.open()
    assert not dialog.ok_button.isEnabled()
    qtbot.keyClick(dialog.secret_edit, Qt.Key.Key_Return)  # Enter in an empty field does nothing
    assert dialog.isVisible()
    assert dialog.secret_edit.echoMode() is QLineEdit.EchoMode.Password
    qtbot.keyClicks(dialog.secret_edit, " hunter2")
    assert dialog.ok_button.isEnabled()
    with qtbot.waitSignal(dialog.finished, timeout=1000) as finished:
        qtbot.keyClick(dialog.secret_edit, Qt.Key.Key_Return)
    assert finished.args == [QDialog.DialogCode.Accepted.value]
    assert dialog.secret() == " hunter2"  # a password keeps its spaces
    dialog.clear_secret()
    assert dialog.secret() == ""
    assert not dialog.secret_edit.isUndoAvailable()


def test_ticket_dialog_takes_a_pasted_usersig(parent, qtbot):
    dialog = TicketDialog("alice", "usersig", parent)
    dialog.open()
    assert dialog.secret_edit.echoMode() is QLineEdit.EchoMode.Normal
    dialog.secret_edit.insert("  eJyrVkrOz0\n")
    with qtbot.waitSignal(dialog.finished, timeout=1000) as finished:
        qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)
    assert finished.args == [QDialog.DialogCode.Accepted.value]
    assert dialog.secret() == "eJyrVkrOz0"


def test_ticket_dialog_keeps_the_work_and_says_so(parent):
    shown = texts(TicketDialog("alice", "password", parent))
    assert "expired" in shown
    assert "alice" in shown
    assert "drafts and the open conversation are kept" in shown


@pytest.mark.parametrize("how", ["cancel", "escape"])
def test_ticket_dialog_cancel_rejects_and_forgets(parent, qtbot, how):
    dialog = TicketDialog("alice", "password", parent)
    dialog.open()
    qtbot.keyClicks(dialog.secret_edit, "half-typed")
    with qtbot.waitSignal(dialog.finished, timeout=1000) as finished:
        if how == "cancel":
            qtbot.mouseClick(dialog.cancel_button, Qt.MouseButton.LeftButton)
        else:
            qtbot.keyClick(dialog.secret_edit, Qt.Key.Key_Escape)
    assert finished.args == [QDialog.DialogCode.Rejected.value]
    assert dialog.secret() == ""


def test_ticket_dialog_only_asks_for_what_a_person_can_type(parent):
    with pytest.raises(ValueError, match="sandbox"):
        TicketDialog("alice", "sandbox", parent)
