"""Three server processes on one PostgreSQL behind a real HAProxy: health checks steer traffic, and the login
rules hold for logins that the balancer spreads over the nodes."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from im_desktop.protocol import usersig
from im_desktop.protocol.errors import ErrorCode
from tests.server.cluster import OPERATOR_KEY, require_parts, server_nodes
from tests.server.haproxy import haproxy
from tests.server.support import SDKAPPID, SECRET_KEY, database_for
from tests.session.proxy import FaultProxy

pytestmark = [pytest.mark.asyncio, pytest.mark.postgresql_only, pytest.mark.slow]

ROUNDS = 40  # simultaneous login pairs through the balancer


@pytest.fixture(autouse=True)
def _parts() -> None:
    require_parts("postgresql", "haproxy")


def _sig(user: str) -> str:
    return usersig.generate(SDKAPPID, SECRET_KEY, user, 86400)


async def _get(http: aiohttp.ClientSession, url: str) -> tuple[int, str, Any]:
    async with http.get(url) as resp:
        return resp.status, resp.headers.get("X-Served-By", ""), json.loads(await resp.read())


async def _login(http: aiohttp.ClientSession, base: str, user: str, device: str) -> tuple[int, str, Any]:
    body = {"user_id": user, "user_sig": _sig(user), "platform": "Linux", "device_id": device}
    async with http.post(f"{base}/im/v1/login", json=body) as resp:
        return resp.status, resp.headers.get("X-Served-By", ""), json.loads(await resp.read())


async def _served_by(http: aiohttp.ClientSession, base: str, requests: int) -> Counter[str]:
    replies = await asyncio.gather(*(_get(http, f"{base}/im/v1/discovery") for _ in range(requests)))
    assert {status for status, _, _ in replies} == {200}, replies
    return Counter(node for _, node, _ in replies)


async def test_a_node_marked_down_by_its_health_check_gets_no_traffic(tmp_path: Path) -> None:
    url = database_for(tmp_path / "shared")
    assert url is not None
    host_port = url.split("@", 1)[1].split("/", 1)[0]
    # node2 reaches the database through a proxy the test can cut: a network partition of one node.
    partition = FaultProxy("127.0.0.1", int(host_port.rsplit(":", 1)[1]))
    await partition.start()
    try:
        async with server_nodes(tmp_path, url, count=3) as nodes:
            node2 = nodes[1]
            node2.argv[node2.argv.index("--database") + 1] = url.replace(host_port, partition.url.split("//")[1])
            await node2.stop()
            await node2.start()
            async with haproxy(nodes, balance="roundrobin") as lb, aiohttp.ClientSession() as http:
                assert set(await _served_by(http, lb.url, 30)) == {"node1", "node2", "node3"}

                partition.cut()
                async with http.get(f"{node2.url}/healthz") as resp:  # the node itself says why
                    deadline = asyncio.get_running_loop().time() + 10
                    while resp.status != 503 and asyncio.get_running_loop().time() < deadline:
                        await asyncio.sleep(0.2)
                        resp = await http.get(f"{node2.url}/healthz")
                    assert resp.status == 503
                    assert (await resp.json())["database"]["state"] == "down"
                await lb.until_states({"node1": "UP", "node2": "DOWN", "node3": "UP"})
                served = await _served_by(http, lb.url, 30)
                assert "node2" not in served and sum(served.values()) == 30, served
                status, node, reply = await _login(http, lb.url, "alice", "d1")
                assert status == 200 and node != "node2", (status, node, reply)

                partition.restore()  # the node heals by itself: its pool reconnects, its checks pass again
                await lb.until_states({"node1": "UP", "node2": "UP", "node3": "UP"})
                assert "node2" in await _served_by(http, lb.url, 30)
    finally:
        await partition.close()


async def test_all_nodes_down_gives_the_servers_own_code(tmp_path: Path) -> None:
    url = database_for(tmp_path / "shared")
    assert url is not None
    async with server_nodes(tmp_path, url, count=2) as nodes, haproxy(nodes) as lb:
        for node in nodes:
            node.kill()
        await lb.until_states({n.name: "DOWN" for n in nodes})
        async with aiohttp.ClientSession() as http, http.post(f"{lb.url}/im/v1/login", json={}) as resp:
            assert resp.status == 503
            assert int(resp.headers["Retry-After"]) >= 1
            assert (await resp.json())["code"] == ErrorCode.SERVICE_UNAVAILABLE


async def test_simultaneous_logins_through_the_balancer_never_both_pass_a_one_instance_limit(
    tmp_path: Path,
) -> None:
    url = database_for(tmp_path / "shared")
    assert url is not None
    async with server_nodes(tmp_path, url, count=3) as nodes, haproxy(nodes, balance="roundrobin") as lb:
        admin = {"Authorization": f"Bearer {OPERATOR_KEY}"}
        both_online, cross_node = [], 0
        # One connection per request, as separate client machines: the balancer picks a node for each.
        connector = aiohttp.TCPConnector(force_close=True)
        async with aiohttp.ClientSession(connector=connector) as http:
            for n in range(ROUNDS):
                user = f"racer{n}"
                assert (await _login(http, lb.url, user, "device-0"))[0] == 200  # the account exists already
                replies = await asyncio.gather(*(_login(http, lb.url, user, d) for d in ("device-a", "device-b")))
                assert [status for status, _, _ in replies] == [200, 200], replies  # a login kicks, never fails
                cross_node += replies[0][1] != replies[1][1]
                async with http.get(f"{lb.url}/im/v1/admin/instances?user_id={user}", headers=admin) as resp:
                    live = [i["device_id"] for i in (await resp.json())["data"]]
                if len(live) != 1:
                    both_online.append(f"{user}: {live}")
        assert not both_online, f"{len(both_online)} of {ROUNDS} pairs both stayed logged in: {both_online[:5]}"
        assert cross_node >= ROUNDS // 2, f"only {cross_node} of {ROUNDS} pairs went to two nodes"
