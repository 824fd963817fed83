"""The login extension's other endpoints: discovery, demo tickets and the operator API."""

from __future__ import annotations

from pathlib import Path

import pytest

from im_desktop.protocol import usersig
from im_desktop.protocol.models import CloseCode
from tests.server.support import SDKAPPID, RunningServer, running_server

pytestmark = pytest.mark.asyncio


async def test_discovery_tells_this_server_from_a_plain_satori_server(server: RunningServer) -> None:
    reply = await server.post("/im/v1/discovery", method="GET")
    assert reply.status == 200
    assert reply.body["server"] == "im-desktop" and reply.body["wire"] == 1
    assert reply.body["sdkappid"] == SDKAPPID and reply.body["sandbox"] is True
    assert reply.body["close_codes"]["kicked"] == CloseCode.KICKED


async def test_demo_ticket_endpoint_issues_a_working_ticket(server: RunningServer) -> None:
    reply = await server.post("/im/v1/demo/usersig", {"user_id": "dora"})
    assert reply.status == 200
    info = usersig.decode(reply.body["user_sig"])
    assert (info.identifier, info.sdkappid) == ("dora", SDKAPPID)
    assert reply.body["expires_at"] == info.expires_at
    assert (await server.try_login("dora", sig=reply.body["user_sig"])).status == 200


async def test_demo_ticket_endpoint_validates_the_user_id(server: RunningServer) -> None:
    reply = await server.post("/im/v1/demo/usersig", {"user_id": "no spaces"})
    assert (reply.status, reply.code) == (400, 70402)


async def test_demo_ticket_endpoint_is_off_outside_the_sandbox(tmp_path: Path) -> None:
    async with running_server(tmp_path, sandbox=False) as server:
        reply = await server.post("/im/v1/demo/usersig", {"user_id": "dora"})
        assert (reply.status, reply.code) == (404, 90503)
        assert (await server.post("/im/v1/discovery", method="GET")).body["demo_usersig"] is None


@pytest.mark.parametrize(("method", "path"), [("POST", "kick"), ("GET", "instances"), ("GET", "policy"),
                                              ("PUT", "policy")])  # fmt: skip
async def test_operator_api_needs_the_admin_key(server: RunningServer, method: str, path: str) -> None:
    for key in ("", "wrong-key"):
        reply = await server.admin(method, path, {"user_id": "alice", "policy": "multi"}, key=key)
        assert (reply.status, reply.code) == (403, 70403)
    assert (await server.admin("GET", "policy")).body["policy"] == "single"


async def test_operator_kick_ends_every_instance_and_old_tickets(server: RunningServer) -> None:
    await server.admin("PUT", "policy", {"policy": "multi"})
    old_ticket = server.sig("alice")
    socks = [await (await server.login("alice", platform=p, sig=old_ticket)).connect() for p in ("Linux", "Web")]
    server.clock.advance(5)
    reply = await server.admin("POST", "kick", {"user_id": "alice"})
    assert reply.body == {"kicked": 2}
    for sock in socks:
        event = await sock.until("login-removed")
        assert (event["ended"]["reason"], event["ended"]["by"]) == ("admin", None)
        assert await sock.close_code() == CloseCode.KICKED
    assert await server.instances("alice") == []
    stale = await server.try_login("alice", sig=old_ticket)
    assert (stale.status, stale.code) == (401, 70052)
    server.clock.advance(1)
    assert (await server.try_login("alice")).status == 200


async def test_operator_kick_of_unknown_or_bad_user(server: RunningServer) -> None:
    assert (await server.admin("POST", "kick", {"user_id": "ghost"})).code == 70107
    assert (await server.admin("POST", "kick", {"user_id": "a b"})).code == 70402
    assert (await server.admin("POST", "kick", None)).code == 70402


async def test_instances_list_shows_who_is_online(server: RunningServer) -> None:
    await server.admin("PUT", "policy", {"policy": "multi"})
    online = await server.login("alice", platform="Linux", device_name="Desk")
    await server.login("alice", platform="Android")
    await server.login("bob", platform="Web")
    sock = await online.connect()
    rows = {(r["user_id"], r["platform"]): r for r in await server.instances()}
    assert set(rows) == {("alice", "Linux"), ("alice", "Android"), ("bob", "Web")}
    assert rows["alice", "Linux"]["online"] is True and rows["alice", "Linux"]["device_name"] == "Desk"
    assert rows["alice", "Android"]["online"] is False
    assert len(await server.instances("bob")) == 1
    await sock.ws.close()


async def test_policy_change_applies_at_once_and_is_refused_when_bad(server: RunningServer) -> None:
    bad = await server.admin("PUT", "policy", {"policy": "multi", "max_instances": {"Web": 50}})
    assert (bad.status, bad.code) == (400, 70402)
    assert (await server.admin("GET", "policy")).body["policy"] == "single"
    good = await server.admin("PUT", "policy", {"policy": "multi", "max_instances": {"Web": 10}})
    assert good.body["max_instances"]["Web"] == 10
    await server.login("alice", platform="Linux")
    await server.login("alice", platform="Android")
    assert len(await server.instances("alice")) == 2


async def test_policy_survives_a_restart(tmp_path: Path) -> None:
    async with running_server(tmp_path) as server:
        await server.admin("PUT", "policy", {"policy": "triple", "max_instances": {"iPad": 2}})
    async with running_server(tmp_path) as server:
        body = (await server.admin("GET", "policy")).body
        assert (body["policy"], body["max_instances"]["iPad"]) == ("triple", 2)
