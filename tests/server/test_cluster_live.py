"""Three server nodes on one PostgreSQL and one Redis: what one node stores or decides reaches the others live."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from im_desktop.protocol.models import CloseCode
from tests.clocks import FakeClock
from tests.server.redis_server import RedisServer
from tests.server.support import (
    EventSocket,
    RunningServer,
    Session,
    assert_kicked_by_another_device,
    database_for,
    running_server,
)

pytestmark = [pytest.mark.asyncio, pytest.mark.postgresql_only]


@asynccontextmanager
async def nodes(tmp_path: Path, redis: RedisServer, count: int = 3, clock: FakeClock | None = None,
                each: list[dict[str, Any]] | None = None, **overrides: Any,
                ) -> AsyncIterator[list[RunningServer]]:  # fmt: skip
    """`count` servers in this process, each with its own data folder, on one database and one Redis; `each`
    holds per-node settings."""
    url = database_for(tmp_path / "shared")
    assert url is not None
    clock = clock or FakeClock()
    own = each or [{}] * count
    async with AsyncExitStack() as stack:
        yield [await stack.enter_async_context(running_server(tmp_path / f"node{n}", clock, database=url,
                                                              broker=redis.url, **overrides, **own[n]))
               for n in range(count)]  # fmt: skip


async def direct_channel(session: Session, other: str) -> str:
    channel: str = (await session.ok("user.channel.create", {"user_id": other}))["id"]
    return channel


async def messages(sock: EventSocket, count: int) -> list[tuple[int, str]]:
    """The next `count` message-created events as (sn, content), skipping other events."""
    got: list[tuple[int, str]] = []
    while len(got) < count:
        event = await sock.until("message-created")
        got.append((event["sn"], event["message"]["content"]))
    return got


async def eventually(what: str, check: Any, timeout: float = 5.0) -> None:
    """Await `check()` until it is true; fail with `what` at the deadline."""
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.02)


async def test_messages_stored_on_other_nodes_arrive_live_once_and_in_order(tmp_path: Path, redis: RedisServer) -> None:
    async with nodes(tmp_path, redis) as (a, b, c):
        alice = await a.login("alice")
        bob = await b.login("bob")
        carol = await c.login("carol")
        sock = await alice.connect()
        dm = await direct_channel(bob, "alice")
        await bob.ok("message.create", {"channel_id": dm, "content": "hello"})
        assert await messages(sock, 1) == [(sock.ready["sn"] + 1, "hello")]
        # Direct messages through b and guild messages through c at once: their wake-ups race through Redis.
        await asyncio.gather(
            *(bob.ok("message.create", {"channel_id": dm, "content": f"dm{n}"}) for n in range(25)),
            *(carol.ok("message.create", {"channel_id": "general", "content": f"lobby{n}"}) for n in range(25)),
        )
        got = await messages(sock, 50)
        sns = [sn for sn, _ in got]
        assert sns == sorted(set(sns)), sns  # in order, none twice
        sent = [f"dm{n}" for n in range(25)] + [f"lobby{n}" for n in range(25)]
        assert sorted(text for _, text in got) == sorted(sent)
        await sock.no_event()
        # Nobody else's direct messages reach her.
        dave = await c.login("dave")
        await dave.ok("message.create", {"channel_id": await direct_channel(dave, "bob"), "content": "private"})
        await sock.no_event()


async def test_a_login_on_one_node_kicks_the_socket_on_another_as_a_local_kick_does(
    tmp_path: Path, redis: RedisServer
) -> None:
    async with nodes(tmp_path, redis) as (a, b, c):
        desktop = await a.login("alice", platform="Linux", device_name="Work laptop")
        sock = await desktop.connect()
        await b.login("alice", platform="Android", device_name="Pixel 9")
        assert_kicked_by_another_device(await sock.event(), "Android", "Pixel 9")
        assert await sock.close_code() == CloseCode.KICKED
        assert (await desktop.api("login.get")).code == 6208
        # A second instance of the same platform, logged in through a third node.
        first = await b.login("bob", platform="Windows", device_id="pc-1")
        bob_sock = await first.connect()
        await c.login("bob", platform="Windows", device_id="pc-2")
        assert (await bob_sock.event())["ended"]["reason"] == "multi_instance"
        assert await bob_sock.close_code() == CloseCode.KICKED


async def test_a_login_on_another_node_is_announced_to_the_users_other_sockets(
    tmp_path: Path, redis: RedisServer
) -> None:
    async with nodes(tmp_path, redis) as (a, b, _):
        assert (await a.admin("PUT", "policy", {"policy": "multi"})).status == 200
        sock = await (await a.login("alice", platform="Windows")).connect()
        mac = await b.login("alice", platform="Mac")
        event = await sock.until("login-added")
        assert event["session"]["session_id"] == mac.session_id


async def test_operator_kick_and_logout_on_one_node_close_sockets_on_others(tmp_path: Path, redis: RedisServer) -> None:
    async with nodes(tmp_path, redis) as (a, b, c):
        assert (await a.admin("PUT", "policy", {"policy": "multi"})).status == 200
        on_a = await (await a.login("alice", platform="Linux")).connect()
        on_b = await (await b.login("alice", platform="Web")).connect()
        assert (await c.admin("POST", "kick", {"user_id": "alice"})).body == {"kicked": 2}
        for sock in (on_a, on_b):
            event = await sock.until("login-removed")
            assert (event["ended"]["reason"], event["ended"]["code"]) == ("admin", 6208)
            assert await sock.close_code() == CloseCode.KICKED
        bob = await a.login("bob")
        bob_sock = await bob.connect()
        assert (await b.post("/im/v1/logout", {}, headers=bob.headers())).status == 200
        event = await bob_sock.event()
        assert (event["type"], event["ended"]["reason"]) == ("login-removed", "logout")
        assert await bob_sock.close_code() == CloseCode.LOGGED_OUT


async def test_a_ticket_expiry_found_on_one_node_closes_the_socket_on_another(
    tmp_path: Path, redis: RedisServer
) -> None:
    clock = FakeClock()
    # Node a never looks at expiry itself: only b's finding can end the socket held by a.
    each = [{"expiry_check_interval": 3600.0}, {}, {}]
    async with nodes(tmp_path, redis, clock=clock, each=each) as (a, b, _):
        session = await a.login("alice", sig=a.sig("alice", 120))
        sock = await session.connect()
        clock.advance(121)
        on_b = Session(b, "alice", session.token, session.session_id, session.reply)
        assert (await on_b.api("login.get")).code == 70001
        event = await sock.event()
        assert (event["type"], event["ended"]["reason"], event["ended"]["code"]) == (
            "login-removed", "user_sig_expired", 70001)  # fmt: skip
        assert await sock.close_code() == CloseCode.USER_SIG_EXPIRED


async def test_a_ticket_renewed_through_another_node_keeps_the_socket_online(
    tmp_path: Path, redis: RedisServer
) -> None:
    clock = FakeClock()
    async with nodes(tmp_path, redis, clock=clock) as (a, b, _):
        session = await a.login("alice", sig=a.sig("alice", 120))
        sock = await session.connect()
        clock.advance(100)
        reply = await b.post("/im/v1/session/renew", {"user_sig": b.sig("alice", 3600)}, headers=session.headers())
        assert reply.status == 200
        assert reply.body["session"]["online"] is True  # the socket is on a
        updated = await sock.event()
        assert (updated["type"], updated["session"]["sig_expires_at"]) == ("login-updated", int(clock()) + 3600)
        clock.advance(600)  # past the old ticket: a, which watches the socket's expiry, must know of the new one
        await sock.no_event(within=0.5)
        assert (await session.api("login.get")).status == 200


async def test_lock_out_counts_failures_on_every_node(tmp_path: Path, redis: RedisServer) -> None:
    async with nodes(tmp_path, redis, lockout_failures=3) as (a, b, c):
        forged = a.sig("alice", key="f" * 64)
        for node in (a, b, c):  # the third failure sets the lock, and still gets its own error
            assert (await node.try_login("alice", sig=forged)).code == 70009
        for node in (a, b, c):
            locked = await node.try_login("alice", sig=forged)
            assert (locked.status, locked.code) == (429, 70050)
        assert (await b.try_login("alice")).status == 200  # a ticket that verifies is never locked out


async def test_presence_shows_sockets_of_every_node(tmp_path: Path, redis: RedisServer) -> None:
    async with nodes(tmp_path, redis) as (a, b, c):
        session = await a.login("alice")
        sock = await session.connect()
        for node in (a, b, c):
            assert [i["online"] for i in await node.instances("alice")] == [True]
        await sock.ws.close()

        async def offline_on_c() -> bool:
            return [i["online"] for i in await c.instances("alice")] == [False]

        await eventually("alice to show offline on node c", offline_on_c)
