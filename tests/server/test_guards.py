"""The server from a browser: foreign Host names, web page Origins and undeclared bodies are refused."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from im_desktop.server.guards import host_name
from tests.server.rawhttp import raw_request
from tests.server.support import RunningServer, running_server


def login_bytes(server: RunningServer, user_id: str, sig: str | None = None) -> bytes:
    body = {"user_id": user_id, "user_sig": server.sig(user_id) if sig is None else sig, "platform": "Linux",
            "device_id": "d-1"}  # fmt: skip
    return json.dumps(body).encode()


async def post(server: RunningServer, path: str, body: bytes, **headers: str) -> Any:
    """A POST with exactly these headers (aiohttp adds no Content-Type of its own)."""
    async with server.http.post(server.url + path, data=body, headers=headers,
                                skip_auto_headers=["Content-Type"]) as resp:  # fmt: skip
        return resp.status, await resp.json()


@pytest.mark.parametrize(
    ("authority", "name"),
    [("localhost:5140", "localhost"), ("127.0.0.1", "127.0.0.1"), ("[::1]:80", "::1"), ("::1", "::1"),
     ("Chat.Example.COM:443", "chat.example.com"), ("evil.example:x", "evil.example:x")],
)  # fmt: skip
def test_host_name(authority: str, name: str) -> None:
    assert host_name(authority) == name


# -- Content-Type ---------------------------------------------------------------------------------
@pytest.mark.asyncio
async def test_a_body_must_be_declared_json(server: RunningServer) -> None:
    body = login_bytes(server, "alice")
    # What a web page can post cross-site without asking first (no CORS preflight), and no type at all.
    refused = ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
               "application/octet-stream", "application/json; charset=latin-1", "application/jsonx")  # fmt: skip
    for content_type in refused:
        status, reply = await post(server, "/im/v1/login", body, **{"Content-Type": content_type})
        assert (status, reply["code"]) == (415, 90415), content_type
    status, reply = await post(server, "/im/v1/login", body)
    assert (status, reply["code"]) == (415, 90415)
    assert await server.instances("alice") == []
    # What real clients send (satori-python-client adds the charset).
    for content_type in ("application/json", "application/json; charset=utf-8", "Application/JSON;charset=UTF-8"):
        status, reply = await post(server, "/im/v1/login", body, **{"Content-Type": content_type})
        assert status == 200, (content_type, reply)


@pytest.mark.asyncio
async def test_requests_without_a_body_need_no_content_type(server: RunningServer) -> None:
    alice = await server.login("alice")
    assert (await server.post("/im/v1/discovery", method="GET")).status == 200
    status, _ = await post(server, "/im/v1/logout", b"", Authorization=f"Bearer {alice.token}")
    assert status == 200
    # Unknown paths and wrong methods keep their own answers.
    status, reply = await post(server, "/im/v1/nothing", b"x", **{"Content-Type": "text/plain"})
    assert (status, reply["code"]) == (404, 90404)


@pytest.mark.asyncio
async def test_a_blind_cross_site_post_cannot_lock_the_local_user_out(server: RunningServer) -> None:
    wrong = login_bytes(server, "alice", sig=server.sig("alice", key="0" * 64))
    for _ in range(10):  # a web page's <form> or fetch(..., {mode: "no-cors"}) posting text/plain
        status, reply = await post(server, "/im/v1/login", wrong, **{"Content-Type": "text/plain"})
        assert (status, reply["code"]) == (415, 90415)
    await server.login("alice")


# -- Origin -----------------------------------------------------------------------------------------
@pytest.mark.asyncio
@pytest.mark.parametrize(
    "origin", ["https://evil.example", "http://evil.example:5140", "null", "chrome-extension://abc",
               "http://192.168.1.20:8080", "http://127.0.0.1.evil.example", "file://", "\u00e9"],
)  # fmt: skip
async def test_a_web_page_origin_is_refused(server: RunningServer, origin: str) -> None:
    status, reply = await post(server, "/im/v1/login", login_bytes(server, "alice"),
                               **{"Content-Type": "application/json", "Origin": origin})  # fmt: skip
    assert (status, reply["code"]) == (403, 90403)
    assert await server.instances("alice") == []
    discovery = await server.post("/im/v1/discovery", method="GET", headers={"Origin": origin})
    assert (discovery.status, discovery.code) == (403, 90403)


@pytest.mark.asyncio
async def test_a_web_page_cannot_open_the_event_stream(server: RunningServer) -> None:
    alice = await server.login("alice")
    url = server.url.replace("http", "ws", 1) + "/v1/events"
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await server.http.ws_connect(url, origin="https://evil.example")
    assert refused.value.status == 403
    assert [s["online"] for s in await server.instances("alice")] == [False]
    async with server.http.ws_connect(url, origin="http://localhost:3000") as ws:  # a page on this machine
        await ws.send_json({"op": 3, "body": {"token": alice.token}})
        assert (await ws.receive_json(timeout=5))["op"] == 4


@pytest.mark.asyncio
async def test_loopback_and_configured_origins_are_accepted(tmp_path: Path) -> None:
    async with running_server(tmp_path, allowed_origins=("https://chat.example.com",)) as server:
        for origin in ("http://localhost:8080", "http://127.0.0.1:5140", "http://[::1]:3000", "http://app.localhost",
                       "https://chat.example.com", "HTTPS://Chat.Example.com/"):  # fmt: skip
            reply = await server.post("/im/v1/discovery", method="GET", headers={"Origin": origin})
            assert reply.status == 200, origin
        refused = await server.post("/im/v1/discovery", method="GET", headers={"Origin": "https://example.com"})
        assert refused.code == 90403


# -- Host (DNS rebinding) ---------------------------------------------------------------------------------
@pytest.mark.asyncio
async def test_a_foreign_host_name_is_refused(server: RunningServer) -> None:
    """DNS rebinding: a page at evil.example whose name now points at 127.0.0.1 sends Host: evil.example."""
    port = server.url.rsplit(":", 1)[1].encode()
    for host in (b"evil.example:" + port, b"evil.example", b"localhost.evil.example", b"127.0.0.1.nip.io",
                 b"\xff\xfe", b""):  # fmt: skip
        reply = await raw_request(server.url, b"GET", b"/im/v1/discovery", [], host=host)
        assert (reply.status, reply.code) == (403, 90403), host
        login = await raw_request(server.url, b"POST", b"/im/v1/login", [(b"Content-Type", b"application/json")],
                                  login_bytes(server, "alice"), host=host)  # fmt: skip
        assert login.status == 403, host
    assert await server.instances("alice") == []
    for host in (b"localhost:" + port, b"LOCALHOST", b"localhost.", b"app.localhost", b"127.0.0.1:" + port,
                 b"[::1]:" + port, b"10.1.2.3", b"[fe80::1]"):  # fmt: skip
        reply = await raw_request(server.url, b"GET", b"/im/v1/discovery", [], host=host)
        assert reply.status == 200, host


@pytest.mark.asyncio
async def test_configured_host_names_are_accepted(tmp_path: Path) -> None:
    async with running_server(tmp_path / "a", allowed_hosts=("chat.example.com",)) as server:
        for host, status in ((b"chat.example.com", 200), (b"CHAT.example.com:5140", 200), (b"localhost", 200),
                             (b"other.example.com", 403)):  # fmt: skip
            assert (await raw_request(server.url, b"GET", b"/im/v1/discovery", [], host=host)).status == status
    async with running_server(tmp_path / "b", allowed_hosts=("*",)) as server:
        assert (await raw_request(server.url, b"GET", b"/im/v1/discovery", [], host=b"any.example")).status == 200
