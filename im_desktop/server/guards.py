"""What a web page must not do to the server: reach it by a foreign host name, call it from a browser, post forms."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from aiohttp import web
from aiohttp.typedefs import Middleware

from im_desktop.protocol.errors import ErrorCode, ImError
from im_desktop.server.config import ServerConfig
from im_desktop.server.http import Handler

__all__ = ["host_name", "request_guard"]

# Methods whose body the handlers read as JSON. A browser may send a body cross-site without asking first
# (no CORS preflight) only as text/plain, a form or multipart: requiring application/json shuts all three out.
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_UTF8 = frozenset({"utf-8", "utf8"})


def host_name(authority: str) -> str:
    """The host part of a Host header or URL authority, lower-case, without port or IPv6 brackets."""
    authority = authority.strip().lower()
    if authority.startswith("["):
        return authority[1:].partition("]")[0]
    name, colon, port = authority.rpartition(":")
    # One colon and digits after it is a port; more colons without brackets is a bare IPv6 address.
    return name if colon and ":" not in name and port.isdigit() else authority


def _ip(name: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(name)
    except ValueError:
        return None


def _is_loopback_name(name: str) -> bool:
    # Browsers resolve localhost and *.localhost to loopback themselves (RFC 6761), never through DNS,
    # so no page can rebind those names to itself.
    name = name.removesuffix(".")
    return name == "localhost" or name.endswith(".localhost")


class _Rules:
    """The names and origins this server answers, from its configuration."""

    def __init__(self, config: ServerConfig) -> None:
        self.any_host = "*" in config.allowed_hosts
        self.hosts = frozenset(host_name(h) for h in config.allowed_hosts)
        if _ip(host_name(config.host)) is None and config.host:
            self.hosts |= {host_name(config.host)}  # bound by name: that name is ours
        self.origins = frozenset(o.strip().lower().rstrip("/") for o in config.allowed_origins)

    def host_allowed(self, host: str | None) -> bool:
        if host is None or self.any_host:
            return True  # no Host header: HTTP/1.0 or a raw client; every browser sends one
        name = host_name(host)
        # A literal address cannot be rebound by DNS; a name can, unless it is loopback's or configured.
        return _ip(name) is not None or _is_loopback_name(name) or name in self.hosts

    def origin_allowed(self, origin: str | None) -> bool:
        if origin is None:
            return True  # not a browser (browsers send Origin on every POST and WebSocket upgrade)
        origin = origin.strip().lower()
        if origin.rstrip("/") in self.origins:
            return True
        try:
            parts = urlsplit(origin)
            name = host_name(parts.netloc)
        except ValueError:
            return False
        if parts.scheme not in ("http", "https") or not name:
            return False  # "null" (a file, a sandboxed frame), extensions, anything odd
        address = _ip(name)
        return _is_loopback_name(name) if address is None else address.is_loopback


def _check_content_type(request: web.Request) -> None:
    if request.content_type != "application/json":  # aiohttp parses and lower-cases it; absent = octet-stream
        raise ImError(ErrorCode.UNSUPPORTED_MEDIA_TYPE)
    charset = request.charset
    if charset is not None and charset.lower() not in _UTF8:
        raise ImError(ErrorCode.UNSUPPORTED_MEDIA_TYPE, "Send the request body as JSON in UTF-8.")


def request_guard(config: ServerConfig) -> Middleware:
    """Middleware: 90403 for a foreign Host or a browser Origin, 90415 for a body that is not declared JSON."""
    rules = _Rules(config)

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not rules.host_allowed(request.headers.get("Host")):
            raise ImError(ErrorCode.FORBIDDEN_ORIGIN, "This server does not answer to that host name.")
        if not rules.origin_allowed(request.headers.get("Origin")):
            raise ImError(ErrorCode.FORBIDDEN_ORIGIN)
        # Unknown paths and wrong methods keep their 404 and 405; an empty body is read as {} and says nothing.
        if request.body_exists and request.method in _BODY_METHODS and request.match_info.http_exception is None:
            _check_content_type(request)
        return await handler(request)

    return guard
