"""The connection status bar: the words for each state, no flicker, the countdown and Retry now."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QToolButton
from pytestqt.qtbot import QtBot

from im_desktop.protocol.models import LoginStatus
from im_desktop.ui.status_bar import ConnectionStatusBar
from tests.clocks import FakeClock

KICK = {
    "reason": "multi_device",
    "code": 6208,
    "message": "kicked",
    "by": {"platform": "Windows", "device_name": "Alice's ThinkPad", "device_id": "d-1"},
    "at": 1_700_000_000_000,
}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(1000.0)


@pytest.fixture
def bar(qtbot: QtBot, clock: FakeClock) -> ConnectionStatusBar:
    widget = ConnectionStatusBar(debounce_ms=200, tick_ms=10, clock=clock)
    qtbot.addWidget(widget)
    widget.resize(900, 30)
    widget.show()
    return widget


def online(bar: ConnectionStatusBar) -> None:
    bar.on_status_changed(LoginStatus.CONNECT)
    bar.on_status_changed(LoginStatus.ONLINE)
    assert bar.state_text == "Online"


def test_words_for_connecting_and_online(bar: ConnectionStatusBar) -> None:
    assert bar.state_text == "Offline"
    bar.on_status_changed(LoginStatus.CONNECT)
    assert bar.state_text == "Connecting…"
    assert bar.property("connection") == "connecting"
    assert not bar.retry_visible
    bar.on_status_changed(LoginStatus.ONLINE)
    assert bar.state_text == "Online"
    assert bar.property("connection") == "online"
    assert not bar.retry_visible


def test_a_short_drop_changes_nothing(qtbot: QtBot, clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> None:
    bar = ConnectionStatusBar(debounce_ms=700, tick_ms=10, clock=clock)
    qtbot.addWidget(bar)
    bar.show()
    online(bar)
    shown: list[str] = []  # every text the label is given, however briefly
    original = bar._label.set_full_text

    def recording(text: str) -> None:
        shown.append(text)
        original(text)

    monkeypatch.setattr(bar._label, "set_full_text", recording)
    bar.on_status_changed(LoginStatus.DISCONNECT)
    bar.on_status_changed(LoginStatus.RECONNECT)
    bar.on_reconnect_scheduled(0.5)
    qtbot.wait(300)  # a 0.3 s drop, well inside the debounce
    bar.on_status_changed(LoginStatus.ONLINE)
    qtbot.wait(900)  # past the debounce: the cancelled timer must not show anything late
    assert shown == []
    assert bar.state_text == "Online"
    assert bar.property("connection") == "online"
    assert not bar.retry_visible


def test_a_long_drop_shows_after_the_debounce(qtbot: QtBot, bar: ConnectionStatusBar) -> None:
    online(bar)
    bar.on_status_changed(LoginStatus.DISCONNECT)
    bar.on_status_changed(LoginStatus.RECONNECT)
    bar.on_reconnect_scheduled(1.5)
    assert bar.state_text == "Online"
    qtbot.waitUntil(lambda: bar.state_text == "Reconnecting…", timeout=2000)
    assert bar.property("connection") == "reconnecting"
    assert not bar.retry_visible  # no countdown, no button for a wait under 4 s


def test_no_countdown_for_waits_under_four_seconds(bar: ConnectionStatusBar) -> None:
    bar.on_status_changed(LoginStatus.CONNECT)
    bar.on_status_changed(LoginStatus.RECONNECT)
    bar.on_reconnect_scheduled(3.9)
    assert bar.state_text == "Reconnecting…"
    assert not bar.retry_visible


def test_countdown_counts_down_then_says_reconnecting(qtbot: QtBot, bar: ConnectionStatusBar, clock: FakeClock) -> None:
    bar.on_status_changed(LoginStatus.CONNECT)
    bar.on_status_changed(LoginStatus.RECONNECT)
    bar.on_reconnect_scheduled(5.0)
    assert bar.state_text == "Reconnecting in 5 s"
    assert bar.property("connection") == "reconnecting"
    assert bar.retry_visible
    clock.now += 1.0
    qtbot.waitUntil(lambda: bar.state_text == "Reconnecting in 4 s", timeout=1000)
    clock.now += 2.5
    qtbot.waitUntil(lambda: bar.state_text == "Reconnecting in 2 s", timeout=1000)
    clock.now += 1.6
    qtbot.waitUntil(lambda: bar.state_text == "Reconnecting…", timeout=1000)
    assert not bar.retry_visible  # the attempt is under way


def test_countdown_after_a_drop_from_online_starts_late_but_right(
    qtbot: QtBot, bar: ConnectionStatusBar, clock: FakeClock
) -> None:
    online(bar)
    bar.on_status_changed(LoginStatus.DISCONNECT)
    bar.on_status_changed(LoginStatus.RECONNECT)
    bar.on_reconnect_scheduled(8.0)
    clock.now += 1.0  # the debounce hides the first second of the wait
    qtbot.waitUntil(lambda: bar.state_text == "Reconnecting in 7 s", timeout=2000)
    assert bar.retry_visible


def test_retry_now_emits_and_hides_itself(qtbot: QtBot, bar: ConnectionStatusBar) -> None:
    bar.on_status_changed(LoginStatus.CONNECT)
    bar.on_status_changed(LoginStatus.RECONNECT)
    bar.on_reconnect_scheduled(16.0)
    button = bar.findChild(QToolButton, "retryNow")
    assert button is not None and button.accessibleName() == "Retry now"
    with qtbot.waitSignal(bar.retry_requested, timeout=1000):
        button.click()
    assert bar.state_text == "Reconnecting…"
    assert not bar.retry_visible


def test_failed_attempt_shows_the_reason_and_offers_retry(bar: ConnectionStatusBar) -> None:
    bar.on_status_changed(LoginStatus.CONNECT)
    bar.on_connect_failed(9508, "connection refused")
    assert bar.state_text == (
        "Offline: The server cannot be reached. Check your network; the app keeps trying. (code 9508)"
    )
    assert "(code 9508)" in bar.state_text
    assert bar.property("connection") == "offline"
    assert bar.retry_visible  # the session lives on and will try again
    bar.on_status_changed(LoginStatus.RECONNECT)
    bar.on_reconnect_scheduled(8.0)
    assert bar.state_text == "Reconnecting in 8 s"
    assert "code 9508" in bar._label.toolTip()  # the reason stays one hover away


def test_failure_after_the_session_ended_offers_no_retry(bar: ConnectionStatusBar) -> None:
    bar.on_status_changed(LoginStatus.CONNECT)
    bar.on_status_changed(LoginStatus.OFFLINE)  # the controller resets first, then says why
    bar.on_connect_failed(70003, "")
    assert bar.state_text.startswith("Offline: ")
    assert "(code 70003)" in bar.state_text
    assert not bar.retry_visible


def test_kick_names_the_device_and_stays_over_offline(bar: ConnectionStatusBar) -> None:
    online(bar)
    bar.on_status_changed(LoginStatus.OFFLINE)
    assert bar.state_text == "Offline"  # immediate: the end of a session is never debounced
    bar.on_kicked(KICK)
    assert bar.state_text.startswith("Logged in elsewhere: ")
    assert "Alice's ThinkPad" in bar.state_text
    assert bar.property("connection") == "kicked"
    assert not bar.retry_visible
    bar.on_status_changed(LoginStatus.OFFLINE)
    assert "Alice's ThinkPad" in bar.state_text


def test_admin_kick_is_not_called_logged_in_elsewhere(bar: ConnectionStatusBar) -> None:
    bar.on_kicked({"reason": "admin", "code": 6208, "message": "", "by": None, "at": 0})
    assert bar.state_text.startswith("Signed out by the server: ")
    assert bar.property("connection") == "kicked"


def test_needs_ticket_and_logged_out(bar: ConnectionStatusBar) -> None:
    online(bar)
    bar.on_status_changed(LoginStatus.OFFLINE)
    bar.on_needs_ticket()
    assert bar.state_text == "Needs a new login ticket"
    assert bar.property("connection") == "needs-login"
    assert not bar.retry_visible
    bar.on_logged_out()
    assert bar.state_text == "Logged out"
    assert bar.property("connection") == "offline"
    bar.on_status_changed(LoginStatus.OFFLINE)
    assert bar.state_text == "Logged out"


def test_end_of_session_cancels_a_pending_debounce(qtbot: QtBot, bar: ConnectionStatusBar) -> None:
    online(bar)
    bar.on_status_changed(LoginStatus.DISCONNECT)
    bar.on_status_changed(LoginStatus.OFFLINE)
    bar.on_needs_ticket()
    qtbot.wait(300)
    assert bar.state_text == "Needs a new login ticket"


def test_outbox_notice(bar: ConnectionStatusBar) -> None:
    assert bar.outbox_text == ""
    bar.on_outbox_changed(3)
    assert bar.outbox_text == "3 message(s) waiting to be sent"
    bar.on_outbox_changed(1)
    assert bar.outbox_text == "1 message(s) waiting to be sent"
    bar.on_outbox_changed(0)
    assert bar.outbox_text == ""


def test_long_error_does_not_widen_the_window(bar: ConnectionStatusBar) -> None:
    bar.on_connect_failed(0, "x" * 2000)
    # A server's own words are kept to 600 characters (cut with "…"), fenced in a bidi isolate...
    assert bar.state_text == "Offline: \u2068" + "x" * 599 + "\u2026\u2069"
    assert bar.minimumSizeHint().width() < 400  # ...and the bar can still be narrow


def test_every_widget_has_an_accessible_name(bar: ConnectionStatusBar) -> None:
    for child in (bar._label, bar._retry, bar._outbox):
        assert child.accessibleName()


def test_online_says_who_and_where(bar: ConnectionStatusBar) -> None:
    bar.on_status_changed(LoginStatus.ONLINE)
    assert bar.state_text == "Online"  # nobody known yet
    bar.set_identity("alice", "Built-in sandbox")
    assert bar.state_text == "Online as alice · Built-in sandbox"
    bar.on_status_changed(LoginStatus.RECONNECT)
    bar.on_status_changed(LoginStatus.ONLINE)
    assert bar.state_text == "Online as alice · Built-in sandbox"
    bar.set_identity("", "")
    assert bar.state_text == "Online"


def test_an_unencrypted_server_is_said_to_be_so_online_and_off(bar: ConnectionStatusBar) -> None:
    assert bar.security_text == ""
    bar.set_unencrypted(True)
    online(bar)
    assert bar.security_text == "Not encrypted"
    assert "not encrypted" in bar._unencrypted.toolTip()
    bar.on_status_changed(LoginStatus.OFFLINE)
    assert bar.security_text == "Not encrypted"  # a standing warning about the profile, not a connection state
    bar.set_unencrypted(False)  # another profile
    assert bar.security_text == ""


def test_a_certificate_error_reads_as_what_it_is(bar: ConnectionStatusBar) -> None:
    from im_desktop.protocol.errors import ErrorCode, ImError

    error = ImError.with_detail(ErrorCode.CERT_EXPIRED, "chat.example.com:443")
    bar.on_connect_failed(int(error.code), error.message)
    assert "certificate of \u2068chat.example.com:443\u2069 has expired" in bar.state_text
    assert "cannot be reached" not in bar.state_text
