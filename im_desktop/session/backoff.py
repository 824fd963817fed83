"""Reconnect delays: about 1 s doubling to 60 s, with jitter so clients do not return in lockstep."""

from __future__ import annotations

import random

__all__ = ["Backoff"]


class Backoff:
    """Exponential backoff. `reset()` after a success, or when it is a good moment to try at once."""

    def __init__(
        self,
        initial: float = 1.0,
        factor: float = 2.0,
        cap: float = 60.0,
        jitter: float = 0.2,
        rng: random.Random | None = None,
    ) -> None:
        self.initial = initial
        self.factor = factor
        self.cap = cap
        self.jitter = jitter
        self._rng = rng or random.Random()  # spreads retries; no secrecy needed
        self.attempts = 0

    def next_delay(self) -> float:
        base = min(self.cap, self.initial * self.factor**self.attempts)
        self.attempts += 1
        return base * (1.0 + self.jitter * (2.0 * self._rng.random() - 1.0))

    def reset(self) -> None:
        self.attempts = 0
