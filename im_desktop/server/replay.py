"""Resume replay for the event stream: replay or re-sync, a batch at a time, a few replays per user at once."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from im_desktop.server.hub import Connection
from im_desktop.server.store import Store

__all__ = ["REPLAYS_PER_USER", "REPLAY_LIMIT", "REPLAY_SLICE", "ReplayGate", "ResumePlan", "plan_resume", "replay"]

# A resume that spans more of the log than this is answered with a re-sync instead: reading the conversations
# again with `message.list` costs the client a few requests, while replaying an unbounded span costs the server
# time proportional to everything every user did meanwhile. Counted in `sn` (events of all channels), so that
# the decision costs no query and the replay scans at most this many rows.
REPLAY_LIMIT = 1000
# The event loop time that all running replays together may take before each yields once: every replay sends
# for its share of it (at least one event), so that other sockets and requests wait at most about this long
# however many replays run. One event costs tens of microseconds (JSON, framing, maybe deflate).
REPLAY_SLICE = 0.004
REPLAY_BATCH = 50  # events read from the log at a time
# Replays of one user that run at once; later ones wait for a slot (their socket is live meanwhile: PINGs are
# answered and live events queue behind the replay). One user cannot multiply the server's replay work by
# opening sockets, and a reader too slow to drain its replay holds back only its own user's other replays.
REPLAYS_PER_USER = 2


@dataclass(frozen=True, slots=True)
class ResumePlan:
    """What a new connection gets: READY's `sn`, whether READY says `resync`, and the replay's last `sn`."""

    sn: int
    resync: bool
    replay_to: int  # replay the events in (sn, replay_to]; equal to sn when there is nothing to replay

    @property
    def replays(self) -> bool:
        return self.replay_to > self.sn


def plan_resume(resume: int | None, newest: int, oldest: int | None, limit: int | None = None) -> ResumePlan:
    """Replay from `resume` when every event after it is still in the log and they are at most `limit`;
    otherwise re-sync from `newest`. A resume point past `newest` comes from another log (the server's data
    was reset or the client mixed up servers): replaying nothing from it would also skip every live event
    up to it, so it re-syncs too."""
    if resume is None:
        return ResumePlan(newest, False, newest)  # a fresh connection: live events only
    if resume == newest:
        return ResumePlan(resume, False, resume)  # missed nothing
    limit = REPLAY_LIMIT if limit is None else limit  # read at call time: tests raise it to study long replays
    pruned = oldest is None or oldest > resume + 1  # the log no longer starts right after `resume`
    if resume > newest or newest - resume > limit or pruned:
        return ResumePlan(newest, True, newest)
    return ResumePlan(resume, False, newest)


async def replay(conn: Connection, store: Store, upto: int, share: Callable[[], float] = lambda: REPLAY_SLICE) -> bool:
    """Send the logged events in (conn.last_sn, upto] that the user may see, yielding to the event loop after
    each `share()` seconds of work.

    Events after `upto` were published after the connection was attached, so they wait in its outbox and the
    writer sends them once streaming starts. False if the peer went away meanwhile."""
    turn_ends = time.perf_counter() + share()
    while conn.last_sn < upto and not conn.overflowed:  # overflowed: its writer closes it as soon as it streams
        events = await store.events_after(conn.last_sn, conn.user_id, REPLAY_BATCH)
        for sn, event in events:
            if sn > upto:
                return True
            if not await conn.send_stored_event(sn, event):
                return False
            if time.perf_counter() >= turn_ends:
                await asyncio.sleep(0)  # let other sockets and requests run
                turn_ends = time.perf_counter() + share()
        if len(events) < REPLAY_BATCH:
            return True
    return True


class ReplayGate:
    """At most `per_user` replays of one user at once, the others waiting in arrival order; and each running
    replay's share of REPLAY_SLICE."""

    def __init__(self, per_user: int = REPLAYS_PER_USER) -> None:
        self._per_user = per_user
        self._slots: dict[str, tuple[asyncio.Semaphore, list[int]]] = {}  # user -> (slots, [holders + waiters])
        self.running = 0

    def busy(self, user_id: str) -> int:
        """Replays of this user that hold or wait for a slot."""
        entry = self._slots.get(user_id)
        return 0 if entry is None else entry[1][0]

    def share(self) -> float:
        """How long one running replay may send before it yields."""
        return REPLAY_SLICE / max(1, self.running)

    @asynccontextmanager
    async def slot(self, user_id: str) -> AsyncIterator[None]:
        entry = self._slots.get(user_id)
        if entry is None:
            entry = self._slots[user_id] = (asyncio.Semaphore(self._per_user), [0])
        semaphore, users = entry
        users[0] += 1
        try:
            async with semaphore:
                self.running += 1
                try:
                    yield
                finally:
                    self.running -= 1
        finally:
            users[0] -= 1
            if not users[0]:
                del self._slots[user_id]  # idle users cost nothing
