"""TLS for tests: a CA and certificates made at test time (trustme), and attempts recorded before any traffic."""

from __future__ import annotations

import datetime
import ipaddress
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import trustme

from im_desktop.local.credentials import CredentialStore
from im_desktop.session.backoff import Backoff
from im_desktop.session.controller import SessionController
from im_desktop.session.types import ServerProfile, Timing
from tests.session.conftest import FAST
from tests.session.keyrings import MemoryKeyring

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")
_DAY = datetime.timedelta(days=1)


@dataclass(frozen=True)
class Issued:
    """A server's certificate chain and key as PEM files, for --tls-cert/--tls-key or ServerConfig."""

    cert: Path
    key: Path

    def overrides(self) -> dict[str, Any]:
        """ServerConfig fields: running_server(..., **issued.overrides()) serves HTTPS and WSS."""
        return {"tls_cert": self.cert, "tls_key": self.key}


class Pki:
    """One CA of our own (no system trusts it) with its PEM file, and server certificates it issues."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.ca = trustme.CA()
        self.ca_file = folder / "ca.pem"
        self.ca.cert_pem.write_to_path(str(self.ca_file))

    def issue(self, name: str, *hosts: str, expired: bool = False) -> Issued:
        """A certificate for `hosts` (loopback by default); `expired` ended yesterday."""
        now = datetime.datetime.now(datetime.UTC)
        names = hosts or LOOPBACK_NAMES
        if expired:
            leaf = self.ca.issue_cert(*names, not_before=now - 10 * _DAY, not_after=now - _DAY)
        else:
            leaf = self.ca.issue_cert(*names)
        cert, key = self.folder / f"{name}.crt", self.folder / f"{name}.key"
        cert.write_bytes(b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
        leaf.private_key_pem.write_to_path(str(key))
        key.chmod(0o600)
        return Issued(cert, key)


def https(url: str) -> str:
    """The same address over TLS (RunningServer and FaultProxy name theirs http://)."""
    assert url.startswith("http://"), url
    return "https://" + url.removeprefix("http://")


def is_loopback(url: str) -> bool:
    host = urlsplit(str(url)).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Recorder:
    """Stands in for httpx's network transport: records every request that reaches it. A request to another
    computer is never sent (it fails as a refused connection would); one to loopback goes on when `forward` is
    given (the real transport's method), so a login to the real server still works."""

    def __init__(self, forward: Callable[[Any, httpx.Request], Awaitable[httpx.Response]] | None = None) -> None:
        self.requests: list[httpx.Request] = []
        self._forward = forward

    @property
    def urls(self) -> list[str]:
        return [str(r.url) for r in self.requests]

    async def handle(self, transport: Any, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self._forward is not None and is_loopback(str(request.url)):
            return await self._forward(transport, request)
        raise httpx.ConnectError("recorded, not sent (tests never leave this computer)", request=request)

    def method(self) -> Callable[[Any, httpx.Request], Awaitable[httpx.Response]]:
        """A stand-in for httpx.AsyncHTTPTransport.handle_async_request (monkeypatch.setattr on the class)."""

        async def handle_async_request(transport: Any, request: httpx.Request) -> httpx.Response:
            return await self.handle(transport, request)

        return handle_async_request

    def transport(self) -> httpx.AsyncBaseTransport:
        """A transport of its own, for ProtocolClient(..., transport=...)."""
        recorder = self

        class _Recording(httpx.AsyncBaseTransport):
            async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
                return await recorder.handle(self, request)

        return _Recording()


def tls_controller(url: str, tmp_path: Path, *, name: str = "tls", ca_file: Path | None = None,
                   allow_insecure: bool = False, timing: Timing | None = None,
                   **kw: Any) -> SessionController:  # fmt: skip
    """As tests.session.conftest.make_controller, with the profile's transport-security settings."""
    timing = timing or Timing(**{f: getattr(FAST, f) for f in FAST.__dataclass_fields__ if f != "backoff"},
                              backoff=Backoff(initial=0.05, cap=0.4, jitter=0.1))  # fmt: skip
    profile = ServerProfile(name, url, allow_insecure=allow_insecure, ca_file=str(ca_file or ""))
    return SessionController(profile, cache_dir=tmp_path / "cache", credentials=CredentialStore(MemoryKeyring()),
                             platform="Linux", device_id="tls-device", device_name="TLS box", timing=timing,
                             **kw)  # fmt: skip
