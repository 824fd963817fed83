"""SessionController: Tencent's login lifecycle over the protocol client, reported as a Satori Login."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

from PySide6.QtCore import QObject

from im_desktop.local.cache import LocalCache, OutboxItem, cache_path
from im_desktop.local.credentials import CredentialStore, CredentialStoreUnavailable
from im_desktop.protocol.client import Credentials, ProtocolClient
from im_desktop.protocol.errors import ErrorCode, ImError
from im_desktop.protocol.events import Ready, StreamEnd
from im_desktop.protocol.models import LoginStatus, check_user_id
from im_desktop.session import naming
from im_desktop.session.connection import ConnectionLoop
from im_desktop.session.failures import as_im_error
from im_desktop.session.history import HistoryPager
from im_desktop.session.inbox import Inbox, ready_login
from im_desktop.session.outbox import Outbox
from im_desktop.session.renewal import TicketRenewal
from im_desktop.session.signals import SessionSignals
from im_desktop.session.supervisor import TaskSupervisor
from im_desktop.session.tickets import PastedTicket, StaticToken, TicketProvider
from im_desktop.session.types import SdkLoginStatus, ServerProfile, Timing, known_code
from im_desktop.session.wake import WakeDetector

__all__ = ["SessionController"]

log = logging.getLogger(__name__)


class SessionController(SessionSignals):
    """The UI's only door to the session. Methods mirror the SDK; its signals (SessionSignals) report what
    happened."""

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
        cache: LocalCache | None = None,
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
        self.login_marks: list[float] = []  # when each step of the last login ended (types.log_steps)
        self.client = ProtocolClient(profile.base_url, proxy=profile.proxy, allow_insecure=profile.allow_insecure,
                                     ca_file=profile.ca_file or None)  # fmt: skip
        self._sdk_status = SdkLoginStatus.LOGOUT
        self._login: dict[str, Any] = {"sn": 0, "status": int(LoginStatus.OFFLINE), "adapter": "", "platform": None,
                                       "user": None, "features": []}  # fmt: skip
        self._user_id = ""
        self.creds: Credentials | None = None  # what authenticates requests now (session or static token)
        self.own_server = False  # this project's server (login extension) or a plain Satori server
        self._provider: TicketProvider | None = None
        # Who was logged in, and how, when the server ended the session (kick, expiry): "Log in again" repeats
        # it. Only an explicit logout forgets it. The controller is the one owner of this; the app asks.
        self._last: tuple[str, TicketProvider] | None = None
        self.cache: LocalCache | None = cache  # one the app opened before this existed (a remembered start)
        self.login_requests = 0  # HTTP logins sent, so tests can hold us to Tencent's no-loop rule
        # The parts read the session through narrow views (LiveSession, LinkOwner) and report through signals
        # of their own, which become this controller's: none of them holds the whole controller.
        self.outbox = Outbox(self, self)
        self.renewal = TicketRenewal(self, lambda: self._provider, wall_clock)
        self.inbox = Inbox(self, self)
        self.history = HistoryPager(self, self)  # older messages from the server, when the view asks
        self._connection = ConnectionLoop(self, self.inbox, self)
        self._forward_signals()
        self._wake = WakeDetector(self._on_wake, interval=self.timing.wake_check_interval,
                                  threshold=self.timing.wake_threshold, wall=wall_clock)  # fmt: skip

    def _forward_signals(self) -> None:
        """The parts' signals, emitted as this controller's (in the order they were before: the UI cannot tell)."""
        outbox, inbox, link = self.outbox, self.inbox, self._connection
        for theirs, ours in (
            (outbox.changed, self.outbox_changed), (outbox.sent, self.message_received),
            (outbox.failed, self.send_failed), (inbox.message_received, self.message_received),
            (inbox.conversations_changed, self.conversations_changed), (inbox.login_added, self.login_added),
            (inbox.login_removed, self.login_removed), (inbox.login_updated, self.login_updated),
            (link.connecting, self.connecting), (link.connect_failed, self.connect_failed),
            (link.reconnect_scheduled, self.reconnect_scheduled), (link.kicked_offline, self.kicked_offline),
            (link.user_sig_expired, self.user_sig_expired),
        ):  # fmt: skip
            theirs.connect(ours)
        inbox.ticket_expiry.connect(self.renewal.note_expiry)
        inbox.resynced.connect(outbox.flush_soon)

    # -- the SDK's getters ----------------------------------------------------------------------
    @property
    def login_user(self) -> str:
        """getLoginUser: the UserID while logged in, else empty."""
        return self._user_id if self._sdk_status is SdkLoginStatus.LOGINED else ""

    @property
    def login_status(self) -> SdkLoginStatus:
        return self._sdk_status

    @property
    def online(self) -> bool:
        """Whether the event stream is up (Satori ONLINE)."""
        return bool(self._login["status"] == LoginStatus.ONLINE)

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
        self.login_marks = [time.monotonic()]  # then the end of discovery, ticket, login: logged at READY
        try:
            ticket = await self._authenticate(user_id, provider)
            self._open_cache(user_id)
        except BaseException as exc:  # every failure, even a cancellation, ends in LOGOUT
            self._fail_login(exc)
        self._provider, self._user_id = provider, user_id
        self._last = (user_id, provider)
        self._set_sdk_status(SdkLoginStatus.LOGINED)
        if remember:
            self.tasks.spawn("remember-ticket", self._remember(user_id, ticket))
        first = self._connection.start()
        self.tasks.spawn("wake-watch", self._wake.run())
        self._schedule_renewal()
        try:
            await asyncio.wait([first], timeout=self.timing.ready_wait)
        except BaseException as exc:  # cancelled while waiting for READY
            self._fail_login(exc)
        outcome = first.result() if first.done() and not first.cancelled() else None
        if outcome is not None:  # refused before READY (a third-party server's token, say): login failed
            self.login_failed.emit(outcome.code, outcome.message)
            raise ImError(known_code(outcome.code), outcome.message)

    def _fail_login(self, exc: BaseException) -> NoReturn:
        """A login that did not make it: back to LOGOUT at once (no await, so a cancellation cannot leave it
        half done), tell the UI why, and raise an ImError, or the cancellation itself."""
        error = as_im_error(exc)
        self._stop_background_now()
        self._reset_state()
        if error is None:
            raise exc
        self.connect_failed.emit(int(error.code), error.message)
        self.login_failed.emit(int(error.code), error.message)
        if error is exc:
            raise error
        raise error from exc

    async def login_remembered(self, user_id: str, *, static_token: bool = False) -> bool:
        """Log in with the ticket kept in the keyring (a third-party server's token when `static_token`);
        False (and a signal) when there is none or no keyring."""
        try:
            ticket = await self._credentials.load_ticket(self.profile.name, user_id)
        except CredentialStoreUnavailable as exc:
            self.credential_store_unavailable.emit(str(exc))
            return False
        if ticket is None:
            return False
        await self.login(user_id, StaticToken(ticket) if static_token else PastedTicket(ticket))
        return True

    async def _authenticate(self, user_id: str, provider: TicketProvider) -> str:
        """Get a ticket and log in over HTTP (our server), or take the static token (plain Satori)."""
        discovery = await self.client.discover()
        self.own_server = discovery is not None
        self.login_marks.append(time.monotonic())
        ticket = await provider.ticket(self.client, user_id)
        self.login_marks.append(time.monotonic())
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
        self.login_marks.append(time.monotonic())
        return ticket

    async def _http_login(self, user_id: str, ticket: str) -> Any:
        self.login_requests += 1
        result = await self.client.login(user_id, ticket, self._platform, self._device_id, self._device_name)
        self.renewal.note(ticket)
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

    @property
    def last_login(self) -> tuple[str, str] | None:
        """(UserID, ticket source kind) of the latest login that was not logged out on purpose; the source
        tells the app what to ask for when it must ("password", "usersig", "sandbox", "token")."""
        return (self._last[0], self._last[1].kind) if self._last is not None else None

    @property
    def last_login_can_renew(self) -> bool:
        """Whether "log in again" can get a fresh ticket by itself (sandbox, a password kept for this run)."""
        return self._last is not None and self._last[1].can_renew

    async def login_again(self) -> None:
        """ "Log in again" after a kick or an expiry: the same user and ticket source, asked afresh. The
        remembered ticket in the keyring is left alone."""
        if self._last is None:
            raise ImError(ErrorCode.NOT_LOGGED_IN, "There is no earlier login to repeat.")
        user_id, provider = self._last
        await self.login(user_id, provider)

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
        self._last = None  # on purpose: "log in again" has nothing to repeat
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
        for name in ("renewal", "wake-watch", "resync", "outbox", "outbox-retry"):
            await self.tasks.cancel_and_wait(name)
        await self._connection.stop()

    def _stop_background_now(self) -> None:
        """Cancel without waiting: for paths that must not await (a cancelled login)."""
        for name in ("renewal", "wake-watch", "resync", "outbox", "outbox-retry", "connection"):
            self.tasks.cancel(name)

    async def _reset_to_logout(self) -> None:
        self._reset_state()

    def _reset_state(self) -> None:
        self._user_id, self.creds, self._provider = "", None, None
        self.renewal.forget()
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
        """ONLINE as our login. On a third-party server a READY without the UserID typed at login raises
        (see ready_login), and the connection loop ends the session with that message."""
        mine = ready_login(ready.logins, self._user_id, own_server=self.own_server)
        if mine is not None:
            self._login.update({k: v for k, v in mine.items() if k != "status"})
            if self.creds is not None and not self.own_server:
                platform = mine.get("platform")
                self.creds = Credentials(self.creds.token, platform if isinstance(platform, str) else "", self._user_id)
        self.inbox.on_ready(ready)
        self.set_status(LoginStatus.ONLINE)
        self.connect_success.emit()
        self.tasks.spawn("resync", self.inbox.resync())

    def on_stream_end(self, end: StreamEnd) -> None:
        if self._login["status"] == LoginStatus.ONLINE:
            self.set_status(LoginStatus.DISCONNECT)

    # -- messages -------------------------------------------------------------------------------
    def send_message(self, channel_id: str, content: str) -> OutboxItem:
        """Queue a message; it is sent now if online, else as soon as the connection is back."""
        return self.outbox.send(channel_id, content)

    async def open_direct(self, user_id: str) -> str:
        """ "New conversation" / "Message bob": the direct channel with `user_id`, named for them; its id."""
        if self.creds is None or self.cache is None:
            raise ImError(ErrorCode.NOT_LOGGED_IN, "Log in to start a conversation.")
        channel_id = await naming.open_direct(self.client, self.creds, self.cache, user_id)
        self.conversations_changed.emit()
        return channel_id

    def retry_message(self, nonce: str) -> None:
        """Send a failed message again (the user's "Retry")."""
        self.outbox.retry(nonce)

    def delete_message(self, nonce: str) -> None:
        """Forget a message that was never sent (the user's "Delete")."""
        self.outbox.delete(nonce)

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
        return cache_path(self._cache_dir, self.profile.name, user_id)

    # -- renewal, wake, network, retry ----------------------------------------------------------
    def _schedule_renewal(self) -> None:
        if self.can_renew and self.own_server and self.renewal.expires_at is not None:
            self.tasks.spawn("renewal", self.renewal.run())

    @property
    def ticket_provider(self) -> TicketProvider | None:
        return self._provider

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
