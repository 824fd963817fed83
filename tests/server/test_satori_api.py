"""Satori v1 resources over HTTP against the real server: headers, resources, paging, privacy, bad input."""

from __future__ import annotations

import asyncio
import io

import pytest

from tests.server.support import RunningServer, Session

pytestmark = pytest.mark.asyncio

SENDS = 200  # at once, on one server: enough for PostgreSQL's replies to come back out of order now and then


async def _post_messages(session: Session, channel_id: str, count: int) -> list[str]:
    ids = []
    for i in range(count):
        [message] = await session.ok("message.create", {"channel_id": channel_id, "content": f"m{i}"})
        ids.append(message["id"])
    return ids


async def test_login_get_returns_the_satori_login(server: RunningServer) -> None:
    alice = await server.login("alice")
    login = await alice.ok("login.get")
    assert login["user"]["id"] == "alice"
    assert (login["platform"], login["status"], login["adapter"]) == ("im-desktop", 1, "im-desktop")
    assert "message.create" in login["features"]
    assert isinstance(login["sn"], int)


async def test_legacy_header_pair_is_accepted(server: RunningServer) -> None:
    alice = await server.login("alice")
    legacy = {"Authorization": f"Bearer {alice.token}", "X-Platform": "im-desktop", "X-Self-ID": "alice"}
    assert (await server.post("/v1/login.get", {}, headers=legacy)).status == 200


@pytest.mark.parametrize(
    ("token", "platform", "user_id", "status", "code"),
    [
        (None, "im-desktop", "alice", 401, 6014),
        ("Bearer nope", "im-desktop", "alice", 401, 6014),
        ("Basic {token}", "im-desktop", "alice", 401, 6014),
        ("Bearer {token}", "im-desktop", None, 401, 6014),
        ("Bearer {token}", "discord", "alice", 403, 70403),
        ("Bearer {token}", "im-desktop", "bob", 403, 70403),
    ],
    ids=["no-token", "unknown-token", "not-bearer", "no-user-header", "other-platform", "other-user"],
)
async def test_requests_without_a_matching_login_are_refused(
    server: RunningServer, token: str | None, platform: str, user_id: str | None, status: int, code: int
) -> None:
    alice = await server.login("alice")
    headers = {"Satori-Platform": platform}
    if token is not None:
        headers["Authorization"] = token.format(token=alice.token)
    if user_id is not None:
        headers["Satori-User-ID"] = user_id
    reply = await server.post("/v1/login.get", {}, headers=headers)
    assert (reply.status, reply.code) == (status, code)


async def test_meta_lists_the_login_for_the_token(server: RunningServer) -> None:
    alice = await server.login("alice")
    meta = await server.post("/v1/meta", {}, headers={"Authorization": f"Bearer {alice.token}"})
    assert [login["user"]["id"] for login in meta.body["logins"]] == ["alice"]
    assert (await server.post("/v1/meta", {})).status == 401


async def test_guild_channel_and_user_resources(server: RunningServer) -> None:
    alice = await server.login("alice")
    await server.login("bob", platform="Web")
    guilds = await alice.ok("guild.list")
    assert [g["id"] for g in guilds["data"]] == ["lobby"]
    channels = await alice.ok("channel.list", {"guild_id": "lobby"})
    assert [(c["id"], c["type"]) for c in channels["data"]] == [("general", 0)]
    assert (await alice.ok("channel.get", {"channel_id": "general"}))["name"] == "General"
    assert await alice.ok("user.get", {"user_id": "bob"}) == {"id": "bob", "name": "bob"}
    friends = await alice.ok("friend.list")
    assert [f["user"]["id"] for f in friends["data"]] == ["bob"]
    assert (await alice.api("user.get", {"user_id": "nobody"})).code == 70107
    assert (await alice.api("channel.list", {"guild_id": "nowhere"})).status == 404


async def test_direct_channel_is_shared_by_both_and_hidden_from_others(server: RunningServer) -> None:
    alice, bob = await server.login("alice"), await server.login("bob", platform="Web")
    carol = await server.login("carol", platform="Mac")
    dm = await alice.ok("user.channel.create", {"user_id": "bob"})
    assert (dm["type"], dm["name"]) == (1, "bob")
    assert (await bob.ok("user.channel.create", {"user_id": "alice"}))["id"] == dm["id"]
    await alice.ok("message.create", {"channel_id": dm["id"], "content": "psst"})
    assert [m["content"] for m in (await bob.ok("message.list", {"channel_id": dm["id"]}))["data"]] == ["psst"]
    for method in ("message.list", "channel.get", "message.create"):
        reply = await carol.api(method, {"channel_id": dm["id"], "content": "hi"})
        assert (reply.status, reply.code) == (404, 90404)
    assert (await alice.api("user.channel.create", {"user_id": "ghost"})).code == 70107


async def test_message_list_pages_backwards_from_the_newest(server: RunningServer) -> None:
    alice = await server.login("alice")
    ids = await _post_messages(alice, "general", 7)
    first = await alice.ok("message.list", {"channel_id": "general", "limit": 3})
    assert [m["id"] for m in first["data"]] == ids[4:]
    assert first["prev"] == first["next"] == ids[4]
    second = await alice.ok("message.list", {"channel_id": "general", "limit": 3, "next": first["next"]})
    assert [m["id"] for m in second["data"]] == ids[1:4]
    last = await alice.ok("message.list", {"channel_id": "general", "limit": 3, "next": second["next"]})
    assert [m["id"] for m in last["data"]] == ids[:1]
    assert last["next"] is None and last["prev"] is None


async def test_message_list_after_around_and_descending(server: RunningServer) -> None:
    alice = await server.login("alice")
    ids = await _post_messages(alice, "general", 7)
    after = await alice.ok("message.list", {"channel_id": "general", "next": ids[1], "direction": "after", "limit": 3})
    assert [m["id"] for m in after["data"]] == ids[2:5]
    assert after["next"] == ids[4]
    around = await alice.ok("message.list", {"channel_id": "general", "next": ids[3], "direction": "around",
                                             "limit": 2})  # fmt: skip
    assert [m["id"] for m in around["data"]] == ids[2:5]
    assert (around["prev"], around["next"]) == (ids[2], ids[4])
    desc = await alice.ok("message.list", {"channel_id": "general", "limit": 2, "order": "desc"})
    assert [m["id"] for m in desc["data"]] == [ids[6], ids[5]]
    message = await alice.ok("message.get", {"channel_id": "general", "message_id": ids[0]})
    assert (message["content"], message["user"]["id"]) == ("m0", "alice")


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"direction": "after"}, "must be 'before'"),
        ({"direction": "sideways"}, "unknown value"),
        ({"order": "random"}, "unknown value"),
        ({"next": "abc"}, "not a message id"),
        ({"limit": "10"}, "whole number"),
        ({"channel_id": 5}, "must be a string"),
        ({"channel_id": None}, "required"),
    ],
)
async def test_bad_message_list_requests_are_refused(
    server: RunningServer, body: dict[str, object], needle: str
) -> None:
    alice = await server.login("alice")
    reply = await alice.api("message.list", {"channel_id": "general", **body})
    assert (reply.status, reply.code) == (400, 70402), reply
    assert needle in reply.body["message"]


async def test_limit_is_clamped_not_rejected(server: RunningServer) -> None:
    alice = await server.login("alice")
    ids = await _post_messages(alice, "general", 3)
    for limit in (0, -5, 10_000):
        page = await alice.ok("message.list", {"channel_id": "general", "limit": limit})
        assert len(page["data"]) == (1 if limit <= 0 else 3)
    assert ids


async def test_message_create_with_a_nonce_is_stored_once(server: RunningServer) -> None:
    alice = await server.login("alice")
    first = await alice.ok("message.create", {"channel_id": "general", "content": "once", "nonce": "n-1"})
    again = await alice.ok("message.create", {"channel_id": "general", "content": "once", "nonce": "n-1"})
    assert first == again
    assert len((await alice.ok("message.list", {"channel_id": "general"}))["data"]) == 1


async def test_bad_requests_change_nothing(server: RunningServer) -> None:
    alice = await server.login("alice")
    too_long = await alice.api("message.create", {"channel_id": "general", "content": "x" * 13_000})
    assert (too_long.status, too_long.code) == (400, 70402)
    huge_body = io.BytesIO(b'{"content": "' + b"x" * 2_000_000 + b'"}')
    huge = await server.post("/v1/message.create", data=huge_body, headers=alice.headers())
    assert (huge.status, huge.code) == (413, 90413)
    for raw in (b"{oops", b"[]", b"null", b"\xff"):
        reply = await server.post("/v1/message.create", data=raw, headers=alice.headers())
        assert (reply.status, reply.code) == (400, 70402)
    assert (await alice.api("message.create", {"channel_id": "general", "content": ""})).code == 70402
    assert (await alice.ok("message.list", {"channel_id": "general"}))["data"] == []


async def test_unknown_api_and_wrong_method(server: RunningServer) -> None:
    alice = await server.login("alice")
    unknown = await alice.api("guild.member.kick", {})
    assert (unknown.status, unknown.code) == (404, 90404)
    wrong = await server.post("/v1/login.get", method="GET", headers=alice.headers())
    assert (wrong.status, wrong.code) == (405, 90405)


async def test_message_create_is_rate_limited_per_user(server: RunningServer) -> None:
    alice, bob = await server.login("alice"), await server.login("bob")
    config = server.config
    body = {"channel_id": "general", "content": "spam"}
    for i in range(config.message_burst):  # a normal burst (an outbox flushed after a reconnect) goes through
        await alice.ok("message.create", {**body, "nonce": f"n-{i}"})
    async with server.http.post(server.url + "/v1/message.create", json=body, headers=alice.headers()) as resp:
        assert resp.status == 429 and resp.headers["Retry-After"] == "1"
        assert (await resp.json())["code"] == 90429
    # A retry of a stored send is still answered; the other user is not affected.
    assert (await alice.api("message.create", {**body, "nonce": "n-0"})).status == 200
    await bob.ok("message.create", body)
    server.clock.advance(1.0)  # the steady rate comes back
    for _ in range(int(config.message_rate)):
        await alice.ok("message.create", body)
    assert (await alice.api("message.create", body)).code == 90429
    page = await bob.ok("message.list", {"channel_id": "general", "limit": 100})
    assert len(page["data"]) == config.message_burst + 1 + int(config.message_rate)


@pytest.mark.parametrize("_", range(3))
async def test_sends_at_the_same_time_reach_a_live_socket_all_in_sn_order(server: RunningServer, _: int) -> None:
    """A socket's writer skips an event not above the last `sn` it sent: events must be published in `sn` order
    even when the store lets sends overlap (PostgreSQL), or a live reader would lose some for good."""
    senders = [await server.login(f"sender{n}", platform="Web") for n in range(8)]  # 25 each: within the burst
    reader = await (await server.login("reader")).connect()
    await asyncio.gather(*(senders[n % 8].ok("message.create", {"channel_id": "general", "content": f"m{n}"})
                           for n in range(SENDS)))  # fmt: skip
    events = [await reader.event() for _ in range(SENDS)]
    assert [e["sn"] for e in events] == list(range(events[0]["sn"], events[0]["sn"] + SENDS))
    assert sorted(e["message"]["content"] for e in events) == sorted(f"m{n}" for n in range(SENDS))
    await reader.no_event()
