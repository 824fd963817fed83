"""A clock that only moves when a test says so: the one seam the tests fake."""

from __future__ import annotations

import time


class FakeClock:
    """Callable like time.time / time.monotonic; starts at `start` (default: now, whole seconds)."""

    def __init__(self, start: float | None = None) -> None:
        self.now = float(int(time.time())) if start is None else start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
