"""A server profile's proxy setting: the system's proxies, none, or an HTTP or SOCKS5 proxy of its own."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit
from urllib.request import getproxies

__all__ = ["DIRECT", "PROXY_SCHEMES", "SYSTEM_PROXY", "check_proxy", "system_proxies"]

# The system's proxies: HTTP_PROXY, HTTPS_PROXY, ALL_PROXY and NO_PROXY; on Windows and macOS also their proxy
# settings (urllib reads the registry and System Configuration there, and httpx asks urllib).
SYSTEM_PROXY = ""
DIRECT = "direct"  # no proxy at all, whatever the environment says: the built-in sandbox on this computer
PROXY_SCHEMES = ("http", "socks5", "socks5h")  # what httpx speaks (socks5h: the proxy resolves the name)
_MAX_CHARS = 300


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


def system_proxies() -> bool:
    """Whether the system names any proxy for HTTP (what httpx would use for SYSTEM_PROXY)."""
    found = getproxies()
    return any(found.get(key) for key in ("http", "https", "all"))
