"""Transport security in the protocol client: HTTPS and WSS to the real server, certificate errors by name, the
custom CA file, plain http:// to another computer refused before anything is sent, and no redirect followed."""

from __future__ import annotations

import asyncio
import os
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from im_desktop.local.address_rules import is_loopback_host, plaintext_remote
from im_desktop.protocol.client import Credentials, ProtocolClient
from im_desktop.protocol.errors import ErrorClass, ErrorCode, ImError, detail_of
from im_desktop.protocol.events import Ready, StreamEnd
from im_desktop.protocol.tls import MAX_CA_FILE_BYTES, certificate_error, read_ca_file
from im_desktop.protocol.transport import check_transport
from tests.server.support import RunningServer, running_server
from tests.tls_support import Issued, Pki, Recorder, https

DEMO = "/im/v1/demo/usersig"


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return Pki(tmp_path / "pki")


@asynccontextmanager
async def tls_server(tmp_path: Path, issued: Issued) -> AsyncIterator[tuple[RunningServer, str]]:
    async with running_server(tmp_path / "server", **issued.overrides()) as server:
        yield server, https(server.url)


async def _token(url: str, ca_file: Path, user_id: str = "alice") -> str:
    client = ProtocolClient(url, ca_file=str(ca_file))
    try:
        ticket = await client.demo_usersig(DEMO, user_id)
        return (await client.login(user_id, ticket, "Linux", "dev", "Test box")).token
    finally:
        await client.aclose()


async def _refused(client: ProtocolClient) -> ImError:
    with pytest.raises(ImError) as caught:
        await client.discover()
    await client.aclose()
    return caught.value


# -- HTTPS and WSS to the real server ---------------------------------------------------------------
@pytest.mark.asyncio
async def test_login_and_events_over_https_and_wss_with_the_profiles_ca(tmp_path: Path, pki: Pki) -> None:
    async with tls_server(tmp_path, pki.issue("server")) as (_, url):
        client = ProtocolClient(url, ca_file=str(pki.ca_file))
        found = await client.discover()
        assert found is not None and found.sandbox
        ticket = await client.demo_usersig(DEMO, "alice")
        result = await client.login("alice", ticket, "Linux", "dev", "Test box")
        ready: asyncio.Future[Ready] = asyncio.get_running_loop().create_future()
        events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        stream = client.events(result.token, None)
        assert stream._url.startswith("https://")  # the upgrade rides TLS: wss
        runner = asyncio.create_task(stream.run(ready.set_result, events.put_nowait))
        assert (await asyncio.wait_for(ready, 5)).logins[0]["user"]["id"] == "alice"
        bob = await _token(url, pki.ca_file, "bob")
        peer = ProtocolClient(url, ca_file=str(pki.ca_file))
        await peer.call(Credentials(bob, "im-desktop", "bob"), "message.create",
                        {"channel_id": "general", "content": "over TLS"})  # fmt: skip
        assert (await asyncio.wait_for(events.get(), 5))["message"]["content"] == "over TLS"
        await client.logout(result.token)
        end: StreamEnd = await asyncio.wait_for(runner, 5)
        assert end.ready and end.fatal is None
        await client.aclose()
        await peer.aclose()


@pytest.mark.asyncio
async def test_an_unknown_issuer_is_named_with_the_address_and_not_transient(tmp_path: Path, pki: Pki) -> None:
    async with tls_server(tmp_path, pki.issue("server")) as (_, url):
        error = await _refused(ProtocolClient(url))  # the system's trust store only: our CA is in no system
        address = url.removeprefix("https://")
        assert error.code is ErrorCode.CERT_UNTRUSTED
        assert detail_of(error.code, error.message) == address
        assert error.code.error_class is ErrorClass.STOP  # the connection loop stops on it, see tests/session


@pytest.mark.asyncio
async def test_the_websocket_verifies_like_every_request(tmp_path: Path, pki: Pki) -> None:
    # The event stream opens its socket through the same httpx client: a CA the client does not trust fails the
    # WebSocket with the certificate's own error, and the stream says it is final (no reconnecting).
    async with tls_server(tmp_path, pki.issue("server")) as (_, url):
        token = await _token(url, pki.ca_file)
        client = ProtocolClient(url)
        end = await asyncio.wait_for(client.events(token, None).run(lambda _: None, lambda _: None), 10)
        await client.aclose()
        assert end.fatal is not None and end.fatal.code is ErrorCode.CERT_UNTRUSTED
        assert not end.ready and not end.unreachable
        assert url.removeprefix("https://") in end.reason


@pytest.mark.asyncio
@pytest.mark.parametrize("host", ["chat.example.com", "localhost"])
async def test_a_certificate_for_another_host_is_a_wrong_host_error(tmp_path: Path, pki: Pki, host: str) -> None:
    # The certificate names only `host`; the address is 127.0.0.1 ("localhost" would resolve here, but the
    # certificate must name the address as it was given).
    async with tls_server(tmp_path, pki.issue("other", host)) as (_, url):
        error = await _refused(ProtocolClient(url, ca_file=str(pki.ca_file)))
        assert error.code is ErrorCode.CERT_WRONG_HOST
        assert detail_of(error.code, error.message) == url.removeprefix("https://")


@pytest.mark.asyncio
async def test_a_hostname_mismatch_by_name_is_a_wrong_host_error(tmp_path: Path, pki: Pki) -> None:
    async with tls_server(tmp_path, pki.issue("ip-only", "127.0.0.1")) as (_, url):
        by_name = url.replace("127.0.0.1", "localhost")
        error = await _refused(ProtocolClient(by_name, ca_file=str(pki.ca_file)))
        assert error.code is ErrorCode.CERT_WRONG_HOST
        assert "localhost:" in error.message


@pytest.mark.asyncio
async def test_an_expired_certificate_is_an_expiry_error(tmp_path: Path, pki: Pki) -> None:
    async with tls_server(tmp_path, pki.issue("old", expired=True)) as (_, url):
        error = await _refused(ProtocolClient(url, ca_file=str(pki.ca_file)))
        assert error.code is ErrorCode.CERT_EXPIRED
        assert detail_of(error.code, error.message) == url.removeprefix("https://")


def test_a_rarer_verification_failure_keeps_openssls_words() -> None:
    revoked = ssl.SSLCertVerificationError(1, "certificate verify failed: certificate revoked")
    revoked.verify_code, revoked.verify_message = 23, "certificate revoked"
    wrapped = ConnectionError("wrapper")
    wrapped.__cause__ = revoked
    error = certificate_error(wrapped, "https://chat.example.com:8443/v1/events")
    assert error is not None and error.code is ErrorCode.CERT_INVALID
    assert detail_of(error.code, error.message) == "chat.example.com:8443: certificate revoked"
    assert certificate_error(ConnectionRefusedError(), "https://x") is None


# -- the profile's CA file ----------------------------------------------------------------------------
@pytest.mark.asyncio
async def test_a_ca_file_that_cannot_be_used_refuses_before_any_request(tmp_path: Path) -> None:
    recorder = Recorder()
    client = ProtocolClient("https://127.0.0.1:9", ca_file=str(tmp_path / "missing.pem"),
                            transport=recorder.transport())  # fmt: skip
    error = await _refused(client)
    assert error.code is ErrorCode.CA_FILE_UNUSABLE and "missing.pem" in error.message
    assert recorder.requests == []


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "not a PEM certificate"),
        (b"hello", "not a PEM certificate"),
        (b"-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n", "no certificate OpenSSL can read"),
        (b"-----BEGIN CERTIFICATE-----" + b"A" * MAX_CA_FILE_BYTES, "larger than"),
    ],
    ids=["empty", "text", "bad-base64", "too-large"],
)
def test_a_ca_file_is_checked_bounded_and_must_be_pem(tmp_path: Path, content: bytes, reason: str) -> None:
    path = tmp_path / "ca.pem"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=reason):
        read_ca_file(str(path))


def test_a_ca_path_that_is_no_file_is_refused_without_blocking(tmp_path: Path, pki: Pki) -> None:
    with pytest.raises(ValueError, match="cannot be opened"):
        read_ca_file(str(tmp_path / "nope.pem"))
    with pytest.raises(ValueError, match="not a file"):
        read_ca_file(str(tmp_path))
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(ValueError, match="not a file"):
        read_ca_file(str(fifo))  # a blocking open or read would hang here (the test's timeout fails it)
    assert "BEGIN CERTIFICATE" in read_ca_file(str(pki.ca_file))


# -- plain http:// only to this computer ----------------------------------------------------------------
@pytest.mark.parametrize("host", ["127.0.0.1", "127.3.4.5", "localhost", "LOCALHOST.", "[::1]", "[::ffff:127.0.0.1]"])
def test_loopback_may_be_plain(host: str) -> None:
    assert is_loopback_host(host.strip("[]"))
    assert not plaintext_remote(f"http://{host}:5140")
    check_transport(f"ws://{host}:5140/v1/events", allow_insecure=False)


@pytest.mark.parametrize(
    "url",
    ["http://192.0.2.10:5140", "http://chat.example.com", "ws://chat.example.com/v1/events", "http://10.0.0.1",
     "http://localhost.example.com", "http://127.0.0.1.nip.io", "http://[2001:db8::1]:80", "HTTP://Chat.Example.com"],
)  # fmt: skip
def test_anything_else_needs_tls_unless_the_profile_allows_it(url: str) -> None:
    with pytest.raises(ImError) as caught:
        check_transport(url, allow_insecure=False)
    assert caught.value.code is ErrorCode.INSECURE_TRANSPORT
    check_transport(url, allow_insecure=True)
    scheme, rest = url.split(":", 1)
    check_transport(f"{scheme}s:{rest}", allow_insecure=False)  # https:// and wss:// go anywhere


@pytest.mark.asyncio
async def test_plain_http_to_another_computer_is_refused_before_any_connection() -> None:
    recorder = Recorder()
    client = ProtocolClient("http://192.0.2.10:5140", transport=recorder.transport())
    error = await _refused(client)
    assert error.code is ErrorCode.INSECURE_TRANSPORT and "192.0.2.10:5140" in error.message
    events = ProtocolClient("http://192.0.2.10:5140", transport=recorder.transport())
    end = await events.events("token", None).run(lambda _: None, lambda _: None)
    await events.aclose()
    assert end.fatal is not None and end.fatal.code is ErrorCode.INSECURE_TRANSPORT
    assert recorder.requests == []  # neither a request nor a WebSocket upgrade was attempted


@pytest.mark.asyncio
async def test_the_users_explicit_choice_lets_plain_http_through() -> None:
    recorder = Recorder()  # records, and fails the request as a refused connection: nothing leaves this computer
    client = ProtocolClient("http://192.0.2.10:5140", transport=recorder.transport(), allow_insecure=True)
    assert client.unencrypted
    error = await _refused(client)
    assert error.code is ErrorCode.NET_DISCONNECT
    assert recorder.urls == ["http://192.0.2.10:5140/im/v1/discovery"]


@pytest.mark.asyncio
async def test_a_password_is_never_sent_to_a_plain_ticket_server_on_another_computer() -> None:
    recorder = Recorder()
    client = ProtocolClient("https://chat.example.com", transport=recorder.transport())
    with pytest.raises(ImError) as caught:
        await client.fetch_ticket("http://tickets.example.com/usersig", "alice", "secret")
    await client.aclose()
    assert caught.value.code is ErrorCode.INSECURE_TRANSPORT and "tickets.example.com" in caught.value.message
    assert recorder.requests == []


# -- redirects ------------------------------------------------------------------------------------------
@asynccontextmanager
async def _site(app: web.Application, context: ssl.SSLContext | None) -> AsyncIterator[str]:
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context).start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"{'https' if context else 'http'}://{host}:{port}"
    finally:
        await runner.cleanup()


@pytest.mark.asyncio
async def test_a_redirect_from_https_to_http_is_refused_and_not_followed(pki: Pki) -> None:
    issued = pki.issue("redirector")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(issued.cert, issued.key)
    plain_hits: list[str] = []

    async def plain(request: web.Request) -> web.Response:
        plain_hits.append(request.path)
        return web.json_response({"token": "t", "session": {}, "login": {}})

    plain_app = web.Application()
    plain_app.router.add_route("*", "/{tail:.*}", plain)
    async with _site(plain_app, None) as plain_url:

        async def redirect(request: web.Request) -> web.Response:
            where = plain_url if request.path.endswith("/login") else "https://elsewhere.example"
            raise web.HTTPFound(where + request.path)

        tls_app = web.Application()
        tls_app.router.add_route("*", "/{tail:.*}", redirect)
        async with _site(tls_app, context) as tls_url:
            client = ProtocolClient(tls_url, ca_file=str(pki.ca_file))
            with pytest.raises(ImError) as caught:
                await client.login("alice", "ticket", "Linux", "dev", "box")
            assert caught.value.code is ErrorCode.INSECURE_TRANSPORT
            assert detail_of(caught.value.code, caught.value.message) == plain_url.removeprefix("http://")
            with pytest.raises(ImError) as caught:
                await client.renew("token", "ticket")  # https -> https elsewhere: not followed either
            assert caught.value.code is ErrorCode.INVALID_PARAMETERS and "HTTP 302" in caught.value.message
            await client.aclose()
    assert plain_hits == []  # the ticket never went to the plain address


@pytest.mark.asyncio
async def test_a_server_cannot_pass_off_its_error_as_a_certificate_problem() -> None:
    async def handler(request: web.Request) -> web.Response:
        return web.json_response({"code": int(ErrorCode.CERT_UNTRUSTED), "message": "trust me"}, status=400)

    app = web.Application()
    app.router.add_post("/im/v1/login", handler)
    async with _site(app, None) as url:
        client = ProtocolClient(url)
        with pytest.raises(ImError) as caught:
            await client.login("alice", "ticket", "Linux", "dev", "box")
        await client.aclose()
    assert caught.value.code is ErrorCode.INVALID_PARAMETERS
