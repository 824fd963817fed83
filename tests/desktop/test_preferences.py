"""The Settings dialog in the real DesktopApp: its choices put in force and saved, start hidden in the tray (and
never without one), windows that fit the screen, and a profile's proxy carrying the session."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
from PySide6.QtWidgets import QApplication

from im_desktop.desktop.app import DesktopApp
from im_desktop.local.address_rules import DIRECT
from im_desktop.local.autostart import AUTOSTART_ID
from im_desktop.local.settings import AppPaths, ServerProfileSettings, Settings, load_settings
from im_desktop.ui.login_window import LoginRequest
from im_desktop.ui.settings_dialog import SettingsDialog
from im_desktop.ui.theme import is_dark
from im_desktop.ui.tray import TrayIcon
from tests.desktop.test_app import controller_of, desktop_app, online, world
from tests.qt_loop import run, until
from tests.session.keyrings import MemoryKeyring
from tests.session.loopback_proxy import loopback_proxy

pytestmark = pytest.mark.slow


@pytest.fixture
def xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A config folder of the test's own for the autostart entry."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    monkeypatch.setenv("XDG_CONFIG_DIRS", str(tmp_path / "xdg-system"))
    return tmp_path / "xdg-config" / "autostart" / f"{AUTOSTART_ID}.desktop"


def _saved_with(settings_file: Path, *, theme: str) -> Settings | None:
    """The saved settings, once they have this theme."""
    saved = load_settings(settings_file)
    return saved if saved.theme == theme else None


def _entry(path: Path) -> str:
    """The autostart entry's text ("" when there is none)."""
    return path.read_text() if path.is_file() else ""


async def _settings_dialog(desktop: DesktopApp) -> SettingsDialog:
    desktop.main_window.settings_action.trigger()  # Account ▸ Settings…

    def shown() -> SettingsDialog | None:
        dialog = desktop.preferences.dialog
        return dialog if dialog is not None and dialog.isVisible() else None

    return await until("the Settings dialog", shown)


def test_settings_are_put_in_force_and_saved(tmp_path: Path, xdg: Path) -> None:
    async def body() -> None:
        home = tmp_path / "home"
        qapp = QApplication.instance()
        assert isinstance(qapp, QApplication)
        async with desktop_app(home, Settings(), MemoryKeyring()) as desktop:
            try:
                dialog = await _settings_dialog(desktop)
                assert not dialog.start_at_login.isChecked() and dialog.notifications.isChecked()
                dialog.start_at_login.setChecked(True)
                dialog.notifications.setChecked(False)
                dialog.language.setCurrentIndex(dialog.language.findData("zh_CN"))
                dialog.theme.setCurrentIndex(dialog.theme.findData("dark"))
                dialog.accept()
                settings_file = AppPaths.resolve(str(home)).settings_file
                saved = await until("the settings saved", lambda: _saved_with(settings_file, theme="dark"))
                assert (saved.start_at_login, saved.notifications, saved.language) == (True, False, "zh_CN")
                assert desktop.settings.notifications is False  # what the notifications read
                assert is_dark(qapp.palette())  # at once, not at the next start
                assert f"--home {home}" in _entry(xdg)
                # Switched off in the desktop's own settings meanwhile: the dialog shows the entry as it is.
                os.unlink(xdg)
                dialog = await _settings_dialog(desktop)
                assert not dialog.start_at_login.isChecked()
                dialog.start_at_login.setChecked(True)
                dialog.theme.setCurrentIndex(dialog.theme.findData("system"))
                dialog.accept()
                await until("the system's theme again", lambda: not is_dark(qapp.palette()))
                assert _entry(xdg)
                dialog = await _settings_dialog(desktop)
                dialog.start_at_login.setChecked(False)
                dialog.accept()
                await until("the autostart entry gone", lambda: not _entry(xdg))
                assert load_settings(AppPaths.resolve(str(home)).settings_file).start_at_login is False
            finally:
                desktop.preferences.theme.apply("system")

    run(body)


def test_cancel_changes_nothing(tmp_path: Path, xdg: Path) -> None:
    async def body() -> None:
        home = tmp_path / "home"
        async with desktop_app(home, Settings(), MemoryKeyring()) as desktop:
            dialog = await _settings_dialog(desktop)
            dialog.start_at_login.setChecked(True)
            dialog.theme.setCurrentIndex(dialog.theme.findData("dark"))
            dialog.reject()
            await until("the dialog closed", lambda: desktop.preferences.dialog is None)
            assert not _entry(xdg) and desktop.settings.theme == "system"
            assert load_settings(AppPaths.resolve(str(home)).settings_file) == desktop.settings

    run(body)


@pytest.mark.parametrize("remembered", [True, False])
def test_started_hidden_there_is_only_the_tray_until_it_is_clicked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, remembered: bool
) -> None:
    # The offscreen platform has no tray; the icon itself is real, only its host is assumed.
    monkeypatch.setattr(TrayIcon, "available", staticmethod(lambda: True))

    async def body() -> None:
        settings = Settings(last_user="alice" if remembered else "", remember=remembered, start_hidden=True)
        async with desktop_app(tmp_path / "home", settings, MemoryKeyring()) as desktop:
            assert desktop.tray is not None
            await until("a controller", lambda: desktop.controller)
            if remembered:
                await online(desktop)  # it logs in by itself, in the tray
            await asyncio.sleep(0.3)  # a check that something does NOT happen: no window opens meanwhile
            assert not desktop.main_window.isVisible() and not desktop.login_window.isVisible()
            desktop.tray.open_requested.emit()  # a click on the icon
            window = desktop.main_window if remembered else desktop.login_window
            await until("the window, after a click on the tray icon", window.isVisible)

    run(body)


def test_without_a_tray_start_hidden_still_opens_the_window(tmp_path: Path) -> None:
    async def body() -> None:
        async with desktop_app(tmp_path / "home", Settings(start_hidden=True), MemoryKeyring()) as desktop:
            assert desktop.tray is None
            await until("the login window", desktop.login_window.isVisible)

    run(body)


def test_the_main_window_fits_the_screen(tmp_path: Path) -> None:
    """The offscreen screen is 800 pixels wide; the main window asks for 860."""

    async def body() -> None:
        async with desktop_app(tmp_path / "home", Settings(last_user="carol", remember=True), MemoryKeyring()) as d:
            await until("the main window", d.main_window.isVisible)
            area = d.main_window.screen().availableGeometry()
            assert area.contains(d.main_window.frameGeometry()), (area, d.main_window.frameGeometry())

    run(body)


def test_a_profiles_proxy_carries_the_session_and_the_sandbox_goes_direct(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def body() -> None:
        async with world(tmp_path) as env, loopback_proxy("socks5", tmp_path) as proxy:
            # The environment names the same proxy: the sandbox, on this computer, must not use it.
            monkeypatch.setenv("all_proxy", proxy.url)
            sandbox = env.profile("sandbox")
            work = ServerProfileSettings("work", "Work", "im", env.own.url, proxy=proxy.url)
            settings = Settings(profiles=[sandbox, work], current_profile="work")
            async with desktop_app(tmp_path / "home", settings, MemoryKeyring()) as desktop:
                desktop.login_window.login_requested.emit(
                    LoginRequest("work", "alice", "usersig", env.own.sig("alice", 3600), False)
                )
                await online(desktop)
                assert controller_of(desktop).client.proxy == proxy.url
                own_port = int(env.own.url.rsplit(":", 1)[1])
                assert proxy.connections_to(own_port) >= 1
                desktop.login_window.login_requested.emit(LoginRequest("sandbox", "bob", "sandbox", "", False))
                await until("the sandbox's controller", lambda: controller_of(desktop).profile.name == "sandbox")
                assert controller_of(desktop).client.proxy == DIRECT
                await online(desktop)

    run(body)
