"""A server that sends garbage: the controller ignores what it cannot read and never crashes."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from aiohttp import web

from im_desktop.protocol.models import LoginStatus
from im_desktop.session.tickets import StaticToken
from tests.server.support import serve_app
from tests.session.conftest import make_controller
from tests.session.signals import next_emission, reach_status

pytestmark = pytest.mark.asyncio

VALID = {"op": 0, "body": {"sn": 7, "type": "message-created", "channel": {"id": "c1"}, "user": {"id": "eve"},
                           "message": {"id": "m1", "content": "the one real message"}}}  # fmt: skip
GARBAGE = ["not json", "[1, 2]", '{"op": "0"}', '{"op": 0, "body": "text"}', '{"op": 0, "body": {"type": 5}}',
           '{"op": 0, "body": {"type": "message-created"}}', '{"op": 0, "body": {"type": "message-created", '
           '"channel": {"id": 3}, "message": []}}', '{"op": 99}', '{"op": 4, "body": {"logins": "x"}}']  # fmt: skip


class HostileServer:
    """Speaks just enough Satori to log in, then misbehaves on purpose."""

    def __init__(self) -> None:
        self.connections = 0
        self.oversized = True
        self.reconnected = asyncio.Event()

    async def events(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        self.connections += 1
        if self.connections >= 2:
            self.reconnected.set()
        await ws.receive()  # IDENTIFY
        login = {"sn": 0, "platform": "hostile", "user": {"id": "bot"}, "status": 1, "adapter": "x"}
        await ws.send_str(json.dumps({"op": 4, "body": {"logins": [login, "junk"], "proxy_urls": None}}))
        for text in GARBAGE:
            await ws.send_str(text)
        await ws.send_bytes(b"\x00\xff binary")
        await ws.send_str(json.dumps(VALID))
        if self.oversized:
            self.oversized = False
            await ws.send_str('{"op": 0, "body": {"pad": "' + "x" * 2_000_000 + '"}}')
        async for msg in ws:  # answer pings with garbage too
            if msg.type is web.WSMsgType.TEXT:
                await ws.send_str("pong?")
        return ws

    async def junk(self, request: web.Request) -> web.Response:
        return web.Response(text='{"data": "not a list", "next": 42}', content_type="application/json")


@asynccontextmanager
async def hostile_server() -> AsyncIterator[tuple[HostileServer, str]]:
    hostile = HostileServer()
    app = web.Application()
    app.router.add_get("/v1/events", hostile.events)
    app.router.add_post("/v1/{method}", hostile.junk)
    async with serve_app(app) as url:
        yield hostile, url


async def test_garbage_frames_are_ignored_and_an_oversized_one_costs_a_reconnect(tmp_path: Path) -> None:
    async with hostile_server() as (hostile, url):
        controller = make_controller(url, tmp_path)
        try:
            received = next_emission(controller.message_received)
            await controller.login("bot", StaticToken("whatever"))
            channel, message = await asyncio.wait_for(received, 5)
            assert (channel, message["content"]) == ("c1", "the one real message")
            await asyncio.wait_for(hostile.reconnected.wait(), 5)  # the 2 MB frame cost a connection
            await reach_status(controller, LoginStatus.ONLINE)
            assert controller.current_login["platform"] == "hostile"
            assert controller.cache is not None
            assert [m.id for m in controller.cache.history("c1")] == ["m1"]  # de-duplicated on replay
        finally:
            await controller.aclose()
