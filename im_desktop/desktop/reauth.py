"""When the server ends a session: the kicked dialog, and a new ticket fetched or asked for after an expiry."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from im_desktop.protocol.errors import ImError
from im_desktop.ui.dialogs import KICK_LOGIN_AGAIN, KICK_QUIT, KickedDialog, TicketDialog
from im_desktop.ui.login_window import LoginRequest
from im_desktop.ui.qt_async import await_dialog

if TYPE_CHECKING:
    from im_desktop.local.settings import SettingsFile
    from im_desktop.session.current import CurrentSession
    from im_desktop.ui.main_window import MainWindow

__all__ = ["Reauth"]


class Reauth:
    """What the person is asked, and what is repeated, once the server ended the session. The controller alone
    knows who was logged in and how (`last_login`, `login_again`); nothing here keeps a copy, so a remembered
    ticket is used again as it is and never deleted on the way."""

    def __init__(self, session: CurrentSession, window: MainWindow, settings: SettingsFile, *,
                 show_login: Callable[[ImError | None], None], login: Callable[[LoginRequest], Awaitable[None]],
                 logout: Callable[[], Awaitable[None]], quit_app: Callable[[], None],
                 raise_window: Callable[[], None]) -> None:  # fmt: skip
        self._session, self._window, self._settings = session, window, settings
        self._show_login, self._login, self._logout = show_login, login, logout
        self._quit, self._raise_window = quit_app, raise_window

    async def kicked(self, info: dict[str, Any]) -> None:
        """Logged in elsewhere, or by an operator: say who and when, then log in again, log out or quit."""
        self._window.connection_bar.on_kicked(info)  # (the tray says so through TrayStatus)
        self._raise_window()
        choice = await await_dialog(KickedDialog(info, self._window))
        controller = self._session.controller
        if choice == KICK_LOGIN_AGAIN and controller is not None:
            try:
                await controller.login_again()
            except ImError as exc:
                self._show_login(exc)
        elif choice == KICK_QUIT:
            self._quit()
        else:
            await self._logout()

    async def ticket_expired(self) -> None:
        """Renew without asking when the source can; otherwise ask over the window, keeping drafts."""
        self._window.connection_bar.on_needs_ticket()  # (the tray says so through TrayStatus)
        controller = self._session.controller
        last = controller.last_login if controller is not None else None
        if last is None or controller is None:
            self._show_login(None)
            return
        user, kind = last
        if controller.last_login_can_renew:
            try:
                await controller.login_again()
            except ImError as exc:  # the source could not give a working ticket: ask the person
                self._show_login(exc)
            return
        if kind == "token":  # a static token does not expire by itself; the server refused it: log in anew
            self._show_login(None)
            return
        source = "password" if kind == "password" else "usersig"
        dialog = TicketDialog(user, source, self._window)
        if await await_dialog(dialog) and self._session.controller is not None:
            secret = dialog.secret()
            dialog.clear_secret()
            settings = self._settings.current
            await self._login(LoginRequest(settings.current_profile, user, source, secret, settings.remember))
        else:
            self._show_login(None)
