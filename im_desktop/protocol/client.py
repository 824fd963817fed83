"""HTTP client for this project's login extension and for Satori v1 resources, on any Satori server."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any

import httpx

from im_desktop.protocol.errors import ErrorCode, ImError
from im_desktop.protocol.events import EventStream

__all__ = ["Credentials", "Discovery", "LoginResult", "ProtocolClient"]

log = logging.getLogger(__name__)

_LOGIN_PREFIX = "/im/v1"


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


def _error_from(response: httpx.Response) -> ImError:
    """Our server sends `{code, name, message}`; third-party servers send plain text (kept out of logs)."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("code"), int):
        try:
            return ImError(ErrorCode(body["code"]), str(body.get("message") or "") or None)
        except ValueError:
            pass  # a code we do not know: fall back to the HTTP status
    status = response.status_code
    if status in (401, 403):
        return ImError(ErrorCode.AUTH_REJECTED, f"The server refused the credentials (HTTP {status}).")
    if status == 404:
        return ImError(ErrorCode.NOT_FOUND, "The server does not offer this (HTTP 404).")
    if status == 429 or status >= 500:
        return ImError(ErrorCode.INTERNAL_ERROR, f"The server is having trouble (HTTP {status}); retrying.")
    return ImError(ErrorCode.INVALID_PARAMETERS, f"The server rejected the request (HTTP {status}).")


class ProtocolClient:
    """One server, one connection pool. `reset()` drops pooled sockets after a wake or network change."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._timeout = httpx.Timeout(timeout, connect=min(timeout, 5.0))
        self._transport = transport
        self._http = self._new_http()

    def _new_http(self) -> httpx.AsyncClient:
        limits = httpx.Limits(max_connections=8, max_keepalive_connections=4, keepalive_expiry=30.0)
        return httpx.AsyncClient(timeout=self._timeout, limits=limits, transport=self._transport)

    async def reset(self) -> None:
        """Forget every pooled connection; the next request dials afresh."""
        old, self._http = self._http, self._new_http()
        await old.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _request(self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None) -> Any:
        url = path if path.startswith(("http://", "https://")) else self.base_url + path
        try:
            response = await self._http.request(
                method, url, headers=headers,
                content=None if body is None else json.dumps(body).encode(),
            )  # fmt: skip
        except httpx.TimeoutException:
            raise ImError(ErrorCode.NET_TIMEOUT, "The server did not answer in time.") from None
        except httpx.TransportError as exc:
            raise ImError(ErrorCode.NET_DISCONNECT, f"The server cannot be reached ({type(exc).__name__}).") from None
        if response.status_code >= 400:
            raise _error_from(response)
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise ImError(ErrorCode.INTERNAL_ERROR, "The server sent a reply that is not JSON.") from None

    # -- the login extension --------------------------------------------------------------------
    async def discover(self) -> Discovery | None:
        """Our server's self-description, or None for a plain Satori server (no such endpoint)."""
        try:
            doc = await self._request("GET", f"{_LOGIN_PREFIX}/discovery")
        except ImError as exc:
            if exc.code in (ErrorCode.NOT_FOUND, ErrorCode.AUTH_REJECTED, ErrorCode.INVALID_PARAMETERS):
                return None
            raise
        if not isinstance(doc, dict) or doc.get("server") != "im-desktop":
            return None
        return Discovery(
            sdkappid=int(doc.get("sdkappid") or 0),
            sandbox=bool(doc.get("sandbox")),
            platform=str(doc.get("platform") or "im-desktop"),
            demo_usersig=doc.get("demo_usersig") if isinstance(doc.get("demo_usersig"), str) else None,
            heartbeat_interval=float(doc.get("heartbeat_interval") or 10.0),
        )

    async def login(
        self, user_id: str, user_sig: str, platform: str, device_id: str, device_name: str
    ) -> LoginResult:
        body = {"user_id": user_id, "user_sig": user_sig, "platform": platform, "device_id": device_id,
                "device_name": device_name}  # fmt: skip
        reply = await self._request("POST", f"{_LOGIN_PREFIX}/login", body)
        if not isinstance(reply, dict) or not isinstance(reply.get("token"), str):
            raise ImError(ErrorCode.INTERNAL_ERROR, "The server's login reply has no token.")
        return LoginResult(reply["token"], dict(reply.get("session") or {}), dict(reply.get("login") or {}))

    async def renew(self, token: str, user_sig: str) -> dict[str, Any]:
        reply = await self._request("POST", f"{_LOGIN_PREFIX}/session/renew", {"user_sig": user_sig},
                                    headers={"Authorization": f"Bearer {token}"})  # fmt: skip
        return dict(reply.get("session") or {}) if isinstance(reply, dict) else {}

    async def logout(self, token: str) -> None:
        await self._request("POST", f"{_LOGIN_PREFIX}/logout", {}, headers={"Authorization": f"Bearer {token}"})

    async def demo_usersig(self, path: str, user_id: str) -> str:
        reply = await self._request("POST", path, {"user_id": user_id})
        if not isinstance(reply, dict) or not isinstance(reply.get("user_sig"), str):
            raise ImError(ErrorCode.INTERNAL_ERROR, "The demo ticket endpoint sent no ticket.")
        return str(reply["user_sig"])

    async def fetch_ticket(self, url: str, user_id: str, password: str) -> str:
        """Ask the app's business server for a UserSig: POST {user_id, password} -> {user_sig}."""
        reply = await self._request("POST", url, {"user_id": user_id, "password": password})
        if not isinstance(reply, dict) or not isinstance(reply.get("user_sig"), str):
            raise ImError(ErrorCode.INTERNAL_ERROR, "The ticket server sent no ticket.")
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
               dead_after: float = 20.0) -> EventStream:  # fmt: skip
        """A WebSocket session on `{base}/v1/events`, not yet connected."""
        ws_url = "ws" + self.base_url.removeprefix("http") + "/v1/events"
        return EventStream(self._http, ws_url, token, resume_sn, ping_interval=ping_interval, dead_after=dead_after)
