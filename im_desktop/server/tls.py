"""HTTPS and WSS for the server itself: the certificate and key files, checked at start, and failed handshakes."""

from __future__ import annotations

import asyncio
import ipaddress
import ssl
from collections.abc import Callable
from pathlib import Path

from im_desktop.local.private_files import read_regular_file
from im_desktop.server.config import StartupError

__all__ = ["HandshakeWatch", "is_loopback_host", "server_context", "tls_context"]

MAX_PEM_BYTES = 1024 * 1024  # a certificate chain or a key is a few KiB; more is not one


def is_loopback_host(host: str) -> bool:
    """Whether listening on `host` keeps the server on this computer (127.0.0.0/8, ::1, localhost)."""
    name = host.strip("[]").rstrip(".").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False  # a name (or "" and 0.0.0.0, which mean every interface)


def _read_pem(path: Path, what: str, marker: str) -> None:
    """Refuse, with a sentence naming the file, what is not a readable, bounded PEM file holding `marker`."""
    try:
        data = read_regular_file(path, MAX_PEM_BYTES)
    except OSError as exc:
        raise StartupError(f"cannot read the TLS {what} {path}: {exc.strerror or exc}") from None
    except ValueError as exc:  # not a regular file
        raise StartupError(f"the TLS {what} {path} {exc}") from None
    if len(data) > MAX_PEM_BYTES:
        raise StartupError(f"the TLS {what} {path} is larger than {MAX_PEM_BYTES // 1024} KiB; it is not one")
    if marker.encode() not in data:
        raise StartupError(f"the TLS {what} {path} is not in PEM form (no '-----BEGIN {marker}')")


def server_context(cert: Path, key: Path) -> ssl.SSLContext:
    """The server's TLS context from a PEM certificate chain and its PEM private key (unencrypted: the server
    starts unattended, so keep the key readable by its user only). StartupError for anything unusable."""
    _read_pem(cert, "certificate", "CERTIFICATE")
    _read_pem(key, "key", "PRIVATE KEY")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    asked: list[bool] = []

    def no_passphrase() -> bytes:
        asked.append(True)  # never prompt on a terminal: an encrypted key is refused instead
        return b""

    try:
        context.load_cert_chain(cert, key, password=no_passphrase)
    except ssl.SSLError as exc:
        if asked:
            raise StartupError(f"the TLS key {key} is encrypted with a passphrase; give the server an unencrypted "
                               "one, readable by its user only") from None  # fmt: skip
        if exc.reason == "KEY_VALUES_MISMATCH":
            raise StartupError(f"the TLS key {key} does not belong to the certificate {cert}") from None
        raise StartupError(f"the TLS certificate {cert} or key {key} cannot be used ({exc.reason or exc})") from None
    except OSError as exc:  # gone or unreadable between the check and the load
        raise StartupError(f"cannot read the TLS certificate {cert} or key {key}: {exc.strerror or exc}") from None
    return context


def tls_context(cert: Path | None, key: Path | None) -> ssl.SSLContext | None:
    """The context for a certificate and key given together, None for neither (plain HTTP); StartupError else."""
    if cert is None and key is None:
        return None
    if cert is None or key is None:
        raise StartupError("--tls-cert and --tls-key go together: give both, or neither for plain HTTP")
    return server_context(cert, key)


class HandshakeWatch(asyncio.Protocol):
    """Stands in for a TLS connection's protocol until its handshake completes, then hands the connection over.
    asyncio tells a protocol nothing when a handshake fails (no connection_made, no connection_lost), so whatever
    counted the connection when it was accepted would count it for ever: `abandoned` is called instead once the
    handshake has had `timeout` seconds (asyncio's ssl_handshake_timeout has closed the socket by then)."""

    def __init__(self, inner: asyncio.Protocol, abandoned: Callable[[], None], timeout: float) -> None:
        self._inner = inner
        self._abandoned: Callable[[], None] | None = abandoned
        self._timer = asyncio.get_running_loop().call_later(timeout, self._give_up)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._timer.cancel()
        self._abandoned = None
        transport.set_protocol(self._inner)  # from now on the real protocol gets everything, as without TLS
        self._inner.connection_made(transport)

    def _give_up(self) -> None:
        abandoned, self._abandoned = self._abandoned, None
        if abandoned is not None:
            abandoned()
