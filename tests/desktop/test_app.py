"""DesktopApp in-process: the composition root's flows against real servers on loopback (kick and log in
again with every ticket source, ticket expiry, no tray, damaged cache, a sandbox that cannot start, the OS
network signal), with a keyring of the test's own."""

from __future__ import annotations

import argparse
import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import keyring.errors as keyring_errors
import pytest
from aiohttp import web
from PySide6.QtCore import QObject, QPoint, Qt, QUrl, Slot
from PySide6.QtGui import QDesktopServices
from PySide6.QtNetwork import QNetworkInformation
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QLabel

from im_desktop.desktop.app import DesktopApp
from im_desktop.local.credentials import SERVICE, CredentialStore
from im_desktop.local.settings import AppPaths, ServerProfileSettings, Settings, save_settings
from im_desktop.protocol.models import LoginStatus
from im_desktop.session.types import SdkLoginStatus
from im_desktop.ui.dialogs import KickedDialog, TicketDialog
from im_desktop.ui.link_dialog import LinkDialog
from im_desktop.ui.login_window import LoginRequest
from tests.clocks import FakeClock
from tests.notification_service import NotificationService, notification_service
from tests.qt_loop import run, until
from tests.server.support import RunningServer, running_server, serve_app
from tests.session.keyrings import MemoryKeyring
from tests.session.signals import reach_status
from tests.session.strict_satori import BOT, TOKEN, StrictSatori, running_strict

pytestmark = pytest.mark.slow
T = TypeVar("T")
PASSWORD = "correct horse"


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
                if source != "sandbox":  # kept by a task of its own, which may end just after ONLINE
                    await until("Remember me to keep the ticket", lambda: keyring_entries(keyring))
                saved = keyring_entries(keyring)

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


# -- notifications and read marks (a real notification service: dunst on a private D-Bus) ----------------------
@pytest.fixture
def notifications(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[NotificationService]:
    with notification_service(tmp_path / "notifications") as service:
        monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", service.address)  # the app's session bus
        yield service


@asynccontextmanager
async def alice_with(env: World, home: Path, **settings: Any) -> AsyncIterator[DesktopApp]:
    """alice online as in alice_online, with settings of the test's choosing."""
    profile = env.profile("usersig")
    chosen = Settings(profiles=[env.profile("sandbox"), profile], current_profile=profile.name, **settings)
    async with desktop_app(home, chosen, MemoryKeyring()) as desktop:
        desktop.login_window.login_requested.emit(
            LoginRequest(profile.name, "alice", "usersig", env.own.sig("alice", 3600), False)
        )
        await online(desktop)
        yield desktop


async def direct(env: World, sender: str, to: str = "alice") -> tuple[Any, str]:
    """`sender` logged in on the server, and its direct channel with `to`."""
    session = await env.own.login(sender)
    return session, (await session.ok("user.channel.create", {"user_id": to}))["id"]


async def arrived(desktop: DesktopApp, channel: str, content: str) -> None:
    """Until the app has stored the message (its event handled, notification decided)."""
    await until(f"{content!r} in the cache", lambda: any(
        m.content == content for m in controller_of(desktop).cache.history(channel)))  # fmt: skip


def unread(desktop: DesktopApp) -> dict[str, int]:
    return {c.channel_id: c.unread for c in controller_of(desktop).cache.conversations()}


def notify_args(service: NotificationService) -> list[dict[str, Any]]:
    return [c.notify_args() for c in service.calls("Notify")]


def seen(desktop: DesktopApp) -> bool:
    return desktop.attention.window.state().seen(desktop.main_window.current_conversation())


def test_a_message_while_hidden_notifies_and_a_click_opens_its_conversation_read(
    tmp_path: Path, notifications: NotificationService
) -> None:
    async def body() -> None:
        async with world(tmp_path) as env, alice_online(env, tmp_path / "home") as desktop:
            bob, dm = await direct(env, "bob")
            desktop.main_window.hide()  # closed to the tray
            await bob.ok("message.create", {"channel_id": dm, "content": "Tom &amp; <b>Jerry</b> <at id='alice'/>"})
            [call] = await until("a Notify call on the bus", lambda: notifications.calls("Notify"))
            args = call.notify_args()
            assert (args["app_name"], args["summary"], args["body"]) == ("im-desktop", "bob", "Tom & Jerry @alice")
            assert unread(desktop)[dm] == 1 and controller_of(desktop).cache.read_mark(dm) is None
            notifications.click_popup()  # a person's click on dunst's popup
            await until("the main window, focused", lambda: seen(desktop))
            assert desktop.main_window.current_conversation() == dm
            await until("the conversation marked read", lambda: unread(desktop)[dm] == 0)
            [message] = controller_of(desktop).cache.history(dm)
            assert controller_of(desktop).cache.read_mark(dm) == (message.created_at, message.id)

    run(body)


def test_no_notification_for_your_own_messages_or_the_conversation_you_are_reading(
    tmp_path: Path, notifications: NotificationService
) -> None:
    async def body() -> None:
        async with world(tmp_path) as env, alice_online(env, tmp_path / "home") as desktop:
            bob, dm = await direct(env, "bob")
            desktop.main_window.hide()
            await bob.ok("message.create", {"channel_id": dm, "content": "one"})
            [first] = await until("the first Notify", lambda: [c for c in notifications.calls("Notify") if c.reply])
            desktop.notifier.open_requested.emit(dm)  # as a click does: the window comes up on the conversation
            await until("alice reading the conversation", lambda: seen(desktop))
            await bob.ok("message.create", {"channel_id": dm, "content": "two"})
            await arrived(desktop, dm, "two")
            assert unread(desktop)[dm] == 0  # read as it arrived: the window is focused on it
            desktop.main_window.hide()
            desktop.main_window.send_requested.emit(dm, "mine, from here")
            await arrived(desktop, dm, "mine, from here")
            await env.own.admin("PUT", "policy", {"policy": "multi"})  # the phone must not log the desktop out
            phone = await env.own.login("alice", platform="iPhone", device_id="phone")
            await phone.ok("message.create", {"channel_id": dm, "content": "mine, from my phone"})
            await arrived(desktop, dm, "mine, from my phone")
            assert unread(desktop)[dm] == 0  # your own messages are never unread
            await bob.ok("message.create", {"channel_id": dm, "content": "three"})  # hidden again: this one notifies
            await until("the second Notify", lambda: len(notifications.calls("Notify")) >= 2)
            # Nothing came in between: not "two" (being read), not alice's own from either device. Reading the
            # conversation withdrew its notification, so "three" has a new one.
            assert [(a["body"], a["replaces_id"]) for a in notify_args(notifications)] == [("one", 0), ("three", 0)]
            assert [c.body for c in notifications.calls("CloseNotification")] == [first.reply]
            assert unread(desktop)[dm] == 1

    run(body)


def test_notifications_off_in_the_settings_leave_only_mentions_of_you(
    tmp_path: Path, notifications: NotificationService
) -> None:
    async def body() -> None:
        async with world(tmp_path) as env, alice_with(env, tmp_path / "home", notifications=False) as desktop:
            bob, dm = await direct(env, "bob")
            desktop.main_window.hide()
            await bob.ok("message.create", {"channel_id": dm, "content": "just chatting"})
            await arrived(desktop, dm, "just chatting")
            await bob.ok("message.create", {"channel_id": dm, "content": "<at id='alice'/> look at this"})
            await until("the mention's Notify", lambda: notifications.calls("Notify"))
            assert [a["body"] for a in notify_args(notifications)] == ["@alice look at this"]
            assert desktop.settings.notifications is False  # logging in kept the setting

    run(body)


def test_read_marks_and_unread_counts_survive_a_restart(tmp_path: Path) -> None:
    clock = FakeClock()  # the server's: each message a second after the one before, so their order is plain

    async def send(session: Any, channel: str, text: str) -> None:
        clock.advance(1)
        await session.ok("message.create", {"channel_id": channel, "content": text})

    async def body() -> None:
        async with world(tmp_path, clock) as env:
            async with alice_online(env, tmp_path / "home") as desktop:
                bob, dm = await direct(env, "bob")
                carol, dm2 = await direct(env, "carol")
                desktop.main_window.hide()
                for text in ("b1", "b2"):
                    await send(bob, dm, text)
                    await arrived(desktop, dm, text)
                assert unread(desktop)[dm] == 2  # nobody saw them
                desktop.main_window.show()
                desktop.main_window.activateWindow()
                desktop.main_window.conversation_selected.emit(dm)  # alice picks bob's conversation in the list
                await until("bob's conversation read", lambda: unread(desktop)[dm] == 0)
                desktop.main_window.hide()
                await send(bob, dm, "b3")
                await send(carol, dm2, "c1")  # the newest conversation: the one the window opens on next time
                await arrived(desktop, dm2, "c1")
                await arrived(desktop, dm, "b3")
                cache = controller_of(desktop).cache
                mark = cache.read_mark(dm)
                assert mark is not None and mark[1] == next(m.id for m in cache.history(dm) if m.content == "b2")
                assert (unread(desktop)[dm], unread(desktop)[dm2]) == (1, 1)
            await send(bob, dm, "b4")  # while the app is closed
            async with alice_online(env, tmp_path / "home") as desktop:
                await arrived(desktop, dm, "b4")  # brought in by the resync after READY
                assert controller_of(desktop).cache.read_mark(dm) == mark  # the marker's place, kept
                assert unread(desktop)[dm] == 2  # b3 from before the restart, b4 from while it was closed
                assert desktop.main_window.current_conversation() == dm2  # opened, seen, read: not bob's

    run(body)


# -- history paging and links in messages -------------------------------------------------------------------------
class UrlCatcher(QObject):
    """Stands in for the browser: QDesktopServices hands it the URLs the app opens."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    @Slot(QUrl)
    def take(self, url: QUrl) -> None:
        self.urls.append(url.toString())


def link_point(desktop: DesktopApp, row: int) -> QPoint:
    """Where a link is drawn in a row of the open conversation (found by asking the view, point by point)."""
    view = desktop.main_window.history
    rect = view.visualRect(view.model().index(row, 0))
    for y in range(rect.top(), rect.bottom(), 2):
        for x in range(rect.left(), rect.right(), 3):
            if view.anchor_at(QPoint(x, y)):
                return QPoint(x, y)
    raise AssertionError("no link drawn in the row")


def test_scrolling_to_the_top_pages_older_messages_from_the_server(tmp_path: Path) -> None:
    clock = FakeClock()

    async def body() -> None:
        async with world(tmp_path, clock) as env:
            bob = await env.own.login("bob")
            for i in range(230):  # before alice logs in: her resync brings only the newest 50
                clock.advance(0.2)  # a second's worth of sends every five: under the server's rate limit
                await bob.ok("message.create", {"channel_id": "general", "content": f"old {i}"})
            async with alice_online(env, tmp_path / "home") as desktop:
                window = desktop.main_window
                newest = "\nold 229"
                await until("general open on its newest messages", lambda: window.current_conversation() == "general"
                            and window.history_lines() and window.history_lines()[-1].endswith(newest))  # fmt: skip
                assert len(window.history_lines()) == 50 and controller_of(desktop).cache.history_count("general") == 50
                bar = window.history.verticalScrollBar()

                def at_the_start() -> bool:
                    bar.setValue(bar.minimum())  # the person drags to the top, again and again
                    return window.history_lines()[0].endswith("\nold 0") and window.history_note.isVisible()

                await until("the first message, paged in from the server", at_the_start, timeout=20)
                assert window.history_note.text() == "This is the beginning of the conversation."
                lines = window.history_lines()
                assert [line.rsplit("\n", 1)[1] for line in lines] == [f"old {i}" for i in range(len(lines))]
                assert controller_of(desktop).cache.history_count("general") == 230
                assert window.history.jump_button.isVisible()
                window.history.jump_button.click()
                assert window.history.at_bottom() and window.history_lines()[-1].endswith("\nold 229")

    run(body)


def test_a_link_opens_only_after_its_address_was_shown_and_confirmed(tmp_path: Path) -> None:
    async def body() -> None:
        catcher = UrlCatcher()
        QDesktopServices.setUrlHandler("https", catcher, "take")  # type: ignore[arg-type]  # str at run time; the stub says bytes
        try:
            async with world(tmp_path) as env, alice_online(env, tmp_path / "home") as desktop:
                window = desktop.main_window
                bob = await env.own.login("bob")
                await until("general open", lambda: window.current_conversation() == "general")
                href = "https://example.org/docs?page=1&amp;q=x"
                await bob.ok("message.create", {"channel_id": "general",
                                                "content": f'read <a href="{href}">the bank\'s page</a>'})  # fmt: skip
                await until("the message shown", lambda: window.history_lines()
                            and window.history_lines()[-1].endswith("\nread the bank's page"))  # fmt: skip
                row = len(window.history_lines()) - 1
                for answer in ("cancel", "open"):
                    QTest.mouseClick(window.history.viewport(), Qt.MouseButton.LeftButton, pos=link_point(desktop, row))
                    dialog = await until("the link dialog", lambda: open_dialog(LinkDialog))
                    assert dialog.address.toPlainText() == "https://example.org/docs?page=1&q=x"  # whole, decoded
                    assert dialog.host.text() == "Server: example.org"
                    assert catcher.urls == []  # nothing opened while the person reads it
                    if answer == "open":
                        dialog.open_button.click()
                    else:
                        dialog.reject()
                    await until("the dialog closed", lambda: open_dialog(LinkDialog) is None)
                assert catcher.urls == ["https://example.org/docs?page=1&q=x"]
                # A link to a file or a script is not a link at all: only its words show.
                await bob.ok("message.create", {"channel_id": "general",
                                                "content": '<a href="file:///etc/passwd">passwords</a>'})  # fmt: skip
                await until("the second message", lambda: window.history_lines()[-1].endswith("\npasswords"))
                with pytest.raises(AssertionError, match="no link"):
                    link_point(desktop, len(window.history_lines()) - 1)
        finally:
            QDesktopServices.unsetUrlHandler("https")

    run(body)


def test_a_remembered_start_without_a_keyring_shows_the_cache_then_asks_to_log_in(tmp_path: Path) -> None:
    async def body() -> None:
        async with world(tmp_path) as env:
            keyring = MemoryKeyring()
            keyring.fail_with = keyring_errors.NoKeyringError("no recommended backend was available")
            profile = env.profile("usersig")
            settings = Settings(profiles=[env.profile("sandbox"), profile], current_profile=profile.name,
                                last_user="alice", remember=True)  # fmt: skip
            async with desktop_app(tmp_path / "home", settings, keyring) as desktop:
                # The cached conversations first (the cache opens without the keyring), then the login window
                # saying the keyring is missing, with the UserID kept: nothing crashed, nothing was logged out.
                await until("the login window", lambda: desktop.login_window.isVisible())
                assert desktop.main_window.windowTitle() == "im-desktop — alice · Work"
                note = desktop.login_window.credentials_note
                assert note.isVisible() and note.text() == (
                    "The keyring is not available (NoKeyringError). Log in to carry on; your conversations are kept "
                    "on this computer.")  # fmt: skip
                assert controller_of(desktop).login_status == SdkLoginStatus.LOGOUT and keyring.calls >= 1

    run(body)
