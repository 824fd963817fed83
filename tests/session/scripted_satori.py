"""A third-party Satori server whose event stream follows a script per connection: READY and then whatever a
test needs (garbage, a close right away, a frame of tens of megabytes), on loopback, in the test's own loop."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from aiohttp import web

from tests.server.support import serve_app

BOT = {"sn": 0, "platform": "scripted", "user": {"id": "bot"}, "status": 1, "adapter": "x"}


def event(sn: int, **body: Any) -> dict[str, Any]:
    return {"op": 0, "body": {"sn": sn, **body}}


def message(sn: int, text: str, channel: str = "c1") -> dict[str, Any]:
    """A `message-created` event that the controller stores; the test waits for it."""
    return event(sn, type="message-created", channel={"id": channel}, user={"id": "eve"},
                 message={"id": f"m{sn}", "content": text})  # fmt: skip


class Connection:
    """The server's side of one WebSocket connection, for a script."""

    def __init__(self, ws: web.WebSocketResponse, request: web.Request, number: int) -> None:
        self.ws = ws
        self.request = request
        self.number = number  # 1 for the first connection

    async def ready(self, logins: Any = None, **extra: Any) -> None:
        """Read IDENTIFY, then send READY (with the bot's login unless `logins` says otherwise)."""
        await self.ws.receive()
        await self.send({"op": 4, "body": {"logins": [BOT] if logins is None else logins, **extra}})

    async def send(self, frame: dict[str, Any] | str) -> None:
        await self.ws.send_str(frame if isinstance(frame, str) else json.dumps(frame))

    async def send_huge(self, size: int) -> None:
        """One text frame of `size` bytes written straight to the socket from a reused chunk, with flow
        control, so this side allocates almost nothing while the client reads it."""
        transport = self.request.transport
        assert transport is not None
        transport.write(bytes([0x81, 127]) + size.to_bytes(8, "big"))
        chunk, sent = b"x" * 65536, 0
        while sent < size and not transport.is_closing():
            transport.write(chunk)
            sent += len(chunk)
            # A bare transport has no drain() to await: look again shortly while its buffer is full.
            while transport.get_write_buffer_size() > 1 << 20 and not transport.is_closing():  # noqa: ASYNC110
                await asyncio.sleep(0.001)

    async def hold(self) -> None:
        """Keep the connection open (answering nothing) until the client leaves."""
        async for _ in self.ws:
            pass

    def abort(self) -> None:
        """Drop the TCP connection without a close frame."""
        assert self.request.transport is not None
        self.request.transport.abort()


Script = Callable[[Connection], Awaitable[None]]


class ScriptedSatori:
    """No /im/v1/discovery (so the controller takes it for a third-party server), empty pages for every
    Satori call, and `script(connection)` for each event stream connection."""

    def __init__(self, script: Script) -> None:
        self._script = script
        self.connections = 0
        self.connected_at: list[float] = []  # loop time of each connection
        self._changed = asyncio.Event()

    async def _events(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        self.connections += 1
        self.connected_at.append(asyncio.get_running_loop().time())
        self._changed.set()
        with contextlib.suppress(ConnectionError):  # the client went away mid-script: often the point
            await self._script(Connection(ws, request, self.connections))
        return ws

    async def _call(self, request: web.Request) -> web.Response:
        return web.json_response({"data": [], "next": None})

    async def until_connections(self, count: int, timeout: float = 10.0) -> None:
        """Wait until `count` connections were opened; fail (TimeoutError) at the deadline."""
        async with asyncio.timeout(timeout):
            while self.connections < count:
                self._changed.clear()
                await self._changed.wait()

    @asynccontextmanager
    async def running(self) -> AsyncIterator[str]:
        app = web.Application()
        app.router.add_get("/v1/events", self._events)
        app.router.add_post("/v1/{method:.+}", self._call)
        async with serve_app(app) as url:
            yield url
