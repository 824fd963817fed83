"""What a server profile's addresses may say: which never leave this computer, and a proxy setting's one spelling."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

__all__ = ["DIRECT", "PROXY_SCHEMES", "SYSTEM_PROXY", "check_proxy", "is_loopback_host", "plaintext_remote"]

# The system's proxies: HTTP_PROXY, HTTPS_PROXY, ALL_PROXY and NO_PROXY; on Windows and macOS also their proxy
# settings (urllib reads the registry and System Configuration there, and httpx asks urllib).
SYSTEM_PROXY = ""
DIRECT = "direct"  # no proxy at all, whatever the environment says: the built-in sandbox on this computer
PROXY_SCHEMES = ("http", "socks5", "socks5h")  # what httpx speaks (socks5h: the proxy resolves the name)
_MAX_CHARS = 300
_PLAIN = ("http", "ws")  # what crosses a network in clear text


def check_proxy(value: str) -> str:
    """The setting in its one spelling (`scheme://host:port`, SYSTEM_PROXY or DIRECT); ValueError with a
    sentence a person can act on for anything else. A user name or password is refused: settings hold no
    secret (put an authenticating proxy in HTTPS_PROXY/ALL_PROXY instead)."""
    text = value.strip()
    if text in (SYSTEM_PROXY, DIRECT):
        return text
    if len(text) > _MAX_CHARS or not text.isascii() or not text.isprintable():
        raise ValueError("must look like http://host:port or socks5://host:port")
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    if scheme not in PROXY_SCHEMES or not parts.hostname:
        raise ValueError("must look like http://host:port or socks5://host:port")
    if parts.username is not None or parts.password is not None:
        raise ValueError("cannot hold a user name or password (settings keep no secrets)")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError("is a host and a port, nothing after them")
    try:
        port = parts.port
    except ValueError:  # out of range or not a number
        port = None
    if not port:
        raise ValueError("needs a port (1 to 65535), as in http://host:3128")
    host = parts.hostname
    try:
        if ipaddress.ip_address(host).version == 6:
            host = f"[{host}]"
    except ValueError:
        pass  # a name, not an address
    return f"{scheme}://{host}:{port}"


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
