"""Retention: ended sessions and old events leave the database on schedule; a resume from before is told so."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from im_desktop.protocol.models import CloseCode
from im_desktop.server.sessions import SessionService
from im_desktop.server.store import LOBBY_CHANNEL
from tests.server.support import RunningServer, Session, running_server

pytestmark = pytest.mark.asyncio

HOUR = 3600
# The housekeeping loop stays out of the way unless a test asks for it: the tests call the sweep themselves.
QUIET = {"housekeeping_interval": 3600.0, "session_retention": HOUR, "event_retention": HOUR}


@asynccontextmanager
async def _server(tmp_path: Path, **overrides: Any) -> AsyncIterator[tuple[RunningServer, SessionService]]:
    """The real server on loopback, with its SessionService (and so its store) in reach."""
    async with running_server(tmp_path / "server", **{**QUIET, **overrides}) as server:
        yield server, server.service


async def _say(session: Session, *texts: str) -> None:
    for text in texts:
        await session.ok("message.create", {"channel_id": LOBBY_CHANNEL, "content": text})


async def test_ended_sessions_are_deleted_once_the_retention_has_passed(tmp_path: Path) -> None:
    async with _server(tmp_path) as (srv, service):
        kicked = await srv.login("alice", platform="Linux", device_id="old-box")
        current = await srv.login("alice", platform="Linux", device_id="new-box")  # kicks the first
        logged_out = await srv.login("bob")
        assert (await srv.post("/im/v1/logout", {}, headers=logged_out.headers())).status == 200
        short_ticket = await srv.login("carol", sig=srv.sig("carol", 60))  # never ended, its ticket runs out
        assert await service.retention.sweep(srv.clock()) == (0, 0)  # nothing is old enough yet
        srv.clock.advance(HOUR + 61)
        sessions, _ = await service.retention.sweep(srv.clock())
        assert sessions == 3
        store = service.store
        for gone in (kicked, logged_out, short_ticket):
            assert await store.session_by_id(gone.session_id) is None
        assert await store.session_by_id(current.session_id) is not None  # live sessions stay
        sock = await srv.websocket()  # the pruned one is now just an unknown token: log in again
        await sock.send(3, {"token": kicked.token})
        assert await sock.close_code() == CloseCode.INVALID_TOKEN
        assert (await current.api("login.get")).status == 200


async def test_old_events_leave_the_log_and_a_resume_from_before_is_told_to_resync(tmp_path: Path) -> None:
    async with _server(tmp_path) as (srv, service):
        alice, bob = await srv.login("alice", sig=srv.sig("alice", 30 * 86400)), await srv.login("bob")
        sock = await alice.connect()
        await _say(bob, "one", "two")
        seen = (await sock.event())["sn"]  # alice saw "one", then went offline
        await sock.ws.close()
        srv.clock.advance(HOUR + 1)
        await _say(bob, "three")
        _, events = await service.retention.sweep(srv.clock())
        assert events == 2  # "one" and "two" are older than the retention; "three" is not
        store = service.store
        newest = await store.max_sn()
        assert await store.oldest_sn() == newest > seen + 1  # the gap is visible: a resume from `seen` missed events
        resumed = await alice.connect(sn=seen)
        assert (resumed.ready.get("resync"), resumed.ready["sn"]) == (True, newest)
        texts = [m["content"] for m in (await alice.ok("message.list", {"channel_id": LOBBY_CHANNEL}))["data"]]
        assert texts == ["one", "two", "three"]  # messages stay: the re-sync reads them all again


async def test_the_newest_events_stay_and_at_most_the_configured_number(tmp_path: Path) -> None:
    async with _server(tmp_path, event_retention_max=5) as (srv, service):
        store = service.store
        stamp = int(srv.clock() * 1000)
        bodies = [{"type": "test", "timestamp": stamp, "n": n} for n in range(2500)]  # more than one sweep batch
        newest = await store.add_events(LOBBY_CHANNEL, bodies)
        assert newest == await store.max_sn()
        assert await service.retention.sweep(srv.clock()) == (0, 2495)
        assert (await store.oldest_sn(), await store.max_sn()) == (newest - 4, newest)
        srv.clock.advance(HOUR + 1)  # now every event is past the age limit too
        assert await service.retention.sweep(srv.clock()) == (0, 4)
        # The newest stays: it says how far the log went.
        assert await store.oldest_sn() == await store.max_sn() == newest
        fresh = await (await srv.login("alice")).connect()
        assert fresh.ready["sn"] == newest  # a new client starts from the true newest sn, not from 0


async def test_the_housekeeping_loop_prunes_by_itself(tmp_path: Path) -> None:
    async with _server(tmp_path, housekeeping_interval=0.02, retention_interval=0.0) as (srv, service):
        bob = await srv.login("bob")
        assert (await srv.post("/im/v1/logout", {}, headers=bob.headers())).status == 200
        srv.clock.advance(HOUR + 1)
        deadline = time.monotonic() + 5
        while await service.store.session_by_id(bob.session_id) is not None:
            assert time.monotonic() < deadline, "the ended session was never pruned"
            await asyncio.sleep(0.02)


async def test_a_failed_sweep_is_logged_in_one_line_and_the_loop_carries_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with _server(tmp_path, housekeeping_interval=0.02, retention_interval=0.0) as (srv, service):
        real_sweep, failures = service.retention.sweep, list[float]()

        async def full_disk_once(now: float) -> tuple[int, int]:
            if not failures:
                failures.append(now)
                raise service.store.errors[0]("database or disk is full")  # sqlite3.Error, or asyncpg's
            return await real_sweep(now)

        service.retention.sweep = full_disk_once  # type: ignore[method-assign]
        bob = await srv.login("bob")
        assert (await srv.post("/im/v1/logout", {}, headers=bob.headers())).status == 200
        srv.clock.advance(HOUR + 1)
        deadline = time.monotonic() + 5
        while await service.store.session_by_id(bob.session_id) is not None:
            assert time.monotonic() < deadline, "the loop stopped after the failed sweep"
            await asyncio.sleep(0.02)
    assert failures
    warnings = [r for r in caplog.records if "retention sweep failed" in r.getMessage()]
    assert len(warnings) == 1 and warnings[0].exc_info is None
    assert "database or disk is full" in warnings[0].getMessage()
