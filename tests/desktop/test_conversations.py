"""Conversations in the running app: who and where, a new conversation by UserID, "Message bob" on a message, and
conversations named for people, against the real server on loopback."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from im_desktop.desktop.app import DesktopApp
from im_desktop.ui.main_window import MainWindow
from im_desktop.ui.new_conversation import NewConversationDialog
from tests.desktop.test_app import alice_online, controller_of, direct, open_dialog, world
from tests.qt_loop import run, until
from tests.server.support import Session

pytestmark = pytest.mark.slow


async def _on_server(session: Session, channel: str, content: str) -> None:
    """Until the server has the message in that channel, as `session`'s user reads it; fails at a deadline."""
    deadline = time.monotonic() + 10
    while not any(m.get("content") == content for m in (await session.ok("message.list", {"channel_id": channel}))[
            "data"]):  # fmt: skip
        if time.monotonic() > deadline:
            pytest.fail(f"{content!r} not on the server in {channel}")
        await asyncio.sleep(0.05)


def _direct_open(window: MainWindow) -> str | None:
    """The open conversation, once it is not the lobby."""
    return window.current_conversation() if window.current_conversation() not in ("", "general") else None


def _names(desktop: DesktopApp) -> dict[str, str]:
    return {c.channel_id: c.name for c in controller_of(desktop).cache.conversations()}


def test_the_window_says_who_is_logged_in_and_where(tmp_path: Path) -> None:
    async def body() -> None:
        async with world(tmp_path) as env, alice_online(env, tmp_path / "home") as desktop:
            window = desktop.main_window
            # alice_online logs in to the profile the test world calls "Work".
            await until("the title", lambda: window.windowTitle() == "im-desktop — alice · Work")
            assert window.identity_action.text() == "Logged in as alice · Work"
            await until("the status bar", lambda: window.connection_bar.state_text == "Online as alice · Work")

    run(body)


def test_new_conversation_by_user_id_opens_the_direct_channel_named_for_them(tmp_path: Path) -> None:
    async def body() -> None:
        async with world(tmp_path) as env, alice_online(env, tmp_path / "home") as desktop:
            bob = await env.own.login("bob")
            window = desktop.main_window
            window.new_action.trigger()
            dialog = await until("the New conversation dialog", lambda: open_dialog(NewConversationDialog))
            QTest.keyClicks(dialog.user_id_edit, "bob bob")
            assert not dialog.ok_button.isEnabled() and "space" in dialog.hint.text()  # checked as typed
            dialog.user_id_edit.clear()
            QTest.keyClicks(dialog.user_id_edit, "bob")
            QTest.keyClick(dialog.user_id_edit, Qt.Key.Key_Return)
            channel = await until("a direct conversation open", lambda: _direct_open(window))
            assert _names(desktop)[channel] == "bob" and window.header.text() == "bob"
            assert "bob" in window.conversation_lines()
            # What bob's own client would call it: the same channel (user.channel.create is idempotent).
            assert (await bob.ok("user.channel.create", {"user_id": "alice"}))["id"] == channel
            window.composer.setPlainText("hi bob")
            window.send_button.click()
            await _on_server(bob, channel, "hi bob")

    run(body)


def test_message_bob_from_a_message_he_wrote(tmp_path: Path) -> None:
    async def body() -> None:
        async with world(tmp_path) as env, alice_online(env, tmp_path / "home") as desktop:
            bob = await env.own.login("bob")
            window = desktop.main_window
            await until("the lobby open", lambda: window.current_conversation() == "general")
            await bob.ok("message.create", {"channel_id": "general", "content": "anyone here?"})
            row = await until(
                "bob's message shown",
                lambda: next(
                    (i + 1 for i, line in enumerate(window.history_lines()) if line.endswith("\nanyone here?")), None
                ),
            )
            [action] = window.author_actions(row - 1)
            assert action.text() == "Message bob"
            action.trigger()
            channel = await until("the direct conversation", lambda: _direct_open(window))
            assert _names(desktop)[channel] == "bob"
            assert (await bob.ok("user.channel.create", {"user_id": "alice"}))["id"] == channel

    run(body)


def test_a_direct_conversation_started_by_someone_else_is_named_for_them(tmp_path: Path) -> None:
    async def body() -> None:
        async with world(tmp_path) as env, alice_online(env, tmp_path / "home") as desktop:
            bob, channel = await direct(env, "bob")
            await bob.ok("message.create", {"channel_id": channel, "content": "hello alice"})
            await until("bob's conversation listed", lambda: channel in _names(desktop))
            assert _names(desktop)[channel] == "bob" and channel != "bob"
            assert any(line.startswith("bob") for line in desktop.main_window.conversation_lines())

    run(body)


def test_a_user_id_the_server_refuses_is_said_in_the_status_bar(tmp_path: Path) -> None:
    async def body() -> None:
        async with world(tmp_path) as env, alice_online(env, tmp_path / "home") as desktop:
            before = _names(desktop)
            await desktop.conversations.message("x" * 40)  # longer than a UserID may be
            assert "32 bytes" in desktop.main_window.connection_bar.currentMessage()
            assert _names(desktop) == before

    run(body)
