"""Older history from the server: message.list pages before the oldest cached message go into the cache until
the server says there is no more; one load per conversation at a time; failures are reported, not raised."""

from __future__ import annotations

from pathlib import Path

import pytest

from im_desktop.protocol.errors import ErrorCode
from im_desktop.session.tickets import SandboxTickets
from tests.session.conftest import session_env
from tests.session.signals import next_emission, record, until

pytestmark = pytest.mark.asyncio


async def test_older_pages_come_into_the_cache_until_the_start(tmp_path: Path) -> None:
    async with session_env(tmp_path, message_rate=1000.0, message_burst=1000) as env:
        bob = await env.server.login("bob")
        for i in range(250):  # written before alice logs in: her resync reads only the newest page
            await bob.ok("message.create", {"channel_id": "general", "content": f"old {i}"})
            env.server.clock.advance(0.01)  # the server's clock stands still unless moved
        controller = env.controller()
        loaded = record(controller.history.older_loaded)
        await controller.login("alice", SandboxTickets())
        cache = controller.cache
        assert cache is not None
        await until("the resync's newest page", lambda: cache.history_count("general") == 50,
                    controller.conversations_changed)  # fmt: skip
        while not loaded or loaded[-1][2]:
            oldest = cache.history("general", 1000)[0]
            await controller.history.load_older("general", oldest.id)
        assert loaded == [("general", 100, True), ("general", 100, False)]
        assert [m.content for m in cache.history("general", 1000)] == [f"old {i}" for i in range(250)]
        assert cache.conversations()[0].unread == 0  # older pages are history, not news


async def test_one_load_per_conversation_and_failures_are_reported(tmp_path: Path) -> None:
    async with session_env(tmp_path) as env:
        controller = env.controller()
        failed = record(controller.history.older_failed)
        assert await controller.history.load_older("general", "") == 0  # not logged in: said, not raised
        assert failed[-1][:2] == ("general", int(ErrorCode.NOT_LOGGED_IN))
        await controller.login("alice", SandboxTickets())
        env.proxy.blackhole()  # the request hangs: the first load is still out when the second is asked
        assert controller.history.request_older("general", "")
        assert not controller.history.request_older("general", "")
        env.proxy.cut()
        answer = await next_emission(controller.history.older_failed)
        assert answer[0] == "general" and answer[1] in (int(ErrorCode.NET_DISCONNECT), int(ErrorCode.NET_TIMEOUT))
        env.proxy.restore()
        loaded = next_emission(controller.history.older_loaded)
        assert controller.history.request_older("general", "")  # the failed one is over: a new one may start
        assert (await loaded)[0] == "general"
