"""The tray icon: an icon per state, the unread badge, the tooltip and the menu, without a real tray."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QSize
from PySide6.QtGui import QColor, QGuiApplication
from PySide6.QtWidgets import QApplication, QSystemTrayIcon
from pytestqt.qtbot import QtBot

from im_desktop.ui.tray import TRAY_STATES, TrayIcon
from tests.clocks import FakeClock

ICONS = Path(__file__).resolve().parents[2] / "resources" / "icons"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(50.0)


@pytest.fixture
def tray(qtbot: QtBot, clock: FakeClock) -> Iterator[TrayIcon]:
    icon = TrayIcon(ICONS, tick_ms=10, clock=clock)
    yield icon
    icon.hide()
    icon.deleteLater()


def test_available_reports_that_the_offscreen_platform_has_no_tray(qapp: QApplication) -> None:
    # tests/conftest.py runs Qt offscreen, a platform that never has a system tray: the answer is known.
    assert QGuiApplication.platformName() == "offscreen"
    assert TrayIcon.available() is False


def test_show_and_hide_work_without_a_tray(tray: TrayIcon) -> None:
    assert QGuiApplication.platformName() == "offscreen"  # no tray to show it in
    assert not tray.tray_icon.isVisible()
    tray.show()
    assert tray.tray_icon.isVisible()
    assert not tray.tray_icon.icon().isNull()  # shown with the state's icon, not an empty one
    tray.hide()
    assert not tray.tray_icon.isVisible()


def test_each_state_has_its_own_icon(tray: TrayIcon) -> None:
    assert tray.state == "offline"
    colours = {}
    for state in TRAY_STATES:
        tray.on_state(state)
        assert tray.state == state
        assert tray.current_icon_key == state
        image = tray.tray_icon.icon().pixmap(QSize(32, 32), 1.0).toImage()
        colours[state] = image.pixelColor(16, 6).name()  # inside the bubble, above the glyph
    assert len(set(colours.values())) == len(TRAY_STATES), colours


def test_reconnecting_counts_as_connecting_and_nonsense_is_refused(tray: TrayIcon) -> None:
    tray.on_state("reconnecting")
    assert tray.state == "connecting"
    with pytest.raises(ValueError, match="unknown tray state"):
        tray.on_state("sleepy")


def test_unread_badge(tray: TrayIcon) -> None:
    tray.on_state("online")
    plain = tray.tray_icon.icon().pixmap(QSize(64, 64), 1.0).toImage()
    tray.on_unread(3)
    assert tray.current_icon_key == "online+3"
    badged = tray.tray_icon.icon().pixmap(QSize(64, 64), 1.0).toImage()
    corner = badged.pixelColor(52, 14)
    assert corner != plain.pixelColor(52, 14)
    assert corner.red() > 200 and corner.green() < 80  # the red badge, not the green bubble
    tray.on_unread(12)
    assert tray.current_icon_key == "online+9+"
    tray.on_state("offline")
    assert tray.current_icon_key == "offline+9+"
    tray.on_unread(0)
    assert tray.current_icon_key == "offline"


def test_badged_icon_is_drawn_at_every_size(tray: TrayIcon) -> None:
    tray.on_unread(5)
    sizes = {size.width() for size in tray.tray_icon.icon().availableSizes()}
    assert {16, 22, 32, 64, 128, 256} <= sizes


def test_tooltip_names_the_state_and_the_next_retry(tray: TrayIcon, qtbot: QtBot, clock: FakeClock) -> None:
    tray.on_state("online")
    assert tray.tooltip_text == "im-desktop — Online"
    assert tray.tray_icon.toolTip() == tray.tooltip_text
    tray.on_state("connecting")
    tray.on_next_retry(8.0)
    assert tray.tooltip_text == "im-desktop — Connecting…\nReconnecting in 8 s"
    clock.now += 3.0
    qtbot.waitUntil(lambda: tray.tooltip_text.endswith("Reconnecting in 5 s"), timeout=1000)
    tray.on_next_retry(None)
    assert tray.tooltip_text == "im-desktop — Connecting…"
    tray.on_next_retry(8.0)
    tray.on_state("online")  # connected: there is no next attempt any more
    assert "Reconnecting" not in tray.tooltip_text


def test_tooltip_counts_unread(tray: TrayIcon) -> None:
    tray.on_state("kicked")
    tray.on_unread(2)
    assert tray.tooltip_text == "im-desktop — Signed out by the server\n2 unread message(s)"


def test_menu_enabled_states(tray: TrayIcon) -> None:
    assert [text for text, _ in tray.menu_actions()] == ["Open", "Reconnect now", "Log out", "Quit"]
    assert dict(tray.menu_actions()) == {"Open": True, "Reconnect now": True, "Log out": False, "Quit": True}
    tray.on_logged_in(True)
    tray.on_state("online")
    assert dict(tray.menu_actions()) == {"Open": True, "Reconnect now": False, "Log out": True, "Quit": True}
    tray.on_state("connecting")
    tray.menu.aboutToShow.emit()
    assert dict(tray.menu_actions())["Reconnect now"] is True


@pytest.mark.parametrize(
    ("text", "signal"),
    [
        ("Open", "open_requested"),
        ("Reconnect now", "reconnect_requested"),
        ("Log out", "logout_requested"),
        ("Quit", "quit_requested"),
    ],
)
def test_menu_actions_emit_their_signal(tray: TrayIcon, qtbot: QtBot, text: str, signal: str) -> None:
    tray.on_logged_in(True)
    tray.on_state("offline")
    action = next(a for a in tray.menu.actions() if a.text() == text)
    with qtbot.waitSignal(getattr(tray, signal), timeout=1000):
        action.trigger()


def test_disabled_actions_emit_nothing(tray: TrayIcon, qtbot: QtBot) -> None:
    tray.on_state("online")  # and not logged in
    actions = {a.text(): a for a in tray.menu.actions()}
    with qtbot.assertNotEmitted(tray.reconnect_requested), qtbot.assertNotEmitted(tray.logout_requested):
        actions["Reconnect now"].trigger()
        actions["Log out"].trigger()


@pytest.mark.parametrize(
    "reason",
    [QSystemTrayIcon.ActivationReason.Trigger, QSystemTrayIcon.ActivationReason.DoubleClick],
)
def test_click_on_the_icon_opens(tray: TrayIcon, qtbot: QtBot, reason: QSystemTrayIcon.ActivationReason) -> None:
    with qtbot.waitSignal(tray.open_requested, timeout=1000):
        tray.tray_icon.activated.emit(reason)


def test_context_click_only_shows_the_menu(tray: TrayIcon, qtbot: QtBot) -> None:
    with qtbot.assertNotEmitted(tray.open_requested):
        tray.tray_icon.activated.emit(QSystemTrayIcon.ActivationReason.Context)


def test_icons_come_from_the_given_directory(tmp_path: Path, qtbot: QtBot) -> None:
    for svg in ICONS.glob("tray-*.svg"):
        shutil.copy(svg, tmp_path / svg.name)
    green = (tmp_path / "tray-online.svg").read_text(encoding="utf-8").replace("#1E9E5A", "#0000FF")
    (tmp_path / "tray-online.svg").write_text(green, encoding="utf-8")
    tray = TrayIcon(tmp_path)
    tray.on_state("online")
    pixel = tray.tray_icon.icon().pixmap(QSize(32, 32), 1.0).toImage().pixelColor(16, 6)
    assert pixel == QColor("#0000FF")
    tray.deleteLater()


def test_a_missing_icon_fails_at_start(tmp_path: Path, qtbot: QtBot) -> None:
    for svg in ICONS.glob("tray-*.svg"):
        if svg.name != "tray-kicked.svg":
            shutil.copy(svg, tmp_path / svg.name)
    with pytest.raises(FileNotFoundError, match=r"tray-kicked\.svg"):
        TrayIcon(tmp_path)


def test_tooltip_says_when_the_connection_is_not_encrypted(tray: TrayIcon) -> None:
    tray.on_state("online")
    tray.set_unencrypted(True)
    assert tray.tooltip_text == "im-desktop — Online\nThe connection is not encrypted"
    assert tray.tray_icon.toolTip() == tray.tooltip_text
    tray.on_state("offline")
    assert "not encrypted" in tray.tooltip_text
    tray.set_unencrypted(False)
    assert tray.tooltip_text == "im-desktop — Offline"
