"""The desktop client behind a real HAProxy in front of three server nodes: when its node is killed it comes back
ONLINE through the balancer on another node by itself, and gets what it missed exactly once (resume by `sn`)."""

from __future__ import annotations

import time
from pathlib import Path

import aiohttp
import pytest

from im_desktop.protocol import usersig
from im_desktop.protocol.models import LoginStatus
from im_desktop.session.tickets import SandboxTickets
from tests.server.cluster import OPERATOR_KEY, Node, require_parts, server_nodes, stoppable_pg
from tests.server.haproxy import haproxy
from tests.server.support import SDKAPPID, SECRET_KEY
from tests.session.conftest import make_controller
from tests.session.signals import reach_status, until

pytestmark = [pytest.mark.asyncio, pytest.mark.slow]

FAILOVER_DEADLINE = 10.0  # seconds from the kill until ONLINE again (the target)


async def _home(http: aiohttp.ClientSession, nodes: list[Node], user: str) -> Node:
    """The node that holds the user's live socket (the operator API's `online` is per node)."""
    homes = []
    for node in nodes:
        url = f"{node.url}/im/v1/admin/instances?user_id={user}"
        async with http.get(url, headers={"Authorization": f"Bearer {OPERATOR_KEY}"}) as resp:
            if any(i["online"] for i in (await resp.json())["data"]):
                homes.append(node)
    assert len(homes) == 1, [n.name for n in homes]
    return homes[0]


async def _post(http: aiohttp.ClientSession, base: str, user: str, text: str) -> None:
    sig = usersig.generate(SDKAPPID, SECRET_KEY, user, 86400)
    body = {"user_id": user, "user_sig": sig, "platform": "Web", "device_id": "web"}
    async with http.post(f"{base}/im/v1/login", json=body) as resp:
        token = (await resp.json())["token"]
    headers = {"Authorization": f"Bearer {token}", "Satori-Platform": "im-desktop", "Satori-User-ID": user}
    async with http.post(f"{base}/v1/message.create", json={"channel_id": "general", "content": text},
                         headers=headers) as resp:  # fmt: skip
        assert resp.status == 200, await resp.text()


async def test_a_client_whose_node_is_killed_comes_back_online_on_another(tmp_path: Path) -> None:
    require_parts("postgresql", "haproxy")
    with stoppable_pg() as cluster:
        url = cluster.url(cluster.create_database())
        async with server_nodes(tmp_path / "nodes", url) as nodes, haproxy(nodes) as lb:
            controller = make_controller(lb.url, tmp_path / "alice")
            received: list[str] = []
            controller.message_received.connect(lambda _channel, message: received.append(message["content"]))
            try:
                async with aiohttp.ClientSession() as http:
                    await controller.login("alice", SandboxTickets())
                    await reach_status(controller, LoginStatus.ONLINE)
                    home = await _home(http, nodes, "alice")
                    home.kill()
                    killed_at = time.monotonic()
                    await reach_status(controller, LoginStatus.RECONNECT)
                    await _post(http, lb.url, "bob", "sent while alice's node was gone")
                    await reach_status(controller, LoginStatus.ONLINE, timeout=FAILOVER_DEADLINE)
                    assert time.monotonic() - killed_at < FAILOVER_DEADLINE
                    assert controller.login_requests == 1  # the same session, resumed: no new login
                    new_home = await _home(http, [n for n in nodes if n is not home], "alice")
                    assert new_home is not home
                    await until("the missed message", lambda: "sent while alice's node was gone" in received,
                                controller.message_received)  # fmt: skip
                    await _post(http, new_home.url, "bob", "after the failover")
                    await until("the next message", lambda: "after the failover" in received,
                                controller.message_received)  # fmt: skip
                    assert received.count("sent while alice's node was gone") == 1, received
            finally:
                await controller.aclose()
