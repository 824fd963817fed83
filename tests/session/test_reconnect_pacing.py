"""How fast the controller comes back: a server that sends READY and hangs up gets a growing backoff, not a
reconnect every quarter second; a stable connection earns a fast return; a black-holed attempt is given up
after the short handshake timeout, not the 10 s HTTP read timeout."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from im_desktop.protocol.models import LoginStatus
from im_desktop.session.backoff import Backoff
from im_desktop.session.tickets import SandboxTickets, StaticToken
from im_desktop.session.types import SdkLoginStatus, Timing
from tests.session.conftest import make_controller, session_env
from tests.session.scripted_satori import Connection, ScriptedSatori
from tests.session.signals import next_emission, record

pytestmark = pytest.mark.asyncio


def _timing(*, stable_after: float = 5.0, handshake_timeout: float = 3.0) -> Timing:
    backoff = Backoff(initial=0.1, factor=2.0, cap=0.8, jitter=0.0)
    return Timing(ping_interval=0.2, dead_after=1.0, probe_interval=0.05, ready_wait=5.0, stable_after=stable_after,
                  handshake_timeout=handshake_timeout, backoff=backoff)  # fmt: skip


@pytest.mark.parametrize("close", [1000, 1001, 4000, None], ids=["1000", "1001", "4000", "abrupt"])
async def test_ready_then_close_backs_off_instead_of_looping(tmp_path: Path, close: int | None) -> None:
    async def script(conn: Connection) -> None:
        await conn.ready()
        if close is None:
            conn.abort()  # no close frame at all: what the client sees as 1006
        else:
            await conn.ws.close(code=close)

    scripted = ScriptedSatori(script)
    async with scripted.running() as url:
        controller = make_controller(url, tmp_path, timing=_timing())
        try:
            delays = record(controller.reconnect_scheduled)
            await controller.login("bot", StaticToken("t"))
            await scripted.until_connections(6)
            # 0.1 + 0.2 + 0.4 + 0.8 + 0.8 s of waiting between the six; a TCP probe may cut the first wait short
            # once. The old code reset the backoff at every READY: six connections in about half a second.
            spent = scripted.connected_at[5] - scripted.connected_at[0]
            assert spent >= 2.1, f"six connections in {spent:.2f} s"
            assert [d for (d,) in delays[:5]] == [0.1, 0.2, 0.4, 0.8, 0.8]
            assert controller.tasks.running("connection")
            assert controller.login_status is SdkLoginStatus.LOGINED
        finally:
            await controller.aclose()


async def test_a_stable_connection_earns_a_fast_return(tmp_path: Path) -> None:
    """The other side of it: once a connection lasted `stable_after`, the backoff starts from the beginning."""

    async def script(conn: Connection) -> None:
        await conn.ready()
        if conn.number == 3:
            await asyncio.sleep(0.5)  # this one lasts past stable_after (0.3 s); the first two do not
        await conn.ws.close(code=1000)

    scripted = ScriptedSatori(script)
    async with scripted.running() as url:
        controller = make_controller(url, tmp_path, timing=_timing(stable_after=0.3))
        try:
            delays = record(controller.reconnect_scheduled)
            await controller.login("bot", StaticToken("t"))
            await scripted.until_connections(4)
            assert [d for (d,) in delays[:3]] == [0.1, 0.2, 0.1]
        finally:
            await controller.aclose()


async def test_a_black_holed_reconnect_attempt_gives_up_after_the_handshake_timeout(tmp_path: Path) -> None:
    timing = _timing(handshake_timeout=0.5)
    async with session_env(tmp_path) as env:
        controller = env.controller(timing=timing)
        await controller.login("alice", SandboxTickets())
        first_attempt = next_emission(controller.connecting)
        env.proxy.blackhole()
        await asyncio.wait_for(first_attempt, timing.dead_after + 2.0)  # the dead link was noticed
        loop = asyncio.get_running_loop()
        started = loop.time()
        second_attempt = next_emission(controller.connecting)
        await asyncio.wait_for(second_attempt, 8.0)  # the 10 s read timeout would miss this deadline
        # The handshake timeout, then at most the capped backoff: far below the 10 s HTTP read timeout.
        assert loop.time() - started < timing.handshake_timeout + timing.backoff.cap + 0.5
        assert controller.current_login["status"] == LoginStatus.RECONNECT
        env.proxy.restore()
        await asyncio.wait_for(next_emission(controller.connect_success), 5)


async def test_an_outage_that_ended_starts_the_next_one_from_the_first_delay(tmp_path: Path) -> None:
    """Failed attempts, then READY: the server was away and is back. Should it go away again soon after (a
    restart, then another), the wait starts from the beginning, although the connection was not yet stable."""
    async with session_env(tmp_path) as env:
        controller = env.controller(direct=True, timing=_timing())
        await controller.login("alice", SandboxTickets())
        port = int(env.server.url.rsplit(":", 1)[1])
        for _ in range(2):
            delays = record(controller.reconnect_scheduled)
            await env.stop_server()
            for _ in range(3):  # refused three times: the delays grow while it is away
                await asyncio.wait_for(next_emission(controller.reconnect_scheduled), 5)
            back = next_emission(controller.connect_success)
            await env.start_server(port=port)
            await asyncio.wait_for(back, 5)
            assert [d for (d,) in delays[:3]] == [0.1, 0.2, 0.4]
