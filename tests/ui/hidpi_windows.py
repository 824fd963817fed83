"""Run alone (`python -m tests.ui.hidpi_windows LANGUAGE`, on a platform and scale set by the environment): shows
every window and dialog of the app as the app does, and prints where each landed and the screen's free area as
JSON, in logical pixels."""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from PySide6.QtWidgets import QApplication, QWidget


def main(language: str) -> None:
    app = QApplication([])
    from im_desktop.ui.dialogs import KickedDialog, TicketDialog
    from im_desktop.ui.login_window import LoginWindow, ProfileChoice
    from im_desktop.ui.main_window import MainWindow
    from im_desktop.ui.resources import install_language
    from im_desktop.ui.screen_fit import FitOnShow
    from im_desktop.ui.server_dialog import ServerDialog
    from im_desktop.ui.settings_dialog import SettingsChoice, SettingsDialog

    with tempfile.TemporaryDirectory() as cache:
        install_language(app, Path(cache), language)
        fit = FitOnShow()  # as im_desktop.desktop.preferences does for the two main windows and the Settings dialog
        login = LoginWindow()
        login.set_profiles([ProfileChoice("sandbox", "Built-in sandbox", ("sandbox",), "sandbox"),
                            ProfileChoice("work", "Work", ("password", "usersig"), "password")], "work")  # fmt: skip
        main_window = MainWindow()
        main_window.set_user("alice")
        settings = SettingsDialog(SettingsChoice(True, False, True, "system", "system"), tray=False,
                                  parent=main_window)  # fmt: skip
        fit.watch(login, main_window, settings)
        kick = {"reason": "multi_device", "device_name": "Another computer with a long name " * 3,
                "platform": "Linux", "time": 1_700_000_000_000}  # fmt: skip
        windows: dict[str, QWidget] = {
            "login window": login,
            "main window": main_window,
            "settings dialog": settings,
            "server dialog": ServerDialog(login),
            "kicked dialog": KickedDialog(kick, main_window),
            "ticket dialog": TicketDialog("alice", "password", main_window),
        }
        report: dict[str, Any] = {}
        for name, window in windows.items():
            window.show()
            app.processEvents()
            screen = window.screen()
            report[name] = {"frame": window.frameGeometry().getRect(), "ratio": screen.devicePixelRatio(),
                            "area": screen.availableGeometry().getRect()}  # fmt: skip
            window.hide()
        print(json.dumps(report))


if __name__ == "__main__":
    main(sys.argv[1])
