"""The tray icon follows the current session: its colour, the next retry, and whether anyone is logged in."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject

from im_desktop.protocol.models import LoginStatus

if TYPE_CHECKING:
    from im_desktop.session.controller import SessionController
    from im_desktop.session.current import CurrentSession
    from im_desktop.ui.tray import TrayIcon

__all__ = ["TrayStatus"]

_TRAY_STATE = {LoginStatus.ONLINE: "online", LoginStatus.CONNECT: "connecting", LoginStatus.RECONNECT: "connecting",
               LoginStatus.DISCONNECT: "connecting", LoginStatus.OFFLINE: "offline"}  # fmt: skip


class TrayStatus(QObject):
    """Connects each new controller of `session` to the tray icon's slots (the icon itself stays a dumb view)."""

    def __init__(self, tray: TrayIcon, session: CurrentSession, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._tray = tray
        session.changed.connect(self._follow)

    def _follow(self, controller: SessionController) -> None:
        tray = self._tray
        controller.status_changed.connect(self.on_status)
        controller.reconnect_scheduled.connect(tray.on_next_retry)
        controller.login_status_changed.connect(lambda _status: tray.on_logged_in(bool(controller.login_user)))
        controller.kicked_offline.connect(lambda _info: tray.on_state("kicked"))
        controller.user_sig_expired.connect(lambda: tray.on_state("needs-login"))

    def on_status(self, status: int) -> None:
        if status == LoginStatus.OFFLINE and self._tray.state in ("kicked", "needs-login"):
            return  # the more specific state stays until the user acts
        self._tray.on_state(_TRAY_STATE.get(LoginStatus(status), "offline"))
