"""The Satori event stream against the real server: READY, PING, events, resume, and bad frames."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import aiohttp
import pytest

from im_desktop.protocol.models import CloseCode
from im_desktop.server.store import Store
from im_desktop.server.websocket import FRAME_BURST
from tests.server.support import RunningServer, running_server

pytestmark = pytest.mark.asyncio


async def test_ready_carries_the_satori_login(server: RunningServer) -> None:
    sock = await (await server.login("alice")).connect()
    [login] = sock.ready["logins"]
    assert set(login) >= {"sn", "platform", "user", "status", "adapter", "features"}
    assert (login["platform"], login["user"]["id"], login["status"]) == ("im-desktop", "alice", 1)
    assert sock.ready["proxy_urls"] == []


@pytest.mark.parametrize("body", [None, {}])
async def test_ping_gets_pong_with_or_without_a_body(server: RunningServer, body: dict[str, object] | None) -> None:
    sock = await (await server.login("alice")).connect()
    await sock.send(1, body)
    assert await sock.frame() == {"op": 2, "body": {}}


async def test_ping_before_identify_is_not_answered(server: RunningServer) -> None:
    sock = await server.websocket()
    await sock.send(1)
    await sock.no_event()  # no PONG: only an identified socket is answered
    await sock.send(3, {"token": (await server.login("alice")).token})
    assert (await sock.frame())["op"] == 4  # the socket itself stays usable
    await sock.send(1)
    assert await sock.frame() == {"op": 2, "body": {}}


async def test_message_created_reaches_everyone_in_the_channel(server: RunningServer) -> None:
    alice, bob = await server.login("alice"), await server.login("bob", platform="Web")
    alice_sock, bob_sock = await alice.connect(), await bob.connect()
    [sent] = await alice.ok("message.create", {"channel_id": "general", "content": "hello &amp; welcome"})
    for sock, me in ((alice_sock, "alice"), (bob_sock, "bob")):
        event = await sock.event()
        assert event["type"] == "message-created"
        assert event["login"]["user"]["id"] == me
        assert (event["channel"]["id"], event["user"]["id"]) == ("general", "alice")
        assert event["message"]["id"] == sent["id"]
        assert event["message"]["content"] == "hello &amp; welcome"
        assert event["sn"] > sock.ready["sn"]


async def test_direct_messages_reach_only_the_two_people(server: RunningServer) -> None:
    alice = await server.login("alice")
    bob, carol = await server.login("bob", platform="Web"), await server.login("carol", platform="Mac")
    bob_sock, carol_sock = await bob.connect(), await carol.connect()
    dm = await alice.ok("user.channel.create", {"user_id": "bob"})
    await alice.ok("message.create", {"channel_id": dm["id"], "content": "secret"})
    assert (await bob_sock.event())["message"]["content"] == "secret"
    await carol_sock.no_event()


@pytest.mark.parametrize("key", ["sn", "sequence"])
async def test_resume_replays_what_was_missed_exactly_once(server: RunningServer, key: str) -> None:
    alice, bob = await server.login("alice"), await server.login("bob", platform="Web")
    sock = await alice.connect()
    await bob.ok("message.create", {"channel_id": "general", "content": "seen"})
    last_sn = (await sock.event())["sn"]
    await sock.ws.close()
    for text in ("missed 1", "missed 2"):
        await bob.ok("message.create", {"channel_id": "general", "content": text})
    resumed = await alice.connect(sn=last_sn, key=key)
    replayed = [await resumed.event(), await resumed.event()]
    assert [e["message"]["content"] for e in replayed] == ["missed 1", "missed 2"]
    assert replayed[0]["sn"] < replayed[1]["sn"]
    await bob.ok("message.create", {"channel_id": "general", "content": "live"})
    assert (await resumed.event())["message"]["content"] == "live"
    await resumed.no_event()


async def test_a_fresh_connection_gets_no_history_but_a_resume_point(server: RunningServer) -> None:
    alice = await server.login("alice")
    await alice.ok("message.create", {"channel_id": "general", "content": "old"})
    sock = await alice.connect()
    assert sock.ready["sn"] >= 1
    await sock.no_event()


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ('{"op": 3, "body": {"token": "forged"}}', CloseCode.INVALID_TOKEN),
        ('{"op": 3, "body": {}}', CloseCode.INVALID_TOKEN),
        ('{"op": 3, "body": {"token": 42}}', CloseCode.INVALID_TOKEN),
        ("not json", CloseCode.INVALID_MESSAGE),
        ("[3]", CloseCode.INVALID_MESSAGE),
        ('{"op": "3"}', CloseCode.INVALID_MESSAGE),
        ('{"op": 99}', CloseCode.INVALID_MESSAGE),
        ('{"op": 3, "body": "token"}', CloseCode.INVALID_MESSAGE),
        (b"\x00\x01binary", CloseCode.INVALID_MESSAGE),
    ],
)
async def test_bad_frames_close_with_a_documented_code(server: RunningServer, frame: str | bytes, code: int) -> None:
    sock = await server.websocket()
    if isinstance(frame, bytes):
        await sock.ws.send_bytes(frame)
    else:
        await sock.ws.send_str(frame)
    assert await sock.close_code() == code


async def test_garbage_after_identify_closes_but_keeps_the_session(server: RunningServer) -> None:
    alice = await server.login("alice")
    sock = await alice.connect()
    await sock.ws.send_str("}{")
    assert await sock.close_code() == CloseCode.INVALID_MESSAGE
    assert (await alice.connect()).ready["session"]["session_id"] == alice.session_id


async def test_oversized_frame_is_refused(server: RunningServer) -> None:
    sock = await (await server.login("alice")).connect()
    await sock.ws.send_str('{"op": 1, "body": {"pad": "' + "x" * 70_000 + '"}}')
    assert await sock.close_code() == aiohttp.WSCloseCode.MESSAGE_TOO_BIG


async def test_no_identify_in_time_closes(tmp_path: Path) -> None:
    async with running_server(tmp_path, identify_timeout=0.2) as server:
        sock = await server.websocket()
        assert await sock.close_code() == CloseCode.IDENTIFY_TIMEOUT


async def test_silent_client_is_dropped_after_the_heartbeat_timeout(tmp_path: Path) -> None:
    async with running_server(tmp_path, heartbeat_timeout=0.3) as server:
        alice = await server.login("alice")
        sock = await alice.connect()
        assert await sock.close_code() == CloseCode.HEARTBEAT_TIMEOUT
        assert [i["online"] for i in await server.instances("alice")] == [False]
        assert (await alice.connect()).ready["logins"][0]["status"] == 1  # it may come back


_DEEP = "[" * 10_000 + "]" * 10_000  # 20 KB, well under the frame limit, far past any parser's recursion limit


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ('{"op": 3, "body": {"token": "TOKEN", "sn": 9223372036854775808}}', CloseCode.INVALID_MESSAGE),  # 2^63
        ('{"op": 3, "body": {"token": "TOKEN", "sn": 18446744073709551616}}', CloseCode.INVALID_MESSAGE),  # 2^64
        ('{"op": 3, "body": {"token": "TOKEN", "sn": -1}}', CloseCode.INVALID_MESSAGE),
        ('{"op": 3, "body": {"token": "TOKEN", "sn": true}}', CloseCode.INVALID_MESSAGE),
        ('{"op": 3, "body": {"token": "TOKEN", "sn": "5"}}', CloseCode.INVALID_MESSAGE),
        ('{"op": 3, "body": {"token": "TOKEN", "sn": 1.5}}', CloseCode.INVALID_MESSAGE),
        ('{"op": 3, "body": {"token": "TOKEN", "sequence": -1}}', CloseCode.INVALID_MESSAGE),
        ('{"op": 3, "body": {"token": "\\ud800"}}', CloseCode.INVALID_TOKEN),  # a lone surrogate
        ('{"op": 3, "body": {"token": "TOKEN\\udfff"}}', CloseCode.INVALID_TOKEN),
        ('{"op": 3, "body": {"token": "' + "x" * 600 + '"}}', CloseCode.INVALID_TOKEN),
        (_DEEP, CloseCode.INVALID_MESSAGE),
        ('{"op": 3, "body": {"token": "TOKEN", "deep": ' + _DEEP + "}}", CloseCode.INVALID_MESSAGE),
    ],
    ids=["sn-2^63", "sn-2^64", "sn-negative", "sn-bool", "sn-string", "sn-float", "sequence-negative",
         "token-lone-surrogate", "token-trailing-surrogate", "token-too-long", "deep-frame", "deep-body"],
)  # fmt: skip
async def test_hostile_identify_closes_with_its_code_logs_one_line_and_leaves_no_ghost(
    server: RunningServer, caplog: pytest.LogCaptureFixture, frame: str, code: int
) -> None:
    alice = await server.login("alice")
    caplog.set_level(logging.INFO)
    caplog.clear()
    sock = await server.websocket()
    await sock.ws.send_str(frame.replace("TOKEN", alice.token))
    assert await sock.close_code() == code
    assert [i["online"] for i in await server.instances("alice")] == [False]  # no session left online
    assert len(caplog.records) == 1, caplog.text
    assert caplog.records[0].exc_info is None and "Traceback" not in caplog.text
    assert (await alice.connect()).ready["session"]["session_id"] == alice.session_id  # nothing was ended


async def _flood(ws: aiohttp.ClientWebSocketResponse, protocol_ping: bool) -> int:
    """PING as fast as this loop allows until the socket closes (or 20k were sent); the number sent."""
    sent = 0
    try:
        while not ws.closed and sent < 20_000:
            for _ in range(100):
                await (ws.ping() if protocol_ping else ws.send_str('{"op": 1}'))
                sent += 1
            await asyncio.sleep(0)
    except (ConnectionError, RuntimeError):
        pass  # closed by the server while sending
    return sent


@pytest.mark.parametrize("identified", [True, False])
@pytest.mark.parametrize("protocol_ping", [False, True], ids=["satori-ping", "websocket-ping"])
async def test_a_ping_flood_is_cut_with_4029_while_a_bystander_stays_responsive(
    server: RunningServer, caplog: pytest.LogCaptureFixture, identified: bool, protocol_ping: bool
) -> None:
    bystander = await (await server.login("bob", platform="Web")).connect()
    flooder = await (await server.login("alice")).connect() if identified else await server.websocket()
    caplog.set_level(logging.INFO)
    caplog.clear()
    flooding = asyncio.create_task(_flood(flooder.ws, protocol_ping))
    await bystander.send(1)
    assert await bystander.frame() == {"op": 2, "body": {}}
    assert await flooder.close_code() == CloseCode.RATE_LIMITED
    assert await flooding < 10 * FRAME_BURST  # cut within a few batches of this loop, not after thousands
    await bystander.send(1)
    assert await bystander.frame() == {"op": 2, "body": {}}
    [record] = caplog.records
    assert (record.levelno, record.exc_info) == (logging.WARNING, None)
    if identified:
        assert [i["online"] for i in await server.instances("alice")] == [False]


async def test_a_burst_within_the_frame_budget_is_answered(server: RunningServer) -> None:
    sock = await (await server.login("alice")).connect()
    for _ in range(FRAME_BURST // 2):
        await sock.send(1)
    for _ in range(FRAME_BURST // 2):
        assert await sock.frame() == {"op": 2, "body": {}}
    await sock.no_event()  # and the socket stays open


@pytest.mark.parametrize("query", ["stream_start", "events_after"])  # while identifying; in the replay task
async def test_an_internal_error_closes_with_1011_and_leaves_no_ghost(
    server: RunningServer, monkeypatch: pytest.MonkeyPatch, query: str
) -> None:
    alice = await server.login("alice")
    await alice.ok("message.create", {"channel_id": "general", "content": "to replay"})

    async def broken(self: Store, *args: object) -> None:
        raise self.errors[0]("disk I/O error")  # sqlite3.Error, or asyncpg's

    monkeypatch.setattr(type(server.store), query, broken)  # fails after the session was authenticated
    sock = await server.websocket()
    await sock.send(3, {"token": alice.token, "sn": 0})
    assert await sock.close_code() == aiohttp.WSCloseCode.INTERNAL_ERROR  # a close frame, not an HTTP 500
    monkeypatch.undo()
    assert [i["online"] for i in await server.instances("alice")] == [False]
    assert (await alice.connect()).ready["session"]["session_id"] == alice.session_id
