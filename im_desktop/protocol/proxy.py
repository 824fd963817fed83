"""A server profile's proxy setting put to use: whether the system names a proxy (see local.address_rules)."""

from __future__ import annotations

from urllib.request import getproxies

__all__ = ["system_proxies"]


def system_proxies() -> bool:
    """Whether the system names any proxy for HTTP (what httpx would use for SYSTEM_PROXY)."""
    found = getproxies()
    return any(found.get(key) for key in ("http", "https", "all"))
