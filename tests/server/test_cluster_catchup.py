"""News lost while a node was cut off from Redis: the node catches every socket up from the database once it is back."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import redis as redis_sync

from im_desktop.protocol.models import CloseCode
from im_desktop.server import redis_channel
from im_desktop.server.broker_redis import CLIENT_NAME, RedisBroker
from tests.server.redis_server import RedisServer
from tests.server.support import RunningServer
from tests.server.test_cluster_live import direct_channel, messages, nodes

pytestmark = [pytest.mark.asyncio, pytest.mark.postgresql_only]


def broker_of(node: RunningServer) -> RedisBroker:
    broker = node.service.broker
    assert isinstance(broker, RedisBroker)
    return broker


async def until(what: str, check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.02)


async def test_a_burst_while_a_nodes_subscription_is_cut_is_delivered_once_it_is_back(
    tmp_path: Path, redis: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(redis_channel, "_RETRY_FLOOR", 1.0)  # a window in which a's subscription is surely gone
    async with nodes(tmp_path, redis, count=2) as (a, b):
        alice = await a.login("alice")
        sock = await alice.connect()
        carol = await a.login("carol")
        carol_sock = await carol.connect()
        bob = await b.login("bob")
        dm = await direct_channel(bob, "alice")
        await bob.ok("message.create", {"channel_id": dm, "content": "before"})
        assert [text for _, text in await messages(sock, 1)] == ["before"]

        admin = redis_sync.Redis.from_url(redis.url)
        try:
            name = f"{CLIENT_NAME}{broker_of(a).node}-sub"
            ids = [c["id"] for c in admin.client_list() if c.get("name") == name]
            assert len(ids) == 1, admin.client_list()
            admin.client_kill_filter(_id=ids[0])
        finally:
            admin.close()
        await until("node a to notice it lost its subscription", lambda: not broker_of(a).healthy)
        # Wake-ups for alice and carol now go nowhere: nothing reaches node a.
        await asyncio.gather(*(bob.ok("message.create", {"channel_id": dm, "content": f"dm{n}"}) for n in range(20)),
                             *(bob.ok("message.create", {"channel_id": "general", "content": f"lobby{n}"})
                               for n in range(10)))  # fmt: skip
        assert (await b.post("/im/v1/logout", {}, headers=carol.headers())).status == 200
        await sock.no_event(within=0.2)
        assert broker_of(a).healthy is False  # the burst was over within the window
        got = await messages(sock, 30)
        sns = [sn for sn, _ in got]
        assert sns == sorted(set(sns)), sns
        assert sorted(t for _, t in got) == sorted([f"dm{n}" for n in range(20)] + [f"lobby{n}" for n in range(10)])
        await sock.no_event()
        event = await carol_sock.until("login-removed")  # the logout's news was lost too: the reconcile found it
        assert event["ended"]["reason"] == "logout"
        assert await carol_sock.close_code() == CloseCode.LOGGED_OUT


async def test_after_redis_restarts_every_node_catches_up_on_what_it_missed(tmp_path: Path, redis: RedisServer) -> None:
    async with nodes(tmp_path, redis, count=2) as (a, b):
        alice = await a.login("alice")
        sock = await alice.connect()
        bob = await b.login("bob")
        bob_sock = await bob.connect()
        dm = await direct_channel(bob, "alice")
        redis.stop()
        await until("both nodes to notice Redis is gone", lambda: not (broker_of(a).healthy or broker_of(b).healthy))
        for n in range(10):  # stored on b, and on a: neither can tell the other
            await bob.ok("message.create", {"channel_id": dm, "content": f"from b {n}"})
            await alice.ok("message.create", {"channel_id": dm, "content": f"from a {n}"})
        redis.restart()
        expected = sorted([f"from b {n}" for n in range(10)] + [f"from a {n}" for n in range(10)])
        for reader in (sock, bob_sock):
            got = await messages(reader, 20)
            sns = [sn for sn, _ in got]
            assert sns == sorted(set(sns)), sns
            assert sorted(t for _, t in got) == expected
            await reader.no_event()
        await until("both nodes to be healthy again", lambda: broker_of(a).healthy and broker_of(b).healthy)
        assert [i["online"] for i in await b.instances("alice")] == [True]  # presence is back in the new Redis
        await bob.ok("message.create", {"channel_id": dm, "content": "after"})
        assert [t for _, t in await messages(sock, 1)] == ["after"]


async def test_a_catch_up_read_that_fails_is_tried_again_later(
    tmp_path: Path, redis: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with nodes(tmp_path, redis, count=2) as (a, b):
        alice = await a.login("alice")
        sock = await alice.connect()
        bob = await b.login("bob")
        dm = await direct_channel(bob, "alice")
        store = a.store
        read = store.events_after
        failures: list[str] = []

        async def failing(sn: int, user_id: str, limit: int) -> list[tuple[int, dict[str, object]]]:
            if len(failures) < 2:  # the database is away for the first two reads
                failures.append(user_id)
                raise store.errors[0]("the database went away")
            return await read(sn, user_id, limit)

        monkeypatch.setattr(store, "events_after", failing)
        await bob.ok("message.create", {"channel_id": dm, "content": "despite it all"})
        assert [t for _, t in await messages(sock, 1)] == ["despite it all"]  # no further wake-up came
        assert failures == ["alice", "alice"]
