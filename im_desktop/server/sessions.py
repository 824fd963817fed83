"""The login rules: tickets, auto sign-up, multi-client kick-out, lock-out, ticket expiry, logout."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import secrets
import sqlite3
from collections.abc import Callable, Coroutine
from typing import Any

from im_desktop import usersig
from im_desktop.protocol.errors import ErrorCode, ImError
from im_desktop.protocol.models import CloseCode, KickReason, LoginStatus, Opcode, Platform, check_user_id
from im_desktop.server.config import ServerConfig
from im_desktop.server.hub import Connection, Hub, login_object
from im_desktop.server.lockout import Lockout
from im_desktop.server.policy import LoginPolicy, pick_victims
from im_desktop.server.retention import Retention
from im_desktop.server.store import SessionRow, Store

__all__ = ["SessionService", "session_to_wire"]

log = logging.getLogger(__name__)

_POLICY_SETTING = "login_policy"
_KICK_MESSAGES = {
    KickReason.MULTI_DEVICE: "This account was logged in on another device.",
    KickReason.MULTI_INSTANCE: "This account was logged in on another instance of the same platform.",
    KickReason.ADMIN: "The operator ended all sessions of this account.",
    KickReason.USER_SIG_EXPIRED: "The login ticket expired while you were online.",
}


def session_to_wire(session: SessionRow, online: bool) -> dict[str, Any]:
    return {
        "session_id": session.id,
        "user_id": session.user_id,
        "platform": session.platform.value,
        "device_id": session.device_id,
        "device_name": session.device_name,
        "created_at": int(session.created_at * 1000),
        "sig_expires_at": session.sig_expires_at,
        "online": online,
    }


class SessionService:
    """Owns every change to a session's state; the HTTP and WebSocket handlers only call it."""

    def __init__(self, config: ServerConfig, store: Store, hub: Hub, clock: Callable[[], float]) -> None:
        self.config = config
        self.store = store
        self.hub = hub
        self.clock = clock
        self.lockout = Lockout(config.lockout_failures, config.lockout_window, config.lockout_duration,
                               config.lockout_max_entries)  # fmt: skip
        self.retention = Retention(config, store)
        self._tasks: set[asyncio.Task[Any]] = set()
        saved = store.get_setting(_POLICY_SETTING)
        self.policy = LoginPolicy.from_wire(json.loads(saved)) if saved else LoginPolicy()

    def set_policy(self, policy: LoginPolicy) -> None:
        self.store.set_setting(_POLICY_SETTING, json.dumps(policy.to_wire()))
        self.policy = policy

    # -- login, renew, logout -------------------------------------------------------------------
    def login(
        self, user_id: str, user_sig: str, platform: Platform, device_id: str, device_name: str, client: str = ""
    ) -> tuple[SessionRow, str]:
        """Verify the ticket, sign the user up if new, apply the policy, and open a session. `client` is the
        caller's address: failures lock out (70050) only that address's further failures for this UserID."""
        check_user_id(user_id)
        now = self.clock()
        try:
            info = self._verify(user_id, user_sig, now)
        except ImError:
            if self.lockout.failed(user_id, client, now):
                raise ImError(ErrorCode.ACCOUNT_FREQ_LIMIT) from None
            raise
        self.lockout.succeeded(user_id, client)
        session = SessionRow(
            id=secrets.token_hex(8), user_id=user_id, platform=platform, device_id=device_id,
            device_name=device_name, created_at=now, sig_expires_at=info.expires_at, state="active", ended=None,
        )  # fmt: skip
        token = secrets.token_urlsafe(32)
        live = [s for s in self.store.active_sessions(user_id) if s.sig_expires_at >= now]
        victims = pick_victims(self.policy, platform, device_id, live)
        with self.store.transaction():
            self.store.ensure_user(user_id, now)
            self.store.add_session(session, token)
            for victim, reason in victims:
                self._end(victim, "kicked", self._kick_info(reason, now, by=session))
        for conn in self.hub.of_user(user_id):  # the victims are already detached
            self.spawn(self._notify_instance(conn, "login-added", session))
        log.info("login user=%s platform=%s session=%s kicked=%d", user_id, platform, session.id, len(victims))
        return session, token

    def renew(self, session: SessionRow, user_sig: str) -> SessionRow:
        """Swap in a fresh ticket for a live session: no new login, nobody kicked."""
        info = self._verify(session.user_id, user_sig, self.clock())
        self.store.renew_session(session.id, info.expires_at)
        renewed = dataclasses.replace(session, sig_expires_at=info.expires_at)
        conn = self.hub.get(session.id)
        if conn is not None:
            conn.session = renewed
            self.spawn(self._notify_instance(conn, "login-updated", renewed))
        return renewed

    def logout(self, session: SessionRow) -> None:
        ended = {"reason": "logout", "code": 0, "message": "You logged out.", "by": None,
                 "at": int(self.clock() * 1000)}  # fmt: skip
        self._end(session, "logged_out", ended)

    def admin_kick(self, user_id: str) -> int:
        """End every session of a user and invalidate every UserSig issued before now (Tencent's REST kick)."""
        check_user_id(user_id)
        if not self.store.user_exists(user_id):
            raise ImError(ErrorCode.ACCOUNT_NOT_FOUND, "No user with this UserID has ever logged in.")
        now = self.clock()
        sessions = self.store.active_sessions(user_id)
        with self.store.transaction():
            self.store.invalidate_sigs(user_id, int(now))
            for session in sessions:
                self._end(session, "kicked", self._kick_info(KickReason.ADMIN, now, by=None))
        return len(sessions)

    def _verify(self, user_id: str, user_sig: str, now: float) -> usersig.UserSigInfo:
        keys = self.config.keys
        info = usersig.verify(user_sig, sdkappid=keys.sdkappid, key=keys.secret_key, identifier=user_id, now=now)
        if info.issued_at > now + self.config.ticket_future_skew:
            # An operator kick invalidates tickets dated before it; one dated years ahead would outlive it.
            raise ImError(ErrorCode.USERSIG_CHECK_FAILED, "The UserSig is dated in the future; check the clock of "
                          "the server that issued it.")  # fmt: skip
        if info.issued_at < self.store.sig_not_before(user_id):
            raise ImError(ErrorCode.ACCOUNT_INVALID_USERSIG)
        return info

    # -- authentication of later requests -------------------------------------------------------
    def authenticate(self, token: str | None) -> SessionRow:
        """The live session of a token, or the error that tells its client what happened to it."""
        session = self.store.session_by_token(token) if token else None
        if session is None or session.state == "logged_out":
            raise ImError(ErrorCode.NOT_LOGGED_IN, "The session is unknown or was logged out; log in again.")
        if session.state == "active" and session.sig_expires_at < self.clock():
            session = self._expire(session)
        if session.state == "kicked":
            message = (session.ended or {}).get("message", _KICK_MESSAGES[KickReason.MULTI_DEVICE])
            raise ImError(ErrorCode.KICKED_OFF_BY_OTHER, str(message))
        if session.state == "expired":
            raise ImError(ErrorCode.USERSIG_EXPIRED, _KICK_MESSAGES[KickReason.USER_SIG_EXPIRED])
        return session

    def ended_event(self, session: SessionRow) -> tuple[dict[str, Any], CloseCode]:
        """The `login-removed` body and close code that explain why a session is over."""
        close = {"kicked": CloseCode.KICKED, "expired": CloseCode.USER_SIG_EXPIRED}.get(
            session.state, CloseCode.LOGGED_OUT
        )
        body = {
            "type": "login-removed",
            "timestamp": int(self.clock() * 1000),
            "login": login_object(session.user_id, status=LoginStatus.OFFLINE),
            "ended": session.ended,
        }
        return body, close

    # -- ticket expiry while online -------------------------------------------------------------
    async def watch_expiry(self) -> None:
        """Tell online clients the moment their ticket runs out (Tencent's onUserSigExpired)."""
        while True:
            await asyncio.sleep(self.config.expiry_check_interval)
            now = self.clock()
            for conn in self.hub.all():
                if conn.session.sig_expires_at < now:
                    self._expire(conn.session)

    async def housekeeping(self) -> None:
        """Sweep the lock-out table, and prune by retention every `retention_interval`. A failed sweep is logged
        and tried again next time: a full disk must not end the loop."""
        next_retention = 0.0
        while True:
            await asyncio.sleep(self.config.housekeeping_interval)
            now = self.clock()
            self.lockout.sweep(now)
            if now < next_retention:
                continue
            next_retention = now + self.config.retention_interval
            try:
                await self.retention.sweep(now)
            except sqlite3.Error as exc:  # a full disk, a locked or damaged file: say it in one line
                log.warning("retention sweep failed (%s); trying again in %.0f s", exc, self.config.retention_interval)
            except Exception:
                log.exception("retention sweep failed; trying again in %.0f s", self.config.retention_interval)

    def _expire(self, session: SessionRow) -> SessionRow:
        info = self._kick_info(KickReason.USER_SIG_EXPIRED, self.clock(), by=None, code=ErrorCode.USERSIG_EXPIRED)
        return self._end(session, "expired", info)

    # -- ending sessions ------------------------------------------------------------------------
    def _kick_info(
        self, reason: KickReason, now: float, by: SessionRow | None, code: ErrorCode = ErrorCode.KICKED_OFF_BY_OTHER
    ) -> dict[str, Any]:
        who = None if by is None else {"platform": by.platform.value, "device_name": by.device_name,
                                        "device_id": by.device_id}  # fmt: skip
        return {"reason": reason.value, "code": int(code), "message": _KICK_MESSAGES[reason], "by": who,
                "at": int(now * 1000)}  # fmt: skip

    def _end(self, session: SessionRow, state: str, ended: dict[str, Any]) -> SessionRow:
        """Record the end durably, then tell the live connection (if any) and close it."""
        self.store.end_session(session.id, state, ended)
        finished = dataclasses.replace(session, state=state, ended=ended)
        conn = self.hub.get(session.id)
        if conn is not None:
            self.hub.detach(conn)
            self.spawn(self._say_goodbye(conn, finished))
        log.info("session %s of %s ended: %s", session.id, session.user_id, ended["reason"])
        return finished

    async def _say_goodbye(self, conn: Connection, session: SessionRow) -> None:
        body, close = self.ended_event(session)
        await conn.send(Opcode.EVENT, {"sn": conn.last_sn, **body})
        await conn.close(close, str((session.ended or {}).get("reason", "ended")))

    async def _notify_instance(self, conn: Connection, event_type: str, about: SessionRow) -> None:
        body = {
            "sn": conn.last_sn,
            "type": event_type,
            "timestamp": int(self.clock() * 1000),
            "login": login_object(about.user_id),
            "session": session_to_wire(about, self.hub.is_online(about.id)),
        }
        await conn.send(Opcode.EVENT, body)

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        # Notifications run detached so that a slow peer never delays the login that caused them;
        # the set keeps a strong reference until each one finishes.
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self) -> None:
        """Wait for pending notifications (used at shutdown)."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
