"""Three server processes on one PostgreSQL and one Redis, one of them SIGKILLed: presence and resume on the others."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import aiohttp
import pytest

from im_desktop.server.sessions import SessionService
from tests.clocks import FakeClock
from tests.server.redis_server import RedisServer
from tests.server.support import (
    SDKAPPID,
    SECRET_KEY,
    EventSocket,
    RunningServer,
    Session,
    database_for,
    make_config,
)
from tests.server.test_cluster_live import direct_channel, messages

pytestmark = [pytest.mark.asyncio, pytest.mark.postgresql_only]

HEARTBEAT_INTERVAL = 0.5
HEARTBEAT_TIMEOUT = 2.0
OPERATOR_KEY = "operator-key-of-the-three-processes"  # a keys file needs 24 characters at least


@dataclass
class Node:
    proc: asyncio.subprocess.Process
    server: RunningServer

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)


@asynccontextmanager
async def _node(tmp_path: Path, name: str, keys: Path, database: str, broker: str,
                http: aiohttp.ClientSession) -> AsyncIterator[Node]:  # fmt: skip
    data_dir = tmp_path / name
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "im_desktop.server", "--port", "0", "--data-dir", str(data_dir), "--keys-file",
        str(keys), "--database", database, "--broker", broker, "--heartbeat-interval", str(HEARTBEAT_INTERVAL),
        "--heartbeat-timeout", str(HEARTBEAT_TIMEOUT), "--sandbox", "--print-url", "--log-level", "WARNING",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdout is not None
    try:
        url = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode().strip()
        if not url.startswith("http://127.0.0.1:"):
            raise AssertionError(f"the server did not start: {(await proc.communicate())[1].decode()[-2000:]}")
        # The test's own view of the node: the helpers of support.py, talking to it over loopback.
        server = RunningServer(url, make_config(data_dir), FakeClock(), http, cast(SessionService, None))
        yield Node(proc, server)
    finally:
        killed = proc.returncode == -signal.SIGKILL
        if proc.returncode is None:
            proc.terminate()
        _, err = await proc.communicate()
        if not killed:
            assert b"Traceback" not in err, err.decode()


@asynccontextmanager
async def cluster(tmp_path: Path, redis: RedisServer) -> AsyncIterator[list[Node]]:
    keys = tmp_path / "keys" / "server-keys.json"
    keys.parent.mkdir(mode=0o700)
    keys.write_text(json.dumps({"sdkappid": SDKAPPID, "secret_key": SECRET_KEY, "admin_key": OPERATOR_KEY}))
    keys.chmod(0o600)
    database = database_for(tmp_path / "shared")
    assert database is not None
    async with AsyncExitStack() as stack:
        http = await stack.enter_async_context(aiohttp.ClientSession())
        yield [await stack.enter_async_context(_node(tmp_path, f"node{n}", keys, database, redis.url, http))
               for n in range(3)]  # fmt: skip


async def online(node: Node) -> dict[str, bool]:
    """Each user's online state in the operator's instance list, as this node answers it."""
    reply = await node.server.admin("GET", "instances", key=OPERATOR_KEY)
    assert reply.status == 200, reply
    return {i["user_id"]: i["online"] for i in reply.body["data"]}


@asynccontextmanager
async def heartbeats(*socks: EventSocket) -> AsyncIterator[None]:
    """PING every HEARTBEAT_INTERVAL, as a client does, so that the servers keep the sockets."""

    async def beat() -> None:
        while True:
            for sock in socks:
                if not sock.ws.closed:
                    with contextlib.suppress(ConnectionError, RuntimeError):
                        await sock.send(1)
            await asyncio.sleep(HEARTBEAT_INTERVAL)

    task = asyncio.get_running_loop().create_task(beat())
    try:
        yield
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_the_sessions_of_a_killed_node_show_offline_within_the_heartbeat_timeout(
    tmp_path: Path, redis: RedisServer
) -> None:
    async with cluster(tmp_path, redis) as (doomed, other, _):
        alice = await doomed.server.login("alice")
        bob = await other.server.login("bob")
        sock, bob_sock = await alice.connect(), await bob.connect()
        async with heartbeats(sock, bob_sock):
            assert await online(other) == {"alice": True, "bob": True}
            doomed.kill()
            killed_at = time.monotonic()
            while (now := await online(other))["alice"]:
                assert time.monotonic() - killed_at < HEARTBEAT_TIMEOUT + 1.0, "alice still shows online"
                await asyncio.sleep(0.05)
            assert now == {"alice": False, "bob": True}  # the living node's sockets stay online


async def test_a_client_of_a_killed_node_resumes_on_another_without_loss_or_duplicate(
    tmp_path: Path, redis: RedisServer
) -> None:
    async with cluster(tmp_path, redis) as (doomed, sender_node, rescuer):
        alice = await doomed.server.login("alice")
        bob = await sender_node.server.login("bob")
        dm = await direct_channel(bob, "alice")
        sock = await alice.connect()
        async with heartbeats(sock):
            for n in range(5):
                await bob.ok("message.create", {"channel_id": dm, "content": f"live {n}"})
            first = await alice.ok("message.create", {"channel_id": dm, "content": "mine", "nonce": "n-1"})
            got = await messages(sock, 6)  # bob's five across nodes, and her own
            assert [t for _, t in got] == [*(f"live {n}" for n in range(5)), "mine"]
            last_sn = got[-1][0]
            doomed.kill()
            with pytest.raises(ConnectionError):
                await sock.event()
        for n in range(5):  # while she is away
            await bob.ok("message.create", {"channel_id": dm, "content": f"missed {n}"})
        # Her app never saw the reply to "mine": it sends it again, with its nonce, through another node.
        on_rescuer = Session(rescuer.server, "alice", alice.token, alice.session_id, alice.reply)
        again = await on_rescuer.ok("message.create", {"channel_id": dm, "content": "mine", "nonce": "n-1"})
        assert again == first
        resumed = await on_rescuer.connect(sn=last_sn)
        async with heartbeats(resumed):
            assert resumed.ready["resync"] is False
            got = await messages(resumed, 5)
            assert [t for _, t in got] == [f"missed {n}" for n in range(5)]
            assert [sn for sn, _ in got] == sorted(set(sn for sn, _ in got)) and got[0][0] > last_sn
            await bob.ok("message.create", {"channel_id": dm, "content": "welcome back"})
            assert [t for _, t in await messages(resumed, 1)] == ["welcome back"]
            await resumed.no_event()
        history = await on_rescuer.ok("message.list", {"channel_id": dm})
        assert [m["content"] for m in history["data"]].count("mine") == 1
