"""Whether this node can take logins (its database and broker answer): `/healthz`, the login gate, outage refusals."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from aiohttp import web
from aiohttp.typedefs import Middleware

from im_desktop.protocol.errors import ErrorCode, ImError
from im_desktop.server.http import Handler, error_response
from im_desktop.server.store import POLICY_SETTING, Store

__all__ = ["HEALTH_PATH", "BrokerHealth", "Health", "Part", "Report", "Unavailable", "outage_middleware"]

log = logging.getLogger(__name__)

HEALTH_PATH = "/healthz"
PROBE_TIMEOUT = 1.0  # a database or broker that takes longer than this for a trivial query counts as down
# One probe a second at most, however many ask: a load balancer's checks, a login storm, a monitoring loop.
CACHE_SECONDS = 1.0
# After a request failed on the store or broker, a report older than this is not trusted to explain it; and a
# "down" is looked at again this soon, so that a return (or a broker still connecting at start) shows at once.
RECHECK_SECONDS = 0.1
DOWN_CACHE_SECONDS = 0.25
RETRY_AFTER = 2  # seconds, sent with each refusal: about when a node that probes every second may know more


class BrokerHealth(Protocol):
    """What health needs of a broker (broker.py): `health()` answers {"ok": bool, ...}; False, or a failure,
    means it cannot carry news between nodes now."""

    kind: str

    async def health(self) -> object: ...


@dataclass(frozen=True, slots=True)
class Part:
    """One dependency's state. `reason` is short and never holds a URL, a password or a host name."""

    kind: str
    ok: bool
    reason: str = ""

    def to_wire(self) -> dict[str, str]:
        wire = {"kind": self.kind, "state": "ok" if self.ok else "down"}
        if not self.ok:
            wire["reason"] = self.reason
        return wire


@dataclass(frozen=True, slots=True)
class Report:
    database: Part
    broker: Part
    at: float  # time.monotonic() when the probe ended

    @property
    def ok(self) -> bool:
        return self.database.ok and self.broker.ok

    def down(self) -> str:
        """What is down, in words for a client: "database", "broker", or both."""
        parts = [name for name, part in (("database", self.database), ("broker", self.broker)) if not part.ok]
        return " and ".join(parts)

    def to_wire(self) -> dict[str, Any]:
        return {"status": "ok" if self.ok else "unavailable", "database": self.database.to_wire(),
                "broker": self.broker.to_wire()}  # fmt: skip


class Unavailable(ImError):
    """90504: this node cannot reach its database or broker now; the client retries after `retry_after` s."""

    def __init__(self, what: str) -> None:
        self.retry_after = RETRY_AFTER
        plain = ImError.with_detail(ErrorCode.SERVICE_UNAVAILABLE, f"the server cannot reach its {what}")
        super().__init__(ErrorCode.SERVICE_UNAVAILABLE, plain.message)


def unavailable_response(error: Unavailable) -> web.Response:
    response = error_response(error)
    response.headers["Retry-After"] = str(error.retry_after)
    return response


def _reason(exc: BaseException, timeout: float) -> str:
    """A failure in a few words, from its type and errno only: exception texts can name hosts and users."""
    if isinstance(exc, TimeoutError):
        return f"no answer within {timeout:g} s"
    if isinstance(exc, OSError) and exc.errno is not None and exc.errno in errno.errorcode:
        return os.strerror(exc.errno)
    return type(exc).__name__


def _broker_trouble(answer: object) -> str:
    """Why a broker that answered says it is not ok, from its health() fields (never its URL or node id)."""
    if not isinstance(answer, dict):
        return "not connected"
    if answer.get("ping_ms", 0) is None:
        return "no answer"
    if answer.get("subscribed") is False:
        return "not subscribed"
    if answer.get("publishing") is False:
        return "cannot publish"
    return "not ready"


class Health:
    """Probes the database (a one-row read with a short timeout) and the broker (its `health()`) together, at
    most once per CACHE_SECONDS, one probe at a time however many callers wait for it."""

    def __init__(self, store: Store, broker: BrokerHealth | None = None, *, kind: str = "",
                 clock: Callable[[], float] = time.monotonic) -> None:  # fmt: skip
        self.store = store
        self.broker = broker
        self.database_kind = kind or ("postgresql" if type(store).__name__.startswith("Postgres") else "sqlite")
        self.broker_kind = str(getattr(broker, "kind", "") or "external") if broker is not None else "in-process"
        self._clock = clock
        self._last: Report | None = None
        self._rendered: tuple[Report, bytes] | None = None
        self._probing: asyncio.Task[Report] | None = None

    @property
    def errors(self) -> tuple[type[BaseException], ...]:
        """The failures of the store and broker themselves (a lost connection), as they raise them."""
        broker_errors: tuple[type[BaseException], ...] = getattr(self.broker, "errors", ())
        return (*self.store.errors, *broker_errors)

    async def report(self, max_age: float = CACHE_SECONDS) -> Report:
        """The newest report, probing again when it is older than `max_age` seconds."""
        last = self._last
        if last is not None and self._clock() - last.at < (max_age if last.ok else min(max_age, DOWN_CACHE_SECONDS)):
            return last
        if self._probing is None:
            self._probing = asyncio.get_running_loop().create_task(self._probe(), name="health-probe")
        # shield: a caller that gives up (its client left) must not cancel the probe the others wait for.
        return await asyncio.shield(self._probing)

    async def require_ready(self) -> None:
        """Raise Unavailable (90504) unless this node can take a login now."""
        report = await self.report()
        if not report.ok:
            raise Unavailable(report.down())

    async def close(self) -> None:
        if self._probing is not None:
            self._probing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._probing

    async def _probe(self) -> Report:
        try:
            database, broker = await asyncio.gather(self._probe_database(), self._probe_broker())
            report = Report(database, broker, self._clock())
            self._log_change(self._last, report)
            self._last = report
            return report
        finally:
            self._probing = None

    async def _probe_database(self) -> Part:
        try:
            # A read of one row by its key: as cheap as SELECT 1, and it goes through the store's own pool.
            await asyncio.wait_for(self.store.get_setting(POLICY_SETTING), PROBE_TIMEOUT)
        except Exception as exc:
            if not isinstance(exc, (*self.store.errors, TimeoutError)):
                log.warning("database health probe failed unexpectedly", exc_info=exc)
            return Part(self.database_kind, False, _reason(exc, PROBE_TIMEOUT))
        return Part(self.database_kind, True)

    async def _probe_broker(self) -> Part:
        if self.broker is None:
            return Part(self.broker_kind, True)  # in-process: up as long as this process is
        try:
            # The broker bounds its own ping by about PROBE_TIMEOUT: a little more here, so that its answer wins.
            answer = await asyncio.wait_for(self.broker.health(), PROBE_TIMEOUT + 0.5)
        except Exception as exc:
            return Part(self.broker_kind, False, _reason(exc, PROBE_TIMEOUT))
        ok = answer.get("ok") is True if isinstance(answer, dict) else answer is not False
        return Part(self.broker_kind, ok, "" if ok else _broker_trouble(answer))

    def _log_change(self, before: Report | None, now: Report) -> None:
        for name, old, new in (("database", before and before.database, now.database),
                               ("broker", before and before.broker, now.broker)):  # fmt: skip
            if new.ok and old is not None and not old.ok:
                log.warning("the %s answers again: taking new logins", name)
            elif not new.ok and (old is None or old.ok):
                log.warning("the %s is down (%s): refusing new logins with %d until it is back; live sockets stay",
                            name, new.reason, ErrorCode.SERVICE_UNAVAILABLE)  # fmt: skip

    async def handle(self, request: web.Request) -> web.Response:
        """GET /healthz: 200 when this node can take logins, 503 otherwise, with each part's state."""
        report = await self.report()
        if self._rendered is None or self._rendered[0] is not report:
            self._rendered = (report, json.dumps(report.to_wire()).encode())
        response = web.Response(body=self._rendered[1], status=200 if report.ok else 503,
                                content_type="application/json")  # fmt: skip
        response.headers["Cache-Control"] = "no-store"
        if not report.ok:
            response.headers["Retry-After"] = str(RETRY_AFTER)
        return response


def outage_middleware(health: Health) -> Middleware:
    """Middleware: a request that failed because the store or broker is away gets 503 (90504) with Retry-After
    instead of a 500 and a traceback; one that failed while both answer goes on to the error middleware as
    before (a bug stays a bug). Refusals from the login gate (Unavailable) get their Retry-After here too."""

    @web.middleware
    async def outage(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except Unavailable as exc:
            return unavailable_response(exc)
        except Exception as exc:
            if not isinstance(exc, health.errors):
                raise
            report = await health.report(RECHECK_SECONDS)
            if report.ok:
                raise
            return unavailable_response(Unavailable(report.down()))

    return outage
