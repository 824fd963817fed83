"""The Settings dialog's choices put in force: the theme at once, start at login at once, the language next start."""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject

from im_desktop.ui.qt_async import await_dialog
from im_desktop.ui.settings_dialog import SettingsChoice, SettingsDialog

if TYPE_CHECKING:
    from im_desktop.local.autostart import Autostart
    from im_desktop.local.settings import SettingsFile
    from im_desktop.ui.main_window import MainWindow
    from im_desktop.ui.screen_fit import FitOnShow
    from im_desktop.ui.theme import ThemeKeeper

__all__ = ["Preferences"]

log = logging.getLogger(__name__)


class Preferences(QObject):
    """Runs "Settings…" over the main window and puts its choices in force: the theme (through `theme`), start at
    login (through `autostart`), the rest saved in `settings`. Notifications and start hidden are read where
    they matter (the app reads `settings.current.notifications` and `start_hidden()`)."""

    def __init__(self, settings: SettingsFile, autostart: Autostart, theme: ThemeKeeper, fit: FitOnShow,
                 window: MainWindow, *, has_tray: bool, parent: QObject | None = None) -> None:  # fmt: skip
        super().__init__(parent)
        self._settings, self.autostart, self.theme, self._fit = settings, autostart, theme, fit
        self._window, self._has_tray = window, has_tray
        self.dialog: SettingsDialog | None = None  # while it is open (tests look at it)

    def start_hidden(self) -> bool:
        """Start with the tray icon only: asked for, and there is a tray to find the app in again."""
        wanted = self._settings.current.start_hidden
        if wanted and not self._has_tray:
            log.info("start hidden is on, but there is no system tray: the window opens")
        return wanted and self._has_tray

    def _starts_at_login(self) -> bool:
        try:
            return self.autostart.enabled()
        except OSError as exc:
            log.warning("cannot tell whether the app starts at login (%s)", type(exc).__name__)
            return self._settings.current.start_at_login

    async def edit(self) -> None:
        """Show the dialog over the main window; on OK put the choices in force and save them."""
        if self.dialog is not None:
            self.dialog.raise_()
            return
        before = self._settings.current
        # Start at login as the desktop has it now: the user may have switched it in the desktop's own settings.
        at_login = self._starts_at_login()
        current = SettingsChoice(at_login, before.start_hidden, before.notifications, before.language, before.theme)
        self.dialog = SettingsDialog(current, tray=self._has_tray, parent=self._window)
        self._fit.watch(self.dialog)
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
                self._window.connection_bar.showMessage(SettingsDialog.autostart_problem(str(exc)), 20_000)
        if choice.theme != before.theme:
            self.theme.apply(choice.theme)
        # Read again at the last moment: a login may have replaced the settings while the dialog was open.
        self._settings.save(replace(self._settings.current, start_at_login=wanted, start_hidden=choice.start_hidden,
                                    notifications=choice.notifications, language=choice.language,
                                    theme=choice.theme))  # fmt: skip
        log.info("settings saved")
