"""The protocol client against the real server: discovery, login, Satori calls, and the event stream."""

from __future__ import annotations

import asyncio
import json
import zlib
from typing import Any

import pytest
from aiohttp import web

from im_desktop.protocol.client import MAX_REPLY_BYTES, Credentials, ProtocolClient
from im_desktop.protocol.errors import ErrorCode, ImError
from im_desktop.protocol.events import Ready, StreamEnd
from im_desktop.protocol.models import CloseCode
from tests.server.support import RunningServer, serve_app

pytestmark = pytest.mark.asyncio


async def _client_login(server: RunningServer, user_id: str = "alice", platform: str = "Linux"):
    client = ProtocolClient(server.url)
    result = await client.login(user_id, server.sig(user_id), platform, f"{platform}-dev", "Test box")
    return client, result, Credentials(result.token, "im-desktop", user_id)


async def test_discovery_recognises_our_server(server: RunningServer) -> None:
    client = ProtocolClient(server.url)
    found = await client.discover()
    assert found is not None
    assert (found.sandbox, found.platform) == (True, "im-desktop")
    assert found.demo_usersig == "/im/v1/demo/usersig"
    ticket = await client.demo_usersig(found.demo_usersig, "zed")
    assert (await client.login("zed", ticket, "Mac", "m1", "Mac")).login["user"]["id"] == "zed"
    await client.aclose()


async def test_server_errors_arrive_as_im_errors_with_tencents_codes(server: RunningServer) -> None:
    client = ProtocolClient(server.url)
    with pytest.raises(ImError) as exc:
        await client.login("alice", server.sig("alice", key="0" * 64), "Linux", "d", "d")
    assert exc.value.code is ErrorCode.USERSIG_MISMATCH_PUBLICKEY
    with pytest.raises(ImError) as exc:
        await client.call(Credentials("bogus", "im-desktop", "alice"), "login.get")
    assert exc.value.code is ErrorCode.NOT_LOGGED_IN
    await client.aclose()


async def test_unreachable_server_is_a_transient_network_error() -> None:
    client = ProtocolClient("http://127.0.0.1:9")
    with pytest.raises(ImError) as exc:
        await client.discover()
    assert exc.value.code is ErrorCode.NET_DISCONNECT
    assert exc.value.code.error_class.value == "transient"
    await client.aclose()


async def test_satori_calls_and_a_connection_pool_reset(server: RunningServer) -> None:
    client, _, creds = await _client_login(server)
    assert (await client.call(creds, "login.get"))["user"]["id"] == "alice"
    await client.reset()
    [sent] = await client.call(creds, "message.create", {"channel_id": "general", "content": "hi"})
    page = await client.call(creds, "message.list", {"channel_id": "general"})
    assert [m["id"] for m in page["data"]] == [sent["id"]]
    assert [login["user"]["id"] for login in await client.meta_logins(creds.token)] == ["alice"]
    await client.aclose()


async def test_event_stream_gets_ready_events_and_the_reason_it_ended(server: RunningServer) -> None:
    client, _, creds = await _client_login(server)
    ready: asyncio.Future[Ready] = asyncio.get_running_loop().create_future()
    events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    stream = client.events(creds.token, None)
    runner = asyncio.create_task(stream.run(ready.set_result, events.put_nowait))
    assert (await asyncio.wait_for(ready, 5)).logins[0]["user"]["id"] == "alice"
    await client.call(creds, "message.create", {"channel_id": "general", "content": "ping"})
    assert (await asyncio.wait_for(events.get(), 5))["message"]["content"] == "ping"
    await server.login("alice", platform="Android", device_name="Phone")
    end: StreamEnd = await asyncio.wait_for(runner, 5)
    assert end.code == CloseCode.KICKED
    assert end.ended is not None and end.ended["by"]["device_name"] == "Phone"
    await client.aclose()


async def test_event_stream_for_a_refused_token_ends_without_ready(server: RunningServer) -> None:
    client = ProtocolClient(server.url)
    end = await client.events("forged", None).run(lambda r: None, lambda e: None)
    assert (end.code, end.ready) == (CloseCode.INVALID_TOKEN, False)
    await client.aclose()


async def test_event_stream_to_nowhere_ends_with_a_reason() -> None:
    client = ProtocolClient("http://127.0.0.1:9")
    end = await client.events("t", None).run(lambda r: None, lambda e: None)
    assert end.code is None and "cannot connect" in end.reason
    await client.aclose()


# -- replies that are too large, oddly compressed or malformed (issue 7, item 7) --------------------------------


SEEN = web.AppKey("seen", list[dict[str, str]])  # the headers of each request a test app received


def _replying(body: bytes, status: int = 200, headers: dict[str, str] | None = None) -> web.Application:
    """An app that answers every request with this body, and keeps the request headers it saw."""
    seen: list[dict[str, str]] = []

    async def reply(request: web.Request) -> web.StreamResponse:
        seen.append(dict(request.headers))
        return web.Response(body=body, status=status, headers={"Content-Type": "application/json", **(headers or {})})

    app = web.Application()
    app[SEEN] = seen
    app.router.add_route("*", "/{path:.*}", reply)
    return app


def _deflate(data: bytes, wbits: int) -> bytes:
    packer = zlib.compressobj(6, zlib.DEFLATED, wbits)
    return packer.compress(data) + packer.flush()


@pytest.mark.parametrize(("encoding", "wbits"), [("gzip", 31), ("x-gzip", 31), ("deflate", 15), ("deflate", -15)],
                         ids=["gzip", "x-gzip", "deflate-zlib", "deflate-raw"])  # fmt: skip
async def test_a_compressed_reply_is_read_and_only_gzip_and_deflate_are_asked_for(encoding: str, wbits: int) -> None:
    doc = {"data": ["x" * 1000] * 100, "next": None}
    app = _replying(_deflate(json.dumps(doc).encode(), wbits), headers={"Content-Encoding": encoding})
    async with serve_app(app) as url:
        client = ProtocolClient(url)
        assert await client.call(Credentials("t", "p", "alice"), "message.list", {}) == doc
        await client.aclose()
    assert app[SEEN][0]["Accept-Encoding"] == "gzip, deflate"


TOO_LARGE = (ErrorCode.INVALID_REPLY, "The server's reply is too large.")


@pytest.mark.parametrize("gzipped", [False, True], ids=["plain", "gzip"])
@pytest.mark.parametrize("extra", [0, 1], ids=["fills-the-cap", "one-byte-more"])
async def test_a_reply_may_fill_the_cap_but_not_one_byte_more(gzipped: bool, extra: int) -> None:
    body = b'"' + b"x" * (MAX_REPLY_BYTES - 2) + b'"' + b" " * extra
    headers = {"Content-Encoding": "gzip"} if gzipped else {}
    async with serve_app(_replying(_deflate(body, 31) if gzipped else body, headers=headers)) as url:
        client = ProtocolClient(url)
        try:
            if extra:
                with pytest.raises(ImError) as refused:
                    await client.call(Credentials("t", "p", "alice"), "login.get")
                assert (refused.value.code, refused.value.message) == TOO_LARGE
            else:
                assert len(await client.call(Credentials("t", "p", "alice"), "login.get")) == MAX_REPLY_BYTES - 2
        finally:
            await client.aclose()


async def test_a_declared_length_past_the_cap_is_refused_before_the_body_arrives() -> None:
    async def headers_only(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000000000\r\n\r\n{")
            await reader.read()  # then nothing more, until the client hangs up
        finally:
            writer.close()

    listener = await asyncio.start_server(headers_only, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    client = ProtocolClient(f"http://127.0.0.1:{port}", timeout=30)
    try:
        async with asyncio.timeout(5):  # far below the client's 30 s read timeout
            with pytest.raises(ImError) as refused:
                await client.discover()
        assert (refused.value.code, refused.value.message) == TOO_LARGE
    finally:
        await client.aclose()
        listener.close()
        await listener.wait_closed()


@pytest.mark.parametrize(("body", "headers", "message"), [
    (b'{"server": "im-desktop"}', {"Content-Encoding": "gzip"},
     "The server's reply could not be unpacked (its compression is broken)."),
    (_deflate(b"{}", 31)[:-9] + b"\x00" * 9, {"Content-Encoding": "gzip"},  # a wrong checksum
     "The server's reply could not be unpacked (its compression is broken)."),
    (b"{}", {"Content-Encoding": "br"}, "The server's reply is compressed in a way this app cannot read."),
    (b"[" * 100_000 + b"]" * 100_000, {}, "The server sent a reply that is not JSON."),
    (b'{"a": "\xff"}', {}, "The server sent a reply that is not JSON."),
], ids=["not-gzip", "bad-checksum", "brotli", "nested-100k", "not-utf8"])  # fmt: skip
async def test_a_reply_that_cannot_be_read_is_an_invalid_reply(body: bytes, headers: dict[str, str],
                                                               message: str) -> None:  # fmt: skip
    async with serve_app(_replying(body, headers=headers)) as url:
        client = ProtocolClient(url)
        with pytest.raises(ImError) as refused:
            await client.call(Credentials("t", "p", "alice"), "login.get")
        assert (refused.value.code, refused.value.message) == (ErrorCode.INVALID_REPLY, message)
        await client.aclose()


@pytest.mark.parametrize("doc", [
    {"sdkappid": "abc"}, {"sdkappid": True}, {"sdkappid": 1.5}, {"heartbeat_interval": "10"},
    {"heartbeat_interval": True}, {"heartbeat_interval": 0}, {"heartbeat_interval": 10**6}, {"platform": 5},
    {"platform": None}, {"demo_usersig": 5}, {"demo_usersig": ["/x"]},
], ids=repr)  # fmt: skip
async def test_a_self_description_that_claims_to_be_ours_must_be_well_formed(doc: dict[str, Any]) -> None:
    async with serve_app(_replying(json.dumps({"server": "im-desktop", **doc}).encode())) as url:
        client = ProtocolClient(url)
        with pytest.raises(ImError) as refused:
            await client.discover()
        assert (refused.value.code, refused.value.message) == (
            ErrorCode.INVALID_REPLY, "The server's self-description could not be understood.")  # fmt: skip
        await client.aclose()


@pytest.mark.parametrize("body", [b"<html>a console's catch-all page</html>", b"", b'{"server": "koishi"}', b"[1]"],
                         ids=["html", "empty", "another-server", "a-list"])  # fmt: skip
async def test_a_discovery_answer_that_does_not_claim_to_be_ours_means_a_plain_satori_server(body: bytes) -> None:
    async with serve_app(_replying(body, headers={"Content-Type": "text/html"})) as url:
        client = ProtocolClient(url)
        assert await client.discover() is None
        await client.aclose()


@pytest.mark.parametrize("reply", [
    [1], {"session": {}, "login": {}}, {"token": "", "session": {}}, {"token": 5}, {"token": "t", "session": [1]},
    {"token": "t", "login": "alice"}, {"token": "t", "session": None},
], ids=repr)  # fmt: skip
async def test_a_malformed_login_reply_is_an_invalid_reply(reply: Any) -> None:
    async with serve_app(_replying(json.dumps(reply).encode())) as url:
        client = ProtocolClient(url)
        with pytest.raises(ImError) as refused:
            await client.login("alice", "sig", "Linux", "d", "Box")
        assert refused.value.code is ErrorCode.INVALID_REPLY
        assert refused.value.message.startswith("The server's login reply")
        await client.aclose()


@pytest.mark.parametrize("reply", [{}, {"session": [1]}, {"session": "x"}, [1], None], ids=repr)
async def test_a_malformed_renewal_reply_is_an_invalid_reply(reply: Any) -> None:
    async with serve_app(_replying(b"" if reply is None else json.dumps(reply).encode())) as url:
        client = ProtocolClient(url)
        with pytest.raises(ImError) as refused:
            await client.renew("token", "sig")
        assert (refused.value.code, refused.value.message) == (
            ErrorCode.INVALID_REPLY, "The server's renewal reply could not be understood.")  # fmt: skip
        await client.aclose()


@pytest.mark.parametrize(("status", "body", "code", "message"), [
    (400, {"code": True, "message": "yes"}, ErrorCode.INVALID_PARAMETERS,
     "The server rejected the request (HTTP 400)."),
    (401, {"code": 10**30}, ErrorCode.AUTH_REJECTED, "The server refused the credentials (HTTP 401)."),
    (401, {"code": 70001, "message": ["not", "text"]}, ErrorCode.USERSIG_EXPIRED,
     "The UserSig has expired; get a new one."),
    (403, {"code": 70003, "message": "m" * 2000}, ErrorCode.USERSIG_CHECK_FAILED, "m" * 500),
    (500, "[" * 100_000 + "]" * 100_000, ErrorCode.INTERNAL_ERROR,
     "The server is having trouble (HTTP 500); retrying."),
], ids=["bool-code", "huge-code", "message-a-list", "long-message", "nested-body"])  # fmt: skip
async def test_an_error_reply_is_read_defensively(status: int, body: Any, code: ErrorCode, message: str) -> None:
    raw = body.encode() if isinstance(body, str) else json.dumps(body).encode()
    async with serve_app(_replying(raw, status=status)) as url:
        client = ProtocolClient(url)
        with pytest.raises(ImError) as refused:
            await client.call(Credentials("t", "p", "alice"), "login.get")
        assert (refused.value.code, refused.value.message) == (code, message)
        await client.aclose()
