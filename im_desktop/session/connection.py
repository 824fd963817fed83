"""Keeps the event stream up while logged in: connect, back off, reconnect, stop only when told to."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from im_desktop.protocol.errors import ErrorCode, ImError
from im_desktop.protocol.events import Ready
from im_desktop.protocol.models import LoginStatus
from im_desktop.session.outcomes import Next, Outcome, classify_error, classify_stream_end

if TYPE_CHECKING:
    from im_desktop.session.controller import SessionController

__all__ = ["ConnectionLoop"]

log = logging.getLogger(__name__)

_TASK = "connection"
# Endings after which the server is expected back at the same address: worth a cheap TCP probe.
_LINK_LOST = {None, 1001, 1006, 1012}
_SIG_CODES = {int(ErrorCode.USERSIG_EXPIRED), int(ErrorCode.ACCOUNT_INVALID_USERSIG),
              int(ErrorCode.USER_SIG_EXPIRED_CLIENT)}  # fmt: skip


class ConnectionLoop:
    """The reconnect policy, as one task owned by the controller's supervisor."""

    def __init__(self, controller: SessionController) -> None:
        self._c = controller
        self._poke = asyncio.Event()
        self._first: asyncio.Future[Outcome | None] | None = None
        self._probe_hit = False

    def start(self) -> asyncio.Future[Outcome | None]:
        """Start connecting; the future resolves at the first READY (None) or the first failure."""
        self._first = asyncio.get_running_loop().create_future()
        self._c.tasks.spawn(_TASK, self._run(first=True))
        return self._first

    async def stop(self) -> None:
        if self._c.tasks.is_current(_TASK):
            return  # the loop is ending itself (_finish); it settles `_first` with the reason
        await self._c.tasks.cancel_and_wait(_TASK)
        if self._first is not None and not self._first.done():
            self._first.cancel()

    def retry_now(self) -> None:
        self._c.timing.backoff.reset()
        self._poke.set()

    def restart_now(self) -> None:
        """Drop the current stream (it may be stale after a wake or a network change) and reconnect now."""
        if self._c.tasks.running(_TASK):
            self._c.timing.backoff.reset()
            self._c.tasks.spawn(_TASK, self._run(first=False))

    def _settle_first(self, outcome: Outcome | None) -> None:
        if self._first is not None and not self._first.done():
            self._first.set_result(outcome)

    def _on_ready(self, ready: Ready) -> None:
        self._c.timing.backoff.reset()
        self._c.on_ready(ready)
        self._settle_first(None)

    async def _run(self, *, first: bool) -> None:
        c = self._c
        renewed = relogged = False  # each at most once between two READYs: no login loops
        probing = True  # whether a TCP probe may cut the next wait short
        while True:
            if not first:
                c.set_status(LoginStatus.RECONNECT)
                c.connecting.emit()
            first = False
            creds = c.creds
            assert creds is not None
            stream = c.client.events(creds.token, c.resume_point(), ping_interval=c.timing.ping_interval,
                                     dead_after=c.timing.dead_after)  # fmt: skip
            end = await stream.run(self._on_ready, c.on_event)
            c.on_stream_end(end)
            if end.ready:
                renewed = relogged = False
                probing = True
            outcome = classify_stream_end(end, own_server=c.own_server)
            log.info("stream ended: %s (close %s, %s)", outcome.next.value, end.code, end.reason)
            if outcome.next is Next.NEW_TICKET and c.can_renew and not renewed:
                renewed = True
                outcome = await self._relogin()
            elif outcome.next is Next.RELOGIN and not relogged:
                relogged = True
                outcome = await self._relogin()
            if outcome.next is Next.RECONNECT:
                if not end.ready:
                    c.connect_failed.emit(outcome.code, outcome.message)
                    self._settle_first(None)  # logged in; the connection comes back by itself
                lost_link = end.unreachable or end.code in _LINK_LOST
                await self._wait(c.timing.backoff.next_delay(), probe=lost_link and probing)
                if self._probe_hit:
                    probing = False  # one shortcut per outage: should that attempt fail, plain backoff
                continue
            if outcome.next in (Next.NEW_TICKET, Next.RELOGIN) and outcome.code == 0:
                continue  # the new login worked: connect again at once
            await self._finish(outcome)
            return

    async def _relogin(self) -> Outcome:
        try:
            await self._c.relogin()
        except ImError as exc:
            step = classify_error(exc)
            return Outcome(step if step is not Next.NEW_TICKET else Next.REJECTED, int(exc.code), exc.message)
        return Outcome(Next.NEW_TICKET, 0, "")

    async def _finish(self, outcome: Outcome) -> None:
        """A terminal outcome: end the session (the cache stays), then tell the UI why. In that order,
        so a handler already sees LOGOUT and an empty login user (TIMSDK#200's complaint)."""
        c = self._c
        await c.end_session()
        self._settle_first(outcome)  # only now may a waiting login() raise: the state is already LOGOUT
        if outcome.next is Next.KICKED:
            info: dict[str, Any] = dict(outcome.ended or {})
            info.setdefault("code", outcome.code)
            info.setdefault("message", outcome.message)
            c.kicked_offline.emit(info)
        elif outcome.next in (Next.NEW_TICKET, Next.RELOGIN) or outcome.code in _SIG_CODES:
            c.user_sig_expired.emit()
        else:
            c.connect_failed.emit(outcome.code, outcome.message)

    async def _wait(self, delay: float, *, probe: bool) -> None:
        """Wait `delay` seconds, or less: "Retry now", a wake, the network coming back, or (when the
        server was unreachable) a cheap TCP probe that finds it listening again."""
        c = self._c
        c.set_status(LoginStatus.RECONNECT)
        c.reconnect_scheduled.emit(delay)
        self._poke.clear()
        self._probe_hit = False
        loop = asyncio.get_running_loop()
        deadline = loop.time() + delay
        # Probe more rarely the longer the outage, so a server that stays down sees a trickle of SYNs.
        step = max(c.timing.probe_interval, delay / 8) if probe else delay
        while (left := deadline - loop.time()) > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._poke.wait(), min(left, step))
                return
            if probe and left > step and await _listening(c.client.base_url, step):
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
