"""The login rules: tickets, auto sign-up, multi-client kick-out, lock-out, ticket expiry, logout."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import secrets
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from im_desktop.protocol import usersig
from im_desktop.protocol.errors import ErrorCode, ImError
from im_desktop.protocol.models import CloseCode, KickReason, LoginStatus, Opcode, Platform, check_user_id
from im_desktop.server.broker import Broker, LocalBroker
from im_desktop.server.config import ServerConfig
from im_desktop.server.hub import Connection, Hub, login_object
from im_desktop.server.lockout import Lockout, SharedLockout
from im_desktop.server.policy import LoginPolicy, pick_victims
from im_desktop.server.retention import Retention
from im_desktop.server.store import POLICY_SETTING, Decide, Ending, LoginState, SessionRow, Store

__all__ = ["SessionService", "session_to_wire"]

log = logging.getLogger(__name__)

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

    def __init__(self, config: ServerConfig, store: Store, hub: Hub, clock: Callable[[], float],
                 broker: Broker | None = None) -> None:  # fmt: skip
        self.config = config
        self.store = store
        self.hub = hub
        self.clock = clock
        self.broker = broker or LocalBroker()
        self.broker.bind(hub, store, self, config)
        self.lockout = Lockout(config.lockout_failures, config.lockout_window, config.lockout_duration,
                               config.lockout_max_entries)  # fmt: skip
        shared = self.broker.lockout_counts()
        self._shared_lockout = None if shared is None else SharedLockout(
            self.lockout, shared, config.lockout_failures, config.lockout_window, config.lockout_duration)  # fmt: skip
        self.retention = Retention(config, store)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._policy: tuple[str | None, LoginPolicy] = (None, LoginPolicy())  # the last one parsed, by its text

    def _parse_policy(self, saved: str | None) -> LoginPolicy:
        if saved != self._policy[0]:
            self._policy = (saved, LoginPolicy.from_wire(json.loads(saved)) if saved else LoginPolicy())
        return self._policy[1]

    async def policy(self) -> LoginPolicy:
        """The policy in force: read from the store, where any server process sharing it may have set it."""
        return self._parse_policy(await self.store.get_setting(POLICY_SETTING))

    async def set_policy(self, policy: LoginPolicy) -> None:
        await self.store.set_setting(POLICY_SETTING, json.dumps(policy.to_wire()))

    # -- login, renew, logout -------------------------------------------------------------------
    async def login(
        self, user_id: str, user_sig: str, platform: Platform, device_id: str, device_name: str, client: str = ""
    ) -> tuple[SessionRow, str]:
        """Verify the ticket, sign the user up if new, apply the policy, and open a session. `client` is the
        caller's address: failures lock out (70050) only that address's further failures for this UserID."""
        check_user_id(user_id)
        now = self.clock()
        try:
            info = self._verify_ticket(user_id, user_sig, now)
            session = SessionRow(
                id=secrets.token_hex(8), user_id=user_id, platform=platform, device_id=device_id,
                device_name=device_name, created_at=now, sig_expires_at=info.expires_at, state="active", ended=None,
            )  # fmt: skip
            token = secrets.token_urlsafe(32)
            endings = await self.store.open_session(session, token, self._decider(session, info.issued_at))
        except ImError:
            shared = self._shared_lockout
            if await shared.failed(user_id, client, now) if shared else self.lockout.failed(user_id, client, now):
                raise ImError(ErrorCode.ACCOUNT_FREQ_LIMIT) from None
            raise
        if self._shared_lockout is not None:
            await self._shared_lockout.succeeded(user_id, client)
        else:
            self.lockout.succeeded(user_id, client)
        for ending in endings:
            self._ended(dataclasses.replace(ending.session, state=ending.state, ended=ending.ended))
        for conn in self.hub.of_user(user_id):  # the victims are already detached
            self.spawn(self._notify_instance(conn, "login-added", session))
        self.broker.login_changed("added", session)
        log.info("login user=%s platform=%s session=%s kicked=%d", user_id, platform, session.id, len(endings))
        return session, token

    def _decider(self, session: SessionRow, issued_at: int) -> Decide:
        """The decision of a login, that the store makes in its transaction with the user locked: the ticket
        floor, the policy and the live sessions it sees are the ones that hold at the commit, whichever server
        process takes the next login of this user."""

        def decide(state: LoginState) -> list[Ending]:
            if issued_at < state.sig_not_before:
                raise ImError(ErrorCode.ACCOUNT_INVALID_USERSIG)
            now = session.created_at
            live = [s for s in state.live if s.sig_expires_at >= now]
            victims = pick_victims(self._parse_policy(state.policy), session.platform, session.device_id, live)
            return [Ending(v, "kicked", self._kick_info(reason, now, by=session)) for v, reason in victims]

        return decide

    async def renew(self, session: SessionRow, user_sig: str) -> SessionRow:
        """Swap in a fresh ticket for a live session: no new login, nobody kicked."""
        info = self._verify_ticket(session.user_id, user_sig, self.clock())
        if info.issued_at < await self.store.sig_not_before(session.user_id):
            raise ImError(ErrorCode.ACCOUNT_INVALID_USERSIG)
        await self.store.renew_session(session.id, info.expires_at)
        renewed = dataclasses.replace(session, sig_expires_at=info.expires_at)
        conn = self.hub.get(session.id)
        if conn is not None:
            conn.session = renewed
            self.spawn(self._notify_instance(conn, "login-updated", renewed))
        self.broker.login_changed("updated", renewed)
        return renewed

    async def logout(self, session: SessionRow) -> None:
        ended = {"reason": "logout", "code": 0, "message": "You logged out.", "by": None,
                 "at": int(self.clock() * 1000)}  # fmt: skip
        await self._end(session, "logged_out", ended)

    async def admin_kick(self, user_id: str) -> int:
        """End every session of a user and invalidate every UserSig issued before now (Tencent's REST kick)."""
        check_user_id(user_id)
        now = self.clock()
        kicked = await self.store.kick_user(user_id, int(now), self._kick_info(KickReason.ADMIN, now, by=None))
        if kicked is None:
            raise ImError(ErrorCode.ACCOUNT_NOT_FOUND, "No user with this UserID has ever logged in.")
        for session in kicked:
            self._ended(session)
        return len(kicked)

    def _verify_ticket(self, user_id: str, user_sig: str, now: float) -> usersig.UserSigInfo:
        """The ticket's signature and dates; the operator's floor (sig_not_before) is the caller's to check."""
        keys = self.config.keys
        info = usersig.verify(user_sig, sdkappid=keys.sdkappid, key=keys.secret_key, identifier=user_id, now=now)
        if info.issued_at > now + self.config.ticket_future_skew:
            # An operator kick invalidates tickets dated before it; one dated years ahead would outlive it.
            raise ImError(ErrorCode.USERSIG_CHECK_FAILED, "The UserSig is dated in the future; check the clock of "
                          "the server that issued it.")  # fmt: skip
        return info

    # -- authentication of later requests -------------------------------------------------------
    async def authenticate(self, token: str | None) -> SessionRow:
        """The live session of a token, or the error that tells its client what happened to it."""
        session = await self.store.session_by_token(token) if token else None
        if session is None or session.state == "logged_out":
            raise ImError(ErrorCode.NOT_LOGGED_IN, "The session is unknown or was logged out; log in again.")
        if session.state == "active" and session.sig_expires_at < self.clock():
            session = await self._expire(session)
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
                    try:
                        await self._expire_connected(conn, now)
                    except self.store.errors as exc:  # the store is away: the next round tries again
                        log.warning("ending session %s at ticket expiry failed (%s)", conn.session.id, exc)

    async def _expire_connected(self, conn: Connection, now: float) -> None:
        session = conn.session
        if self.broker.shared:
            # Renewed through another node, whose news may still be on its way: the store knows.
            stored = await self.store.session_by_id(session.id)
            if stored is not None and stored.state == "active" and stored.sig_expires_at >= now:
                conn.session = stored
                return
        await self._expire(session)

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
            except self.store.errors as exc:  # a full disk, a damaged file, a lost database: say it in one line
                log.warning("retention sweep failed (%s); trying again in %.0f s", exc, self.config.retention_interval)
            except Exception:
                log.exception("retention sweep failed; trying again in %.0f s", self.config.retention_interval)

    async def _expire(self, session: SessionRow) -> SessionRow:
        info = self._kick_info(KickReason.USER_SIG_EXPIRED, self.clock(), by=None, code=ErrorCode.USERSIG_EXPIRED)
        return await self._end(session, "expired", info)

    # -- ending sessions ------------------------------------------------------------------------
    def _kick_info(
        self, reason: KickReason, now: float, by: SessionRow | None, code: ErrorCode = ErrorCode.KICKED_OFF_BY_OTHER
    ) -> dict[str, Any]:
        who = None if by is None else {"platform": by.platform.value, "device_name": by.device_name,
                                        "device_id": by.device_id}  # fmt: skip
        return {"reason": reason.value, "code": int(code), "message": _KICK_MESSAGES[reason], "by": who,
                "at": int(now * 1000)}  # fmt: skip

    async def _end(self, session: SessionRow, state: str, ended: dict[str, Any]) -> SessionRow:
        """Record the end durably, then tell the live connection (if any) and close it. If the session had
        ended meanwhile (another request, another server process), the end that counts is the recorded one."""
        finished = dataclasses.replace(session, state=state, ended=ended)
        if not await self.store.end_session(session.id, state, ended):
            now = await self.store.session_by_id(session.id)
            if now is not None and now.state != "active":
                finished = now
        self._ended(finished)
        return finished

    def _ended(self, session: SessionRow) -> None:
        """A session's end is recorded: detach its live connection (if any), tell it why, and close it; and tell
        the other nodes, where its socket may be."""
        self._close_ended(session)
        self.broker.session_ended(session)
        log.info("session %s of %s ended: %s", session.id, session.user_id, (session.ended or {}).get("reason"))

    def _close_ended(self, session: SessionRow) -> None:
        conn = self.hub.get(session.id)
        if conn is not None:
            self.hub.detach(conn)
            self.spawn(self._say_goodbye(conn, session))

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

    # -- news from the other nodes (broker.NodeHooks) -------------------------------------------
    async def online(self, session_ids: Sequence[str]) -> set[str]:
        """Which of these sessions have a live socket, on whichever node."""
        return await self.broker.online(session_ids)

    def ended_elsewhere(self, session_id: str) -> None:
        if self.hub.get(session_id) is not None:
            self.spawn(self._end_here(session_id))

    async def _end_here(self, session_id: str) -> None:
        """Close the socket of a session another node ended, with the end the store recorded."""
        try:
            session = await self.store.session_by_id(session_id)
        except self.store.errors as exc:  # the socket stays; the reconcile after the outage closes it
            log.warning("reading ended session %s failed (%s)", session_id, exc)
            return
        if session is not None and session.state != "active":
            self._close_ended(session)

    def login_changed_elsewhere(self, kind: str, session_id: str) -> None:
        if kind == "added" or self.hub.get(session_id) is not None:
            self.spawn(self._login_changed_here(kind, session_id))

    async def _login_changed_here(self, kind: str, session_id: str) -> None:
        try:
            about = await self.store.session_by_id(session_id)
        except self.store.errors as exc:
            log.warning("reading session %s failed (%s)", session_id, exc)
            return
        if about is None or about.state != "active":
            return
        if kind == "updated":
            conn = self.hub.get(session_id)
            if conn is not None:
                conn.session = about
                await self._notify_instance(conn, "login-updated", about)
            return
        for conn in self.hub.of_user(about.user_id):
            if conn.session.id != about.id:
                await self._notify_instance(conn, "login-added", about)

    def reconcile(self) -> None:
        self.spawn(self._reconcile())

    async def _reconcile(self) -> None:
        """After news may have been lost: close the sockets here whose sessions ended, and take renewed tickets."""
        try:
            active = {s.id: s for s in await self.store.active_sessions()}
        except self.store.errors as exc:
            log.warning("checking the sessions of this node's sockets failed (%s)", exc)
            return
        for conn in self.hub.all():
            stored = active.get(conn.session.id)
            if stored is None:
                await self._end_here(conn.session.id)
            else:
                conn.session = stored

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
