"""The login extension `{base}/im/v1/...`: discovery, login, renew, logout, demo tickets, operator API."""

from __future__ import annotations

import hmac
from typing import Any

from aiohttp import web

from im_desktop import __version__
from im_desktop.protocol import usersig
from im_desktop.protocol.errors import ErrorCode, ImError
from im_desktop.protocol.models import CloseCode, Platform, check_user_id
from im_desktop.server.health import Health
from im_desktop.server.http import (
    bearer_token,
    display_str,
    json_response,
    read_json,
    required_label,
    required_str,
)
from im_desktop.server.hub import PLATFORM_NAME, Hub, login_object
from im_desktop.server.policy import LoginPolicy
from im_desktop.server.sessions import SessionService, session_to_wire

__all__ = ["WIRE_VERSION", "ImApi"]

WIRE_VERSION = 1
PREFIX = "/im/v1"


class ImApi:
    """Handlers of the extension; the rules themselves live in SessionService."""

    def __init__(self, service: SessionService, hub: Hub, health: Health | None = None) -> None:
        self.service = service
        self.hub = hub
        self.health = health

    def add_routes(self, app: web.Application) -> None:
        r = app.router
        r.add_get(f"{PREFIX}/discovery", self.discovery)
        r.add_post(f"{PREFIX}/login", self.login)
        r.add_post(f"{PREFIX}/session/renew", self.renew)
        r.add_post(f"{PREFIX}/logout", self.logout)
        r.add_post(f"{PREFIX}/demo/usersig", self.demo_usersig)
        r.add_post(f"{PREFIX}/admin/kick", self.admin_kick)
        r.add_get(f"{PREFIX}/admin/instances", self.admin_instances)
        r.add_get(f"{PREFIX}/admin/policy", self.admin_get_policy)
        r.add_put(f"{PREFIX}/admin/policy", self.admin_set_policy)

    async def discovery(self, request: web.Request) -> web.Response:
        config = self.service.config
        return json_response({
            "server": "im-desktop",
            "version": __version__,
            "wire": WIRE_VERSION,
            "sdkappid": config.keys.sdkappid,
            "sandbox": config.sandbox,
            "platform": PLATFORM_NAME,
            "satori_path": "/v1",
            "platforms": [p.value for p in Platform],
            "demo_usersig": f"{PREFIX}/demo/usersig" if config.sandbox else None,
            "heartbeat_interval": config.heartbeat_interval,
            "close_codes": {c.name.lower(): int(c) for c in CloseCode},
        })  # fmt: skip

    async def login(self, request: web.Request) -> web.Response:
        body = await read_json(request)
        user_id = check_user_id(body.get("user_id"))
        user_sig = body.get("user_sig")
        if not isinstance(user_sig, str):
            raise ImError(ErrorCode.USERSIG_EMPTY, "'user_sig' is required and must be a string.")
        try:
            platform = Platform(required_str(body, "platform", 16))
        except ValueError:
            names = ", ".join(p.value for p in Platform)
            raise ImError(ErrorCode.ACCOUNT_INVALID_PARAMETERS, f"'platform' must be one of: {names}.") from None
        device_id = required_label(body, "device_id", 128)
        device_name = display_str(body, "device_name", 128) or platform.value
        # The peer's address (a proxy's, behind one): lock-out counts per UserID and address.
        client = request.remote or ""
        if self.health is not None:
            # Without its database or broker this node could not apply the login rules exactly (a kick that
            # reaches no other node): 90504, and the client retries. Checked before the ticket, so a refusal
            # counts toward no lock-out.
            await self.health.require_ready()
        session, token = await self.service.login(user_id, user_sig, platform, device_id, device_name, client)
        return json_response({
            "token": token,
            "session": session_to_wire(session, online=False),
            "login": login_object(user_id),
            "heartbeat_interval": self.service.config.heartbeat_interval,
        })  # fmt: skip

    async def renew(self, request: web.Request) -> web.Response:
        session = await self.service.authenticate(bearer_token(request))
        user_sig = required_str(await read_json(request), "user_sig", 4096)
        renewed = await self.service.renew(session, user_sig)
        online = renewed.id in await self.service.online([renewed.id])
        return json_response({"session": session_to_wire(renewed, online)})

    async def logout(self, request: web.Request) -> web.Response:
        session = await self.service.authenticate(bearer_token(request))
        await self.service.logout(session)
        return json_response({})

    async def demo_usersig(self, request: web.Request) -> web.Response:
        """The "business server" role, for the sandbox only: anyone may have a ticket for any UserID."""
        config = self.service.config
        if not config.sandbox:
            raise ImError(ErrorCode.FEATURE_DISABLED, "Demo tickets are only issued by a sandbox server.")
        body = await read_json(request)
        user_id = check_user_id(body.get("user_id"))
        now = int(self.service.clock())
        sig = usersig.generate(config.keys.sdkappid, config.keys.secret_key, user_id,
                               config.demo_ticket_lifetime, now=now)  # fmt: skip
        return json_response({"user_id": user_id, "user_sig": sig, "sdkappid": config.keys.sdkappid,
                              "expires_at": now + config.demo_ticket_lifetime})  # fmt: skip

    # -- operator API ---------------------------------------------------------------------------
    def _require_admin(self, request: web.Request) -> None:
        given = bearer_token(request) or ""
        expected = self.service.config.keys.admin_key
        # compare_digest("", "") is True: an empty key must never open the operator API (fail closed).
        if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
            raise ImError(ErrorCode.ADMIN_REQUIRED)

    async def admin_kick(self, request: web.Request) -> web.Response:
        self._require_admin(request)
        body = await read_json(request)
        count = await self.service.admin_kick(check_user_id(body.get("user_id")))
        return json_response({"kicked": count})

    async def admin_instances(self, request: web.Request) -> web.Response:
        self._require_admin(request)
        user_id = request.query.get("user_id")
        sessions = await self.service.store.active_sessions(check_user_id(user_id) if user_id is not None else None)
        now = self.service.clock()
        live = [s for s in sessions if s.sig_expires_at >= now]
        online = await self.service.online([s.id for s in live])  # on whichever node the socket is
        data: list[dict[str, Any]] = [session_to_wire(s, s.id in online) for s in live]
        return json_response({"data": data})

    async def admin_get_policy(self, request: web.Request) -> web.Response:
        self._require_admin(request)
        return json_response((await self.service.policy()).to_wire())

    async def admin_set_policy(self, request: web.Request) -> web.Response:
        self._require_admin(request)
        policy = LoginPolicy.from_wire(await read_json(request))
        await self.service.set_policy(policy)
        return json_response(policy.to_wire())
