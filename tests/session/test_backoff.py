"""Backoff: about 1 s doubling to 60 s, jittered, and reset."""

from __future__ import annotations

import random

from im_desktop.session.backoff import Backoff


def test_delays_double_up_to_the_cap_within_the_jitter() -> None:
    backoff = Backoff(rng=random.Random(7))
    delays = [backoff.next_delay() for _ in range(10)]
    for delay, base in zip(delays, [1, 2, 4, 8, 16, 32, 60, 60, 60, 60], strict=True):
        assert base * 0.8 <= delay <= base * 1.2


def test_jitter_spreads_clients_apart() -> None:
    first = [Backoff(rng=random.Random(seed)).next_delay() for seed in range(20)]
    assert len({round(d, 3) for d in first}) > 10


def test_reset_starts_over() -> None:
    backoff = Backoff(jitter=0.0)
    for _ in range(5):
        backoff.next_delay()
    backoff.reset()
    assert backoff.next_delay() == 1.0
