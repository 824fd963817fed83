"""The desktop client against a server whose database or broker is away (90504): it keeps the session, waits,
and carries on by itself when they are back: messages are sent, a login that was refused is tried again."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from im_desktop.protocol.errors import ErrorCode
from im_desktop.protocol.models import LoginStatus
from im_desktop.session.tickets import SandboxTickets
from im_desktop.session.types import SdkLoginStatus
from tests.clocks import FakeClock
from tests.server import redis_server
from tests.server.cluster import stoppable_pg
from tests.server.support import RunningServer
from tests.session.conftest import session_env
from tests.session.signals import reach_status, record, until

pytestmark = [pytest.mark.asyncio, pytest.mark.slow]

DEADLINE = 15.0


async def _health_becomes(server: RunningServer, status: int) -> None:
    deadline = time.monotonic() + DEADLINE
    while True:
        async with server.http.get(f"{server.url}/healthz") as resp:
            if resp.status == status:
                return
        if time.monotonic() > deadline:
            pytest.fail(f"/healthz did not say {status} within {DEADLINE} s")
        await asyncio.sleep(0.1)


async def _poll(what: str, check: Callable[[], bool]) -> None:
    deadline = time.monotonic() + DEADLINE
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {DEADLINE} s")
        await asyncio.sleep(0.05)


async def test_a_message_sent_while_the_database_is_away_waits_and_goes_when_it_is_back(tmp_path: Path) -> None:
    with stoppable_pg() as cluster:
        async with session_env(tmp_path, database=cluster.durable_database()) as env:
            controller = env.controller()
            await controller.login("alice", SandboxTickets())
            failures = record(controller.send_failed)
            await asyncio.to_thread(cluster.halt, "fast")
            await _health_becomes(env.server, 503)
            controller.send_message("general", "written during the outage")
            await _poll("the refused send waits for a retry", lambda: controller.outbox.waiting() == 1
                        and controller.tasks.running("outbox-retry"))  # fmt: skip
            assert failures == []  # not marked failed: it waits, as for a lost link
            await asyncio.to_thread(cluster.resume)
            await until("the message went out by itself", lambda: controller.outbox.waiting() == 0,
                        controller.outbox_changed, timeout=DEADLINE)  # fmt: skip
            assert failures == []
            assert controller.current_login["status"] == LoginStatus.ONLINE  # the socket stayed up throughout


async def test_a_new_login_refused_while_the_broker_is_away_is_tried_again_until_it_passes(tmp_path: Path) -> None:
    redis_server.require()
    redis = redis_server.RedisServer()
    redis.start()
    clock = FakeClock()
    try:
        with stoppable_pg() as cluster:
            async with session_env(tmp_path, clock=clock, database=cluster.durable_database(),
                                   broker=redis.url) as env:  # fmt: skip
                await _health_becomes(env.server, 200)
                controller = env.controller()
                await controller.login("alice", SandboxTickets())
                failed = record(controller.connect_failed)
                expired = record(controller.user_sig_expired)
                redis.stop()
                await _health_becomes(env.server, 503)
                # The ticket runs out: the server ends the session, and the client's one fresh login is refused
                # with 90504 (no broker: the login rules could not hold across nodes), again and again.
                clock.advance(8 * 86400)
                await until("two refused logins", lambda: [c for c, _ in failed].count(ErrorCode.SERVICE_UNAVAILABLE)
                            >= 2, controller.connect_failed, timeout=DEADLINE)  # fmt: skip
                assert expired == [] and controller.login_status is SdkLoginStatus.LOGINED
                await asyncio.to_thread(redis.restart)
                await reach_status(controller, LoginStatus.ONLINE, timeout=DEADLINE)
                assert expired == [] and controller.login_status is SdkLoginStatus.LOGINED
    finally:
        redis.close()
