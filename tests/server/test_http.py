"""Hostile input at the HTTP door: each malformed request gets its 4xx and one log line, never a 500."""

from __future__ import annotations

import base64
import json
import logging
import zlib
from typing import Any

import pytest

from im_desktop.server import http
from tests.server.rawhttp import raw_request
from tests.server.support import SDKAPPID, RunningServer, Session

JSON = (b"Content-Type", b"application/json")


@pytest.fixture(autouse=True)
def fresh_refusal_log(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    # The refusal log's flood budget is per process: start every test with a full one.
    monkeypatch.setattr(http, "_log_refusal", http._ThrottledLog())
    caplog.set_level(logging.INFO)


def assert_no_traceback(caplog: pytest.LogCaptureFixture) -> None:
    bad = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert not bad, [r.getMessage() for r in bad]


def refusals(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "im_desktop.server.http"]


def forged_sig(doc: Any) -> str:
    """A ticket in Tencent's encoding around any content, signed or not."""
    raw = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
    return base64.b64encode(zlib.compress(raw)).translate(bytes.maketrans(b"+/=", b"*-_")).decode()


def login_body(server: RunningServer, **fields: Any) -> dict[str, Any]:
    body = {"user_id": "bob", "user_sig": server.sig("bob"), "platform": "Linux", "device_id": "d-1"}
    return {**body, **fields}


@pytest.mark.asyncio
async def test_lone_surrogates_in_any_string_field_are_refused(server: RunningServer, caplog: Any) -> None:
    alice = await server.login("alice")
    satori: dict[str, list[dict[str, Any]]] = {
        "message.create": [{"channel_id": "general", "content": "a\ud800"},
                           {"channel_id": "general", "content": "ok", "nonce": "\udfff"}],
        "friend.list": [{"next": "\ud800"}],
        "user.get": [{"user_id": "\udc80"}],
        "channel.get": [{"channel_id": "general", "\ud800": 1}],
    }  # fmt: skip
    for method, bodies in satori.items():
        for body in bodies:
            reply = await alice.api(method, body)  # json.dumps sends the surrogate as a \\ud800 escape
            assert (reply.status, reply.code) == (400, 70402), (method, body, reply)
    for fields in ({"device_id": "\ud800"}, {"device_name": "PC \udcff"}, {"user_sig": "\ud800"}):
        reply = await server.post("/im/v1/login", login_body(server, **fields))
        assert (reply.status, reply.code) == (400, 70402), (fields, reply)
    named = await alice.api("message.create", {"channel_id": "general", "content": ["ok", {"x": "\udfff"}]})
    assert named.body["message"] == "'content' is not valid Unicode text."
    # The same surrogate as raw bytes (UTF-8 has no such character; json.loads lets it through anyway).
    raw = b'{"channel_id": "general", "content": "\xed\xa0\x80"}'
    reply = await server.post("/v1/message.create", data=raw, headers=alice.headers())
    assert (reply.status, reply.code) == (400, 70402)
    assert (await alice.ok("message.list", {"channel_id": "general"}))["data"] == []
    assert await server.instances("bob") == []
    assert_no_traceback(caplog)


@pytest.mark.asyncio
async def test_an_authorization_header_that_is_not_utf8_is_not_logged_in(server: RunningServer, caplog: Any) -> None:
    await server.login("alice")
    satori = [(b"Satori-Platform", b"im-desktop"), (b"Satori-User-ID", b"alice"), JSON]
    for value in (b"Bearer \xff\xfe", b"Bearer \xc3\x28", b"\xff", b"Bearer caf\xc3\xa9"):
        auth = [(b"Authorization", value)]
        for path in (b"/v1/login.get", b"/v1/meta", b"/im/v1/logout", b"/im/v1/session/renew"):
            reply = await raw_request(server.url, b"POST", path, auth + satori, b"{}")
            assert (reply.status, reply.code) == (401, 6014), (value, path, reply)
        admin = await raw_request(server.url, b"GET", b"/im/v1/admin/instances", auth)
        assert (admin.status, admin.code) == (403, 70403), (value, admin)
    assert_no_traceback(caplog)


@pytest.mark.asyncio
async def test_deeply_nested_json_is_refused(server: RunningServer, caplog: Any) -> None:
    alice = await server.login("alice")
    deep_list = b"[" * 100_000 + b"]" * 100_000
    deep_object = b'{"a":' * 50_000 + b"1" + b"}" * 50_000
    nested: Any = "general"
    for _ in range(http.MAX_JSON_DEPTH):
        nested = [nested]
    within_recursion_limit = json.dumps({"channel_id": "general", "content": "x", "extra": nested}).encode()
    for raw in (deep_list, deep_object, within_recursion_limit):
        for path, headers in (("/v1/message.create", alice.headers()), ("/im/v1/login", None)):
            reply = await server.post(path, data=raw, headers=headers)
            assert (reply.status, reply.code) == (400, 70402), (path, raw[:20], reply)
    assert (await alice.ok("message.list", {"channel_id": "general"}))["data"] == []
    assert_no_traceback(caplog)


@pytest.mark.asyncio
async def test_message_ids_beyond_64_bits_are_not_ids_of_this_server(server: RunningServer, caplog: Any) -> None:
    alice = await server.login("alice")
    [message] = await alice.ok("message.create", {"channel_id": "general", "content": "hi"})
    for token in ("9223372036854775808", "99999999999999999999999999999999", "\u0663"):  # \u0663: Arabic-Indic 3
        for direction in ("before", "after", "around"):
            body = {"channel_id": "general", "next": token, "direction": direction}
            reply = await alice.api("message.list", body)
            assert (reply.status, reply.code) == (400, 70402), (token, direction, reply)
        reply = await alice.api("message.get", {"channel_id": "general", "message_id": token})
        assert (reply.status, reply.code) == (400, 70402), (token, reply)
    largest = await alice.ok("message.list", {"channel_id": "general", "next": str(2**63 - 1)})
    assert [m["id"] for m in largest["data"]] == [message["id"]]
    assert_no_traceback(caplog)


@pytest.mark.asyncio
async def test_a_usersig_with_nested_or_odd_json_is_a_ticket_check_failure(server: RunningServer, caplog: Any) -> None:
    now = int(server.clock())
    well_formed = {"TLS.ver": "2.0", "TLS.identifier": "bob", "TLS.sdkappid": SDKAPPID, "TLS.time": now,
                   "TLS.expire": 86400}  # fmt: skip
    for sig in (forged_sig(b"[" * 8000 + b"]" * 8000), forged_sig(b'{"a":' * 3000 + b"1" + b"}" * 3000),
                forged_sig({**well_formed, "TLS.sig": "\u00e9t\u00e9"})):  # fmt: skip
        reply = await server.post("/im/v1/login", login_body(server, user_sig=sig))
        assert (reply.status, reply.code) == (401, 70003), reply
        session = await server.login("carol")
        renew = await server.post("/im/v1/session/renew", {"user_sig": sig}, headers=session.headers())
        assert renew.status == 401, renew
    assert_no_traceback(caplog)


@pytest.mark.asyncio
async def test_a_refusal_is_one_log_line_and_a_flood_of_them_is_bounded(server: RunningServer, caplog: Any) -> None:
    reply = await server.post("/im/v1/login", data=b"[" * 10_000)
    assert (reply.status, reply.code) == (400, 70402)
    [line] = refusals(caplog)
    assert "POST '/im/v1/login'" in line and "70402 ERR_SVR_ACCOUNT_INVALID_PARAMETERS" in line
    caplog.clear()
    for _ in range(400):
        assert (await server.post("/im/v1/%0a/forged\nline", method="GET")).status in (400, 404)
    lines = refusals(caplog)
    # 100 at once, then 20 a second: 400 quick requests leave far fewer lines than requests.
    assert 0 < len(lines) < 300
    assert not any("\n" in line for line in lines)  # a path cannot forge a line of its own
    assert_no_traceback(caplog)


# -- display strings are cleaned at the door ------------------------------------------------------------
def test_clean_line_and_clean_text() -> None:
    assert http.clean_line("\x1b[31mEvil\x00 \n\tName\u202e\u2066 \x85") == "[31mEvil Name"
    assert http.clean_line("\x00\x07\x7f\x9b") == ""
    assert http.clean_line("Alice's ThinkPad \u00e9\u4e2d") == "Alice's ThinkPad \u00e9\u4e2d"
    assert http.clean_text("a\x00b\x1b[0mc\r\nd\te\x85\u202e") == "ab[0mc\r\nd\te\u202e"


@pytest.mark.asyncio
async def test_device_names_and_ids_are_checked_at_login(server: RunningServer) -> None:
    watcher = await server.login("alice", platform="Linux", device_id="a-1")
    sock = await watcher.connect()
    hostile = "\x1b[2J\x1b[31mEvil\x00\r\nName\u202e\u2066"
    reply = await server.try_login("alice", platform="Android", device_id="evil", device_name=hostile)
    assert reply.status == 200 and reply.body["session"]["device_name"] == "[2J[31mEvil Name"
    ended = (await sock.until("login-removed"))["ended"]
    assert ended["by"]["device_name"] == "[2J[31mEvil Name"
    blank = await server.try_login("alice", platform="Mac", device_id="m-1", device_name="\x00\x1f")
    assert blank.body["session"]["device_name"] == "Mac"
    for device_id in ("a\nb", "x\x00", "\u202eevil"):
        bad = await server.try_login("alice", platform="Mac", device_id=device_id)
        assert (bad.status, bad.code) == (400, 70402), device_id
    assert [s["device_id"] for s in await server.instances("alice")] == ["m-1"]


@pytest.mark.asyncio
async def test_message_content_loses_its_control_characters(server: RunningServer) -> None:
    alice: Session = await server.login("alice")
    [message] = await alice.ok("message.create", {"channel_id": "general", "content": "a\x00b\x1b[0mc\r\nd\te\x85"})
    assert message["content"] == "ab[0mc\r\nd\te"
    assert (await alice.ok("message.get", {"channel_id": "general", "message_id": message["id"]}))["content"] == (
        "ab[0mc\r\nd\te"
    )
    nothing = await alice.api("message.create", {"channel_id": "general", "content": "\x00\x07"})
    assert (nothing.status, nothing.code) == (400, 70402)
