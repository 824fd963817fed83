"""Proxies, against a real HTTP and SOCKS5 proxy on loopback (pproxy): a profile's own proxy and the environment's
carry the login and the event stream, nothing goes around them, and "direct" ignores the environment.

The server sits behind the FaultProxy, which counts every connection that reaches it: a count equal to the
connections the real proxy opened means that nothing dialled the server directly."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from im_desktop.local.address_rules import DIRECT, SYSTEM_PROXY
from im_desktop.local.credentials import CredentialStore
from im_desktop.protocol.errors import ErrorCode, ImError
from im_desktop.protocol.models import LoginStatus
from im_desktop.session.backoff import Backoff
from im_desktop.session.controller import SessionController
from im_desktop.session.tickets import SandboxTickets
from im_desktop.session.types import ServerProfile, Timing
from tests.session.conftest import FAST, Env, session_env
from tests.session.keyrings import MemoryKeyring
from tests.session.loopback_proxy import LoopbackProxy, loopback_proxy
from tests.session.signals import reach_status, until

pytestmark = pytest.mark.asyncio

# Long enough first delays that the old TCP probe (which dialled the server directly) had its chance to run.
_TIMING = Timing(**{f: getattr(FAST, f) for f in FAST.__dataclass_fields__ if f not in ("backoff", "probe_interval")},
                 backoff=Backoff(initial=1.0, cap=1.5, jitter=0.1), probe_interval=0.1)  # fmt: skip
_ENV_NAMES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy", "ws_proxy", "wss_proxy")


def _controller(env: Env, tmp_path: Path, proxy: str) -> SessionController:
    ctl = SessionController(
        ServerProfile("work", env.proxy.url, proxy), cache_dir=tmp_path / "cache",
        credentials=CredentialStore(MemoryKeyring()), platform="Linux", device_id="test-device",
        device_name="Test machine", timing=_TIMING,
    )  # fmt: skip
    env.controllers.append(ctl)
    return ctl


def _server_port(env: Env) -> int:
    return int(env.proxy.url.rsplit(":", 1)[1])


def _nothing_went_around(env: Env, proxy: LoopbackProxy) -> None:
    assert env.proxy.connections == proxy.connections_to(_server_port(env)), (
        f"the server saw {env.proxy.connections} connections, the proxy carried "
        f"{proxy.connections_to(_server_port(env))}: the rest dialled it directly"
    )


async def _stays_off_line(controller: SessionController, seconds: float) -> None:
    """A check that something does NOT happen: it watches for a fixed while."""
    online = asyncio.Event()
    controller.status_changed.connect(lambda status: online.set() if status == LoginStatus.ONLINE else None)
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(online.wait(), seconds)


def _clear_proxy_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in _ENV_NAMES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.delenv("REQUEST_METHOD", raising=False)  # urllib ignores HTTP_PROXY under CGI


async def _carried_then_cut(env: Env, controller: SessionController, proxy: LoopbackProxy) -> None:
    """Online through the proxy; the proxy gone, the stream goes with it and does not come back around it; the
    proxy back (same port), online again."""
    await controller.login("alice", SandboxTickets())
    await reach_status(controller, LoginStatus.ONLINE)
    assert proxy.connections_to(_server_port(env)) >= 1
    # Events arrive over the stream through the proxy.
    bob = await env.server.login("bob", platform="Web")
    await bob.ok("message.create", {"channel_id": "general", "content": "through the proxy"})
    await until("bob's message", lambda: controller.cache is not None and any(
        m.content == "through the proxy" for m in controller.cache.history("general")),
        controller.message_received, controller.conversations_changed)  # fmt: skip
    proxy.stop()  # the server stays up: only a stream carried by the proxy can drop now
    await reach_status(controller, LoginStatus.RECONNECT, timeout=5)
    await _stays_off_line(controller, 2.0)  # retries (and, before, the TCP probe) had their chance
    _nothing_went_around(env, proxy)
    await proxy.start()
    await reach_status(controller, LoginStatus.ONLINE, timeout=10)
    assert controller.login_requests == 1  # reconnected with the same session, through the proxy again
    _nothing_went_around(env, proxy)


@pytest.mark.parametrize("scheme", ["http", "socks5"])
async def test_a_profiles_proxy_carries_the_login_and_the_event_stream(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, scheme: str
) -> None:
    _clear_proxy_environment(monkeypatch)
    async with session_env(tmp_path) as env, loopback_proxy(scheme, tmp_path) as proxy:
        controller = _controller(env, tmp_path, proxy.url)
        await _carried_then_cut(env, controller, proxy)


async def test_the_environments_proxy_carries_the_event_stream_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _clear_proxy_environment(monkeypatch)
    async with session_env(tmp_path) as env, loopback_proxy("http", tmp_path) as proxy:
        # Both spellings: urllib reads either, the lower-case one first.
        monkeypatch.setenv("http_proxy", proxy.url)
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        controller = _controller(env, tmp_path, SYSTEM_PROXY)
        assert controller.client.proxied
        await _carried_then_cut(env, controller, proxy)


async def test_direct_ignores_the_environments_proxy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _clear_proxy_environment(monkeypatch)
    async with session_env(tmp_path) as env, loopback_proxy("http", tmp_path) as proxy:
        monkeypatch.setenv("http_proxy", proxy.url)
        controller = _controller(env, tmp_path, DIRECT)
        await controller.login("alice", SandboxTickets())
        await reach_status(controller, LoginStatus.ONLINE)
        assert proxy.connections_to(_server_port(env)) == 0
        assert env.proxy.connections >= 1


@pytest.mark.parametrize("scheme", ["http", "socks5"])
async def test_with_its_proxy_down_a_login_fails_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, scheme: str
) -> None:
    _clear_proxy_environment(monkeypatch)
    async with session_env(tmp_path) as env, loopback_proxy(scheme, tmp_path) as proxy:
        proxy.stop()  # its port is known, nothing listens there any more
        controller = _controller(env, tmp_path, proxy.url)
        with pytest.raises(ImError) as failed:
            await controller.login("alice", SandboxTickets())
        assert failed.value.code == ErrorCode.NET_DISCONNECT
        assert f"through the proxy {proxy.url}" in failed.value.message
        assert env.proxy.connections == 0  # the server, which is up, was never reached around the proxy
