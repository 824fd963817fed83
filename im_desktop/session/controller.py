"""SessionController: Tencent's login lifecycle over the protocol client, reported as a Satori Login."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal

from im_desktop import usersig
from im_desktop.cache import LocalCache, OutboxItem
from im_desktop.credentials import CredentialStore, CredentialStoreUnavailable
from im_desktop.protocol.client import Credentials, ProtocolClient
from im_desktop.protocol.errors import ErrorCode, ImError
from im_desktop.protocol.events import Ready, StreamEnd, event_sn
from im_desktop.protocol.models import LoginStatus, check_user_id
from im_desktop.session.connection import ConnectionLoop
from im_desktop.session.supervisor import TaskSupervisor
from im_desktop.session.sync import flush_outbox, resync, store_event_message
from im_desktop.session.tickets import PastedTicket, TicketProvider
from im_desktop.session.types import SdkLoginStatus, ServerProfile, Timing, known_code
from im_desktop.session.wake import WakeDetector

__all__ = ["SessionController"]

log = logging.getLogger(__name__)


class SessionController(QObject):
    """The UI's only door to the session. Methods mirror the SDK; signals report what happened.

    Signals:
        login_status_changed(int): SdkLoginStatus, LOGINED / LOGINING / LOGOUT.
        status_changed(int): Satori LoginStatus of `login` (OFFLINE, ONLINE, CONNECT, DISCONNECT, RECONNECT).
        connecting(): a connection attempt starts.
        connect_success(): READY arrived; ONLINE.
        connect_failed(int, str): an attempt failed (code, message); a retry may follow.
        reconnect_scheduled(float): seconds until the next attempt.
        kicked_offline(object): dict with reason, code, message, by {platform, device_name}, at (ms).
        user_sig_expired(): the ticket ran out and could not be renewed here; a new one is needed.
        login_failed(int, str): `login()` failed with this code and message.
        login_added(object), login_removed(object), login_updated(object): Satori Login events.
        message_received(str, object): channel id and the Satori message (also for our own sends).
        conversations_changed(): the cached conversation list changed (resync, new channel).
        outbox_changed(int): how many messages wait to be sent.
        send_failed(str, str, int, str): channel id, text, code, message for a message the server refused.
        credential_store_unavailable(str): the keyring could not be used; nothing was lost.
    """

    login_status_changed = Signal(int)
    status_changed = Signal(int)
    connecting = Signal()
    connect_success = Signal()
    connect_failed = Signal(int, str)
    reconnect_scheduled = Signal(float)
    kicked_offline = Signal(object)
    user_sig_expired = Signal()
    login_failed = Signal(int, str)
    login_added = Signal(object)
    login_removed = Signal(object)
    login_updated = Signal(object)
    message_received = Signal(str, object)
    conversations_changed = Signal()
    outbox_changed = Signal(int)
    send_failed = Signal(str, str, int, str)
    credential_store_unavailable = Signal(str)

    def __init__(
        self,
        profile: ServerProfile,
        *,
        cache_dir: Path,
        credentials: CredentialStore,
        platform: str,
        device_id: str,
        device_name: str,
        timing: Timing | None = None,
        wall_clock: Callable[[], float] = time.time,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.profile = profile
        self.timing = timing or Timing()
        self._cache_dir = cache_dir
        self._credentials = credentials
        self._platform, self._device_id, self._device_name = platform, device_id, device_name
        self._wall = wall_clock
        self.tasks = TaskSupervisor()
        self.client = ProtocolClient(profile.base_url)
        self._sdk_status = SdkLoginStatus.LOGOUT
        self._login: dict[str, Any] = {"sn": 0, "status": int(LoginStatus.OFFLINE), "adapter": "", "platform": None,
                                       "user": None, "features": []}  # fmt: skip
        self._user_id = ""
        self.creds: Credentials | None = None  # what authenticates requests now (session or static token)
        self.own_server = False  # this project's server (login extension) or a plain Satori server
        self._provider: TicketProvider | None = None
        self._sig_expires_at: int | None = None
        self.cache: LocalCache | None = None
        self.login_requests = 0  # HTTP logins sent, so tests can hold us to Tencent's no-loop rule
        self._flush_lock = asyncio.Lock()
        self._connection = ConnectionLoop(self)
        self._wake = WakeDetector(self._on_wake, interval=self.timing.wake_check_interval,
                                  threshold=self.timing.wake_threshold, wall=wall_clock)  # fmt: skip

    # -- the SDK's getters ----------------------------------------------------------------------
    @property
    def login_user(self) -> str:
        """getLoginUser: the UserID while logged in, else empty."""
        return self._user_id if self._sdk_status is SdkLoginStatus.LOGINED else ""

    @property
    def login_status(self) -> SdkLoginStatus:
        return self._sdk_status

    @property
    def current_login(self) -> dict[str, Any]:
        """The current Satori Login: sn, platform, user, status, adapter, features."""
        return dict(self._login)

    # -- state changes (the only places that emit status signals) -------------------------------
    def _set_sdk_status(self, status: SdkLoginStatus) -> None:
        if status is not self._sdk_status:
            self._sdk_status = status
            self.login_status_changed.emit(int(status))

    def set_status(self, status: LoginStatus) -> None:
        if self._login["status"] != status:
            self._login["status"] = int(status)
            self.status_changed.emit(int(status))

    # -- login ----------------------------------------------------------------------------------
    async def login(self, user_id: str, provider: TicketProvider, *, remember: bool = False) -> None:
        """Log in and wait for ONLINE (or a transient failure, after which it reconnects by itself)."""
        if self._sdk_status is SdkLoginStatus.LOGINING:
            raise ImError(ErrorCode.LOGIN_IN_PROCESS)
        try:
            check_user_id(user_id)
        except ImError as exc:
            raise ImError(ErrorCode.INVALID_IDENTIFIER, exc.message) from None
        if self._sdk_status is SdkLoginStatus.LOGINED:
            if user_id == self._user_id:
                return  # already online as this user: success, as Tencent's repeat login
            await self.logout(forget=False)  # account switch: the old one goes first
        self._set_sdk_status(SdkLoginStatus.LOGINING)
        self.set_status(LoginStatus.CONNECT)
        self.connecting.emit()
        try:
            ticket = await self._authenticate(user_id, provider)
            self._open_cache(user_id)
        except ImError as exc:
            await self._reset_to_logout()
            self.connect_failed.emit(int(exc.code), exc.message)
            self.login_failed.emit(int(exc.code), exc.message)
            raise
        self._provider, self._user_id = provider, user_id
        self._set_sdk_status(SdkLoginStatus.LOGINED)
        if remember:
            self.tasks.spawn("remember-ticket", self._remember(user_id, ticket))
        first = self._connection.start()
        self.tasks.spawn("wake-watch", self._wake.run())
        self._schedule_renewal()
        await asyncio.wait([first], timeout=self.timing.ready_wait)
        outcome = first.result() if first.done() and not first.cancelled() else None
        if outcome is not None:  # refused before READY (a third-party server's token, say): login failed
            self.login_failed.emit(outcome.code, outcome.message)
            raise ImError(known_code(outcome.code), outcome.message)

    async def login_remembered(self, user_id: str) -> bool:
        """Log in with the ticket kept in the keyring; False (and a signal) when there is none or no keyring."""
        try:
            ticket = await self._credentials.load_ticket(self.profile.name, user_id)
        except CredentialStoreUnavailable as exc:
            self.credential_store_unavailable.emit(str(exc))
            return False
        if ticket is None:
            return False
        await self.login(user_id, PastedTicket(ticket))
        return True

    async def _authenticate(self, user_id: str, provider: TicketProvider) -> str:
        """Get a ticket and log in over HTTP (our server), or take the static token (plain Satori)."""
        discovery = await self.client.discover()
        self.own_server = discovery is not None
        ticket = await provider.ticket(self.client, user_id)
        if not self.own_server:
            self.creds = Credentials(ticket or None, "", user_id)  # platform comes from READY
            return ticket
        try:
            result = await self._http_login(user_id, ticket)
        except ImError as exc:
            # Only 6206/70001/70052 earn one fresh ticket and one more login; never a loop.
            if exc.code.error_class.value != "sig" or not provider.can_renew:
                raise
            ticket = await provider.ticket(self.client, user_id)
            result = await self._http_login(user_id, ticket)
        self.creds = Credentials(result.token, str(result.login.get("platform") or "im-desktop"), user_id)
        self._login.update({k: v for k, v in result.login.items() if k != "status"})
        return ticket

    async def _http_login(self, user_id: str, ticket: str) -> Any:
        self.login_requests += 1
        result = await self.client.login(user_id, ticket, self._platform, self._device_id, self._device_name)
        self._sig_expires_at = usersig.decode(ticket).expires_at
        return result

    async def relogin(self) -> None:
        """After an expiry or a forgotten session: one login with the provider's ticket (a fresh one when
        it can renew). The connection loop calls this at most once per event."""
        assert self._provider is not None
        ticket = await self._provider.ticket(self.client, self._user_id)
        result = await self._http_login(self._user_id, ticket)
        self.creds = Credentials(result.token, self.creds.platform if self.creds else "im-desktop", self._user_id)
        self._schedule_renewal()

    @property
    def can_renew(self) -> bool:
        return self._provider is not None and self._provider.can_renew

    async def _remember(self, user_id: str, ticket: str) -> None:
        try:
            await self._credentials.save_ticket(self.profile.name, user_id, ticket)
        except CredentialStoreUnavailable as exc:
            self.credential_store_unavailable.emit(str(exc))

    # -- logout ---------------------------------------------------------------------------------
    async def logout(self, *, forget: bool = True) -> None:
        """Log out: the server is told (best effort), the remembered ticket is forgotten, the cache stays."""
        user_id, creds = self._user_id, self.creds
        await self._stop_background()
        if self.own_server and creds is not None and creds.token:
            try:
                await self.client.logout(creds.token)
            except ImError as exc:
                log.info("logout could not reach the server (%s); the session ends here anyway", exc.code)
        if forget and user_id:
            try:
                await self._credentials.delete_ticket(self.profile.name, user_id)
            except CredentialStoreUnavailable as exc:
                self.credential_store_unavailable.emit(str(exc))
        await self._reset_to_logout()

    async def end_session(self, *, status: LoginStatus = LoginStatus.OFFLINE) -> None:
        """Terminal end decided by the server (kicked, logged out elsewhere): stop, keep the cache."""
        await self._stop_background()
        await self._reset_to_logout()
        self.set_status(status)

    async def _stop_background(self) -> None:
        for name in ("renewal", "wake-watch", "resync", "outbox"):
            await self.tasks.cancel_and_wait(name)
        await self._connection.stop()

    async def _reset_to_logout(self) -> None:
        self._user_id, self.creds, self._provider, self._sig_expires_at = "", None, None, None
        self._login.update(platform=None, user=None)
        self.set_status(LoginStatus.OFFLINE)
        self._set_sdk_status(SdkLoginStatus.LOGOUT)

    async def aclose(self) -> None:
        """Before quitting: stop every task, close the cache and the connection pool."""
        await self.tasks.join("remember-ticket")
        await self._stop_background()
        await self.tasks.shutdown()
        await self.client.aclose()
        if self.cache is not None:
            self.cache.close()
            self.cache = None

    # -- the connection loop's callbacks --------------------------------------------------------
    def on_ready(self, ready: Ready) -> None:
        mine = [x for x in ready.logins if isinstance(x.get("user"), dict) and x["user"].get("id") == self._user_id]
        if not self.own_server and not mine and ready.logins and not self._user_id:
            mine = ready.logins[:1]
        if mine:
            self._login.update({k: v for k, v in mine[0].items() if k != "status"})
            if self.creds is not None and not self.own_server:
                self.creds = Credentials(self.creds.token, str(mine[0].get("platform") or ""), self._user_id)
        if ready.sn is not None and self.cache is not None and self.cache.get_state("last_sn") is None:
            self.cache.set_state("last_sn", ready.sn)
        self.set_status(LoginStatus.ONLINE)
        self.connect_success.emit()
        self.tasks.spawn("resync", self._resync_then_flush())

    def on_event(self, body: dict[str, Any]) -> None:
        sn = event_sn(body)
        if sn is not None and self.cache is not None:
            self.cache.set_state("last_sn", sn)
        kind = body.get("type")
        if kind == "message-created":
            self._store_message(body)
        elif kind in ("login-added", "login-removed", "login-updated"):
            login = body.get("login") if isinstance(body.get("login"), dict) else {}
            {"login-added": self.login_added, "login-removed": self.login_removed,
             "login-updated": self.login_updated}[kind].emit(login)  # fmt: skip
            session = body.get("session")
            if kind == "login-updated" and isinstance(session, dict) and isinstance(session.get("sig_expires_at"), int):
                self._sig_expires_at = session["sig_expires_at"]

    def resume_point(self) -> int | None:
        value = self.cache.get_state("last_sn") if self.cache is not None else None
        return value if isinstance(value, int) else None

    def on_stream_end(self, end: StreamEnd) -> None:
        if self._login["status"] == LoginStatus.ONLINE:
            self.set_status(LoginStatus.DISCONNECT)

    # -- messages -------------------------------------------------------------------------------
    def _store_message(self, body: dict[str, Any]) -> None:
        if self.cache is None:
            return
        stored = store_event_message(self.cache, body, self._user_id)
        if stored is not None:
            channel_id, message, new_conversation = stored
            self.message_received.emit(channel_id, message)
            if new_conversation:
                self.conversations_changed.emit()

    def send_message(self, channel_id: str, content: str) -> OutboxItem:
        """Queue a message; it is sent now if online, else as soon as the connection is back."""
        if self.cache is None:
            raise ImError(ErrorCode.NOT_LOGGED_IN, "Open an account before writing.")
        item = self.cache.enqueue(channel_id, content)
        self.outbox_changed.emit(len(self.cache.pending()))
        if self._login["status"] == LoginStatus.ONLINE:
            self.tasks.spawn("outbox", self._flush(), replace=False)
        return item

    async def _resync_then_flush(self) -> None:
        if self.creds is None or self.cache is None:
            return
        try:
            await resync(self.client, self.creds, self.cache)
        except ImError as exc:
            log.info("resync stopped (%s); it runs again after the next reconnect", exc.code)
        self.conversations_changed.emit()
        await self._flush()

    async def _flush(self) -> None:
        async with self._flush_lock:  # the resync's flush and a send's flush must not send one item twice
            await self._flush_now()

    async def _flush_now(self) -> None:
        if self.creds is None or self.cache is None:
            return
        cache = self.cache

        def sent(item: OutboxItem, messages: list[dict[str, Any]]) -> None:
            for message in messages:
                self.message_received.emit(item.channel_id, message)

        for failure in await flush_outbox(self.client, self.creds, cache, sent):
            self.send_failed.emit(failure.item.channel_id, failure.item.content, int(failure.error.code),
                                  failure.error.message)  # fmt: skip
        self.outbox_changed.emit(len(cache.pending()))

    # -- the local cache, readable before and without login -------------------------------------
    def _open_cache(self, user_id: str) -> None:
        if self.cache is not None and self.cache.path == self._cache_path(user_id):
            return
        if self.cache is not None:
            self.cache.close()
        self.cache = LocalCache(self._cache_path(user_id))
        self.conversations_changed.emit()

    def open_offline(self, user_id: str) -> LocalCache:
        """The seed's rule: conversations and history can be read even when login fails."""
        check_user_id(user_id)
        self._open_cache(user_id)
        assert self.cache is not None
        return self.cache

    def _cache_path(self, user_id: str) -> Path:
        return self._cache_dir / self.profile.name / f"{user_id}.sqlite3"

    # -- renewal, wake, network, retry ----------------------------------------------------------
    def _schedule_renewal(self) -> None:
        if self.can_renew and self.own_server and self._sig_expires_at is not None:
            self.tasks.spawn("renewal", self._renew_when_due())

    async def _renew_when_due(self) -> None:
        while self._sig_expires_at is not None and self.creds is not None:
            due = self._sig_expires_at - self.timing.renew_margin
            # Sleep in short steps against the wall clock: a monotonic timer would oversleep a suspend.
            while True:
                left = due - self._wall()
                if left <= 0:
                    break
                await asyncio.sleep(min(left, self.timing.renew_check_interval))
            assert self._provider is not None
            try:
                ticket = await self._provider.ticket(self.client, self._user_id)
                session = await self.client.renew(self.creds.token or "", ticket)
                self._sig_expires_at = int(session.get("sig_expires_at") or usersig.decode(ticket).expires_at)
            except ImError as exc:
                log.info("ticket renewal failed (%s); trying again shortly", exc.code)
                await asyncio.sleep(min(30.0, max(self.timing.renew_margin / 10, 0.05)))

    def _on_wake(self, slept: float) -> None:
        log.info("the machine slept about %.0f s; reconnecting now", slept)
        self.tasks.spawn("pool-reset", self.client.reset())
        self._connection.restart_now()
        self._schedule_renewal()  # the ticket may be close to expiry now

    def network_changed(self, online: bool) -> None:
        """The OS says the network went up or down (QNetworkInformation, fed by the composition root)."""
        if online and self._sdk_status is SdkLoginStatus.LOGINED:
            self.tasks.spawn("pool-reset", self.client.reset())
            self._connection.restart_now()

    def retry_now(self) -> None:
        """The user's "Retry now": skip the rest of the wait."""
        self._connection.retry_now()
