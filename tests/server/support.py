"""A real server on loopback for tests, with a hand-driven clock, on the store under test, and a thin client."""

from __future__ import annotations

import asyncio
import dataclasses
import io
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from im_desktop.protocol import usersig
from im_desktop.server.app import SERVICE_KEY, serve
from im_desktop.server.config import Keys, ServerConfig
from im_desktop.server.sessions import SessionService
from im_desktop.server.store import Store
from tests.clocks import FakeClock

ADMIN_KEY = "test-admin-key"
SECRET_KEY = "5bd2850fff3ecb11d7c805251c51ee463a25727bddc2385f3fa8bfee1bb93b5e"
SDKAPPID = 1400000000
PLATFORM_HEADERS = ("Satori-Platform", "Satori-User-ID")

# The store under test: a function from a server's data folder to its PostgreSQL URL, or None for SQLite in the
# folder (the default, and what tests outside tests/server get). tests/server/conftest.py sets it per test, so
# that a second server on the same folder (a restart) finds the same data, and one on another folder none.
_database_for: Callable[[Path], str | None] = lambda data_dir: None  # noqa: E731


def use_databases(database_for: Callable[[Path], str | None]) -> None:
    global _database_for
    _database_for = database_for


def database_for(data_dir: Path) -> str | None:
    """The PostgreSQL URL of the server on `data_dir` in this test, or None when the test runs on SQLite."""
    return _database_for(data_dir)


@dataclasses.dataclass
class Reply:
    status: int
    body: Any

    @property
    def code(self) -> int | None:
        return self.body.get("code") if isinstance(self.body, dict) else None


class EventSocket:
    """A client WebSocket on /v1/events that has sent IDENTIFY."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.ready: dict[str, Any] = {}

    async def send(self, op: int, body: dict[str, Any] | None = None) -> None:
        await self.ws.send_str(json.dumps({"op": op} if body is None else {"op": op, "body": body}))

    async def frame(self, timeout: float = 5.0) -> dict[str, Any]:
        """The next signal; raises ConnectionError carrying the close code if the socket closes."""
        msg = await self.ws.receive(timeout=timeout)
        if msg.type is not aiohttp.WSMsgType.TEXT:
            raise ConnectionError(self.ws.close_code)
        frame: dict[str, Any] = json.loads(msg.data)
        return frame

    async def event(self, timeout: float = 5.0) -> dict[str, Any]:
        """The body of the next EVENT, skipping PONGs."""
        while True:
            frame = await self.frame(timeout)
            if frame["op"] == 0:
                body: dict[str, Any] = frame["body"]
                return body

    async def until(self, event_type: str, timeout: float = 5.0) -> dict[str, Any]:
        """The next EVENT of one type, skipping others."""
        while (event := await self.event(timeout))["type"] != event_type:
            pass
        return event

    async def close_code(self, timeout: float = 5.0) -> int | None:
        """Wait for the server to close the socket; return its close code: the one in its close frame. (Not
        ws.close_code, which turns to 1006 when the server drops the connection before our reply frame is out,
        as aiohttp does when it closes a socket that another task is reading.)"""
        while True:
            msg = await self.ws.receive(timeout=timeout)
            if msg.type is aiohttp.WSMsgType.CLOSE:
                return int(msg.data)
            if msg.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING):
                return self.ws.close_code

    async def no_event(self, within: float = 0.3) -> None:
        """Assert that nothing arrives for a short while."""
        try:
            frame = await self.frame(timeout=within)
        except TimeoutError:
            return
        raise AssertionError(f"unexpected frame {frame}")


@dataclasses.dataclass
class Session:
    server: RunningServer
    user_id: str
    token: str
    session_id: str
    reply: dict[str, Any]

    def headers(self) -> dict[str, str]:
        auth = {"Authorization": f"Bearer {self.token}"}
        return {**auth, "Satori-Platform": "im-desktop", "Satori-User-ID": self.user_id}

    async def api(self, method: str, body: Any = None, **kw: Any) -> Reply:
        return await self.server.post(f"/v1/{method}", {} if body is None else body, headers=self.headers(), **kw)

    async def ok(self, method: str, body: Any = None) -> Any:
        reply = await self.api(method, body)
        assert reply.status == 200, reply
        return reply.body

    async def connect(self, sn: int | None = None, key: str = "sn") -> EventSocket:
        body: dict[str, Any] = {"token": self.token}
        if sn is not None:
            body[key] = sn
        sock = await self.server.websocket()
        await sock.send(3, body)
        frame = await sock.frame()
        assert frame["op"] == 4, frame
        sock.ready = frame["body"]
        return sock


@dataclasses.dataclass
class RunningServer:
    url: str
    config: ServerConfig
    clock: FakeClock
    http: aiohttp.ClientSession
    service: SessionService

    @property
    def store(self) -> Store:
        return self.service.store

    def sig(self, user_id: str, lifetime: int = 86400, *, issued_at: int | None = None, key: str = SECRET_KEY,
            sdkappid: int = SDKAPPID) -> str:  # fmt: skip
        now = int(self.clock()) if issued_at is None else issued_at
        return usersig.generate(sdkappid, key, user_id, lifetime, now=now)

    async def post(self, path: str, body: Any = None, *, headers: dict[str, str] | None = None,
                   data: bytes | io.BytesIO | None = None, method: str = "POST") -> Reply:  # fmt: skip
        payload = data if data is not None else (json.dumps(body).encode() if body is not None else None)
        if payload is not None:  # as every client does (the server refuses undeclared bodies with 90415)
            headers = {"Content-Type": "application/json", **(headers or {})}
        async with self.http.request(method, self.url + path, data=payload, headers=headers) as resp:
            text = await resp.text()
            try:
                parsed = json.loads(text)
            except ValueError:
                parsed = text
            return Reply(resp.status, parsed)

    async def try_login(self, user_id: Any, sig: Any = None, platform: str = "Linux", device_id: str | None = None,
                        device_name: str | None = None) -> Reply:  # fmt: skip
        body = {
            "user_id": user_id,
            "user_sig": self.sig(user_id) if sig is None else sig,
            "platform": platform,
            "device_id": device_id or f"{platform}-device",
            "device_name": device_name or f"{platform} box",
        }
        return await self.post("/im/v1/login", body)

    async def login(self, user_id: str, platform: str = "Linux", **kw: Any) -> Session:
        reply = await self.try_login(user_id, platform=platform, **kw)
        assert reply.status == 200, reply
        return Session(self, user_id, reply.body["token"], reply.body["session"]["session_id"], reply.body)

    async def admin(self, method: str, path: str, body: Any = None, key: str = ADMIN_KEY) -> Reply:
        return await self.post(f"/im/v1/admin/{path}", body, headers={"Authorization": f"Bearer {key}"}, method=method)

    async def instances(self, user_id: str | None = None) -> list[dict[str, Any]]:
        reply = await self.admin("GET", "instances" + (f"?user_id={user_id}" if user_id else ""))
        assert reply.status == 200, reply
        data: list[dict[str, Any]] = reply.body["data"]
        return data

    async def websocket(self) -> EventSocket:
        ws = await self.http.ws_connect(self.url.replace("http", "ws", 1) + "/v1/events", autoping=True)
        return EventSocket(ws)


@asynccontextmanager
async def serve_app(app: web.Application) -> AsyncIterator[str]:
    """Any small aiohttp app on a free loopback port for the duration of the block; yields its base URL."""
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()


def make_config(data_dir: Path, **overrides: Any) -> ServerConfig:
    keys = Keys(sdkappid=SDKAPPID, secret_key=SECRET_KEY, admin_key=ADMIN_KEY)
    base = ServerConfig(keys=keys, data_dir=data_dir, port=0, sandbox=True, expiry_check_interval=0.02,
                        database=database_for(data_dir))  # fmt: skip
    return dataclasses.replace(base, **overrides)


@asynccontextmanager
async def running_server(
    data_dir: Path, clock: FakeClock | None = None, **overrides: Any
) -> AsyncIterator[RunningServer]:
    """Start the real server on 127.0.0.1 (a free port) in this event loop."""
    config = make_config(data_dir, **overrides)
    clock = clock or FakeClock()
    async with serve(config, clock) as runner, aiohttp.ClientSession() as http:
        host, port = runner.addresses[0][:2]
        yield RunningServer(f"http://{host}:{port}", config, clock, http, runner.app[SERVICE_KEY])
        await asyncio.sleep(0)  # let pending close frames go out before the runner shuts down


def assert_kicked_by_another_device(event: dict[str, Any], platform: str, device_name: str) -> dict[str, Any]:
    """A `login-removed` event for an instance that a login on another device ended (6208, multi_device), naming
    that device; returns its `ended` part for further checks."""
    assert event["type"] == "login-removed"
    assert event["login"]["status"] == 0
    ended: dict[str, Any] = event["ended"]
    assert ended["reason"] == "multi_device" and ended["code"] == 6208
    assert ended["by"]["platform"] == platform and ended["by"]["device_name"] == device_name
    return ended
