"""LoginWindow: live UserID validation, the request each ticket source emits, busy and failure states, keyboard use."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QCheckBox, QComboBox, QLineEdit, QProgressBar, QPushButton, QWidget
from pytestqt.qtbot import QtBot

from im_desktop.ui.login_window import LoginRequest, LoginWindow, ProfileChoice

PROFILES = [
    ProfileChoice("sandbox", "Built-in sandbox", ("sandbox",), "sandbox"),
    ProfileChoice("corp", "Company server", ("password", "usersig"), "password"),
    ProfileChoice("satori", "Satori bridge", ("token",), "token"),
]


@pytest.fixture
def window(qtbot):
    login = LoginWindow()
    qtbot.addWidget(login)
    login.set_profiles(PROFILES, "sandbox")
    return login


def shown(window: LoginWindow, qtbot: QtBot) -> LoginWindow:
    """Show and activate the window so focus and Tab behave as on a desktop."""
    window.show()
    qtbot.waitExposed(window)
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window)
    return window


def pick(box: QComboBox, data: str) -> None:
    box.setCurrentIndex(box.findData(data))


def row_visible(window: LoginWindow, widget: QWidget) -> bool:
    parent = widget.parentWidget()
    return not widget.isHidden() and parent is not None and not parent.isHidden()


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("a" * 33, "At most 32 bytes (33 now)."),
        ("alice smith", "Only letters, digits, _ and - (not space)."),
        ("bob!", "Only letters, digits, _ and - (not \u201c!\u201d)."),
        ("m\u00fcller", "Only letters, digits, _ and - (not \u201c\u00fc\u201d)."),
        ("alice_01-X", ""),
        ("a" * 32, ""),
    ],
)
def test_user_id_is_checked_on_every_keystroke(window, qtbot, typed, expected):
    if typed.isascii():
        qtbot.keyClicks(window.user_id_edit, typed)
    else:
        window.user_id_edit.insert(typed)  # QTest can only type ASCII; this is how an input method delivers it
    assert window.user_id_error == expected
    assert window.login_enabled is (expected == "")
    assert window.user_id_edit.accessibleDescription() == expected


def test_the_hint_follows_the_edit_both_ways(window, qtbot):
    qtbot.keyClicks(window.user_id_edit, "alice ")
    assert window.user_id_error and not window.login_enabled
    qtbot.keyClick(window.user_id_edit, Qt.Key.Key_Backspace)
    assert window.user_id_error == ""
    assert window.login_enabled


def test_an_empty_user_id_says_nothing_until_the_user_tries(window, qtbot):
    assert window.user_id_error == ""
    assert not window.login_enabled
    with qtbot.assertNotEmitted(window.login_requested):
        qtbot.keyClick(window.user_id_edit, Qt.Key.Key_Return)
    assert window.user_id_error == "Enter a UserID."
    assert not window.busy


@pytest.mark.parametrize(
    ("profile", "source", "typed", "secret"),
    [
        ("sandbox", "sandbox", None, ""),
        ("corp", "password", " pass word ", " pass word "),  # a password keeps its spaces
        ("corp", "usersig", "  eJyrVkrOz0  ", "eJyrVkrOz0"),  # a pasted ticket loses the whitespace around it
        ("satori", "token", "s3cret-token", "s3cret-token"),
        ("satori", "token", "", ""),  # many Satori servers run without a token
    ],
)
def test_enter_emits_the_request_and_forgets_the_secret(window, qtbot, profile, source, typed, secret):
    pick(window.profile_box, profile)
    pick(window.source_box, source)
    qtbot.keyClicks(window.user_id_edit, "alice")
    if typed is not None:
        qtbot.keyClicks(window.secret_edit, typed)
    window.remember_box.setChecked(True)
    with qtbot.waitSignal(window.login_requested, timeout=1000) as emitted:
        qtbot.keyClick(window.secret_edit if typed is not None else window.user_id_edit, Qt.Key.Key_Return)
    assert emitted.args == [LoginRequest(profile, "alice", source, secret, True)]
    assert window.secret_edit.text() == ""
    assert not window.secret_edit.isUndoAvailable()  # Ctrl+Z cannot bring the password back either
    assert window.busy


def test_the_log_in_button_emits_too(window, qtbot):
    window.set_user_id("bob")
    with qtbot.waitSignal(window.login_requested, timeout=1000) as emitted:
        qtbot.mouseClick(window.login_button, Qt.MouseButton.LeftButton)
    assert emitted.args == [LoginRequest("sandbox", "bob", "sandbox", "", False)]


def test_a_password_is_needed_before_logging_in(window, qtbot):
    pick(window.profile_box, "corp")
    window.set_user_id("alice")
    assert not window.login_enabled
    with qtbot.assertNotEmitted(window.login_requested):
        qtbot.keyClick(window.user_id_edit, Qt.Key.Key_Return)
    assert window.focusWidget() is window.secret_edit
    assert window.secret_edit.accessibleDescription() == "Enter your password."
    qtbot.keyClicks(window.secret_edit, "x")
    assert window.login_enabled


def test_profiles_offer_their_own_sources(window, qtbot):
    assert window.current_source == "sandbox"
    assert not row_visible(window, window.source_box)  # a single choice is not shown as a choice
    assert not row_visible(window, window.secret_edit)
    with qtbot.waitSignal(window.profile_changed, timeout=1000) as changed:
        qtbot.keyClick(window.profile_box, Qt.Key.Key_Down)  # the user picks the next server
    assert changed.args == ["corp"]
    assert [window.source_box.itemData(i) for i in range(window.source_box.count())] == ["password", "usersig"]
    assert window.current_source == "password"
    assert row_visible(window, window.source_box)
    assert row_visible(window, window.secret_edit)
    assert window.secret_edit.echoMode() is QLineEdit.EchoMode.Password
    pick(window.source_box, "usersig")
    assert window.secret_edit.echoMode() is QLineEdit.EchoMode.Normal
    assert window.secret_edit.accessibleName() == "UserSig"
    pick(window.profile_box, "satori")
    assert window.current_source == "token"
    assert window.secret_edit.echoMode() is QLineEdit.EchoMode.Password
    assert window.secret_edit.accessibleName() == "Token"


def test_set_profiles_is_not_the_users_choice(qtbot):
    login = LoginWindow()
    qtbot.addWidget(login)
    with qtbot.assertNotEmitted(login.profile_changed):
        login.set_profiles(PROFILES, "corp")
    assert login.current_profile == "corp"
    assert login.current_source == "password"


def test_a_typed_password_never_shows_up_in_the_plain_usersig_field(window, qtbot):
    pick(window.profile_box, "corp")
    qtbot.keyClicks(window.secret_edit, "hunter2")
    pick(window.source_box, "usersig")
    assert window.secret_edit.text() == ""


def test_busy_while_logging_in(window, qtbot):
    window.set_user_id("alice")
    window.on_login_started()
    assert window.busy
    assert not window.login_enabled
    assert not window.user_id_edit.isEnabled()
    assert not window.profile_box.isEnabled()
    assert not window.progress.isHidden()
    assert window.progress.maximum() == 0  # indeterminate
    assert window.status_label.text() == "Logging in\u2026"
    with qtbot.assertNotEmitted(window.login_requested):
        qtbot.keyClick(window, Qt.Key.Key_Return)


@pytest.mark.parametrize(
    ("code", "focus", "expected"),
    # The password left with the request, so after a network failure the password field is what needs typing.
    [
        (70003, "secret_edit", "The login ticket could not be read. Was it copied completely? (code 70003)"),
        (7003, "user_id_edit", "A UserID may only use letters, digits, '_' and '-', at most 32 of them. (code 7003)"),
        (9508, "secret_edit", "The server cannot be reached. Check your network; the app keeps trying. (code 9508)"),
        (70050, "secret_edit", "Too many failed logins. Check your ticket and try again in a minute. (code 70050)"),
    ],
)
def test_a_failure_says_why_with_the_code_and_hands_the_form_back(window, qtbot, code, focus, expected):
    pick(window.profile_box, "corp")
    window.set_user_id("alice")
    qtbot.keyClicks(window.secret_edit, "wrong")
    qtbot.keyClick(window.secret_edit, Qt.Key.Key_Return)
    assert window.busy
    window.on_login_failed(code, "server words")
    assert window.error_text == expected
    assert f"code {code}" in window.error_text
    assert window.error_label.accessibleDescription() == expected
    assert not window.busy
    assert window.progress.isHidden()
    assert window.user_id_edit.isEnabled()
    assert window.user_id_edit.text() == "alice"
    assert window.focusWidget() is getattr(window, focus)
    assert getattr(window, focus).accessibleDescription() == expected


def test_a_ticket_failure_in_the_sandbox_points_at_the_user_id(window):
    window.set_user_id("alice")
    window.on_login_started()
    window.on_login_failed(70013, "")
    assert window.focusWidget() is window.user_id_edit


def test_a_network_failure_in_the_sandbox_leaves_enter_on_log_in(window):
    window.set_user_id("alice")
    window.on_login_started()
    window.on_login_failed(9508, "")
    assert window.focusWidget() is window.login_button
    assert window.login_enabled


def test_success_clears_the_progress_and_the_old_error(window):
    window.set_user_id("alice")
    window.on_login_started()
    window.on_login_failed(9508, "")
    window.on_login_started()
    assert window.error_text == ""
    window.on_login_succeeded()
    assert not window.busy
    assert window.progress.isHidden()
    assert window.error_text == ""
    assert window.login_enabled


def test_a_locked_keyring_is_a_note_not_an_error(window):
    assert window.credentials_note.isHidden()
    window.on_credentials_unavailable("The keyring is locked; unlock it and try again.")
    assert not window.credentials_note.isHidden()
    assert "this session only" in window.credentials_note.text()
    assert window.credentials_note.text().startswith("The keyring is locked")
    assert window.error_text == ""
    assert not window.busy


def test_other_server_asks_the_app(window, qtbot):
    with qtbot.waitSignal(window.add_server_requested, timeout=1000):
        qtbot.mouseClick(window.add_server_button, Qt.MouseButton.LeftButton)


def test_enter_on_the_other_server_button_opens_it_and_does_not_log_in(window, qtbot):
    window.set_user_id("alice")
    with qtbot.assertNotEmitted(window.login_requested), qtbot.waitSignal(window.add_server_requested, timeout=1000):
        qtbot.keyClick(window.add_server_button, Qt.Key.Key_Return)


def test_keyboard_only_from_the_first_field_to_logged_in(window, qtbot):
    window.set_profiles(PROFILES, "corp")
    shown(window, qtbot)
    window.profile_box.setFocus()
    visited = [QApplication.focusWidget()]

    def tab() -> None:
        qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Tab)
        visited.append(QApplication.focusWidget())

    tab()
    tab()
    qtbot.keyClicks(window.user_id_edit, "carol")
    tab()
    tab()
    qtbot.keyClicks(window.secret_edit, "pw")
    tab()
    qtbot.keyClick(window.remember_box, Qt.Key.Key_Space)
    tab()
    assert visited == [window.profile_box, window.add_server_button, window.user_id_edit, window.source_box,
                       window.secret_edit, window.remember_box, window.login_button]  # fmt: skip
    with qtbot.waitSignal(window.login_requested, timeout=1000) as emitted:
        qtbot.keyClick(window.login_button, Qt.Key.Key_Return)
    assert emitted.args == [LoginRequest("corp", "carol", "password", "pw", True)]


def test_keyboard_back_tab_mnemonics_and_keypad_enter(window, qtbot):
    window.set_profiles(PROFILES, "corp")
    shown(window, qtbot)
    window.remember_box.setFocus()
    qtbot.keyClick(window.remember_box, Qt.Key.Key_Tab, Qt.KeyboardModifier.ShiftModifier)
    assert QApplication.focusWidget() is window.secret_edit
    qtbot.keyClick(window.secret_edit, Qt.Key.Key_U, Qt.KeyboardModifier.AltModifier)  # the label's mnemonic
    assert QApplication.focusWidget() is window.user_id_edit
    qtbot.keyClicks(window.user_id_edit, "dave")
    qtbot.keyClick(window.user_id_edit, Qt.Key.Key_P, Qt.KeyboardModifier.AltModifier)
    assert QApplication.focusWidget() is window.secret_edit
    qtbot.keyClicks(window.secret_edit, "pw")
    with qtbot.waitSignal(window.login_requested, timeout=1000) as emitted:
        qtbot.keyClick(window.secret_edit, Qt.Key.Key_Enter)  # the keypad's Enter works like Return
    assert emitted.args == [LoginRequest("corp", "dave", "password", "pw", False)]


def test_every_input_and_button_has_an_accessible_name(window):
    for profile in ("sandbox", "corp", "satori"):
        pick(window.profile_box, profile)
        controls = window.findChildren(QWidget)
        kinds = (QLineEdit, QComboBox, QCheckBox, QPushButton, QProgressBar)
        named = [w for w in controls if isinstance(w, kinds)]
        assert len(named) >= 7
        for widget in named:
            assert widget.accessibleName(), f"{type(widget).__name__} {widget.objectName()!r} has no name"


def test_the_secret_is_never_in_a_repr():
    request = LoginRequest("corp", "alice", "password", "hunter2-secret", remember=False)
    assert "hunter2-secret" not in repr(request)
    assert "hunter2-secret" not in str(request)
    assert "alice" in repr(request)


def test_requests_and_profiles_refuse_nonsense():
    with pytest.raises(ValueError, match="source"):
        LoginRequest("corp", "alice", "carrier-pigeon", "", remember=False)
    with pytest.raises(ValueError, match="default source"):
        ProfileChoice("corp", "Company", ("password",), "usersig")
    with pytest.raises(ValueError, match="sources"):
        ProfileChoice("corp", "Company", (), "password")
