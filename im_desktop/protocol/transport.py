"""Which addresses may be reached without encryption: this computer (loopback) only, unless a profile opts in."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from im_desktop.protocol.errors import ErrorCode, ImError

__all__ = ["address_of", "check_transport", "is_loopback_host", "plaintext_remote"]

_PLAIN = ("http", "ws")


def is_loopback_host(host: str) -> bool:
    """127.0.0.0/8, ::1 and "localhost": what never leaves this computer (browsers' one safe plain origin)."""
    name = host.strip("[]").rstrip(".").lower()
    if name == "localhost":
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False  # any other name may resolve anywhere, whatever it looks like
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def plaintext_remote(url: str) -> bool:
    """Whether `url` is plain http:// or ws:// to another computer: what reads tickets and tokens on the way."""
    try:
        parts = urlsplit(url.strip())
        host = parts.hostname
    except ValueError:
        return False  # not an address at all: httpx refuses it on its own
    return parts.scheme.lower() in _PLAIN and host is not None and not is_loopback_host(host)


def address_of(url: str) -> str:
    """host[:port] of `url` for a message: never a user name or password that the address might carry."""
    try:
        parts = urlsplit(url)
        host, port = parts.hostname or "", parts.port
    except ValueError:
        return url[:100]
    if ":" in host:
        host = f"[{host}]"
    return f"{host}:{port}" if port else host


def check_transport(url: str, *, allow_insecure: bool) -> None:
    """Raise ImError(INSECURE_TRANSPORT) before anything is sent to `url` in clear text over a network, unless
    the profile explicitly allows it."""
    if not allow_insecure and plaintext_remote(url):
        raise ImError.with_detail(ErrorCode.INSECURE_TRANSPORT, address_of(url))
