"""Login rules against the real server: sign-up, tickets, lock-out, kick-out, expiry, renew, logout."""

from __future__ import annotations

import pytest

from im_desktop.protocol.models import CloseCode
from tests.server.support import RunningServer, assert_kicked_by_another_device

pytestmark = pytest.mark.asyncio


async def _user_exists(server: RunningServer, user_id: str) -> bool:
    probe = await server.login("probe", platform="Web")
    return (await probe.api("user.get", {"user_id": user_id})).status == 200


async def test_first_login_signs_the_account_up(server: RunningServer) -> None:
    assert not await _user_exists(server, "newcomer")
    session = await server.login("newcomer")
    assert session.reply["login"]["user"]["id"] == "newcomer"
    assert session.reply["session"]["sig_expires_at"] == int(server.clock()) + 86400
    assert await _user_exists(server, "newcomer")


async def test_reconnecting_with_the_token_is_not_a_new_login(server: RunningServer) -> None:
    session = await server.login("alice")
    first = await session.connect()
    await first.ws.close()
    second = await session.connect()
    third = await session.connect()  # a second socket of the same session replaces the first
    assert await second.close_code() == 1000
    assert [i["session_id"] for i in await server.instances("alice")] == [session.session_id]
    assert third.ready["session"]["session_id"] == session.session_id


@pytest.mark.parametrize(
    ("body", "code", "needle"),
    [
        ({"user_id": "x" * 33}, 70402, "longer than 32 bytes"),
        ({"user_id": "bad id"}, 70402, "may only contain"),
        ({"user_id": 7}, 70402, "required"),
        ({"user_sig": None}, 70002, "user_sig"),
        ({"user_sig": ""}, 70002, "empty"),
        ({"user_sig": 12}, 70002, "user_sig"),
        ({"platform": "BeOS"}, 70402, "platform"),
        ({"platform": None}, 70402, "platform"),
        ({"device_id": ""}, 70402, "device_id"),
        ({"device_name": ["x"]}, 70402, "device_name"),
        ({"device_name": "n" * 300}, 70402, "longer than 128"),
    ],
)
async def test_bad_login_input_gets_a_clear_error_and_changes_nothing(
    server: RunningServer, body: dict[str, object], code: int, needle: str
) -> None:
    request: dict[str, object] = {"user_id": "alice", "user_sig": server.sig("alice"), "platform": "Linux",
                                  "device_id": "d"}  # fmt: skip
    request.update(body)
    reply = await server.post("/im/v1/login", request)
    assert (reply.status, reply.code) == (400, code), reply
    assert needle in reply.body["message"]
    assert await server.instances() == []


@pytest.mark.parametrize("raw", [b"{not json", b"[1, 2]", b"\xff\xfe", b'"alice"'])
async def test_malformed_login_bodies_are_refused(server: RunningServer, raw: bytes) -> None:
    reply = await server.post("/im/v1/login", data=raw)
    assert (reply.status, reply.code) == (400, 70402)
    assert await server.instances() == []


@pytest.mark.parametrize(
    ("make_sig", "code"),
    [
        (lambda s: s.sig("alice")[:50], 70003),
        (lambda s: s.sig("alice", key="f" * 64), 70009),
        (lambda s: s.sig("mallory"), 70013),
        (lambda s: s.sig("alice", sdkappid=1400000001), 70014),
        (lambda s: s.sig("alice", 60, issued_at=int(s.clock()) - 61), 70001),
    ],
    ids=["truncated", "forged", "other-user", "other-sdkappid", "expired"],
)
async def test_bad_tickets_are_refused_with_tencents_codes(server: RunningServer, make_sig, code: int) -> None:
    reply = await server.try_login("alice", sig=make_sig(server))
    assert (reply.status, reply.code) == (401, code), reply
    assert await server.instances() == []
    assert not await _user_exists(server, "alice")


async def test_repeated_failures_lock_out_further_failures_for_a_minute(server: RunningServer) -> None:
    forged = server.sig("alice", key="f" * 64)
    for _ in range(5):
        assert (await server.try_login("alice", sig=forged)).code == 70009
    locked = await server.try_login("alice", sig=forged)
    assert (locked.status, locked.code) == (429, 70050)
    assert (await server.try_login("bob", sig=server.sig("bob", key="f" * 64))).code == 70009  # others unaffected
    server.clock.advance(61)
    assert (await server.try_login("alice", sig=forged)).code == 70009  # the lock is over
    # A ticket that verifies is never locked out: tests/server/test_lockout.py


async def test_single_platform_login_kicks_the_other_device_and_says_who(server: RunningServer) -> None:
    desktop = await server.login("alice", platform="Linux", device_name="Work laptop")
    sock = await desktop.connect()
    await server.login("alice", platform="Android", device_name="Pixel 9")
    ended = assert_kicked_by_another_device(await sock.event(), "Android", "Pixel 9")
    assert ended["at"] == int(server.clock() * 1000)
    assert await sock.close_code() == CloseCode.KICKED
    kicked = await desktop.api("login.get")
    assert (kicked.status, kicked.code) == (401, 6208)


async def test_same_platform_second_instance_kicks_the_first(server: RunningServer) -> None:
    first = await server.login("alice", platform="Windows", device_id="pc-1")
    sock = await first.connect()
    await server.login("alice", platform="Windows", device_id="pc-2")
    assert (await sock.event())["ended"]["reason"] == "multi_instance"
    assert await sock.close_code() == CloseCode.KICKED


async def test_dual_policy_keeps_web_next_to_one_native_platform(server: RunningServer) -> None:
    assert (await server.admin("PUT", "policy", {"policy": "dual"})).status == 200
    await server.login("alice", platform="Mac")
    await server.login("alice", platform="Web")
    assert sorted(i["platform"] for i in await server.instances("alice")) == ["Mac", "Web"]
    await server.login("alice", platform="iPhone")
    assert sorted(i["platform"] for i in await server.instances("alice")) == ["Web", "iPhone"]


async def test_triple_policy_keeps_one_mobile_one_desktop_and_web(server: RunningServer) -> None:
    await server.admin("PUT", "policy", {"policy": "triple"})
    for platform in ("Android", "Windows", "Web", "iPad"):
        await server.login("alice", platform=platform)
    assert sorted(i["platform"] for i in await server.instances("alice")) == ["Web", "Windows", "iPad"]


async def test_multi_policy_with_web_limit_kicks_the_oldest_tab(server: RunningServer) -> None:
    await server.admin("PUT", "policy", {"policy": "multi", "max_instances": {"Web": 3}})
    tabs = [await server.login("alice", platform="Web", device_id=f"tab{i}") for i in range(3)]
    oldest = await tabs[0].connect()
    await server.login("alice", platform="Linux")
    assert (await oldest.event())["type"] == "login-added"  # told, not kicked
    await server.login("alice", platform="Web", device_id="tab3")
    assert (await oldest.event())["ended"]["reason"] == "multi_instance"
    assert len(await server.instances("alice")) == 4


async def test_other_instances_hear_about_a_new_login(server: RunningServer) -> None:
    await server.admin("PUT", "policy", {"policy": "multi"})
    sock = await (await server.login("alice", platform="Linux")).connect()
    phone = await server.login("alice", platform="iPhone", device_name="Alice's iPhone")
    event = await sock.event()
    assert event["type"] == "login-added"
    assert event["session"]["session_id"] == phone.session_id
    assert event["session"]["device_name"] == "Alice's iPhone"


async def test_kicked_while_offline_learns_why_on_reconnect(server: RunningServer) -> None:
    desktop = await server.login("alice", platform="Linux")
    await server.login("alice", platform="Mac", device_name="MacBook")
    sock = await server.websocket()
    await sock.send(3, {"token": desktop.token})
    event = await sock.event()
    assert event["type"] == "login-removed"
    assert (event["ended"]["reason"], event["ended"]["by"]["device_name"]) == ("multi_device", "MacBook")
    assert await sock.close_code() == CloseCode.KICKED


async def test_ticket_expiry_while_online_is_pushed_then_closed(server: RunningServer) -> None:
    session = await server.login("alice", sig=server.sig("alice", 120))
    sock = await session.connect()
    server.clock.advance(119)
    await sock.no_event()
    server.clock.advance(2)
    event = await sock.event()
    assert (event["type"], event["ended"]["reason"], event["ended"]["code"]) == (
        "login-removed", "user_sig_expired", 70001)  # fmt: skip
    assert await sock.close_code() == CloseCode.USER_SIG_EXPIRED
    assert (await session.api("login.get")).code == 70001
    assert (await server.try_login("alice", sig=server.sig("alice", 120))).status == 200


async def test_renewing_the_ticket_keeps_the_session_online(server: RunningServer) -> None:
    session = await server.login("alice", sig=server.sig("alice", 120))
    sock = await session.connect()
    server.clock.advance(100)
    fresh = server.sig("alice", 3600)
    reply = await server.post("/im/v1/session/renew", {"user_sig": fresh}, headers=session.headers())
    assert reply.status == 200
    assert reply.body["session"]["sig_expires_at"] == int(server.clock()) + 3600
    updated = await sock.event()
    assert updated["type"] == "login-updated"
    assert updated["session"]["sig_expires_at"] == int(server.clock()) + 3600
    server.clock.advance(600)
    await sock.no_event()
    assert (await session.api("login.get")).status == 200


async def test_renewing_with_someone_elses_ticket_is_refused(server: RunningServer) -> None:
    session = await server.login("alice")
    reply = await server.post("/im/v1/session/renew", {"user_sig": server.sig("bob")}, headers=session.headers())
    assert reply.code == 70013
    assert (await session.api("login.get")).status == 200


async def test_logout_ends_the_session_and_its_socket(server: RunningServer) -> None:
    session = await server.login("alice")
    sock = await session.connect()
    assert (await server.post("/im/v1/logout", {}, headers=session.headers())).status == 200
    event = await sock.event()
    assert (event["type"], event["ended"]["reason"]) == ("login-removed", "logout")
    assert await sock.close_code() == CloseCode.LOGGED_OUT
    assert (await session.api("login.get")).code == 6014
    again = await server.post("/im/v1/logout", {}, headers=session.headers())
    assert (again.status, again.code) == (401, 6014)


async def test_no_ticket_or_token_reaches_the_log(server: RunningServer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("DEBUG")
    sig = server.sig("alice")
    session = await server.login("alice", sig=sig)
    sock = await session.connect()
    await server.try_login("alice", sig=sig[:40])
    await server.login("alice", platform="Mac")
    await sock.until("login-removed")
    assert "alice" in caplog.text  # the log does say what happened
    for secret in (sig, sig[:40], session.token, server.config.keys.secret_key, server.config.keys.admin_key):
        assert secret not in caplog.text


async def test_a_ticket_dated_far_in_the_future_is_refused_and_cannot_outlive_a_kick(server: RunningServer) -> None:
    now = int(server.clock())
    decade = server.sig("alice", 86400, issued_at=now + 10 * 365 * 86400)  # minted before the kick
    await server.login("alice")
    assert (await server.admin("POST", "kick", {"user_id": "alice"})).body == {"kicked": 1}
    reply = await server.try_login("alice", sig=decade)
    assert (reply.status, reply.code) == (401, 70003), reply
    assert "dated in the future" in reply.body["message"]
    assert await server.instances("alice") == []


async def test_a_ticket_dated_within_the_clock_skew_works(server: RunningServer) -> None:
    skew = int(server.config.ticket_future_skew)
    assert skew == 60  # the documented allowance for a business server's clock running ahead
    now = int(server.clock())
    assert (await server.try_login("alice", sig=server.sig("alice", issued_at=now + skew))).status == 200
    refused = await server.try_login("bob", sig=server.sig("bob", issued_at=now + skew + 1))
    assert refused.code == 70003
    session = await server.login("carol")  # renewing follows the same rule
    renew = {"user_sig": server.sig("carol", issued_at=now + 3600)}
    assert (await server.post("/im/v1/session/renew", renew, headers=session.headers())).code == 70003
