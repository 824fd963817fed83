"""Sleep detection by comparing the wall clock with the monotonic clock."""

from __future__ import annotations

from im_desktop.session.wake import WakeDetector


class Clocks:
    def __init__(self) -> None:
        self.wall = 1_000_000.0
        self.mono = 50.0

    def tick(self, seconds: float) -> None:
        self.wall += seconds
        self.mono += seconds


def test_a_wall_clock_jump_without_monotonic_time_is_a_sleep() -> None:
    clocks, woke = Clocks(), list[float]()
    detector = WakeDetector(woke.append, threshold=10.0, wall=lambda: clocks.wall, mono=lambda: clocks.mono)
    clocks.tick(5)
    assert detector.check() is None
    clocks.wall += 3600  # suspended for an hour: CLOCK_MONOTONIC stood still
    clocks.tick(5)
    assert detector.check() == 3600
    assert woke == [3600]
    clocks.tick(5)
    assert detector.check() is None


def test_small_drift_and_ntp_steps_backwards_are_not_sleeps() -> None:
    clocks, woke = Clocks(), list[float]()
    detector = WakeDetector(woke.append, threshold=10.0, wall=lambda: clocks.wall, mono=lambda: clocks.mono)
    clocks.tick(5)
    clocks.wall += 2  # an NTP correction
    detector.check()
    clocks.wall -= 30  # clock set back
    detector.check()
    assert woke == []
