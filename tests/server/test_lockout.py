"""Lock-out (70050) as a shield, not a weapon: per (UserID, address), a good ticket always passes, memory bounded."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from im_desktop.server.lockout import Lockout
from im_desktop.server.sessions import SessionService
from tests.server.support import RunningServer, running_server

# Linux routes all of 127.0.0.0/8 to the loopback device: a second client address without a network.
OTHER_ADDRESS = "127.0.0.2"
GARBAGE = ["eJwrz8tPSbVVCkktLlGyUlAqzs9NVbLSMzQwtFQyNTE1MjA00jOxtDQyMjZSqgUAkbMKHA__", "x", "!!" * 40]


async def _login(http: aiohttp.ClientSession, url: str, user_id: str, sig: str) -> tuple[int, int | None]:
    body = {"user_id": user_id, "user_sig": sig, "platform": "Linux", "device_id": "d1"}
    async with http.post(f"{url}/im/v1/login", json=body) as resp:
        reply: dict[str, Any] = await resp.json()
        return resp.status, reply.get("code")


@asynccontextmanager
async def _other_address() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(local_addr=(OTHER_ADDRESS, 0))) as http:
        yield http


@asynccontextmanager
async def _server_with_service(tmp_path: Path, **overrides: Any) -> AsyncIterator[tuple[RunningServer, SessionService]]:
    """The real server on loopback, with its SessionService in reach to look at the lock-out table."""
    async with running_server(tmp_path / "server", **overrides) as server:
        yield server, server.service


@pytest.mark.asyncio
async def test_garbage_from_another_address_does_not_lock_the_real_user_out(server: RunningServer) -> None:
    forged = server.sig("alice", key="f" * 64)
    async with _other_address() as attacker:
        replies = [await _login(attacker, server.url, "alice", sig) for sig in [forged] * 5 + GARBAGE * 5]
    assert replies[:5] == [(401, 70009)] * 5
    assert set(replies[5:]) == {(429, 70050)}  # genuine repeated failures still get Tencent's lock-out code
    # The real user's address is not locked: its own mistake gets its own error, its good ticket logs in.
    assert await _login(server.http, server.url, "alice", forged) == (401, 70009)
    assert (await server.try_login("alice")).status == 200


@pytest.mark.asyncio
async def test_a_verified_ticket_logs_in_while_garbage_floods_in_from_the_same_address(server: RunningServer) -> None:
    """On the sandbox every local process shares 127.0.0.1 (so does a browser tab): the address alone cannot
    tell the attacker from the user, the ticket does."""
    forged = server.sig("alice", key="f" * 64)
    for _ in range(6):
        await server.try_login("alice", sig=forged)
    assert (await server.try_login("alice", sig=forged)).code == 70050  # locked

    stop = asyncio.Event()

    async def flood() -> int:
        sent = 0
        while not stop.is_set():
            reply = await server.try_login("alice", sig=GARBAGE[sent % len(GARBAGE)])
            assert reply.code in (70003, 70050), reply
            sent += 1
        return sent

    flooders = [asyncio.create_task(flood()) for _ in range(4)]
    try:
        for n in range(10):
            reply = await server.try_login("alice", device_id=f"dev-{n}")
            assert reply.status == 200, reply
    finally:
        stop.set()
        sent = await asyncio.gather(*flooders)
    assert sum(sent) >= 10  # the garbage really arrived in between


@pytest.mark.asyncio
async def test_the_failure_table_is_bounded_and_swept(tmp_path: Path) -> None:
    async with _server_with_service(tmp_path, lockout_max_entries=50, housekeeping_interval=0.02) as (srv, service):
        for n in range(200):  # 200 UserIDs tried once each: the table used to keep ~1 KB for each, forever
            assert (await srv.try_login(f"victim{n}", sig="garbage")).code == 70003
        assert len(service.lockout) == 50  # the least recently failed ones went first
        srv.clock.advance(61)  # past the window and the lock duration: nothing in the table counts any more
        deadline = time.monotonic() + 5
        while len(service.lockout):  # the housekeeping loop sweeps it without any further request
            assert time.monotonic() < deadline, f"{len(service.lockout)} entries left unswept"
            await asyncio.sleep(0.02)


def test_entries_expire_with_the_window_and_the_lock() -> None:
    lockout = Lockout(failures=3, window=60, duration=120, max_entries=1000)
    for n in range(500):
        assert lockout.failed(f"user{n}", "10.0.0.1", now=1000.0) is False
    for _ in range(3):
        lockout.failed("alice", "10.0.0.9", now=1010.0)  # the third one sets the lock, until 1130
    assert len(lockout) == 501
    assert lockout.sweep(1100.0) == 0  # still within the 120 s an entry can matter
    assert lockout.sweep(1120.5) == 500 and len(lockout) == 1
    assert lockout.failed("alice", "10.0.0.9", now=1129.0) is True
    assert lockout.failed("alice", "10.0.0.8", now=1129.0) is False  # another address is not locked
    assert lockout.failed("alice", "10.0.0.9", now=1131.0) is False  # the lock is over; a fresh count starts
    assert len(lockout) == 2
    lockout.failed("bob", "10.0.0.1", now=1131.0 + 121)  # each failure also sweeps what has run out
    assert len(lockout) == 1


def test_a_success_clears_the_count_of_its_address_only() -> None:
    lockout = Lockout(failures=2, window=60, duration=60, max_entries=10)
    lockout.failed("alice", "a", now=0.0)
    lockout.failed("alice", "b", now=0.0)
    lockout.succeeded("alice", "a")
    assert lockout.failed("alice", "a", now=1.0) is False
    assert lockout.failed("alice", "a", now=1.0) is False  # the second failure after the success sets the lock
    lockout.failed("alice", "b", now=1.0)
    assert lockout.failed("alice", "b", now=2.0) is True
    assert lockout.failed("alice", "a", now=2.0) is True
