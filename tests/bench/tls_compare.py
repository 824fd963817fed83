"""The session benchmark over TLS beside plain HTTP: trials taken in turns, then a table, the figures, checks."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

# (title, metric, statistics compared, checked against the limit)
ROWS = (
    ("login click -> ONLINE", "login", ("p50", "p90"), True),
    ("login, HTTP part", "login_http_part", ("p50",), False),
    ("kick noticed", "kick", ("p50", "p90"), True),
    ("kick: other login's reply", "kick_reply", ("p50",), False),
    ("back ONLINE after 5 s outage", "outage_ours", ("p50",), True),
    ("black-hole noticed", "blackhole", ("p50",), True),
)
_SECONDS = {"outage_ours", "blackhole"}  # shown in s; the rest in ms
TLS_LIMIT = 1.5  # the TLS figures may be at most this many times the plain ones (issue 13)
HOW = ("im-desktop-server --tls-cert/--tls-key (ECDSA P-256 from a CA made for the run, trusted through the profile's "
       "CA file); the outage without satori-python-client, which does not know that CA")  # fmt: skip


class Baton:
    """Two measurements run side by side take turns: each `turn(side)` (at a measurement's start and before each
    of its trials) waits for the other side's step to end, so plain and TLS trials alternate and both see the same
    machine (other work on it comes and goes; run one after the other, the second half would see other load)."""

    def __init__(self) -> None:
        self._current = 0
        self._started = [False, False]
        self._active = [True, True]
        self._changed = asyncio.Condition()

    async def turn(self, side: int) -> None:
        async with self._changed:
            if self._started[side] and self._active[1 - side]:
                self._current = 1 - side  # this side's step is over: the other side's turn
                self._changed.notify_all()
            self._started[side] = True
            await self._changed.wait_for(lambda: self._current == side or not self._active[1 - side])

    async def run(self, side: int, measurement: Awaitable[None]) -> None:
        try:
            await measurement
        finally:
            async with self._changed:
                self._active[side] = False
                self._current = 1 - side
                self._changed.notify_all()


def compare_tls(plain: Mapping[str, list[float]], tls: Mapping[str, list[float]],
                summary: Callable[[list[float]], dict[str, Any]], limit: float,
                ) -> tuple[dict[str, Any], dict[str, bool | None]]:  # fmt: skip
    """Print plain vs TLS per metric; return the TLS summaries and a check per compared statistic (None when a
    side has no samples)."""
    figures: dict[str, Any] = {}
    checks: dict[str, bool | None] = {}
    print(f"\n{'over TLS (same run)':<32}{'stat':<6}{'plain':>12}{'TLS':>12}{'TLS/plain':>11}  target <= {limit}x")
    for title, key, stats, checked in ROWS:
        a, b = summary(plain.get(key, [])), summary(tls.get(key, []))
        figures[key] = b
        scale, unit, digits = (1, "s", 2) if key in _SECONDS else (1000, "ms", 1)
        for stat in stats:
            ratio = b[stat] / a[stat] if a["n"] and b["n"] and a[stat] > 0 else None
            ok = None if ratio is None else ratio <= limit
            if checked:
                checks[f"tls_{key}_{stat}_within_{limit}x"] = ok
            shown = [f"{s[stat] * scale:.{digits}f} {unit}" if s["n"] else "-" for s in (a, b)]
            verdict = "n/a" if ok is None or not checked else ("PASS" if ok else "FAIL")
            times = f"{ratio:.2f}x" if ratio is not None else "-"
            print(f"{title:<32}{stat:<6}{shown[0]:>12}{shown[1]:>12}{times:>11}  {verdict}")
    return figures, checks


def tls_report(plain: Mapping[str, list[float]], tls: Mapping[str, list[float]],
               summary: Callable[[list[float]], dict[str, Any]], failures: list[str],
               server: dict[str, Any]) -> dict[str, Any]:  # fmt: skip
    """The "tls" part of session.json: the table printed, the TLS figures, the checks, what went wrong."""
    figures, checks = compare_tls(plain, tls, summary, TLS_LIMIT)
    for failure in failures:
        print(f"FAILED TLS TRIAL: {failure}")
    if set(server["exit_codes"]) - {0} or server["output"]:
        print(f"TLS server exit codes {server['exit_codes']}; server output: {server['output']}")
    return {"figures": figures, "checks": checks, "failures": failures, "server": server, "how": HOW}
