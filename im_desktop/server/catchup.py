"""Live delivery on a node of a cluster: a wake-up for a user makes the node read that user's events from the store."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from dataclasses import dataclass

from im_desktop.server.hub import Connection, Hub
from im_desktop.server.replay import REPLAY_BATCH
from im_desktop.server.store import Store

__all__ = ["FORCED", "CatchUp"]

log = logging.getLogger(__name__)

# A wake-up past every `sn`: read whatever is there (after a broker reconnect, news may have been lost).
FORCED = 2**63
WORKERS = 4  # users read at once: enough to hide the store's latency, few enough to leave its pool to requests
RETRY_FLOOR, RETRY_CAP = 0.5, 5.0  # seconds before reads that failed (the store is away) are tried again, doubling


@dataclass(slots=True)
class _User:
    woken: int = 0  # the highest `sn` a wake-up announced for this user (FORCED: unknown, read)
    dirty: bool = False  # queued, or to be read again when its current read ends


class CatchUp:
    """Delivers a user's stored events to the user's sockets on this node, exactly once and in `sn` order.

    Every event a socket gets comes from `events_after(pushed, user)`, which holds all the user's events after
    `pushed` in order (the store keeps the log gapless as it is read): an event can be neither skipped nor sent
    twice, whichever order the wake-ups arrive in, and a lost wake-up is healed by any later read. Reads of one user
    never overlap (one worker at a time), so its sockets' outboxes fill in `sn` order. Users, not events, are
    queued: a burst of wake-ups for one user costs one read.
    """

    def __init__(self, hub: Hub, store: Store) -> None:
        self._hub = hub
        self._store = store
        self._users: dict[str, _User] = {}
        self._queue: deque[str] = deque()
        self._busy: set[str] = set()
        self._workers: set[asyncio.Task[None]] = set()
        self._closed = False
        self._failed: set[str] = set()  # users whose read failed, tried again together after `_delay`
        self._retry: asyncio.TimerHandle | None = None
        self._delay = RETRY_FLOOR

    def arrived(self, user_id: str) -> None:
        self._users[user_id] = _User()

    def left(self, user_id: str) -> None:
        self._users.pop(user_id, None)

    def wake(self, user_id: str, sn: int) -> None:
        """The user's events up to `sn` are stored: read them if a socket here lacks some."""
        state = self._users.get(user_id)
        if state is None:
            return  # no socket of this user here (a wake-up racing an unsubscribe)
        state.woken = max(state.woken, sn)
        for conn in self._hub.of_user(user_id):
            if conn.pushed is not None and conn.pushed < sn and not conn.overflowed:
                self._mark(user_id, state)
                return

    def wake_all(self, sn: int) -> None:
        for user_id in list(self._users):
            self.wake(user_id, sn)

    def planned(self, conn: Connection, ready: bool) -> None:
        """A connection's replay ends at conn.pushed: read on if a wake-up that came while its plan was being
        made announced more, or if news for its user may not have reached this node (`ready` False)."""
        state = self._users.get(conn.user_id)
        if state is None:
            return
        assert conn.pushed is not None
        if not ready:
            state.woken = FORCED
        if state.woken > conn.pushed:
            self._mark(conn.user_id, state)

    def _mark(self, user_id: str, state: _User) -> None:
        if state.dirty or self._closed:
            return
        state.dirty = True
        if user_id not in self._busy:
            self._queue.append(user_id)
            if len(self._workers) < WORKERS:
                task = asyncio.get_running_loop().create_task(self._work(), name="catch-up")
                self._workers.add(task)
                task.add_done_callback(self._workers.discard)

    async def _work(self) -> None:
        """Read queued users until none is left; a worker exists only while there is work."""
        while self._queue:
            user_id = self._queue.popleft()
            state = self._users.get(user_id)
            if state is None or user_id in self._busy:
                continue
            self._busy.add(user_id)
            state.dirty = False
            woken = state.woken
            try:
                seen = await self._read(user_id)
                self._delay = RETRY_FLOOR
            except Exception as exc:  # the store is away, say: try again later, all such users at once
                seen = None
                self._retry_later(user_id, exc)
            finally:
                self._busy.discard(user_id)
            now = self._users.get(user_id)
            if now is None:
                continue
            if now is state and seen is not None and woken == FORCED and state.woken == FORCED and not state.dirty:
                # Read to the end: a socket planned from here on has all up to `seen`, or hears of the rest.
                state.woken = seen
            if now.dirty:
                self._queue.append(user_id)

    def _retry_later(self, user_id: str, exc: Exception) -> None:
        if not self._failed:
            log.warning("catching up %s failed (%s); trying again in %.1f s", user_id, exc, self._delay)
        self._failed.add(user_id)
        if self._retry is None and not self._closed:
            self._retry = asyncio.get_running_loop().call_later(self._delay, self._try_again)
            self._delay = min(self._delay * 2, RETRY_CAP)

    def _try_again(self) -> None:
        self._retry = None
        failed, self._failed = self._failed, set()
        for user_id in failed:
            state = self._users.get(user_id)
            if state is not None:
                state.woken = FORCED
                self._mark(user_id, state)

    async def _read(self, user_id: str) -> int | None:
        """Push the user's events after the least `pushed` of its sockets here; the last `sn` looked at, or None
        if no socket needed anything."""
        seen: int | None = None
        while True:
            conns = [c for c in self._hub.of_user(user_id) if c.pushed is not None and not c.overflowed]
            if not conns:
                return seen
            cursor = min(c.pushed for c in conns if c.pushed is not None)
            seen = cursor if seen is None else max(seen, cursor)
            events = await self._store.events_after(cursor, user_id, REPLAY_BATCH)
            for sn, body in events:
                for conn in conns:
                    if conn.pushed is not None and sn > conn.pushed:
                        conn.push(sn, body)
                        conn.pushed = sn
                seen = sn
            if len(events) < REPLAY_BATCH:
                return seen

    async def close(self) -> None:
        self._closed = True
        if self._retry is not None:
            self._retry.cancel()
        self._queue.clear()
        for task in list(self._workers):
            task.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
