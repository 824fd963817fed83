"""Conversations named for people: a direct message from bob shows as "bob", "New conversation" opens the direct
channel under the person's name, and a conversation known only by its id gets its name at the next resync."""

from __future__ import annotations

from pathlib import Path

import pytest

from im_desktop.protocol.errors import ErrorCode, ImError
from im_desktop.protocol.models import LoginStatus
from im_desktop.session.tickets import SandboxTickets
from tests.session.conftest import session_env
from tests.session.signals import reach_status, until

pytestmark = pytest.mark.asyncio


def _names(controller) -> dict[str, str]:
    assert controller.cache is not None
    return {c.channel_id: c.name for c in controller.cache.conversations()}


async def test_a_direct_message_shows_under_the_senders_name(tmp_path: Path) -> None:
    async with session_env(tmp_path) as env:
        controller = env.controller()
        await controller.login("alice", SandboxTickets())
        await reach_status(controller, LoginStatus.ONLINE)
        bob = await env.server.login("bob")
        channel = await bob.ok("user.channel.create", {"user_id": "alice"})
        await bob.ok("message.create", {"channel_id": channel["id"], "content": "hi alice"})
        await until("bob's message", lambda: channel["id"] in _names(controller), controller.conversations_changed,
                    controller.message_received)  # fmt: skip
        assert _names(controller)[channel["id"]] == "bob"  # not "private:alice:bob"


async def test_new_conversation_opens_the_direct_channel_named_for_the_person(tmp_path: Path) -> None:
    async with session_env(tmp_path) as env:
        controller = env.controller()
        await env.server.login("carol")  # carol exists
        await controller.login("alice", SandboxTickets())
        await reach_status(controller, LoginStatus.ONLINE)
        channel_id = await controller.open_direct("carol")
        assert _names(controller)[channel_id] == "carol"
        controller.send_message(channel_id, "hello carol")
        await controller.tasks.join("outbox")  # the flush the send started has ended
        carol = await env.server.login("carol", device_id="carol-2")
        listed = await carol.ok("message.list", {"channel_id": channel_id})
        assert [m["content"] for m in listed["data"]] == ["hello carol"]
        with pytest.raises(ImError) as unknown:
            await controller.open_direct("nobody-here")
        assert unknown.value.code is ErrorCode.ACCOUNT_NOT_FOUND
        with pytest.raises(ImError):
            await controller.open_direct("not a user id")


async def test_a_conversation_known_only_by_its_id_is_named_at_the_resync(tmp_path: Path) -> None:
    async with session_env(tmp_path) as env:
        controller = env.controller()
        dave = await env.server.login("dave")
        await controller.login("alice", SandboxTickets())
        await reach_status(controller, LoginStatus.ONLINE)
        cache = controller.cache
        assert cache is not None
        channel = await dave.ok("user.channel.create", {"user_id": "alice"})  # the one channel of the two
        cache.upsert_conversation(channel["id"], channel["id"], 1)  # as an old version of the app stored it
        env.proxy.cut()
        await reach_status(controller, LoginStatus.RECONNECT)
        env.proxy.restore()
        await until("the resync to name it", lambda: _names(controller).get(channel["id"]) == "dave",
                    controller.conversations_changed, timeout=10)  # fmt: skip
