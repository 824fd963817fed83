"""The Settings dialog's choices put in force: the theme at once, start at login at once, the language next start."""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject

from im_desktop.autostart import Autostart, for_this_system, launch_command
from im_desktop.settings import Settings, save_settings
from im_desktop.ui.qt_async import await_dialog
from im_desktop.ui.screen_fit import FitOnShow
from im_desktop.ui.settings_dialog import SettingsChoice, SettingsDialog
from im_desktop.ui.theme import ThemeKeeper

if TYPE_CHECKING:
    from im_desktop.app import DesktopApp

__all__ = ["Preferences"]

log = logging.getLogger(__name__)


class Preferences(QObject):
    """Owned by the composition root, built once its windows exist: themes the app, keeps its windows on the
    screen, and runs "Settings…". Notifications and start hidden are read where they matter (the app reads
    `settings.notifications` and `start_hidden()`)."""

    def __init__(self, desktop: DesktopApp, autostart: Autostart | None = None) -> None:
        super().__init__(desktop)
        self._desktop = desktop
        self.autostart = autostart or for_this_system(launch_command(getattr(desktop.options, "home", None)))
        self.theme = ThemeKeeper(desktop.app, self)
        self.theme.apply(desktop.settings.theme)
        self.fit = FitOnShow(self)
        self.fit.watch(desktop.login_window, desktop.main_window)
        self.dialog: SettingsDialog | None = None  # while it is open (tests look at it)
        desktop.main_window.settings_requested.connect(lambda: desktop.spawn("settings", self.edit()))

    def start_hidden(self) -> bool:
        """Start with the tray icon only: asked for, and there is a tray to find the app in again."""
        wanted, tray = self._desktop.settings.start_hidden, self._desktop.tray is not None
        if wanted and not tray:
            log.info("start hidden is on, but there is no system tray: the window opens")
        return wanted and tray

    def _starts_at_login(self) -> bool:
        try:
            return self.autostart.enabled()
        except OSError as exc:
            log.warning("cannot tell whether the app starts at login (%s)", type(exc).__name__)
            return self._desktop.settings.start_at_login

    async def edit(self) -> None:
        """Show the dialog over the main window; on OK put the choices in force and save them."""
        if self.dialog is not None:
            self.dialog.raise_()
            return
        desktop = self._desktop
        before = desktop.settings
        # Start at login as the desktop has it now: the user may have switched it in the desktop's own settings.
        at_login = self._starts_at_login()
        current = SettingsChoice(at_login, before.start_hidden, before.notifications, before.language, before.theme)
        self.dialog = SettingsDialog(current, tray=desktop.tray is not None, parent=desktop.main_window)
        self.fit.watch(self.dialog)
        try:
            if not await await_dialog(self.dialog):
                return
            choice = self.dialog.choice()
        finally:
            self.dialog.deleteLater()
            self.dialog = None
        wanted = choice.start_at_login
        if wanted != at_login:
            try:
                self.autostart.set_enabled(wanted)
            except OSError as exc:
                log.warning("could not change start at login: %s", exc)
                wanted = at_login
                desktop.main_window.connection_bar.showMessage(SettingsDialog.autostart_problem(str(exc)), 20_000)
        after = replace(before, start_at_login=wanted, start_hidden=choice.start_hidden,
                        notifications=choice.notifications, language=choice.language, theme=choice.theme)  # fmt: skip
        if after.theme != before.theme:
            self.theme.apply(after.theme)
        self._save(after)

    def _save(self, settings: Settings) -> None:
        # Read again at the last moment: a login may have replaced the settings while the dialog was open.
        desktop = self._desktop
        desktop.settings = replace(desktop.settings, start_at_login=settings.start_at_login,
                                   start_hidden=settings.start_hidden, notifications=settings.notifications,
                                   language=settings.language, theme=settings.theme)  # fmt: skip
        save_settings(desktop.paths.settings_file, desktop.settings)
        log.info("settings saved")
