"""HTTP client for this project's login extension and for Satori v1 resources, on any Satori server."""

from __future__ import annotations

import json
import logging
import zlib
from collections.abc import AsyncGenerator, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx

from im_desktop.local.address_rules import DIRECT, SYSTEM_PROXY, check_proxy, plaintext_remote
from im_desktop.protocol.errors import LOCAL_CODES, ErrorCode, ImError
from im_desktop.protocol.events import EventStream
from im_desktop.protocol.proxy import system_proxies
from im_desktop.protocol.tls import certificate_error, client_context, read_ca_file
from im_desktop.protocol.transport import address_of, check_transport

__all__ = ["Credentials", "Discovery", "LoginResult", "ProtocolClient"]

log = logging.getLogger(__name__)

_LOGIN_PREFIX = "/im/v1"
MAX_REPLY_BYTES = 8 * 1024 * 1024  # a page of 100 messages is far below; anything bigger is broken or hostile


@dataclass(frozen=True, slots=True)
class Discovery:
    """What this project's server says about itself; a plain Satori server has none."""

    sdkappid: int
    sandbox: bool
    platform: str
    demo_usersig: str | None
    heartbeat_interval: float


@dataclass(frozen=True, slots=True)
class Credentials:
    """What authenticates Satori calls: a session token (ours) or a static token (third-party)."""

    token: str | None = field(repr=False)
    platform: str
    user_id: str


@dataclass(frozen=True, slots=True)
class LoginResult:
    token: str = field(repr=False)
    session: dict[str, Any]
    login: dict[str, Any]


def _parse_json(data: bytes) -> Any:
    """JSON from outside: a ValueError for anything that is not (deep nesting too, which json raises as
    RecursionError)."""
    try:
        return json.loads(data)
    except RecursionError:
        raise ValueError("nested too deeply") from None


def _error_from(status: int, data: bytes) -> ImError:
    """Our server sends `{code, name, message}`; third-party servers send plain text (kept out of logs)."""
    try:
        body = _parse_json(data)
    except ValueError:
        body = None
    code = body.get("code") if isinstance(body, dict) else None
    if isinstance(code, int) and not isinstance(code, bool) and code not in LOCAL_CODES:
        message = body.get("message") if isinstance(body, dict) else None
        try:
            return ImError(ErrorCode(code), message[:500] if isinstance(message, str) and message else None)
        except ValueError:
            pass  # a code we do not know: fall back to the HTTP status
    if status in (401, 403):
        return ImError(ErrorCode.AUTH_REJECTED, f"The server refused the credentials (HTTP {status}).")
    if status == 404:
        return ImError(ErrorCode.NOT_FOUND, "The server does not offer this (HTTP 404).")
    if status == 429 or status >= 500:
        return ImError(ErrorCode.INTERNAL_ERROR, f"The server is having trouble (HTTP {status}); retrying.")
    return ImError(ErrorCode.INVALID_PARAMETERS, f"The server rejected the request (HTTP {status}).")


def _redirect_error(request_url: str, response: httpx.Response) -> ImError:
    """No redirect is followed (the client is built with follow_redirects=False), so a 3xx is an error: one
    that would leave https, or go to another computer in clear text, says so."""
    location = response.headers.get("location", "")
    try:
        target = str(httpx.URL(request_url).join(location)) if location else ""
    except (httpx.InvalidURL, ValueError):
        target = ""
    if target and ((request_url.startswith("https://") and target.startswith("http://")) or plaintext_remote(target)):
        return ImError.with_detail(ErrorCode.INSECURE_TRANSPORT, address_of(target))  # where it wanted us to go
    return ImError(ErrorCode.INVALID_PARAMETERS,
                   f"The server answered with a redirect (HTTP {response.status_code}), which is not followed; "
                   "check the server address.")  # fmt: skip


def _bad_reply(what: str) -> ImError:
    return ImError(ErrorCode.INVALID_REPLY, f"The server's {what} could not be understood.")


def _int(value: object, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise _bad_reply(what)
    return value


def _too_large() -> ImError:
    return ImError(ErrorCode.INVALID_REPLY, "The server's reply is too large.")


def _broken_compression() -> ImError:
    return ImError(ErrorCode.INVALID_REPLY, "The server's reply could not be unpacked (its compression is broken).")


# Content-Encoding -> zlib's wbits. Decoded here, not by httpx: its decoders inflate a whole network chunk at
# once, and 64 KiB of gzip become 64 MiB before any size check could look at them.
_ENCODINGS = {"gzip": zlib.MAX_WBITS | 16, "x-gzip": zlib.MAX_WBITS | 16, "deflate": zlib.MAX_WBITS}
_ACCEPT_ENCODING = "gzip, deflate"  # not br or zstd, which httpx offers when their packages happen to be installed


_PIECE = 1 << 20  # inflated bytes per zlib call: the size check looks between pieces


class _Inflater:
    """One reply's decompression, a piece of at most _PIECE bytes at a time."""

    def __init__(self, encoding: str) -> None:
        self._raw_fallback = encoding == "deflate"  # "deflate" is zlib-wrapped by the RFC, raw in practice too
        self._z = zlib.decompressobj(_ENCODINGS[encoding])

    def pieces(self, data: bytes) -> Iterator[bytes]:
        """`data` inflated, piece by piece: the caller stops as soon as it has seen too much."""
        try:
            while True:
                piece = self._step(data)
                yield piece
                if len(piece) < _PIECE:  # a short piece: all input used, nothing held back
                    return
                data = self._z.unconsumed_tail  # maybe empty: zlib may still hold output for the full piece
        except zlib.error:
            raise _broken_compression() from None

    def _step(self, data: bytes) -> bytes:
        first, self._raw_fallback = self._raw_fallback, False  # the first bytes tell which deflate it is
        try:
            return self._z.decompress(data, _PIECE)
        except zlib.error:
            if not first:
                raise
            self._z = zlib.decompressobj(-zlib.MAX_WBITS)
            return self._z.decompress(data, _PIECE)


async def _read_bounded(response: httpx.Response) -> bytes:
    """The body, decompressed, refused past MAX_REPLY_BYTES before it is all in memory (a gzip bomb too)."""
    declared = response.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > MAX_REPLY_BYTES:
        raise _too_large()
    encoding = response.headers.get("content-encoding", "").strip().lower()
    if encoding not in ("", "identity", *_ENCODINGS):
        raise ImError(ErrorCode.INVALID_REPLY, "The server's reply is compressed in a way this app cannot read.")
    inflater = _Inflater(encoding) if encoding in _ENCODINGS else None
    chunks: list[bytes] = []
    size = 0
    body = response.aiter_raw()
    try:
        async for raw in body:
            for data in (raw,) if inflater is None else inflater.pieces(raw):
                size += len(data)
                if size > MAX_REPLY_BYTES:
                    raise _too_large()
                chunks.append(data)
    finally:
        # Left early: the connection is closed first, so httpx's half-read generators have nothing left to await
        # when they are closed. Left to the garbage collector they would await anyway (qasync sets no asyncgen
        # hooks) and die with "async generator ignored GeneratorExit".
        try:
            await response.aclose()
        finally:
            if isinstance(body, AsyncGenerator):
                await body.aclose()
    return b"".join(chunks)


class ProtocolClient:
    """One server, one connection pool. `reset()` drops pooled sockets after a wake or network change.

    Transport security is decided here, once for every request and the event stream, before anything is
    sent: plain http:// goes to this computer only, unless `allow_insecure` (the profile's explicit choice);
    certificates are checked against the system's store plus `ca_file` (a PEM file) when one is named."""

    def __init__(
        self,
        base_url: str,
        *,
        proxy: str = SYSTEM_PROXY,
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
        allow_insecure: bool = False,
        ca_file: str | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.proxy = check_proxy(proxy)  # SYSTEM_PROXY, DIRECT or scheme://host:port (ValueError otherwise)
        self.allow_insecure = allow_insecure
        self._timeout = httpx.Timeout(timeout, connect=min(timeout, 5.0))
        self._transport = transport
        # A CA file that cannot be used refuses every request (rather than quietly trusting less or more);
        # it is not raised here, so the app still starts and says why at the first login.
        self._refusal: ImError | None = None
        ca_pem = None
        if ca_file:
            try:
                ca_pem = read_ca_file(ca_file)
            except ValueError as exc:
                self._refusal = ImError.with_detail(ErrorCode.CA_FILE_UNUSABLE, f"{ca_file[:300]} {exc}")
        self._ssl = client_context(ca_pem)  # one for the client's life: loading the store costs ~20 ms
        self._http = self._new_http()

    def _new_http(self) -> httpx.AsyncClient:
        limits = httpx.Limits(max_connections=8, max_keepalive_connections=4, keepalive_expiry=30.0)
        # A proxy of the profile's own is used for everything (the environment's are then ignored); otherwise
        # httpx reads the system's, unless told to go direct.
        own = self.proxy if self.proxy not in (SYSTEM_PROXY, DIRECT) else None
        # follow_redirects=False (httpx's default, stated so it stays): nothing is sent where the user did not
        # point, and an https server cannot send us on to http://.
        return httpx.AsyncClient(timeout=self._timeout, limits=limits, transport=self._transport, proxy=own,
                                 trust_env=self.proxy != DIRECT, verify=self._ssl,
                                 follow_redirects=False)  # fmt: skip

    @property
    def unencrypted(self) -> bool:
        """Whether this client talks to another computer in clear text (only ever with `allow_insecure`)."""
        return self.allow_insecure and plaintext_remote(self.base_url)

    def _gate(self, url: str) -> None:
        """Raise the ImError that forbids contacting `url`, before any connection is opened."""
        if self._refusal is not None:
            raise ImError(self._refusal.code, self._refusal.message)
        check_transport(url, allow_insecure=self.allow_insecure)

    @property
    def proxied(self) -> bool:
        """Whether requests may go through a proxy: then nothing may dial the server directly (a probe would
        leak its address past a SOCKS proxy, or wait on a firewall that allows the proxy only)."""
        return self.proxy != DIRECT and (self.proxy != SYSTEM_PROXY or system_proxies())

    async def use_proxy(self, proxy: str) -> None:
        """From the next connection on, go through `proxy` (ValueError if it is not one); open ones stay."""
        self.proxy = check_proxy(proxy)
        await self.reset()

    async def reset(self) -> None:
        """Forget every pooled connection; the next request dials afresh."""
        old, self._http = self._http, self._new_http()
        await old.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _fetch(self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None) -> bytes:
        """The reply's body (bounded, decompressed), or an ImError for a failed request or an HTTP error."""
        url = path if path.startswith(("http://", "https://")) else self.base_url + path
        self._gate(url)
        headers = {"Accept-Encoding": _ACCEPT_ENCODING, **(headers or {})}
        if body is not None:
            # koa/express body parsers read a body only when it is declared JSON; without the header they
            # see none and store "undefined". json.dumps escapes non-ASCII, so the bytes are valid UTF-8.
            headers["Content-Type"] = "application/json"
        content = None if body is None else json.dumps(body).encode()
        try:
            async with self._http.stream(method, url, headers=headers, content=content) as response:
                status, data = response.status_code, await _read_bounded(response)
        except httpx.TimeoutException:
            raise ImError(ErrorCode.NET_TIMEOUT, "The server did not answer in time.") from None
        except httpx.DecodingError:  # not expected (the body is decoded here), but it is the same failure
            raise _broken_compression() from None
        except httpx.ProxyError as exc:  # the proxy answered, but would not take us to the server
            why = str(exc)[:120]
            raise ImError(ErrorCode.NET_DISCONNECT, f"The proxy refused to reach the server ({why}).") from None
        except httpx.TransportError as exc:
            if (refused := certificate_error(exc, url)) is not None:
                raise refused from None  # not a network error: retrying cannot help, so it is not transient
            via = f" through the proxy {self.proxy}" if self.proxy not in (SYSTEM_PROXY, DIRECT) else ""
            why = type(exc).__name__
            raise ImError(ErrorCode.NET_DISCONNECT, f"The server cannot be reached{via} ({why}).") from None
        except (httpx.HTTPError, httpx.InvalidURL) as exc:  # too many redirects, an address httpx cannot use
            raise ImError(
                ErrorCode.INVALID_PARAMETERS, f"The request could not be made ({type(exc).__name__})."
            ) from None
        if status >= 400:
            raise _error_from(status, data)
        if 300 <= status < 400:
            raise _redirect_error(url, response)
        return data

    async def _request(self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None) -> Any:
        """The reply as JSON (None for an empty body)."""
        data = await self._fetch(method, path, body, headers)
        if not data:
            return None
        try:
            return _parse_json(data)
        except ValueError:
            raise ImError(ErrorCode.INVALID_REPLY, "The server sent a reply that is not JSON.") from None

    # -- the login extension --------------------------------------------------------------------
    async def discover(self) -> Discovery | None:
        """Our server's self-description, or None for a plain Satori server (no such endpoint)."""
        try:
            data = await self._fetch("GET", f"{_LOGIN_PREFIX}/discovery")
        except ImError as exc:
            if exc.code in (ErrorCode.NOT_FOUND, ErrorCode.AUTH_REJECTED, ErrorCode.INVALID_PARAMETERS):
                return None
            raise
        try:
            doc = _parse_json(data)
        except ValueError:
            return None  # a web page where the endpoint would be (a console's catch-all route): not ours
        if not isinstance(doc, dict) or doc.get("server") != "im-desktop":
            return None
        # It says it is ours, so it must be well formed: a malformed one is an error, not a guess.
        platform, demo, heartbeat = (
            doc.get("platform", "im-desktop"),
            doc.get("demo_usersig"),
            doc.get("heartbeat_interval", 10),
        )
        if not isinstance(platform, str) or not (demo is None or isinstance(demo, str)):
            raise _bad_reply("self-description")
        if not isinstance(heartbeat, int | float) or isinstance(heartbeat, bool) or not 0 < heartbeat < 3600:
            raise _bad_reply("self-description")
        return Discovery(sdkappid=_int(doc.get("sdkappid", 0), "self-description"), sandbox=doc.get("sandbox") is True,
                         platform=platform, demo_usersig=demo, heartbeat_interval=float(heartbeat))  # fmt: skip

    async def login(self, user_id: str, user_sig: str, platform: str, device_id: str, device_name: str) -> LoginResult:
        body = {"user_id": user_id, "user_sig": user_sig, "platform": platform, "device_id": device_id,
                "device_name": device_name}  # fmt: skip
        reply = await self._request("POST", f"{_LOGIN_PREFIX}/login", body)
        if not isinstance(reply, dict) or not isinstance(reply.get("token"), str) or not reply["token"]:
            raise _bad_reply("login reply (it has no token)")
        session, login = reply.get("session", {}), reply.get("login", {})
        if not isinstance(session, dict) or not isinstance(login, dict):
            raise _bad_reply("login reply")
        return LoginResult(reply["token"], session, login)

    async def renew(self, token: str, user_sig: str) -> dict[str, Any]:
        reply = await self._request("POST", f"{_LOGIN_PREFIX}/session/renew", {"user_sig": user_sig},
                                    headers={"Authorization": f"Bearer {token}"})  # fmt: skip
        session = reply.get("session") if isinstance(reply, dict) else None
        if not isinstance(session, dict):  # our server always sends one: without it nothing says it was renewed
            raise _bad_reply("renewal reply")
        return session

    async def logout(self, token: str) -> None:
        await self._request("POST", f"{_LOGIN_PREFIX}/logout", {}, headers={"Authorization": f"Bearer {token}"})

    async def demo_usersig(self, path: str, user_id: str) -> str:
        reply = await self._request("POST", path, {"user_id": user_id})
        if not isinstance(reply, dict) or not isinstance(reply.get("user_sig"), str):
            raise _bad_reply("demo ticket reply (it has no ticket)")
        return str(reply["user_sig"])

    async def fetch_ticket(self, url: str, user_id: str, password: str) -> str:
        """Ask the app's business server for a UserSig: POST {user_id, password} -> {user_sig}."""
        reply = await self._request("POST", url, {"user_id": user_id, "password": password})
        if not isinstance(reply, dict) or not isinstance(reply.get("user_sig"), str):
            raise _bad_reply("ticket server reply (it has no ticket)")
        return str(reply["user_sig"])

    # -- Satori v1 ------------------------------------------------------------------------------
    def _satori_headers(self, creds: Credentials) -> dict[str, str]:
        # Both header pairs: current servers read Satori-*, servers from before 2024-10 read X-*.
        headers = {"Satori-Platform": creds.platform, "Satori-User-ID": creds.user_id,
                   "X-Platform": creds.platform, "X-Self-ID": creds.user_id}  # fmt: skip
        if creds.token:
            headers["Authorization"] = f"Bearer {creds.token}"
        return headers

    async def call(self, creds: Credentials, method: str, body: dict[str, Any] | None = None) -> Any:
        """`POST {base}/v1/{method}` with a JSON body (`{}` when there are no arguments)."""
        return await self._request("POST", f"/v1/{method}", body or {}, headers=self._satori_headers(creds))

    async def meta_logins(self, token: str | None) -> list[dict[str, Any]]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        reply = await self._request("POST", "/v1/meta", {}, headers=headers)
        logins = reply.get("logins") if isinstance(reply, dict) else None
        return [x for x in logins if isinstance(x, dict)] if isinstance(logins, list) else []

    def events(self, token: str | None, resume_sn: int | None, *, ping_interval: float = 8.0,
               dead_after: float = 20.0, handshake_timeout: float | None = None) -> EventStream:  # fmt: skip
        """A WebSocket session on `{base}/v1/events`, not yet connected. `handshake_timeout` bounds each step of
        opening it (connect, upgrade); without it the client's own timeouts apply (10 s to read the upgrade)."""
        # An http(s) address, not ws(s): httpx-ws upgrades either, but only http(s) reaches the environment's
        # proxies (HTTP_PROXY names "http://" URLs), and httpcore tunnels a ws:// URL through an HTTP proxy with
        # TLS it does not speak, and sends wss:// through SOCKS without any.
        ws_url = self.base_url + "/v1/events"
        try:
            self._gate(ws_url)
            refusal = None
        except ImError as exc:
            refusal = exc  # the stream ends with it at once, and opens no connection
        return EventStream(self._http, ws_url, token, resume_sn, ping_interval=ping_interval, dead_after=dead_after,
                           handshake_timeout=handshake_timeout, refusal=refusal)  # fmt: skip
