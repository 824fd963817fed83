"""Which addresses may be reached without encryption: this computer (loopback) only, unless a profile opts in."""

from __future__ import annotations

from urllib.parse import urlsplit

from im_desktop.local.address_rules import plaintext_remote
from im_desktop.protocol.errors import ErrorCode, ImError

__all__ = ["address_of", "check_transport"]


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
