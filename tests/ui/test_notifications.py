"""The notifier against a real notification service (dunst on a private D-Bus, a bus monitor recording the calls,
a mouse click on its popup), the tray fallback without one, and the window watch."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, TypeVar

import pytest
from PySide6.QtGui import Qt
from PySide6.QtWidgets import QApplication, QMainWindow, QSystemTrayIcon
from pytestqt.qtbot import QtBot

from im_desktop.ui.notifications import APP_NAME, DESKTOP_ENTRY, Notifier, WindowWatch, inert, session_bus_address
from im_desktop.ui.notify_rules import Notice
from tests.clocks import FakeClock
from tests.notification_service import NotificationService, notification_service, private_bus
from tests.qt_loop import run, until

T = TypeVar("T")


class RecordingTray(QSystemTrayIcon):
    """A real tray icon that also keeps what it was asked to show (the offscreen platform shows nothing)."""

    def __init__(self) -> None:
        super().__init__()
        self.balloons: list[tuple[str, str]] = []

    def showMessage(self, title: str, msg: str, *args: Any) -> None:
        self.balloons.append((title, msg))
        super().showMessage(title, msg, *args)


class Running:
    """A notifier with its task; what it asked to open."""

    def __init__(self, notifier: Notifier) -> None:
        self.notifier = notifier
        self.opened: list[str] = []
        notifier.open_requested.connect(self.opened.append)
        self.task = asyncio.get_running_loop().create_task(notifier.run())

    async def close(self) -> None:
        self.task.cancel()
        await asyncio.wait([self.task])
        assert self.task.cancelled()  # it ran until cancelled: nothing ended it early


def notice(channel: str, summary: str = "Bob", body: str = "hi") -> Notice:
    return Notice(channel, summary, body)


@pytest.mark.slow
def test_a_notice_reaches_the_service_and_a_click_opens_its_conversation(tmp_path: Path) -> None:
    async def body() -> None:
        with notification_service(tmp_path) as service:
            running = Running(Notifier(None, address=lambda: service.address))
            try:
                running.notifier.notify(notice("dm-bob", "Bob", "Tom <b>&</b> Jerry"))
                [call] = await until("the Notify call", lambda: answered(service, 1))
                args = call.notify_args()
                assert (args["app_name"], args["replaces_id"], args["summary"]) == (APP_NAME, 0, "Bob")
                assert args["body"] == "Tom <b>&</b> Jerry"  # this service shows bodies as plain text: sent as is
                assert args["actions"][0] == "default" and args["hints"]["desktop-entry"] == ("s", DESKTOP_ENTRY)
                assert running.notifier.backend == "freedesktop"
                service.click_popup()
                await until("the conversation asked for", lambda: running.opened)
                assert running.opened == ["dm-bob"]
                assert call.reply is not None and service.signals("ActionInvoked") == [(call.reply[0], "default")]
            finally:
                await running.close()

    run(body)


@pytest.mark.slow
def test_a_chatty_conversation_keeps_one_notification_and_reading_it_withdraws_it(tmp_path: Path) -> None:
    async def body() -> None:
        with notification_service(tmp_path) as service:
            running = Running(Notifier(None, address=lambda: service.address))
            try:
                running.notifier.notify(notice("dm-bob", body="one"))
                [first] = await until("the first Notify", lambda: answered(service, 1))
                running.notifier.notify(notice("dm-bob", body="two"))
                running.notifier.notify(notice("general", "Carol", "elsewhere"))
                calls = await until("three Notify calls", lambda: answered(service, 3))
                assert first.reply is not None
                bob_id = first.reply[0]
                assert [(c.notify_args()["replaces_id"], c.notify_args()["body"]) for c in calls] == [
                    (0, "one"), (bob_id, "two"), (0, "elsewhere")]  # fmt: skip
                assert calls[1].reply == (bob_id,)  # the service updated the same notification
                running.notifier.withdraw("dm-bob")
                [close] = await until("CloseNotification", lambda: service.calls("CloseNotification"))
                assert close.body == (bob_id,)
                running.notifier.withdraw("dm-bob")  # nothing left to withdraw: no second call
                running.notifier.notify(notice("general", "Carol", "again"))
                await until("the fourth Notify", lambda: answered(service, 4))
                assert len(service.calls("CloseNotification")) == 1
            finally:
                await running.close()

    run(body)


@pytest.mark.slow
def test_a_service_that_reads_markup_gets_the_body_escaped(tmp_path: Path) -> None:
    async def body() -> None:
        with notification_service(tmp_path, markup="full") as service:
            running = Running(Notifier(None, address=lambda: service.address))
            try:
                running.notifier.notify(notice("dm-bob", "<b>Bob</b>", "<i>x</i> & <a href='http://e.test'>y</a>"))
                [call] = await until("the Notify call", lambda: answered(service, 1))
                escaped = "&lt;i&gt;x&lt;/i&gt; &amp; &lt;a href='http://e.test'&gt;y&lt;/a&gt;"
                assert call.notify_args()["body"] == escaped
                assert call.notify_args()["summary"] == "<b>Bob</b>"  # summaries are plain text by the spec
            finally:
                await running.close()

    run(body)


@pytest.mark.slow
def test_without_a_service_the_tray_shows_it_and_the_service_is_asked_again_only_after_a_while(
    tmp_path: Path, qapp: QApplication
) -> None:
    clock = FakeClock(100.0)

    async def body() -> None:
        with private_bus(tmp_path / "bus") as address:  # a session bus with no notification service on it
            asked: list[str] = []

            def bus_address() -> str:
                asked.append(address)
                return address

            tray = RecordingTray()
            running = Running(Notifier(tray, address=bus_address, retry_floor=30.0, clock=clock))
            try:
                running.notifier.notify(notice("dm-bob", "Bob", "first"))
                await until("the tray balloon", lambda: tray.balloons)
                assert tray.balloons == [("Bob", "first")] and len(asked) == 1
                assert running.notifier.backend == "tray"
                tray.messageClicked.emit()  # the person clicks the balloon
                assert running.opened == ["dm-bob"]
                clock.advance(29)
                running.notifier.notify(notice("general", "Carol", "second"))
                await until("the second balloon", lambda: len(tray.balloons) == 2)
                assert len(asked) == 1  # within the floor the bus is not tried again
                clock.advance(2)
                running.notifier.notify(notice("general", "Carol", "third"))
                await until("the third balloon", lambda: len(tray.balloons) == 3)
                assert len(asked) == 2
            finally:
                await running.close()
                tray.deleteLater()

    run(body)


@pytest.mark.slow
def test_a_service_that_goes_away_falls_back_to_the_tray_without_ending_the_notifier(
    tmp_path: Path, qapp: QApplication
) -> None:
    async def body() -> None:
        with notification_service(tmp_path) as service:
            tray = RecordingTray()
            running = Running(Notifier(tray, address=lambda: service.address))
            try:
                running.notifier.notify(notice("dm-bob", body="one"))
                await until("the Notify call", lambda: answered(service, 1))
                service.stop_daemon()
                running.notifier.notify(notice("dm-bob", body="two"))
                await until("the tray balloon", lambda: tray.balloons)
                assert tray.balloons == [("Bob", "two")] and not running.task.done()
            finally:
                await running.close()
                tray.deleteLater()

    run(body)


def test_no_session_bus_means_no_address(tmp_path: Path) -> None:
    assert session_bus_address({}) is None
    assert session_bus_address({"XDG_RUNTIME_DIR": str(tmp_path)}) is None  # no bus socket there
    assert session_bus_address({"DBUS_SESSION_BUS_ADDRESS": "unix:path=/x"}) == "unix:path=/x"


def test_the_window_watch_follows_what_the_person_can_see(qtbot: QtBot) -> None:
    window, other = QMainWindow(), QMainWindow()
    qtbot.addWidget(window)
    qtbot.addWidget(other)
    watch = WindowWatch(window, lambda: "dm-bob")
    changes: list[None] = []
    watch.changed.connect(lambda: changes.append(None))
    assert not watch.state().seen("dm-bob")  # not shown yet
    window.show()
    window.activateWindow()
    qtbot.waitUntil(lambda: watch.state().seen("dm-bob"))
    assert changes and not watch.state().seen("general")
    other.show()
    other.activateWindow()
    qtbot.waitUntil(lambda: not watch.state().active)  # another window has the focus
    assert watch.state().visible and not watch.state().seen("dm-bob")
    window.activateWindow()
    qtbot.waitUntil(lambda: watch.state().seen("dm-bob"))
    window.showMinimized()
    qtbot.waitUntil(lambda: watch.state().minimized)
    assert not watch.state().seen("dm-bob")
    window.hide()
    qtbot.waitUntil(lambda: not watch.state().visible)
    assert not watch.state().seen("dm-bob")


def answered(service: NotificationService, count: int) -> list[Any] | None:
    calls = service.calls("Notify")
    return calls if len(calls) == count and all(c.reply is not None for c in calls) else None


def test_the_tray_balloon_gets_no_tag_to_render(qapp: QApplication) -> None:
    hostile = "<img src=/dev/zero><b>ALERT</b> & <a href='x'>y</a>"
    text = inert(hostile)
    assert not Qt.mightBeRichText(text) and text.replace("\u2060", "") == hostile
