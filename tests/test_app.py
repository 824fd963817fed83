"""DesktopApp in-process: the composition root's flows against real servers on loopback (kick and log in
again with every ticket source, ticket expiry, no tray, damaged cache, a sandbox that cannot start, the OS
network signal), with a keyring of the test's own."""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import qasync
from aiohttp import web
from PySide6.QtNetwork import QNetworkInformation
from PySide6.QtWidgets import QApplication, QLabel

from im_desktop.app import DesktopApp
from im_desktop.credentials import SERVICE, CredentialStore
from im_desktop.protocol.models import LoginStatus
from im_desktop.session.types import SdkLoginStatus
from im_desktop.settings import AppPaths, ServerProfileSettings, Settings, save_settings
from im_desktop.ui.dialogs import KickedDialog, TicketDialog
from im_desktop.ui.login_window import LoginRequest
from tests.clocks import FakeClock
from tests.server.support import RunningServer, running_server, serve_app
from tests.session.keyrings import MemoryKeyring
from tests.session.signals import reach_status
from tests.session.strict_satori import BOT, TOKEN, StrictSatori, running_strict

pytestmark = pytest.mark.slow
T = TypeVar("T")
PASSWORD = "correct horse"


def run(body: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run `body` on the Qt event loop through qasync, as the app's main() does."""
    app = QApplication.instance() or QApplication([])
    assert isinstance(app, QApplication)
    app.setQuitOnLastWindowClosed(False)  # as main() does: the app quits through DesktopApp.quit only
    with asyncio.Runner(loop_factory=lambda: qasync.QEventLoop(app)) as runner:
        return runner.run(body())


async def until(what: str, check: Callable[[], T | None], timeout: float = 10.0) -> T:
    """Look again every 20 ms until `check()` gives something; fail the test at the deadline."""
    deadline = time.monotonic() + timeout
    while not (result := check()):
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {timeout} s")
        await asyncio.sleep(0.02)
    return result


def open_dialog(kind: type[T]) -> T | None:
    found = [w for w in QApplication.topLevelWidgets() if isinstance(w, kind) and w.isVisible()]
    return found[0] if found else None


@dataclass
class World:
    """The servers one test talks to."""

    own: RunningServer  # this project's server (UserSig, business-server password)
    strict: StrictSatori  # a strict third-party Satori server (static token)
    tickets: str  # the business server that turns a password into a UserSig

    def profile(self, source: str) -> ServerProfileSettings:
        if source == "sandbox":
            return ServerProfileSettings("sandbox", "Built-in sandbox", "sandbox")
        if source == "token":
            return ServerProfileSettings("satori", "Strict Satori", "satori", self.strict.url)
        return ServerProfileSettings("work", "Work", "im", self.own.url, f"{self.tickets}/usersig")


@asynccontextmanager
async def world(tmp_path: Path, clock: FakeClock | None = None) -> AsyncIterator[World]:
    async with AsyncExitStack() as stack:
        own = await stack.enter_async_context(running_server(tmp_path / "server", clock))

        async def issue(request: web.Request) -> web.Response:
            body = await request.json()
            if body.get("password") != PASSWORD:
                return web.json_response({"code": 90401, "message": "wrong password"}, status=401)
            return web.json_response({"user_sig": own.sig(body["user_id"], 3600)})

        ticket_app = web.Application()
        ticket_app.router.add_post("/usersig", issue)
        tickets = await stack.enter_async_context(serve_app(ticket_app))
        strict = await stack.enter_async_context(running_strict())
        yield World(own, strict, tickets)


@asynccontextmanager
async def desktop_app(home: Path, settings: Settings, keyring: MemoryKeyring) -> AsyncIterator[DesktopApp]:
    """The real DesktopApp (offscreen, so without a tray), running until the block ends; it must then quit
    through its own sequence with exit code 0."""
    paths = AppPaths.resolve(str(home))
    save_settings(paths.settings_file, settings)
    qapp = QApplication.instance()
    assert isinstance(qapp, QApplication)
    options = argparse.Namespace(home=str(home), exit_after=None)
    desktop = DesktopApp(qapp, paths, options, credentials=CredentialStore(keyring))
    running = asyncio.ensure_future(desktop.run())
    try:
        yield desktop
    finally:
        desktop.quit()
        assert await asyncio.wait_for(running, 30) == 0
        for widget in QApplication.topLevelWidgets():
            widget.close()
            widget.deleteLater()


@asynccontextmanager
async def alice_online(env: World, home: Path) -> AsyncIterator[DesktopApp]:
    """The app on this project's server elsewhere, alice logged in with a pasted UserSig, online."""
    profile = env.profile("usersig")
    settings = Settings(profiles=[env.profile("sandbox"), profile], current_profile=profile.name)
    async with desktop_app(home, settings, MemoryKeyring()) as desktop:
        desktop.login_window.login_requested.emit(
            LoginRequest(profile.name, "alice", "usersig", env.own.sig("alice", 3600), False)
        )
        await online(desktop)
        yield desktop


def controller_of(desktop: DesktopApp) -> Any:
    assert desktop.controller is not None
    return desktop.controller


async def online(desktop: DesktopApp) -> None:
    await until("a controller", lambda: desktop.controller)
    await reach_status(controller_of(desktop), LoginStatus.ONLINE, timeout=15)


def secret_for(source: str, env: World, user: str) -> str:
    return {"sandbox": "", "password": PASSWORD, "usersig": env.own.sig(user, 3600), "token": TOKEN}[source]


def user_for(source: str) -> str:
    return BOT if source == "token" else "alice"


async def kick(source: str, env: World, desktop: DesktopApp, user: str) -> None:
    """Someone logs in as the same user on another Linux box (or, for a static token, the server says so)."""
    if source == "token":
        assert await env.strict.kick() == 1
    elif source == "sandbox":
        await kick_in_sandbox(desktop.sandbox.url, user)
    else:
        await env.own.login(user, platform="Linux", device_id="another-linux-box", device_name="Another box")


async def kick_in_sandbox(url: str, user: str) -> None:
    """The sandbox is a real child process with keys of its own: a demo ticket from it, then a login."""
    async with httpx.AsyncClient() as http:
        sig = (await http.post(f"{url}/im/v1/demo/usersig", json={"user_id": user})).json()["user_sig"]
        reply = await http.post(f"{url}/im/v1/login", json={"user_id": user, "user_sig": sig, "platform": "Linux",
                                                              "device_id": "another-linux-box",
                                                              "device_name": "Another box"})  # fmt: skip
        assert reply.status_code == 200, reply.text


def keyring_entries(keyring: MemoryKeyring) -> dict[str, str]:
    return {name: value for (service, name), value in keyring.secrets.items() if service == SERVICE}


@pytest.mark.parametrize("remembered", [False, True], ids=["fresh-login", "remembered-start"])
@pytest.mark.parametrize("source", ["sandbox", "usersig", "password", "token"])
def test_kicked_then_log_in_again_keeps_the_saved_ticket(tmp_path: Path, source: str, remembered: bool) -> None:
    async def body() -> None:
        async with world(tmp_path) as env:
            keyring = MemoryKeyring()
            user = user_for(source)
            profile = env.profile(source)
            settings = Settings(profiles=[env.profile("sandbox"), profile] if source != "sandbox" else [profile],
                                current_profile=profile.name, last_user=user if remembered else "",
                                remember=remembered)  # fmt: skip
            if remembered and source != "sandbox":  # what an earlier run kept: the ticket, never a password
                ticket = TOKEN if source == "token" else env.own.sig(user, 3600)
                await CredentialStore(keyring).save_ticket(profile.name, user, ticket)
            async with desktop_app(tmp_path / "home", settings, keyring) as desktop:
                if not remembered:
                    await until("the login window", lambda: desktop.login_window.isVisible())
                    desktop.login_window.login_requested.emit(
                        LoginRequest(profile.name, user, source, secret_for(source, env, user), True)
                    )
                await online(desktop)
                saved = keyring_entries(keyring)
                if source != "sandbox":
                    assert saved, "Remember me kept nothing"

                await kick(source, env, desktop, user)
                dialog = await until("the kicked dialog", lambda: open_dialog(KickedDialog))
                assert controller_of(desktop).login_status is SdkLoginStatus.LOGOUT
                dialog.login_again_button.click()
                await online(desktop)
                assert controller_of(desktop).login_user == user
                assert keyring_entries(keyring) == saved  # "Log in again" never deletes the remembered ticket
                assert desktop.main_window.isVisible() and not desktop.login_window.isVisible()

    run(body)


@pytest.mark.parametrize("source", ["usersig", "password"])
def test_an_expired_ticket_is_renewed_or_asked_for(tmp_path: Path, source: str) -> None:
    clock = FakeClock()

    async def body() -> None:
        async with world(tmp_path, clock) as env:
            profile = env.profile(source)
            short = env.own.sig("alice", 60)
            settings = Settings(profiles=[env.profile("sandbox"), profile], current_profile=profile.name)
            async with desktop_app(tmp_path / "home", settings, MemoryKeyring()) as desktop:
                desktop.login_window.login_requested.emit(
                    LoginRequest(profile.name, "alice", source, short if source == "usersig" else PASSWORD, False)
                )
                await online(desktop)
                controller = controller_of(desktop)
                logins = controller.login_requests
                clock.advance(3700 if source == "password" else 61)  # past the ticket's end on the server
                if source == "password":  # the password is kept for this run: a new ticket without asking
                    await reach_status(controller, LoginStatus.RECONNECT)
                    await online(desktop)
                    assert controller.login_requests == logins + 1
                    assert open_dialog(TicketDialog) is None
                    return
                dialog = await until("the ticket dialog", lambda: open_dialog(TicketDialog))
                assert desktop.main_window.isVisible()  # asked over the window, drafts kept
                dialog.secret_edit.setText(env.own.sig("alice", 3600))
                dialog.ok_button.click()
                await online(desktop)
                assert controller_of(desktop).login_user == "alice"

    run(body)


def test_without_a_tray_closing_the_window_quits(tmp_path: Path) -> None:
    async def body() -> None:
        paths = AppPaths.resolve(str(tmp_path / "home"))
        save_settings(paths.settings_file, Settings())
        qapp = QApplication.instance()
        assert isinstance(qapp, QApplication)
        desktop = DesktopApp(qapp, paths, argparse.Namespace(home=None, exit_after=None),
                             credentials=CredentialStore(MemoryKeyring()))  # fmt: skip
        assert desktop.tray is None  # offscreen has no tray
        running = asyncio.ensure_future(desktop.run())
        await until("the login window", lambda: desktop.login_window.isVisible())
        desktop.login_window.login_requested.emit(LoginRequest("sandbox", "alice", "sandbox", "", False))
        await online(desktop)
        assert "closing this window quits" in desktop.main_window.connection_bar.currentMessage()
        desktop.main_window.close()
        assert await asyncio.wait_for(running, 30) == 0
        assert not desktop.sandbox.running

    run(body)


def test_a_damaged_cache_is_rebuilt_and_the_remembered_user_goes_online(tmp_path: Path) -> None:
    async def body() -> None:
        home = tmp_path / "home"
        damaged = home / "cache" / "sandbox" / "carol.sqlite3"
        damaged.parent.mkdir(parents=True)
        damaged.write_bytes(os.urandom(8192))
        settings = Settings(last_user="carol", remember=True)
        async with desktop_app(home, settings, MemoryKeyring()) as desktop:
            await online(desktop)
            assert desktop.main_window.isVisible()
            assert list(damaged.parent.glob("carol.sqlite3.damaged-*"))  # kept aside, not deleted

    run(body)


def test_a_sandbox_that_cannot_start_is_a_message_not_a_crash(tmp_path: Path) -> None:
    async def body() -> None:
        home = tmp_path / "home"
        (home / "data").mkdir(parents=True)
        (home / "data" / "sandbox-server").write_text("a file where the server's data folder belongs")
        async with desktop_app(home, Settings(last_user="carol", remember=True), MemoryKeyring()) as desktop:
            await until("the reason in the login window", lambda: "could not start" in desktop.login_window.error_text)
            assert desktop.login_window.isVisible() and not desktop.login_window.busy
            assert controller_of(desktop).login_status is SdkLoginStatus.LOGOUT
            (home / "data" / "sandbox-server").unlink()  # the person fixes it; "Log in" tries again
            desktop.login_window.login_requested.emit(LoginRequest("sandbox", "carol", "sandbox", "", False))
            await online(desktop)

    run(body)


def test_the_systems_network_signal_reconnects_at_once(tmp_path: Path) -> None:
    async def body() -> None:
        async with world(tmp_path) as env, alice_online(env, tmp_path / "home") as desktop:
            info = QNetworkInformation.instance()
            assert info is not None and desktop.network.backend  # a real backend was loaded
            before = len(await env.own.instances("alice"))
            statuses: list[int] = []
            controller_of(desktop).status_changed.connect(statuses.append)
            # What the backend emits when the link goes and comes back (Wi-Fi switched, a cable replugged).
            info.reachabilityChanged.emit(QNetworkInformation.Reachability.Disconnected)
            info.reachabilityChanged.emit(QNetworkInformation.Reachability.Online)
            await until("a fresh connection", lambda: statuses[-1:] == [int(LoginStatus.ONLINE)])
            assert int(LoginStatus.RECONNECT) in statuses  # the old stream was dropped and replaced
            assert controller_of(desktop).login_requests == 1  # a reconnect, not a new login
            assert len(await env.own.instances("alice")) == before

    run(body)


def test_nothing_is_left_of_the_hostile_kick_but_its_literal_text(tmp_path: Path) -> None:
    async def body() -> None:
        async with world(tmp_path) as env, alice_online(env, tmp_path / "home") as desktop:
            hostile = "<h1 style='color:red'>SECURITY ALERT</h1>"
            await env.own.login("alice", platform="Linux", device_id="evil", device_name=hostile)
            dialog = await until("the kicked dialog", lambda: open_dialog(KickedDialog))
            texts = [label.text() for label in dialog.findChildren(QLabel)]
            assert any(f"\u2068{hostile}\u2069" in text for text in texts)
            dialog.log_out_button.click()
            await until("the login window", lambda: desktop.login_window.isVisible())

    run(body)


def test_kicked_then_quit_ends_the_app_in_order(tmp_path: Path) -> None:
    async def body() -> None:
        async with world(tmp_path) as env, alice_online(env, tmp_path / "home") as desktop:
            await env.own.login("alice", platform="Linux", device_id="another-linux-box", device_name="Another box")
            dialog = await until("the kicked dialog", lambda: open_dialog(KickedDialog))
            dialog.quit_button.click()
            # The quit sequence hides every window once the session and the tasks are closed.
            await until("the windows to close", lambda: not desktop.main_window.isVisible())
            assert not desktop.login_window.isVisible()
            assert controller_of(desktop).cache is None  # closed, not left open

    run(body)
