"""Keeps the event stream up while logged in: connect, back off, reconnect, stop only when told to."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

from PySide6.QtCore import QObject, Signal

from im_desktop.protocol.errors import ErrorCode, ImError
from im_desktop.protocol.events import Ready, StreamEnd
from im_desktop.protocol.models import LoginStatus
from im_desktop.session.failures import as_im_error
from im_desktop.session.live import LiveSession
from im_desktop.session.outcomes import Next, Outcome, classify_error, classify_stream_end
from im_desktop.session.types import log_steps

if TYPE_CHECKING:
    from im_desktop.session.inbox import Inbox

__all__ = ["ConnectionLoop", "LinkOwner"]

log = logging.getLogger(__name__)

_TASK = "connection"
# Endings after which the server is expected back at the same address: worth a cheap TCP probe.
_LINK_LOST = {None, 1001, 1006, 1012}
_SIG_CODES = {int(ErrorCode.USERSIG_EXPIRED), int(ErrorCode.ACCOUNT_INVALID_USERSIG),
              int(ErrorCode.USER_SIG_EXPIRED_CLIENT)}  # fmt: skip


class LinkOwner(LiveSession, Protocol):
    """What the loop needs of the session it keeps up, beyond reading it: the state changes only the owner
    makes (status, READY, a new login, the end of the session)."""

    @property
    def own_server(self) -> bool: ...

    @property
    def can_renew(self) -> bool: ...

    @property
    def login_marks(self) -> list[float]: ...

    def set_status(self, status: LoginStatus) -> None: ...

    def on_ready(self, ready: Ready) -> None: ...

    def on_stream_end(self, end: StreamEnd) -> None: ...

    async def relogin(self) -> None: ...

    async def end_session(self) -> None: ...


class ConnectionLoop(QObject):
    """The reconnect policy, as one task owned by the controller's supervisor.

    Signals (the controller forwards them as its own):
        connecting(), connect_failed(int, str), reconnect_scheduled(float), kicked_offline(object),
        user_sig_expired(): as the controller's.
    """

    connecting = Signal()
    connect_failed = Signal(int, str)
    reconnect_scheduled = Signal(float)
    kicked_offline = Signal(object)
    user_sig_expired = Signal()

    def __init__(self, owner: LinkOwner, inbox: Inbox, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._owner, self._inbox = owner, inbox
        self._poke = asyncio.Event()
        self._first: asyncio.Future[Outcome | None] | None = None
        self._probe_hit = False
        self._ready_at: float | None = None  # loop time of the current connection's READY

    def start(self) -> asyncio.Future[Outcome | None]:
        """Start connecting; the future resolves at the first READY (None) or the first failure."""
        self._first = asyncio.get_running_loop().create_future()
        self._owner.tasks.spawn(_TASK, self._run(first=True))
        return self._first

    async def stop(self) -> None:
        if self._owner.tasks.is_current(_TASK):
            return  # the loop is ending itself (_finish); it settles `_first` with the reason
        await self._owner.tasks.cancel_and_wait(_TASK)
        if self._first is not None and not self._first.done():
            self._first.cancel()

    def retry_now(self) -> None:
        self._owner.timing.backoff.reset()
        self._poke.set()

    def restart_now(self) -> None:
        """Drop the current stream (it may be stale after a wake or a network change) and reconnect now."""
        if self._owner.tasks.running(_TASK):
            self._owner.timing.backoff.reset()
            self._owner.tasks.spawn(_TASK, self._run(first=False))

    def _settle_first(self, outcome: Outcome | None) -> None:
        if self._first is not None and not self._first.done():
            self._first.set_result(outcome)

    def _on_ready(self, ready: Ready) -> None:
        # The backoff is not reset here: a server that sends READY and hangs up must not get a fast loop.
        self._ready_at = asyncio.get_running_loop().time()
        if self._first is not None and not self._first.done():  # a login's READY: how long each step took
            log_steps(self._owner.login_marks)
        self._owner.on_ready(ready)  # an ImError refuses this READY (not our account): see _connect_once
        self._settle_first(None)

    def _on_event(self, body: dict[str, Any]) -> None:
        try:
            self._inbox.on_event(body)
        except Exception:
            # One event that cannot be stored (a value SQLite refuses, a full disk) must not end the session
            # or the loop; the resync after the next connection reads the history again.
            log.exception("an event from the server could not be handled; skipped")

    async def _run(self, *, first: bool) -> None:
        try:
            await self._loop(first=first)
        except Exception as exc:
            # A bug or a broken cache: end the session and say so, never leave "online" with no loop.
            error = as_im_error(exc)
            assert error is not None  # only a BaseException that is no Exception maps to None
            log.error("the connection loop stopped", exc_info=exc)
            await self._finish(Outcome(Next.REJECTED, int(error.code), error.message))

    async def _connect_once(self) -> StreamEnd | Outcome:
        """One connection, READY to its end; an Outcome when the controller refused the server's READY."""
        owner = self._owner
        creds = owner.creds
        assert creds is not None
        self._ready_at = None
        timing = owner.timing
        stream = owner.client.events(creds.token, self._inbox.resume_point(), ping_interval=timing.ping_interval,
                                     dead_after=timing.dead_after,
                                     handshake_timeout=timing.handshake_timeout)  # fmt: skip
        try:
            return await stream.run(self._on_ready, self._on_event)
        except ImError as exc:
            return Outcome(Next.REJECTED, int(exc.code), exc.message)
        except Exception as exc:
            # Taking READY failed here (the cache could not be written, say): this attempt failed, the next
            # one comes after the usual backoff.
            log.error("the connection could not be taken into use", exc_info=exc)
            return StreamEnd(None, f"this computer could not use the connection ({type(exc).__name__})")

    def _stable(self, end: StreamEnd) -> bool:
        """Whether the connection that just ended was up long enough to count as a success."""
        up_since = self._ready_at
        return end.ready and up_since is not None and asyncio.get_running_loop().time() - up_since >= (
            self._owner.timing.stable_after)  # fmt: skip

    async def _loop(self, *, first: bool) -> None:
        owner = self._owner
        renewed = relogged = False  # each at most once between two READYs: no login loops
        probing = True  # whether a TCP probe may cut the next wait short: once per outage
        failed = False  # whether an attempt since the last READY failed: the server was away, then came back
        while True:
            if not first:
                owner.set_status(LoginStatus.RECONNECT)
                self.connecting.emit()
            first = False
            end = await self._connect_once()
            if isinstance(end, Outcome):
                await self._finish(end)
                return
            owner.on_stream_end(end)
            stable = self._stable(end)
            if end.ready:
                # A fresh start after a stable connection, or after an outage that ended (failed attempts, then
                # READY). A server that accepts us and hangs up at once, again and again, gets neither: its
                # delays keep growing, and it had its one TCP-probe shortcut.
                if stable or failed:
                    owner.timing.backoff.reset()
                    probing = True
                renewed = relogged = failed = False
            else:
                failed = True
            outcome = classify_stream_end(end, own_server=owner.own_server)
            log.info("stream ended: %s (close %s, %s)", outcome.next.value, end.code, end.reason)
            # A login the server could not take now (90504: its database or broker away; 5xx) was no login, and
            # does not use up the one allowed: the next round tries again, after the backoff below.
            if outcome.next is Next.NEW_TICKET and owner.can_renew and not renewed:
                outcome = await self._relogin()
                renewed = outcome.next is not Next.RECONNECT
            elif outcome.next is Next.RELOGIN and not relogged:
                outcome = await self._relogin()
                relogged = outcome.next is not Next.RECONNECT
            if outcome.next is Next.RECONNECT:
                if not end.ready:
                    self.connect_failed.emit(outcome.code, outcome.message)
                    self._settle_first(None)  # logged in; the connection comes back by itself
                lost_link = end.unreachable or end.code in _LINK_LOST
                await self._wait(owner.timing.backoff.next_delay(), probe=lost_link and probing)
                if self._probe_hit:
                    probing = False  # one shortcut per outage: should that attempt fail, plain backoff
                continue
            if outcome.next in (Next.NEW_TICKET, Next.RELOGIN) and outcome.code == 0:
                if end.ready and not stable:  # READY, then "expired" at once: not a loop of logins either
                    await self._wait(owner.timing.backoff.next_delay(), probe=False)
                continue  # the new login worked: connect again
            await self._finish(outcome)
            return

    async def _relogin(self) -> Outcome:
        try:
            await self._owner.relogin()
        except ImError as exc:
            step = classify_error(exc)
            return Outcome(step if step is not Next.NEW_TICKET else Next.REJECTED, int(exc.code), exc.message)
        return Outcome(Next.NEW_TICKET, 0, "")

    async def _finish(self, outcome: Outcome) -> None:
        """A terminal outcome: end the session (the cache stays), then tell the UI why. In that order,
        so a handler already sees LOGOUT and an empty login user (TIMSDK#200's complaint)."""
        await self._owner.end_session()
        self._settle_first(outcome)  # only now may a waiting login() raise: the state is already LOGOUT
        if outcome.next is Next.KICKED:
            info: dict[str, Any] = dict(outcome.ended or {})
            # The checked values, not the server's raw ones (a code of "abc" or 10**30 stays out of the UI).
            info.update(code=outcome.code, message=outcome.message)
            self.kicked_offline.emit(info)
        elif outcome.next in (Next.NEW_TICKET, Next.RELOGIN) or outcome.code in _SIG_CODES:
            self.user_sig_expired.emit()
        else:
            self.connect_failed.emit(outcome.code, outcome.message)

    async def _wait(self, delay: float, *, probe: bool) -> None:
        """Wait `delay` seconds, or less: "Retry now", a wake, the network coming back, or (when the
        server was unreachable) a cheap TCP probe that finds it listening again."""
        owner = self._owner
        owner.set_status(LoginStatus.RECONNECT)
        self.reconnect_scheduled.emit(delay)
        self._poke.clear()
        self._probe_hit = False
        probe = probe and not owner.client.proxied  # behind a proxy, nothing dials the server directly
        loop = asyncio.get_running_loop()
        deadline = loop.time() + delay
        # Probe more rarely the longer the outage, so a server that stays down sees a trickle of SYNs.
        step = max(owner.timing.probe_interval, delay / 8) if probe else delay
        while (left := deadline - loop.time()) > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._poke.wait(), min(left, step))
                return
            if probe and left > step and await _listening(owner.client.base_url, step):
                self._probe_hit = True
                return


async def _listening(base_url: str, within: float) -> bool:
    """Whether the server accepts TCP connections: a handshake and a close, nothing sent."""
    url = urlsplit(base_url)
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(url.hostname, port), within)
    except (OSError, TimeoutError):
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True
