"""Notices that the machine slept, by comparing how far the wall clock and the monotonic clock moved."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

__all__ = ["WakeDetector"]


class WakeDetector:
    """On Linux CLOCK_MONOTONIC stops during suspend while the wall clock does not, so a gap between
    their deltas is a sleep (OS signals are a bonus, not the only source)."""

    def __init__(
        self,
        on_wake: Callable[[float], None],
        *,
        interval: float = 5.0,
        threshold: float = 10.0,
        wall: Callable[[], float] = time.time,
        mono: Callable[[], float] = time.monotonic,
    ) -> None:
        self._on_wake = on_wake
        self._interval = interval
        self._threshold = threshold
        self._wall = wall
        self._mono = mono
        self._last_wall = wall()
        self._last_mono = mono()

    def check(self) -> float | None:
        """Compare the clocks now; report and return the slept seconds if they drifted apart."""
        wall, mono = self._wall(), self._mono()
        gap = (wall - self._last_wall) - (mono - self._last_mono)
        self._last_wall, self._last_mono = wall, mono
        if gap > self._threshold:
            self._on_wake(gap)
            return gap
        return None

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            self.check()
