"""Token buckets: bursts, the steady rate, a clock that steps back, and memory bounded by the active keys."""

from __future__ import annotations

import pytest

from im_desktop.protocol.errors import ErrorCode
from im_desktop.server.ratelimit import KeyedBuckets, RateLimited, TokenBucket
from tests.clocks import FakeClock


def test_a_bucket_allows_a_burst_then_the_steady_rate() -> None:
    bucket = TokenBucket(rate=2.0, burst=3, now=100.0)
    assert [bucket.take(100.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take(100.0) == pytest.approx(0.5)  # one token comes back every half second
    assert bucket.take(100.5) == 0.0
    assert bucket.take(100.5) > 0
    assert bucket.take(200.0) == 0.0 and bucket.tokens == 2  # refilled to the burst, never beyond


def test_a_clock_stepping_back_neither_drains_nor_breaks_a_bucket() -> None:
    bucket = TokenBucket(rate=1.0, burst=2, now=1000.0)
    assert bucket.take(1000.0) == 0.0
    assert bucket.take(10.0) == 0.0  # the wall clock jumped back: the remaining token is still there
    assert bucket.take(10.0) > 0
    assert bucket.take(1001.0) == 0.0  # refills again once time passes the old stamp


def test_keyed_buckets_are_independent_and_raise_90429_with_a_retry_after() -> None:
    clock = FakeClock(0.0)
    buckets = KeyedBuckets[str](rate=1.0, burst=2, clock=clock)
    buckets.check("alice")
    buckets.check("alice")
    with pytest.raises(RateLimited) as limited:
        buckets.check("alice", "messages")
    assert limited.value.code is ErrorCode.REQUEST_FREQ_LIMIT and limited.value.retry_after == 1
    assert "messages" in limited.value.message
    buckets.check("bob")  # another key has its own bucket
    clock.advance(1.0)
    buckets.check("alice")


def test_idle_keys_are_forgotten_so_memory_follows_the_active_ones() -> None:
    clock = FakeClock(0.0)
    buckets = KeyedBuckets[int](rate=10.0, burst=5, clock=clock)
    for key in range(1024):
        buckets.take(key)
    assert len(buckets) == 1024
    clock.advance(1.0)  # every bucket has refilled: all of them are the same as none
    buckets.take(-1)
    assert len(buckets) == 1
    peak = 0
    for key in range(50_000):  # a stream of new keys, each idle (refilled) 0.1 s after its one request
        buckets.take(key)
        clock.advance(0.001)
        peak = max(peak, len(buckets))
    assert peak <= 2048
