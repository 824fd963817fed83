"""Ticket renewal: short tickets renew at half their life, never faster than the floor; a useless source backs off."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import pytest

from im_desktop.protocol.client import ProtocolClient
from im_desktop.protocol.models import LoginStatus
from im_desktop.session.backoff import Backoff
from im_desktop.session.renewal import TicketRenewal
from im_desktop.session.tickets import SandboxTickets
from im_desktop.session.types import Timing
from tests.clocks import FakeClock
from tests.session.conftest import FAST, session_env
from tests.session.signals import record

# The production margin (300 s) and floor (30 s), with the wall clock re-read often so a fast fake clock works.
# The fast clock is no sleep of the machine: the wake detector must not fire (it would also restart renewals).
REAL_RULES = replace(FAST, backoff=Backoff(initial=0.05, cap=0.4, jitter=0.1), renew_margin=300.0,
                     renew_floor=30.0, renew_check_interval=0.002, wake_threshold=1e9)  # fmt: skip


async def _let_time_pass(clock: FakeClock, seconds: int, step: int = 2) -> None:
    """Move the shared wall clock forward in small steps, letting the client and server act on each one."""
    for _ in range(seconds // step):
        clock.advance(step)
        await asyncio.sleep(0.004)


class SameTicketEveryTime:
    """A business server with a stale cache: it hands back the ticket it gave the first time."""

    can_renew = True
    kind = "password"

    def __init__(self, ticket: str) -> None:
        self._ticket = ticket
        self.asked = 0

    async def ticket(self, client: ProtocolClient, user_id: str) -> str:
        self.asked += 1
        return self._ticket


@pytest.mark.asyncio
@pytest.mark.parametrize(("lifetime", "expected"), [(60, 20), (120, 10)])
async def test_short_tickets_renew_at_half_their_life_not_in_a_loop(tmp_path: Path, lifetime: int,
                                                                    expected: int) -> None:  # fmt: skip
    # Before the fix a ticket that lives no longer than the 300 s margin was renewed again at once, forever
    # (935 renewals in 8 s against the real server with 120 s tickets).
    clock = FakeClock()
    async with session_env(tmp_path, clock=clock, demo_ticket_lifetime=lifetime) as env:
        controller = env.controller(wall_clock=clock, timing=REAL_RULES)
        expired = record(controller.user_sig_expired)
        await controller.login("alice", SandboxTickets())
        await _let_time_pass(clock, 600)
        # 600 s of 60 s tickets renewed every 30 s is 20 renewals; the fake clock's steps may cost one.
        assert expected - 2 <= controller.renewal.renewals <= expected
        assert expired == []  # each renewal came in time: the session never expired
        assert controller.current_login["status"] == LoginStatus.ONLINE
        assert controller.login_requests == 1


@pytest.mark.asyncio
async def test_a_source_that_gives_the_same_ticket_backs_off(tmp_path: Path) -> None:
    clock = FakeClock()
    async with session_env(tmp_path, clock=clock) as env:
        source = SameTicketEveryTime(env.server.sig("alice", 600))
        controller = env.controller(wall_clock=clock, timing=REAL_RULES)
        await controller.login("alice", source)
        await _let_time_pass(clock, 598)  # up to just before the ticket's end
        # Due at 300 s (half of 600), then the same ticket again is a failure: 30, 60, 120 s later (330, 390,
        # 510) and then 750, past the end. Before the fix: hundreds of renewals a second from 300 s on.
        assert controller.renewal.renewals == 4
        assert source.asked == 1 + 4  # the login, then one per renewal


def test_the_renewal_is_due_before_expiry_by_the_margin_or_half_the_life() -> None:
    class _Live:
        timing = Timing(renew_margin=300.0)

    renewal = TicketRenewal(_Live(), lambda: None, lambda: 0.0)  # type: ignore[arg-type]
    assert renewal.due(10_000, 86_400) == 9_700  # a day-long ticket: 300 s before its end
    assert renewal.due(10_000, 120) == 9_940  # a two-minute ticket: half-way
    assert renewal.due(10_000, None) == 9_700  # unknown lifetime: the margin
