"""Database and broker outages: new logins are refused with 90504, live sockets keep their heartbeats, and the node
heals by itself when PostgreSQL (its asyncpg pool reconnects) or Redis is back, without a restart."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest

from im_desktop.protocol.errors import ErrorCode
from tests.server import redis_server
from tests.server.cluster import stoppable_pg
from tests.server.support import EventSocket, RunningServer, database_for, running_server

pytestmark = [pytest.mark.asyncio, pytest.mark.postgresql_only, pytest.mark.slow]

OP_PING, OP_PONG = 1, 2
HEAL_DEADLINE = 15.0  # seconds from the database's return until a login must work again


async def _pong(sock: EventSocket) -> None:
    await sock.send(OP_PING, {})
    frame = await sock.frame(timeout=5.0)
    assert frame["op"] == OP_PONG, frame


async def _healthz(server: RunningServer) -> tuple[int, dict[str, Any]]:
    async with server.http.get(f"{server.url}/healthz") as resp:
        return resp.status, json.loads(await resp.read())


async def _health_becomes(server: RunningServer, status: int) -> dict[str, Any]:
    deadline = time.monotonic() + HEAL_DEADLINE
    while True:
        seen, body = await _healthz(server)
        if seen == status:
            return body
        if time.monotonic() > deadline:
            raise AssertionError(f"/healthz still says {seen} {body} after {HEAL_DEADLINE} s, not {status}")
        await asyncio.sleep(0.1)


async def _login(server: RunningServer, user: str) -> tuple[int, dict[str, str], dict[str, Any]]:
    body = {"user_id": user, "user_sig": server.sig(user), "platform": "Linux", "device_id": "d", "device_name": "d"}
    async with server.http.post(f"{server.url}/im/v1/login", json=body) as resp:
        return resp.status, dict(resp.headers), json.loads(await resp.read())


@pytest.mark.parametrize("mode", ["fast", "immediate"])  # a clean shutdown, and one as after a crash
async def test_a_database_outage_refuses_logins_keeps_sockets_and_heals(tmp_path: Path, mode: str) -> None:
    with stoppable_pg() as cluster:
        url = cluster.durable_database()
        async with running_server(tmp_path / "node", database=url, lockout_failures=3) as server:
            alice = await server.login("alice")
            sock = await alice.connect()
            await _pong(sock)

            await asyncio.to_thread(cluster.halt, mode)
            health = await _health_becomes(server, 503)
            assert health["status"] == "unavailable"
            assert health["database"]["state"] == "down" and health["broker"]["state"] == "ok", health
            assert str(cluster.port) not in json.dumps(health) and "127.0.0.1" not in json.dumps(health)
            for _ in range(5):  # more than the lock-out allows: a refusal for an outage is no failed login
                status, headers, refused = await _login(server, "bob")
                assert (status, refused["code"]) == (503, ErrorCode.SERVICE_UNAVAILABLE), refused
                assert int(headers["Retry-After"]) >= 1
                assert "database" in refused["message"]
            # A request of a live session that needs the database: the same code, not a 500 and a traceback.
            sent = await alice.api("message.create", {"channel_id": "general", "content": "during", "nonce": "n1"})
            assert (sent.status, sent.code) == (503, ErrorCode.SERVICE_UNAVAILABLE), sent
            for _ in range(3):
                await _pong(sock)  # the live socket keeps its heartbeat throughout

            await asyncio.to_thread(cluster.resume)
            await _health_becomes(server, 200)
            status, _, welcome = await _login(server, "bob")
            assert status == 200, welcome  # the same process: nothing was restarted
            await _pong(sock)
            # The send that was refused goes through on retry (its nonce was never stored) and reaches the socket.
            await alice.ok("message.create", {"channel_id": "general", "content": "during", "nonce": "n1"})
            assert (await sock.event())["message"]["content"] == "during"


async def test_a_broker_outage_refuses_logins_keeps_sockets_and_heals(tmp_path: Path) -> None:
    redis_server.require()
    redis = redis_server.RedisServer()
    redis.start()
    try:
        url = database_for(tmp_path / "shared")
        async with running_server(tmp_path / "node", database=url, broker=redis.url) as server:
            await _health_becomes(server, 200)  # ready once subscribed to Redis, as a load balancer would wait
            alice = await server.login("alice")
            sock = await alice.connect()
            await _pong(sock)

            redis.stop()  # SIGKILL: Redis gone without a word
            health = await _health_becomes(server, 503)
            assert health["broker"]["state"] == "down" and health["database"]["state"] == "ok", health
            assert str(redis.port) not in json.dumps(health) and "127.0.0.1" not in json.dumps(health)
            status, headers, refused = await _login(server, "bob")
            # Without the broker a login here could not kick bob's instance on another node: refused, for now.
            assert (status, refused["code"]) == (503, ErrorCode.SERVICE_UNAVAILABLE), refused
            assert "broker" in refused["message"] and int(headers["Retry-After"]) >= 1
            for _ in range(3):
                await _pong(sock)

            await asyncio.to_thread(redis.restart)  # the same port, empty: a Redis that lost its memory
            await _health_becomes(server, 200)
            status, _, welcome = await _login(server, "bob")
            assert status == 200, welcome
            await _pong(sock)
            await alice.ok("message.create", {"channel_id": "general", "content": "after", "nonce": "n2"})
            assert (await sock.event())["message"]["content"] == "after"
    finally:
        redis.close()
