"""The Satori event stream against the real server: READY, PING, events, resume, and bad frames."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest

from im_desktop.protocol.models import CloseCode
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


async def test_ping_before_identify_is_answered(server: RunningServer) -> None:
    sock = await server.websocket()
    await sock.send(1)
    assert (await sock.frame())["op"] == 2


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
