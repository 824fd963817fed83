"""A server that sends garbage: the controller ignores what it cannot read and never crashes."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import tracemalloc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from im_desktop.local.cache import LocalCache
from im_desktop.protocol.errors import ErrorCode, ImError
from im_desktop.protocol.models import LoginStatus
from im_desktop.session.controller import SessionController
from im_desktop.session.tickets import StaticToken
from im_desktop.session.types import SdkLoginStatus
from tests.server.support import serve_app
from tests.session.conftest import make_controller
from tests.session.scripted_satori import BOT, Connection, ScriptedSatori, event, message
from tests.session.signals import next_emission, reach_status, record

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


# -- frames and values that used to end the connection task while the UI still said Online --------------------

NESTED = ["[" * 100_000 + "]" * 100_000, '{"op": 0, "body": ' + '{"a": ' * 100_000 + "1" + "}" * 100_001]


def _arrival(controller: SessionController, text: str) -> asyncio.Future[str]:
    """Resolves with the channel of the first message received with this text."""
    future: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    def check(channel_id: str, message: dict[str, Any]) -> None:
        if not future.done() and message.get("content") == text:
            future.set_result(channel_id)

    controller.message_received.connect(check)
    return future


async def _alive_and_online(controller: SessionController, received: asyncio.Future[str]) -> None:
    """The valid event after the bad one arrives, the status is ONLINE and the connection task is still there."""
    assert await asyncio.wait_for(received, 5) == "c1"
    await reach_status(controller, LoginStatus.ONLINE)
    assert controller.tasks.running("connection")
    assert controller.login_status is SdkLoginStatus.LOGINED


def _created_at(value: Any) -> dict[str, Any]:
    frame = message(5, "a strange time")
    frame["body"]["message"]["created_at"] = value
    return frame


@pytest.mark.parametrize("frame", [*NESTED, _created_at(10**30), _created_at(2**63)],
                         ids=["nested-array", "nested-object", "huge-time", "time-past-sqlite"])  # fmt: skip
async def test_a_frame_that_breaks_the_parser_or_the_cache_is_skipped(tmp_path: Path, frame: Any) -> None:
    async def script(conn: Connection) -> None:
        await conn.ready()
        await conn.send(frame)
        await conn.send(message(6, "after the bad one"))
        await conn.hold()

    scripted = ScriptedSatori(script)
    async with scripted.running() as url:
        controller = make_controller(url, tmp_path)
        try:
            received = _arrival(controller, "after the bad one")
            await controller.login("bot", StaticToken("t"))
            await _alive_and_online(controller, received)
            assert scripted.connections == 1  # skipped on the same connection
        finally:
            await controller.aclose()


@pytest.mark.parametrize("ended", [{"reason": "elsewhere", "code": "abc"}, {"reason": ["multi_device"]},
                                   {"code": [1]}, {"code": {"a": 1}, "message": ["x"]}, "not a dict"])  # fmt: skip
async def test_a_strange_account_of_the_end_costs_a_reconnect_not_the_loop(tmp_path: Path, ended: Any) -> None:
    async def script(conn: Connection) -> None:
        await conn.ready()
        if conn.number == 1:
            await conn.send(event(3, type="login-removed", login=BOT, ended=ended))
            await conn.ws.close(code=1000)
            return
        await conn.send(message(4, "on the next connection"))
        await conn.hold()

    scripted = ScriptedSatori(script)
    async with scripted.running() as url:
        controller = make_controller(url, tmp_path)
        try:
            received = _arrival(controller, "on the next connection")
            await controller.login("bot", StaticToken("t"))
            await _alive_and_online(controller, received)
            assert scripted.connections == 2
        finally:
            await controller.aclose()


@pytest.mark.parametrize("code", ["abc", 10**30, True, 1.5, -1, None])
async def test_a_kick_with_a_strange_code_reports_a_plain_one(tmp_path: Path, code: Any) -> None:
    async def script(conn: Connection) -> None:
        await conn.ready()
        await conn.send(event(3, type="login-removed", login=BOT,
                              ended={"reason": "multi_device", "code": code, "message": {"html": "<b>"}}))  # fmt: skip
        await conn.ws.close(code=1000)

    scripted = ScriptedSatori(script)
    async with scripted.running() as url:
        controller = make_controller(url, tmp_path)
        try:
            kicked = next_emission(controller.kicked_offline)
            await controller.login("bot", StaticToken("t"))
            [info] = await asyncio.wait_for(kicked, 5)
            assert (info["reason"], info["code"], info["message"]) == (
                "multi_device", 6208, "This account was logged in elsewhere.")  # fmt: skip
            assert controller.login_status is SdkLoginStatus.LOGOUT
            assert controller.current_login["status"] == LoginStatus.OFFLINE
        finally:
            await controller.aclose()


async def test_a_frame_of_tens_of_megabytes_is_refused_as_it_arrives(tmp_path: Path) -> None:
    size = 40 * 1024 * 1024

    async def script(conn: Connection) -> None:
        await conn.ready()
        if conn.number == 1:
            await conn.send_huge(size)
            await conn.hold()
            return
        await conn.send(message(4, "after the huge one"))
        await conn.hold()

    scripted = ScriptedSatori(script)
    async with scripted.running() as url:
        controller = make_controller(url, tmp_path)
        try:
            received = _arrival(controller, "after the huge one")
            await controller.login("bot", StaticToken("t"))
            tracemalloc.start()
            try:
                await _alive_and_online(controller, received)
                _, peak = tracemalloc.get_traced_memory()
            finally:
                tracemalloc.stop()
            assert scripted.connections == 2  # it cost one reconnect
            assert peak < 10 * 1024 * 1024, f"{peak / 2**20:.1f} MiB held for a {size / 2**20:.0f} MiB frame"
        finally:
            await controller.aclose()


async def test_a_failure_while_taking_ready_costs_a_reconnect_not_the_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = LocalCache.set_state
    failures: list[str] = []

    def disk_full_once(cache: LocalCache, name: str, value: Any) -> None:
        if not failures:
            failures.append(name)
            raise sqlite3.OperationalError("database or disk is full")
        real(cache, name, value)

    async def script(conn: Connection) -> None:
        await conn.ready(sn=2)  # a resume point the controller stores at READY
        await conn.send(message(3, f"on connection {conn.number}"))
        await conn.hold()

    monkeypatch.setattr(LocalCache, "set_state", disk_full_once)
    scripted = ScriptedSatori(script)
    async with scripted.running() as url:
        controller = make_controller(url, tmp_path)
        try:
            received = _arrival(controller, "on connection 2")
            await controller.login("bot", StaticToken("t"))
            await _alive_and_online(controller, received)
            assert failures == ["last_sn"]
            assert scripted.connections == 2
        finally:
            await controller.aclose()


async def test_an_event_that_cannot_be_stored_is_skipped_not_the_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = LocalCache.add_messages
    refused: list[str] = []

    def disk_full_once(cache: LocalCache, channel_id: str, messages: list[dict[str, Any]], **kw: Any) -> int:
        if not refused:
            refused.append(str(messages[0].get("content")))
            raise sqlite3.OperationalError("database or disk is full")
        return real(cache, channel_id, messages, **kw)

    async def script(conn: Connection) -> None:
        await conn.ready()
        await conn.send(message(3, "while the disk was full"))
        await conn.send(message(4, "once there was room again"))
        await conn.hold()

    monkeypatch.setattr(LocalCache, "add_messages", disk_full_once)
    scripted = ScriptedSatori(script)
    async with scripted.running() as url:
        controller = make_controller(url, tmp_path)
        try:
            received = _arrival(controller, "once there was room again")
            await controller.login("bot", StaticToken("t"))
            await _alive_and_online(controller, received)
            assert refused == ["while the disk was full"]
            assert scripted.connections == 1
        finally:
            await controller.aclose()


# -- item 3: a static token whose logins do not include the UserID typed ---------------------------------------


@pytest.mark.parametrize(
    ("logins", "expected"),
    [
        ([{"platform": "p", "user": {"id": "bot"}}, {"platform": "q", "user": {"id": "helper"}}],
         "This token belongs to bot, helper, not to alice. Log in with UserID bot instead."),
        ([{"platform": "p", "self_id": "old-bot"}],  # Satori before 1.1 named the account self_id
         "This token belongs to old-bot, not to alice. Log in with UserID old-bot instead."),
        ([], "The server lists no account for this token, so there is no one to log in as. Check the token and "
             "the server address."),
        (5, "The server lists no account for this token, so there is no one to log in as. Check the token and "
            "the server address."),
        ({"alice": {"user": {"id": "alice"}}}, "The server lists no account for this token, so there is no one to "
                                               "log in as. Check the token and the server address."),
    ],
    ids=["other-users", "self-id", "none", "not-a-list", "a-dict"],
)  # fmt: skip
async def test_a_token_that_is_not_this_users_fails_the_login_and_says_whose_it_is(
    tmp_path: Path, logins: Any, expected: str
) -> None:
    async def script(conn: Connection) -> None:
        await conn.ready(logins)
        await conn.hold()

    scripted = ScriptedSatori(script)
    async with scripted.running() as url:
        controller = make_controller(url, tmp_path)
        try:
            statuses = record(controller.status_changed)
            failed = record(controller.login_failed)
            with pytest.raises(ImError) as refused:
                await controller.login("alice", StaticToken("t"))
            assert (refused.value.code, refused.value.message) == (ErrorCode.INVALID_PARAMETERS, expected)
            assert failed == [(int(ErrorCode.INVALID_PARAMETERS), expected)]
            assert (LoginStatus.ONLINE,) not in statuses  # never "online as nobody"
            assert controller.login_status is SdkLoginStatus.LOGOUT
            assert controller.current_login["status"] == LoginStatus.OFFLINE
            assert controller.current_login["user"] is None
            assert not controller.tasks.running("connection")
            assert scripted.connections == 1  # a refusal, not a reason to reconnect
        finally:
            await controller.aclose()
