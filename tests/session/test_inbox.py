"""The inbox: after a READY that says re-sync, the missed messages come from message.list and the resume point
moves to the server's newest sn, so the next reconnect resumes normally instead of re-syncing again."""

from __future__ import annotations

from pathlib import Path

import pytest

from im_desktop.protocol.models import LoginStatus
from im_desktop.server import replay
from im_desktop.session.tickets import SandboxTickets
from tests.session.conftest import session_env
from tests.session.signals import reach_status, until

pytestmark = pytest.mark.asyncio


async def test_a_resync_moves_the_resume_point_to_the_newest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(replay, "REPLAY_LIMIT", 3)  # the real limit is 1,000 events: fewer make the point
    async with session_env(tmp_path) as env:
        controller = env.controller()
        await controller.login("alice", SandboxTickets())
        assert controller.cache is not None
        cache = controller.cache
        bob = await env.server.login("bob")
        env.proxy.cut()
        await reach_status(controller, LoginStatus.RECONNECT)
        for i in range(6):  # more than the replay limit: the server will not replay them
            await bob.ok("message.create", {"channel_id": "general", "content": f"missed {i}"})
        probe = await bob.connect()  # a fresh connection's READY carries the server's newest sn
        newest = probe.ready["sn"]
        await probe.ws.close()
        env.proxy.restore()
        await reach_status(controller, LoginStatus.ONLINE, timeout=5)
        await until("the missed messages, read with message.list",
                    lambda: sum(m.content.startswith("missed") for m in cache.history("general")) == 6,
                    controller.conversations_changed, controller.message_received)  # fmt: skip
        assert cache.get_state("last_sn") == newest  # resumes from here next time, not from before the outage
