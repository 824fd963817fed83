"""The composition root: builds the services, the controller and the windows, and wires them together."""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import logging
import socket
import sys
import time
from collections.abc import Coroutine
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QApplication

from im_desktop.desktop.attention import Attention
from im_desktop.desktop.conversations import Conversations
from im_desktop.desktop.preferences import Preferences
from im_desktop.desktop.reauth import Reauth
from im_desktop.desktop.sandbox import SandboxServer
from im_desktop.desktop.ticket_source import provider_for
from im_desktop.desktop.tray_status import TrayStatus
from im_desktop.local.autostart import Autostart, for_this_system, launch_command
from im_desktop.local.cache import CacheError, LocalCache, cache_path
from im_desktop.local.settings import SANDBOX, AppPaths, ServerProfileSettings, Settings, SettingsFile
from im_desktop.protocol.errors import ImError
from im_desktop.protocol.models import LoginStatus, check_user_id
from im_desktop.session.current import CurrentSession
from im_desktop.session.failures import as_im_error
from im_desktop.session.supervisor import TaskSupervisor
from im_desktop.ui.login_window import LoginRequest, LoginWindow, ProfileChoice
from im_desktop.ui.main_window import MainWindow
from im_desktop.ui.network_watch import NetworkWatch
from im_desktop.ui.notifications import Notifier
from im_desktop.ui.qt_async import await_dialog
from im_desktop.ui.resources import icons_dir
from im_desktop.ui.screen_fit import FitOnShow
from im_desktop.ui.server_dialog import ServerDialog, profile_title
from im_desktop.ui.theme import ThemeKeeper
from im_desktop.ui.tray import TrayIcon

if TYPE_CHECKING:
    from im_desktop.local.credentials import CredentialStore
    from im_desktop.session.controller import SessionController

__all__ = ["DesktopApp"]

log = logging.getLogger(__name__)


class DesktopApp(QObject):
    """Owns every long-lived object; the views never see the controller, only these connections. Who is logged
    in, and how, is the controller's alone (`session.controller`); nothing here keeps a copy."""

    def __init__(self, app: QApplication, paths: AppPaths, options: argparse.Namespace, *,
                 credentials: CredentialStore | None = None, sandbox: SandboxServer | None = None,
                 settings: Settings | None = None, autostart: Autostart | None = None) -> None:  # fmt: skip
        super().__init__()
        self.app, self.paths, self.options = app, paths, options
        self.settings_file = SettingsFile(paths.settings_file, settings)  # launch.py has read them already
        self.tasks = TaskSupervisor()
        self._credentials = credentials  # the OS keyring unless given (tests give a keyring of their own)
        self.sandbox = sandbox or SandboxServer.for_paths(paths)  # launch.py may have forked it already
        self.session = CurrentSession(self)
        self.login_window = LoginWindow()
        self.main_window = MainWindow()
        self.tray = TrayIcon(icons_dir()) if TrayIcon.available() else None
        self.main_window.keep_in_tray = self.tray is not None
        self.network = NetworkWatch(self)
        self.notifier = Notifier(self.tray.tray_icon if self.tray is not None else None, self)
        # Attention before Conversations: it connects to each new controller first (see attention.py).
        self.attention = Attention(self.main_window, self.notifier, self.session,
                                   lambda: self.settings.notifications)  # fmt: skip
        self.conversations = Conversations(self.main_window, self.tray, self.session, self.spawn)
        self.tray_status = TrayStatus(self.tray, self.session, self) if self.tray is not None else None
        self.session.changed.connect(self._follow)
        self._quit = asyncio.Event()
        self._switching = asyncio.Lock()  # one profile switch at a time, and logins wait for it
        self._server_ready = asyncio.Event()
        self._server_problem = ""  # why the sandbox server could not start, while it cannot
        fit = FitOnShow(self)  # windows that fit the screen they are shown on
        fit.watch(self.login_window, self.main_window)
        theme = ThemeKeeper(app, self)
        theme.apply(self.settings.theme)
        autostart = autostart or for_this_system(launch_command(getattr(options, "home", None)))
        self.preferences = Preferences(self.settings_file, autostart, theme, fit, self.main_window,
                                       has_tray=self.tray is not None, parent=self)  # fmt: skip
        self.reauth = Reauth(self.session, self.main_window, self.settings_file, show_login=self._show_login,
                             login=self._login, logout=self._logout, quit_app=self.quit,
                             raise_window=self._raise_window)  # fmt: skip
        self._wire_views()

    @property
    def settings(self) -> Settings:
        return self.settings_file.current

    @property
    def controller(self) -> SessionController | None:
        """The current profile's controller (None until the session layer is loaded)."""
        return self.session.controller

    # -- start and quit -------------------------------------------------------------------------
    async def run(self) -> int:
        """Show a window first, then do the slow parts (the session layer's imports, the sandbox server):
        a person sees the app in about a third of a second instead of a second."""
        profile = self.settings.profile()
        self.login_window.set_profiles(self._profile_choices(), profile.name)
        self.login_window.set_user_id(self.settings.last_user)
        remembered = self.settings.remember and bool(self.settings.last_user)
        hidden = self.preferences.start_hidden()  # the tray icon only, until it is clicked
        if not remembered and not hidden:
            self._show_login()
            log.info("first window shown")
        url = profile.base_url
        if profile.kind == SANDBOX:
            url = self.sandbox.prepare()
            self.sandbox.launch()  # (launch.py forked it already) it boots while the app imports and shows
        # The cached conversations before the session layer exists: its imports (the network stack) come after.
        if remembered and not self._show_main(self.settings.last_user, show=not hidden):
            remembered = False
        if remembered or hidden:
            log.info("started hidden in the tray" if hidden else "first window shown")
        await asyncio.sleep(0)  # one turn of the loop: Qt paints the window before the imports below hold it
        loading = time.monotonic()
        self._make_controller(profile.name, url)
        log.info("session layer ready in %.0f ms", 1000 * (time.monotonic() - loading))  # mostly its imports
        self._show_tray()
        self.network.start()
        self.spawn("notifier", self.notifier.run())
        if self.options.exit_after == "window":
            self._quit.set()
        if profile.kind == SANDBOX and not await self._start_sandbox():
            remembered = False  # the login window says why; "Log in" tries the server again
        self._server_ready.set()
        if remembered:
            self.spawn("auto-login", self._auto_login(self.settings.last_user, profile.kind))
        await self._quit.wait()
        await self._shutdown()
        return 0

    def _show_tray(self) -> None:
        if self.tray is not None:
            self.tray.show()
            return
        log.info("no system tray: closing the window quits the app")
        self.main_window.connection_bar.showMessage(
            self.tr("There is no system tray here, so closing this window quits the app."), 20_000
        )

    async def _start_sandbox(self) -> bool:
        """Start the built-in server; on failure say why in the login window instead of ending the app."""
        try:
            await self.sandbox.start()
        except (OSError, RuntimeError, TimeoutError) as exc:
            self._server_problem = self.tr("The built-in server could not start: {reason}").format(reason=exc)
            log.error("the sandbox server did not start: %s", exc)
            self._show_login()
            self.login_window.on_login_failed(0, self._server_problem)
            return False
        self._server_problem = ""
        self.spawn("sandbox", self.sandbox.keep_running())
        return True

    async def _shutdown(self) -> None:
        """Async cleanup first, then the loop ends; nothing awaits after Qt's aboutToQuit."""
        self.network.stop()
        await self.tasks.shutdown()
        if self.controller is not None:
            await self.controller.aclose()
        await self.sandbox.stop()
        if self.tray is not None:
            self.tray.hide()
        self.login_window.close()
        self.main_window.keep_in_tray = False
        self.main_window.hide()

    def spawn(self, name: str, coro: Coroutine[Any, Any, Any]) -> None:
        self.tasks.spawn(name, coro)

    def quit(self) -> None:
        self._quit.set()

    # -- wiring ---------------------------------------------------------------------------------
    def _wire_views(self) -> None:
        lw, mw = self.login_window, self.main_window
        lw.login_requested.connect(lambda req: self.spawn("login", self._login(req)))
        lw.add_server_requested.connect(lambda: self.spawn("add-server", self._add_server()))
        lw.profile_changed.connect(lambda name: self.spawn("switch-profile", self._switch_profile(name)))
        mw.switch_account_requested.connect(self._show_login)
        mw.logout_requested.connect(lambda: self.spawn("logout", self._logout()))
        mw.quit_requested.connect(self.quit)
        mw.connection_bar.retry_requested.connect(self._retry)
        mw.settings_requested.connect(lambda: self.spawn("settings", self.preferences.edit()))
        # After Conversations.open (connected when it was made): an opened conversation is read only if seen.
        mw.conversation_selected.connect(lambda _channel: self.attention.catch_up())
        self.attention.marked_read.connect(self.conversations.refresh)
        if self.tray is not None:
            self.tray.open_requested.connect(self._raise_window)
            self.tray.reconnect_requested.connect(self._retry)
            self.tray.logout_requested.connect(lambda: self.spawn("logout", self._logout()))
            self.tray.quit_requested.connect(self.quit)
        self.network.online_changed.connect(self._on_network)
        self.notifier.open_requested.connect(self._open_conversation)

    def _make_controller(self, profile_name: str, url: str) -> None:
        """A controller for this profile becomes the current session (everyone following it is told)."""
        # Imported here, after the first window is up: httpx, httpx-ws and keyring cost ~0.25 s to import.
        from im_desktop.local.credentials import CredentialStore
        from im_desktop.session.controller import SessionController
        from im_desktop.session.types import ServerProfile

        if self._credentials is None:
            self._credentials = CredentialStore()
        platform = {"win32": "Windows", "darwin": "Mac"}.get(sys.platform, "Linux")
        self.session.replace(SessionController(
            ServerProfile.of(self.settings.profile(profile_name), url), cache_dir=self.paths.cache,
            credentials=self._credentials, platform=platform, device_id=self.settings.device_id,
            device_name=socket.gethostname() or platform, cache=self.session.take_early_cache(),
        ))  # fmt: skip

    def _follow(self, c: SessionController) -> None:
        """Wire a new controller to the status bar and to what the root itself does about it."""
        bar = self.main_window.connection_bar
        c.status_changed.connect(bar.on_status_changed)
        c.status_changed.connect(self._on_status)
        c.reconnect_scheduled.connect(bar.on_reconnect_scheduled)
        c.connect_failed.connect(bar.on_connect_failed)
        c.outbox_changed.connect(bar.on_outbox_changed)
        unencrypted = self.settings.profile(c.profile.name).unencrypted
        bar.set_unencrypted(unencrypted)
        if self.tray is not None:
            self.tray.set_unencrypted(unencrypted)
        c.kicked_offline.connect(lambda info: self.spawn("kicked", self.reauth.kicked(info)))
        c.user_sig_expired.connect(lambda: self.spawn("ticket", self.reauth.ticket_expired()))
        keyring_note = self.login_window.on_credentials_unavailable  # reading a ticket fails before login_user is set
        c.credential_store_unavailable.connect(lambda text: keyring_note(text, logged_in=bool(c.login_user)))

    def _profile_choices(self) -> list[ProfileChoice]:
        return [ProfileChoice(p.name, profile_title(p.kind, p.title), p.sources, p.sources[0])
                for p in self.settings.profiles]  # fmt: skip

    # -- what the user asked for ----------------------------------------------------------------
    async def _login(self, request: LoginRequest) -> None:
        try:  # the window went busy when it emitted; every path below answers it
            await self._server_ready.wait()
            await self._switch_profile(request.profile)
            sandbox = self.settings.profile(request.profile).kind == SANDBOX
            if self._server_problem and sandbox and not await self._start_sandbox():
                return
            assert self.controller is not None
            provider = provider_for(request, self.settings)
            await self.controller.login(request.user_id, provider, remember=request.remember)
        except Exception as exc:  # whatever it was, the window must not stay busy
            error = as_im_error(exc)
            assert error is not None
            self.login_window.on_login_failed(int(error.code), error.message)
            return
        self.settings_file.save(replace(self.settings, current_profile=request.profile, last_user=request.user_id,
                                        remember=request.remember))  # fmt: skip
        self.login_window.on_login_succeeded()
        self._show_main(request.user_id)

    async def _add_server(self) -> None:
        dialog = ServerDialog(self.login_window)
        if not await await_dialog(dialog):
            return
        choice = dialog.choice()
        name = "server-" + hashlib.sha256(choice.base_url.encode()).hexdigest()[:8]
        profile = ServerProfileSettings(name, choice.title, choice.kind, choice.base_url, choice.ticket_url,
                                        choice.proxy, choice.allow_insecure, choice.ca_file)  # fmt: skip
        self.settings_file.save(self.settings.with_profile(profile))  # remembered for next time
        self.login_window.set_profiles(self._profile_choices(), name)
        await self._switch_profile(name)

    async def _switch_profile(self, name: str) -> None:
        """A different server: a new controller for its address (the sandbox starts only when needed)."""
        async with self._switching:
            await self._switch_profile_now(name)

    async def _switch_profile_now(self, name: str) -> None:
        profile = self.settings.profile(name)
        if self.controller is not None:
            if self.controller.profile.name == name:
                return
            await self.controller.logout(forget=False)
            await self.controller.aclose()
        url = profile.base_url
        if profile.kind == SANDBOX:
            url = self.sandbox.prepare()
            if not self.sandbox.running:
                await self._start_sandbox()
        self._make_controller(profile.name, url)
        self.settings_file.save(replace(self.settings, current_profile=name))

    async def _auto_login(self, user_id: str, kind: str) -> None:
        from im_desktop.session.tickets import SandboxTickets

        assert self.controller is not None
        try:
            if kind == SANDBOX:
                await self.controller.login(user_id, SandboxTickets())
            elif not await self.controller.login_remembered(user_id, static_token=kind == "satori"):
                self._show_login()
        except ImError as exc:
            self._show_login(exc)

    async def _logout(self) -> None:
        if self.controller is not None:
            await self.controller.logout()
        self.settings_file.save(replace(self.settings, remember=False))
        self._show_login()

    def _retry(self) -> None:
        if self.controller is not None:
            self.controller.retry_now()

    def _on_network(self, online: bool) -> None:
        log.info("the system says the network is %s", "up" if online else "down")
        if self.controller is not None:
            self.controller.network_changed(online)

    def _on_status(self, status: int) -> None:
        if status == LoginStatus.ONLINE:
            log.info("online")
            if self.options.exit_after == "online":
                self.quit()

    # -- windows --------------------------------------------------------------------------------
    def _show_login(self, error: ImError | None = None) -> None:
        """The login window, saying why when a login or the server could not go on."""
        self.main_window.hide()
        self.login_window.show()
        self.login_window.raise_()
        self.login_window.activateWindow()
        if error is not None:
            self.login_window.on_login_failed(int(error.code), error.message)

    def _show_main(self, user_id: str, *, show: bool = True) -> bool:
        """The main window on the user's cached conversations (shown unless `show` is False: started hidden);
        False (and the login window saying why) when the cache cannot be opened even after moving a damaged one
        aside."""
        try:
            if self.controller is not None:
                self.controller.open_offline(user_id)
            else:  # a remembered start: the cache alone, handed to the controller once it is made
                path = cache_path(self.paths.cache, self.settings.profile().name, check_user_id(user_id))
                self.session.show_early(LocalCache(path))
        except (ImError, CacheError) as exc:
            self._show_login(as_im_error(exc))
            return False
        profile = self.settings.profile()
        self.main_window.set_user(user_id, profile_title(profile.kind, profile.title))
        self.conversations.refresh()
        self.login_window.hide()
        if show:
            self.main_window.show()
        return True

    def raise_on_request(self) -> None:
        """Another launch of the app asked for this one's window."""
        log.info("another launch asked for this window; raising it")
        self._raise_window()

    def _open_conversation(self, channel_id: str) -> None:
        """A click on a notification: that conversation, in the raised main window (read once it is seen)."""
        if self.controller is None or self.controller.cache is None:
            return
        self.conversations.open(channel_id)
        self._raise_window()
        self.attention.catch_up()

    def _raise_window(self) -> None:
        controller = self.session.controller
        window = self.main_window if controller is not None and controller.cache is not None else self.login_window
        window.show()
        window.raise_()
        window.activateWindow()
