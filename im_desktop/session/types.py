"""Plain types of the session layer: Tencent's login status, server profiles, and every delay in one place."""

from __future__ import annotations

import enum
import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from im_desktop.protocol.errors import ErrorCode
from im_desktop.session.backoff import Backoff

if TYPE_CHECKING:
    from im_desktop.local.settings import ServerProfileSettings

__all__ = ["SdkLoginStatus", "ServerProfile", "Timing", "known_code", "log_steps"]

log = logging.getLogger("im_desktop.session.controller")


def known_code(code: int) -> ErrorCode:
    try:
        return ErrorCode(code)
    except ValueError:
        return ErrorCode.AUTH_REJECTED


def log_steps(marks: list[float]) -> None:
    """How long each step of a login took (marks: its start, then the end of each step, monotonic): where the
    time to ONLINE goes, in the log of every start."""
    ends = [*marks, time.monotonic()][:5]
    steps = ", ".join(f"{name} {1000 * (b - a):.0f} ms" for name, a, b in
                      zip(("discovery", "ticket", "login", "READY"), ends, ends[1:], strict=False))  # fmt: skip
    log.info("login steps: %s", steps)


class SdkLoginStatus(enum.IntEnum):
    """Tencent's getLoginStatus values."""

    LOGINED = 1
    LOGINING = 2
    LOGOUT = 3


@dataclass(frozen=True, slots=True)
class ServerProfile:
    """A server the user can log in to; `name` keys the keyring entry and the cache folder. `proxy`: the
    system's proxies (""), none ("direct"), or http://host:port / socks5://host:port (protocol.proxy).
    `allow_insecure`: the user chose to reach this server over plain http:// although it is not on this computer;
    `ca_file`: a PEM file of CA certificates trusted for this server besides the system's ("" for none)."""

    name: str
    base_url: str
    proxy: str = ""
    allow_insecure: bool = False
    ca_file: str = ""

    @classmethod
    def of(cls, saved: ServerProfileSettings, base_url: str) -> ServerProfile:
        """The saved profile at `base_url` (the sandbox's is known only once it runs)."""
        return cls(saved.name, base_url, saved.route, saved.allow_insecure, saved.ca_file)


@dataclass(frozen=True, slots=True)
class Timing:
    """Every delay the controller uses, in one place so tests and benchmarks can shrink them."""

    ping_interval: float = 8.0
    dead_after: float = 20.0  # a black-holed link is noticed within this many seconds
    backoff: Backoff = field(default_factory=Backoff)
    probe_interval: float = 0.25  # while the server refuses connections, look for it this often (TCP only)
    wake_check_interval: float = 5.0
    wake_threshold: float = 10.0
    renew_margin: float = 300.0  # renew a renewable ticket this long before it expires
    renew_check_interval: float = 30.0  # how often the renewal re-reads the wall clock
    renew_floor: float = 30.0  # never renew more often than this, whatever the tickets or the server say
    renew_backoff_cap: float = 600.0  # failed renewals back off from the floor, doubling up to this
    send_retry_delays: tuple[float, ...] = (1.0, 3.0)  # a message the server fails (5xx) is tried again after these
    ready_wait: float = 10.0
    stable_after: float = 10.0  # a connection that lasted this long resets the backoff; a shorter one does not
    handshake_timeout: float = 3.0  # each step of opening the event stream; not the 10 s HTTP read timeout
