"""Renewing a renewable ticket before it runs out: never faster than a floor, backing off when it fails."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from im_desktop.protocol import usersig
from im_desktop.protocol.errors import ImError

if TYPE_CHECKING:
    from im_desktop.session.live import LiveSession
    from im_desktop.session.tickets import TicketProvider

__all__ = ["TicketRenewal"]

log = logging.getLogger(__name__)


def plausible_time(value: object) -> int | None:
    """A time in seconds from a server, if it is one: a bool, or 10**400 that no float can hold, is not."""
    return value if isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**40 else None


class TicketRenewal:
    """The current ticket's expiry and the renewal schedule. It outlives one renewal task (a wake or a new
    login starts another), so the floor holds across them: no path renews faster than `Timing.renew_floor`."""

    def __init__(self, live: LiveSession, provider: Callable[[], TicketProvider | None],
                 wall: Callable[[], float]) -> None:  # fmt: skip
        self._live, self._provider = live, provider
        self._wall = wall
        self.expires_at: int | None = None  # when the current ticket runs out (s since the epoch), if known
        self.lifetime: int | None = None
        self.renewals = 0  # renewals asked of the server, so tests can hold us to the floor
        self.last_attempt = float("-inf")
        # Failed attempts for the ticket that expires at `_failing`; kept here, not in the task, so a wake
        # that starts a new task does not reset the backoff. A ticket got another way starts afresh.
        self._failures = 0
        self._failing: int | None = None

    def note(self, ticket: str) -> None:
        """A ticket went into use (login): remember when it ends."""
        info = usersig.decode(ticket)
        self.expires_at, self.lifetime = info.expires_at, info.lifetime

    def note_expiry(self, value: object) -> None:
        """The server says when the session's ticket ends (`login-updated`)."""
        if (expires := plausible_time(value)) is not None:
            self.expires_at = expires

    def forget(self) -> None:
        self.expires_at = self.lifetime = None

    async def renew(self) -> int:
        """Swap a fresh ticket from the provider into the live session (no new login); the new expiry."""
        live = self._live
        provider, creds = self._provider(), live.creds
        assert provider is not None
        assert creds is not None
        self.renewals += 1
        ticket = await provider.ticket(live.client, live.login_user)
        info = usersig.decode(ticket)
        session = await live.client.renew(creds.token or "", ticket)
        self.expires_at = plausible_time(session.get("sig_expires_at")) or info.expires_at
        self.lifetime = info.lifetime
        return self.expires_at

    def due(self, expires_at: int, lifetime: int | None) -> float:
        """When to renew: `renew_margin` before expiry, but a ticket shorter than twice the margin is renewed
        at half its life (a 60 s ticket with a 300 s margin would otherwise be due before it was issued)."""
        margin = self._live.timing.renew_margin
        if lifetime is not None and lifetime > 0:
            margin = min(margin, lifetime / 2)
        return expires_at - margin

    def _not_before(self) -> float:
        timing = self._live.timing
        if not self._failures:
            return self.last_attempt + timing.renew_floor
        backoff: float = timing.renew_floor * 2.0 ** (self._failures - 1)
        return self.last_attempt + min(backoff, timing.renew_backoff_cap)

    async def run(self) -> None:
        while (expires := self.expires_at) is not None and self._live.creds is not None:
            if self._failing != expires:
                self._failures, self._failing = 0, None
            await self._sleep_until(max(self.due(expires, self.lifetime), self._not_before()))
            if self.expires_at != expires:
                continue  # renewed another way meanwhile (a new login after an expiry): plan afresh
            self.last_attempt = self._wall()
            try:
                extended = await self.renew() > expires
                problem = "the new ticket does not last longer than the current one"
            except ImError as exc:
                extended, problem = False, f"{exc.code}: {exc.message}"
            if extended:
                self._failures, self._failing = 0, None
                continue
            # A source that hands back the same ticket is a failure too; without the backoff it would be asked
            # again at once, forever.
            self._failures, self._failing = self._failures + 1, expires
            log.info("ticket renewal failed (%s); next try in %.0f s", problem, self._not_before() - self._wall())

    async def _sleep_until(self, due: float) -> None:
        # Short steps against the wall clock: a monotonic timer would oversleep a suspend.
        while (left := due - self._wall()) > 0:  # noqa: ASYNC110 - the wall clock has no event to wait for
            await asyncio.sleep(min(left, self._live.timing.renew_check_interval))
