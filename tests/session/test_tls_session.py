"""The session over HTTPS and WSS to the real server: login, events, reconnect and renewal; a bad certificate
stops the session with its own message and no retry loop; plain http:// to another computer is refused before
anything is sent, until the profile opts in."""

from __future__ import annotations

import asyncio
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest

from im_desktop.protocol.client import Credentials, ProtocolClient
from im_desktop.protocol.errors import ErrorCode, ImError
from im_desktop.protocol.models import LoginStatus
from im_desktop.session.backoff import Backoff
from im_desktop.session.controller import SessionController
from im_desktop.session.tickets import BusinessServerTickets, SandboxTickets
from im_desktop.session.types import SdkLoginStatus
from tests.clocks import FakeClock
from tests.session.conftest import FAST, Env, session_env
from tests.session.signals import next_emission, reach_status, record, until
from tests.tls_support import Issued, Pki, Recorder, https, tls_controller

pytestmark = pytest.mark.asyncio

QUIET_WINDOW = 1.5  # seconds with no new attempt: the FAST backoff (0.05 s doubling to 0.4 s) would make 4 or more


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return Pki(tmp_path / "pki")


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> Recorder:
    """Every request httpx's real transport is asked to make, in any client: loopback ones go on to the real
    server, any other is recorded and fails before a socket is opened."""
    forward = httpx.AsyncHTTPTransport.handle_async_request
    seen = Recorder(forward)
    monkeypatch.setattr(httpx.AsyncHTTPTransport, "handle_async_request", seen.method())
    return seen


def _controller(env: Env, tmp_path: Path, pki: Pki, **kw: Any) -> SessionController:
    ctl = tls_controller(https(env.proxy.url), tmp_path / "client", ca_file=pki.ca_file, **kw)
    env.controllers.append(ctl)
    return ctl


async def _post_as(url: str, pki: Pki, user_id: str, text: str) -> None:
    client = ProtocolClient(url, ca_file=str(pki.ca_file))
    try:
        ticket = await client.demo_usersig("/im/v1/demo/usersig", user_id)
        token = (await client.login(user_id, ticket, "Web", "web", "Browser")).token
        await client.call(Credentials(token, "im-desktop", user_id), "message.create",
                          {"channel_id": "general", "content": text})  # fmt: skip
    finally:
        await client.aclose()


async def test_login_events_reconnect_and_renewal_over_https_and_wss(tmp_path: Path, pki: Pki) -> None:
    clock = FakeClock()
    issued = pki.issue("server")
    # The fake wall clock's jump must not look like a sleep to the wake detector: a reconnect that the test's end
    # cancels mid-handshake leaves httpcore's socket to the garbage collector (its start_tls closes on Exception
    # only), which filterwarnings=error turns into a failure.
    timing = replace(FAST, backoff=Backoff(initial=0.05, cap=0.4, jitter=0.1), wake_threshold=1e9)
    async with session_env(tmp_path, clock=clock, demo_ticket_lifetime=120, **issued.overrides()) as env:
        controller = _controller(env, tmp_path, pki, wall_clock=clock, timing=timing)
        await controller.login("alice", SandboxTickets())
        assert controller.current_login["status"] == LoginStatus.ONLINE
        url = https(env.server.url)

        def history() -> list[str]:
            return [m.content for m in controller.cache.history("general")] if controller.cache else []

        await _post_as(url, pki, "bob", "hello over wss")
        await until("the event", lambda: "hello over wss" in history(), controller.message_received)
        env.proxy.cut()  # reconnect: the new TLS connection verifies the same way
        await reach_status(controller, LoginStatus.RECONNECT)
        env.proxy.restore()
        await reach_status(controller, LoginStatus.ONLINE, timeout=5)
        await _post_as(url, pki, "bob", "after the reconnect")
        await until("the event", lambda: "after the reconnect" in history(), controller.message_received)
        updated = next_emission(controller.login_updated)
        clock.advance(100)  # inside the renewal margin: a renewal over HTTPS
        await asyncio.wait_for(updated, 5)
        assert controller.renewal.renewals == 1
        assert controller.login_requests == 1
        assert controller.current_login["status"] == LoginStatus.ONLINE


def _bad(pki: Pki, kind: str) -> Issued:
    if kind == "expired":
        return pki.issue("expired", expired=True)
    if kind == "wrong-host":
        return pki.issue("wrong-host", "chat.example.com")
    return Pki(pki.folder / "other-ca").issue("unknown-issuer")  # a CA the profile does not name


@pytest.mark.parametrize(
    ("kind", "code"),
    [("expired", ErrorCode.CERT_EXPIRED), ("wrong-host", ErrorCode.CERT_WRONG_HOST),
     ("unknown-issuer", ErrorCode.CERT_UNTRUSTED)],
)  # fmt: skip
async def test_a_bad_certificate_fails_the_login_with_its_own_message_once(tmp_path: Path, pki: Pki, kind: str,
                                                                         code: ErrorCode) -> None:  # fmt: skip
    async with session_env(tmp_path, **_bad(pki, kind).overrides()) as env:
        controller = _controller(env, tmp_path, pki)
        failed = record(controller.login_failed)
        with pytest.raises(ImError) as caught:
            await controller.login("alice", SandboxTickets())
        assert caught.value.code is code
        address = env.proxy.url.removeprefix("http://")
        assert failed == [(int(code), caught.value.message)] and address in caught.value.message
        assert controller.login_status is SdkLoginStatus.LOGOUT
        await asyncio.sleep(QUIET_WINDOW)  # a window in which nothing may happen: no retry of any kind
        assert env.proxy.connections == 1


async def test_a_certificate_gone_bad_stops_the_connection_loop(tmp_path: Path, pki: Pki) -> None:
    issued = pki.issue("server")
    async with session_env(tmp_path, **issued.overrides()) as env:
        controller = _controller(env, tmp_path, pki)
        await controller.login("alice", SandboxTickets())
        port = int(env.server.url.rsplit(":", 1)[1])
        failures = record(controller.connect_failed)
        stopped = next_emission(controller.login_status_changed)
        await env.stop_server()
        # The server comes back with a certificate from a CA the profile does not trust (a swapped certificate,
        # or someone in the middle): the reconnect must stop there and say so, not try again and again.
        other = Pki(tmp_path / "other-ca").issue("intruder")
        shutil.copyfile(other.cert, issued.cert)
        shutil.copyfile(other.key, issued.key)
        await env.start_server(port=port)
        assert (await asyncio.wait_for(stopped, 10)) == (int(SdkLoginStatus.LOGOUT),)
        attempts = env.proxy.connections
        assert failures[-1][0] == ErrorCode.CERT_UNTRUSTED
        await asyncio.sleep(QUIET_WINDOW)  # a window in which nothing may happen: the loop has ended
        assert env.proxy.connections == attempts
        assert [f for f in failures if f[0] == ErrorCode.CERT_UNTRUSTED] == [failures[-1]]
        assert controller.current_login["status"] == LoginStatus.OFFLINE


async def test_plain_http_to_another_computer_is_refused_before_anything_is_sent(tmp_path: Path,
                                                                               recorder: Recorder) -> None:  # fmt: skip
    refused = tls_controller("http://192.0.2.10:5140", tmp_path / "refused")
    try:
        with pytest.raises(ImError) as caught:
            await refused.login("alice", SandboxTickets())
        assert caught.value.code is ErrorCode.INSECURE_TRANSPORT
        assert recorder.requests == []  # refused before a connection was opened
    finally:
        await refused.aclose()
    allowed = tls_controller("http://192.0.2.10:5140", tmp_path / "allowed", allow_insecure=True)
    try:
        assert allowed.client.unencrypted
        with pytest.raises(ImError) as caught:
            await allowed.login("alice", SandboxTickets())
        assert caught.value.code is ErrorCode.NET_DISCONNECT  # the recorder failed it: nothing left this computer
        assert recorder.urls == ["http://192.0.2.10:5140/im/v1/discovery"]
    finally:
        await allowed.aclose()


async def test_a_password_never_goes_to_a_plain_ticket_server_elsewhere(tmp_path: Path, pki: Pki,
                                                                      recorder: Recorder) -> None:  # fmt: skip
    async with session_env(tmp_path, **pki.issue("server").overrides()) as env:
        controller = _controller(env, tmp_path, pki)
        with pytest.raises(ImError) as caught:
            await controller.login("alice", BusinessServerTickets("http://tickets.example.com/usersig", "secret"))
        assert caught.value.code is ErrorCode.INSECURE_TRANSPORT
        assert "tickets.example.com" in caught.value.message
        assert [u.split("/im/")[1] for u in recorder.urls] == ["v1/discovery"]  # the server, never the tickets
