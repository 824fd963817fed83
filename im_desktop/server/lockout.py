"""Tencent's lock-out (70050) after repeated ticket failures, kept per (UserID, client address) and bounded."""

from __future__ import annotations

import logging
from collections import OrderedDict
from dataclasses import dataclass
from typing import Protocol

__all__ = ["Lockout", "SharedCounts", "SharedLockout"]

log = logging.getLogger(__name__)


@dataclass(slots=True)
class _Entry:
    window_start: float  # when the current run of failures began
    failures: int
    locked_until: float
    touched: float  # last failure; the table is kept in this order


class Lockout:
    """Counts failed logins per (UserID, client address) and answers 70050 to that pair for a while after too
    many. It only ever replaces the error of a failed check: a ticket that verifies logs in whatever the count,
    so nobody can lock someone else out by sending garbage in their name, from anywhere.

    Memory stays bounded: an entry lives at most max(window, duration) after its last failure (the oldest are
    swept on each failure and by `sweep`), and past `max_entries` the least recently failed ones go first.
    """

    def __init__(self, failures: int, window: float, duration: float, max_entries: int) -> None:
        self._failures = max(failures, 1)
        self._window = window
        self._duration = duration
        self._lifetime = max(window, duration)
        self._max_entries = max(max_entries, 1)
        self._entries: OrderedDict[tuple[str, str], _Entry] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def failed(self, user_id: str, client: str, now: float) -> bool:
        """Count a failed check. True if the pair was already locked, so the caller answers 70050 instead of the
        check's own error (the failure that sets the lock still gets its own error, as Tencent's does)."""
        key = (user_id, client)
        entry = self._entries.get(key)
        if entry is not None and now < entry.locked_until:
            return True  # not counted: a lock is not extended by what arrives during it
        if entry is None or entry.locked_until or now - entry.window_start > self._window:
            entry = _Entry(window_start=now, failures=0, locked_until=0.0, touched=now)  # a fresh run
        entry.failures += 1
        entry.touched = now
        if entry.failures >= self._failures:
            entry.locked_until = now + self._duration
        self._entries[key] = entry
        self._entries.move_to_end(key)
        self.sweep(now)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)
        return False

    def succeeded(self, user_id: str, client: str) -> None:
        self._entries.pop((user_id, client), None)

    def sweep(self, now: float) -> int:
        """Forget entries that no longer count or lock anything; return how many went."""
        swept = 0
        while self._entries:
            oldest = next(iter(self._entries.values()))
            if now - oldest.touched <= self._lifetime:
                break  # kept in order of last failure: every later entry is younger
            self._entries.popitem(last=False)
            swept += 1
        return swept


class SharedCounts(Protocol):
    """Failure counts that every server process sees (the Redis broker keeps them)."""

    async def fail(self, key: str, failures: int, window: float, duration: float) -> bool | None:
        """Count a failure of `key`, locking it for `duration` at the `failures`-th within `window` of the first.
        True if it was locked already (not counted then); None if the counts cannot be reached."""

    async def clear(self, key: str) -> None:
        """Forget the failures and any lock of `key` (errors are the implementation's to swallow)."""


class SharedLockout:
    """Lockout's rule counted in SharedCounts, so that it holds whichever server process a client reaches. While
    they cannot be reached, this process's own Lockout counts instead: a lock-out per process beats none."""

    def __init__(self, local: Lockout, shared: SharedCounts, failures: int, window: float, duration: float) -> None:
        self.local = local
        self._shared = shared
        self._rule = (max(failures, 1), window, duration)
        self._degraded = False

    async def failed(self, user_id: str, client: str, now: float) -> bool:
        locked = await self._shared.fail(f"{user_id}/{client}", *self._rule)  # a UserID has no '/'
        if locked is None:
            if not self._degraded:
                log.warning("the shared lock-out counts cannot be reached; counting in this process meanwhile")
            self._degraded = True
            return self.local.failed(user_id, client, now)
        self._degraded = False
        return locked

    async def succeeded(self, user_id: str, client: str) -> None:
        self.local.succeeded(user_id, client)
        await self._shared.clear(f"{user_id}/{client}")
