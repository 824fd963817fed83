"""Token buckets: a steady rate with room for bursts, one per key, in memory bounded by the active keys."""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

from im_desktop.protocol.errors import ErrorCode, ImError

__all__ = ["KeyedBuckets", "RateLimited", "TokenBucket"]

K = TypeVar("K", bound=Hashable)

_FIRST_SWEEP = 1024


class RateLimited(ImError):
    """90429: the caller is over its rate; `retry_after` (whole seconds, at least 1) goes out as Retry-After."""

    def __init__(self, wait: float, what: str = "requests") -> None:
        self.retry_after = max(1, math.ceil(wait))
        super().__init__(ErrorCode.REQUEST_FREQ_LIMIT, f"Too many {what}; retry in {self.retry_after} s.")


class TokenBucket:
    """Holds up to `burst` tokens and refills at `rate` tokens a second; each allowed action takes one."""

    __slots__ = ("burst", "rate", "stamp", "tokens")

    def __init__(self, rate: float, burst: float, now: float) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self.stamp = now

    def _refill(self, now: float) -> None:
        # max(): a wall clock stepped backwards must not drain the bucket or raise.
        elapsed = max(0.0, now - self.stamp)
        self.tokens = min(self.burst, self.tokens + elapsed * self.rate)
        self.stamp = max(self.stamp, now)

    def take(self, now: float, cost: float = 1.0) -> float:
        """0.0 when allowed (the tokens are taken); otherwise the seconds until `cost` tokens are back."""
        self._refill(now)
        if self.tokens >= cost:
            self.tokens -= cost
            return 0.0
        return (cost - self.tokens) / self.rate if self.rate > 0 else math.inf

    def full(self, now: float) -> bool:
        """A full bucket is the same as no bucket: it can be forgotten."""
        self._refill(now)
        return self.tokens >= self.burst


class KeyedBuckets(Generic[K]):
    """One TokenBucket per key (a user, a socket, an address). Buckets that have refilled are dropped in a sweep
    that runs when the table doubles, so memory follows the keys active within one refill period."""

    def __init__(self, rate: float, burst: float, clock: Callable[[], float]) -> None:
        self.rate = rate
        self.burst = burst
        self.clock = clock
        self._buckets: dict[K, TokenBucket] = {}
        self._sweep_at = _FIRST_SWEEP

    def __len__(self) -> int:
        return len(self._buckets)

    def take(self, key: K, cost: float = 1.0) -> float:
        """0.0 when `key` may go ahead; otherwise the seconds it has to wait."""
        now = self.clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self._sweep_at:
                self._sweep(now)
            bucket = self._buckets[key] = TokenBucket(self.rate, self.burst, now)
        return bucket.take(now, cost)

    def check(self, key: K, what: str = "requests") -> None:
        """Take a token for `key` or raise RateLimited (90429)."""
        wait = self.take(key)
        if wait > 0:
            raise RateLimited(wait, what)

    def _sweep(self, now: float) -> None:
        self._buckets = {k: b for k, b in self._buckets.items() if not b.full(now)}
        # Amortised O(1) per new key: the next sweep waits until the table has doubled again.
        self._sweep_at = max(_FIRST_SWEEP, 2 * len(self._buckets))
