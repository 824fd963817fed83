"""Faults against the real server: network cuts, black holes, restarts, sleep, kicks, expiry, garbage."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from im_desktop.protocol.models import LoginStatus
from im_desktop.session.backoff import Backoff
from im_desktop.session.tickets import PastedTicket, SandboxTickets
from im_desktop.session.types import SdkLoginStatus, Timing
from tests.clocks import FakeClock
from tests.session.conftest import session_env
from tests.session.signals import next_emission, reach_status, record, until

pytestmark = pytest.mark.asyncio


async def _post_as(env, user_id: str, text: str) -> str:
    other = await env.server.login(user_id, platform="Web")
    [message] = await other.ok("message.create", {"channel_id": "general", "content": text})
    return str(message["id"])


def _history(controller) -> list[str]:
    assert controller.cache is not None
    return [m.content for m in controller.cache.history("general")]


async def _until_in_history(controller, text: str) -> None:
    await until(f"{text!r} in the history", lambda: text in _history(controller),
                 controller.message_received, controller.conversations_changed)  # fmt: skip


@pytest.mark.parametrize("outage", [1.0, 10.0])
async def test_back_online_by_itself_after_a_network_cut(tmp_path: Path, outage: float) -> None:
    async with session_env(tmp_path) as env:
        controller = env.controller()
        await controller.login("alice", SandboxTickets())
        statuses = record(controller.status_changed)
        env.proxy.cut()
        await reach_status(controller, LoginStatus.RECONNECT)
        await _post_as(env, "bob", "sent while alice was cut off")
        await asyncio.sleep(outage)  # how long the network stays cut: the scenario, not a wait for a result
        env.proxy.restore()
        await reach_status(controller, LoginStatus.ONLINE, timeout=5)
        assert controller.login_requests == 1  # reconnecting is not a new login
        assert controller.login_status is SdkLoginStatus.LOGINED
        assert (LoginStatus.DISCONNECT,) in statuses and (LoginStatus.RECONNECT,) in statuses
        await _until_in_history(controller, "sent while alice was cut off")


@pytest.mark.slow
@pytest.mark.timeout(300)
async def test_back_online_after_three_minutes_without_network(tmp_path: Path) -> None:
    async with session_env(tmp_path) as env:
        controller = env.controller()
        await controller.login("alice", SandboxTickets())
        env.proxy.cut()
        await _post_as(env, "bob", "while away")
        await asyncio.sleep(180)  # longer than the server's 30 s heartbeat timeout: it dropped us
        env.proxy.restore()
        await reach_status(controller, LoginStatus.ONLINE, timeout=5)
        assert controller.login_requests == 1
        await _until_in_history(controller, "while away")


async def test_a_black_holed_connection_is_noticed_and_replaced(tmp_path: Path) -> None:
    async with session_env(tmp_path) as env:
        controller = env.controller()
        await controller.login("alice", SandboxTickets())
        dropped = next_emission(controller.status_changed)
        env.proxy.blackhole()
        started = asyncio.get_running_loop().time()
        await asyncio.wait_for(dropped, 5)
        noticed = asyncio.get_running_loop().time() - started
        assert noticed <= controller.timing.dead_after + 0.5
        env.proxy.restore()
        await reach_status(controller, LoginStatus.ONLINE)
        assert controller.login_requests == 1


@pytest.mark.parametrize("crash", [False, True], ids=["restart", "crash-like"])
async def test_server_restart_resumes_without_login_and_loses_nothing(tmp_path: Path, crash: bool) -> None:
    async with session_env(tmp_path) as env:
        controller = env.controller()
        await controller.login("alice", SandboxTickets())
        port = int(env.server.url.rsplit(":", 1)[1])
        await _post_as(env, "bob", "before restart")
        await _until_in_history(controller, "before restart")  # delivered live, before the server goes
        failed_attempt = next_emission(controller.connect_failed)
        if crash:
            env.proxy.cut()  # the client sees a reset, not a polite close
        await env.stop_server()
        controller.send_message("general", "written while the server was down")
        await asyncio.wait_for(failed_attempt, 5)  # it tried to come back while the server was gone
        await env.start_server(port=port)
        env.proxy.restore()
        await reach_status(controller, LoginStatus.ONLINE, timeout=5)
        assert controller.login_requests == 1
        cache = controller.cache
        assert cache is not None
        await until("the outbox sent", lambda: cache.pending() == [] and "written while the server was down"
                     in _history(controller), controller.outbox_changed, controller.message_received)  # fmt: skip
        bob = await env.server.login("bob", platform="Web")
        server_side = [m["content"] for m in (await bob.ok("message.list", {"channel_id": "general"}))["data"]]
        assert server_side == ["before restart", "written while the server was down"]  # sent exactly once
        assert _history(controller) == server_side
        assert controller.cache is not None and controller.cache.pending() == []


async def test_wake_from_sleep_reconnects_at_once_instead_of_waiting(tmp_path: Path) -> None:
    wall = FakeClock()
    slow = Timing(ping_interval=0.2, dead_after=1.0, backoff=Backoff(initial=30.0, cap=60.0, jitter=0.0),
                  wake_check_interval=0.05, wake_threshold=5.0)  # fmt: skip
    async with session_env(tmp_path) as env:
        controller = env.controller(timing=slow, wall_clock=wall)
        await controller.login("alice", SandboxTickets())
        scheduled = next_emission(controller.reconnect_scheduled)
        env.proxy.cut()
        assert (await asyncio.wait_for(scheduled, 5))[0] == 30.0  # it would wait half a minute
        env.proxy.restore()
        wall.advance(3600)  # an hour of suspend: the wall clock jumps, the monotonic one does not
        await reach_status(controller, LoginStatus.ONLINE, timeout=3)
        assert controller.login_requests == 1


@pytest.mark.parametrize(
    "skip_the_wait",
    [lambda c: c.retry_now(), lambda c: c.network_changed(True)],
    ids=["retry-now-button", "os-says-network-is-back"],
)
async def test_a_reason_to_try_now_skips_the_backoff_wait(tmp_path: Path, skip_the_wait) -> None:
    slow = Timing(ping_interval=0.2, dead_after=1.0, backoff=Backoff(initial=30.0, cap=60.0, jitter=0.0))
    async with session_env(tmp_path) as env:
        controller = env.controller(timing=slow)
        await controller.login("alice", SandboxTickets())
        scheduled = next_emission(controller.reconnect_scheduled)
        env.proxy.cut()
        await asyncio.wait_for(scheduled, 5)
        env.proxy.restore()
        skip_the_wait(controller)
        await reach_status(controller, LoginStatus.ONLINE, timeout=3)


async def test_kick_from_a_second_client_is_terminal_and_says_who(tmp_path: Path) -> None:
    async with session_env(tmp_path) as env:
        desktop = env.controller("desktop")
        await desktop.login("alice", SandboxTickets())
        kicked = next_emission(desktop.kicked_offline)
        # The phone goes around the proxy: the proxy then counts the desktop's connections only.
        phone = env.controller("phone", direct=True, platform="Android", device_id="phone-1", device_name="Pixel 9")
        await phone.login("alice", SandboxTickets())
        [info] = await asyncio.wait_for(kicked, 5)
        assert (info["reason"], info["by"]["platform"], info["by"]["device_name"]) == (
            "multi_device", "Android", "Pixel 9")  # fmt: skip
        assert isinstance(info["at"], int)
        assert (desktop.login_user, desktop.login_status) == ("", SdkLoginStatus.LOGOUT)
        connections = env.proxy.connections
        await asyncio.sleep(0.5)  # a window in which nothing may happen: no reconnect attempts after a kick
        assert env.proxy.connections == connections
        assert desktop.login_requests == 1
        assert phone.login_user == "alice"


async def test_kick_by_the_operator(tmp_path: Path) -> None:
    async with session_env(tmp_path) as env:
        controller = env.controller()
        await controller.login("alice", SandboxTickets())
        kicked = next_emission(controller.kicked_offline)
        await env.server.admin("POST", "kick", {"user_id": "alice"})
        [info] = await asyncio.wait_for(kicked, 5)
        assert (info["reason"], info["by"]) == ("admin", None)
        assert controller.login_status is SdkLoginStatus.LOGOUT


async def test_renewable_ticket_is_renewed_before_it_expires(tmp_path: Path) -> None:
    clock = FakeClock()
    async with session_env(tmp_path, clock=clock, demo_ticket_lifetime=120) as env:
        controller = env.controller(wall_clock=clock)
        expired = record(controller.user_sig_expired)
        await controller.login("alice", SandboxTickets())
        updated = next_emission(controller.login_updated)
        clock.advance(100)  # inside the 30 s renewal margin
        await asyncio.wait_for(updated, 5)
        clock.advance(100)  # past the first ticket's expiry
        await asyncio.sleep(0.3)  # a window in which nothing may happen: no expiry, the renewed ticket holds
        assert expired == []
        assert controller.current_login["status"] == LoginStatus.ONLINE
        assert controller.login_requests == 1


async def test_pasted_ticket_expiring_online_asks_for_a_new_one(tmp_path: Path) -> None:
    clock = FakeClock()
    async with session_env(tmp_path, clock=clock) as env:
        controller = env.controller(wall_clock=clock)
        await controller.login("alice", PastedTicket(env.server.sig("alice", 60)))
        expired = next_emission(controller.user_sig_expired)
        clock.advance(61)
        await asyncio.wait_for(expired, 5)
        assert controller.login_status is SdkLoginStatus.LOGOUT
        await asyncio.sleep(0.3)  # a window in which nothing may happen: never retried with the dead ticket
        assert controller.login_requests == 1


async def test_expiry_with_a_renewable_source_logs_in_once_with_a_fresh_ticket(tmp_path: Path) -> None:
    clock = FakeClock()
    # No early renewal: the server's expiry must reach us.
    fast_expiry = Timing(ping_interval=0.2, dead_after=1.0, backoff=Backoff(initial=0.05, cap=0.4),
                         renew_margin=-3600.0)  # fmt: skip
    async with session_env(tmp_path, clock=clock, demo_ticket_lifetime=60) as env:
        controller = env.controller(wall_clock=clock, timing=fast_expiry)
        await controller.login("alice", SandboxTickets())
        clock.advance(61)
        await reach_status(controller, LoginStatus.RECONNECT)
        await reach_status(controller, LoginStatus.ONLINE)
        assert controller.login_requests == 2
        assert controller.login_status is SdkLoginStatus.LOGINED


async def test_a_returning_server_is_found_by_a_tcp_probe_before_the_backoff_ends(tmp_path: Path) -> None:
    patient = Timing(ping_interval=0.2, dead_after=1.0, backoff=Backoff(initial=4.0, cap=60.0, jitter=0.0),
                     probe_interval=0.1)  # fmt: skip
    async with session_env(tmp_path) as env:
        controller = env.controller(direct=True, timing=patient)
        await controller.login("alice", SandboxTickets())
        port = int(env.server.url.rsplit(":", 1)[1])
        scheduled = next_emission(controller.reconnect_scheduled)
        await env.stop_server()
        assert (await asyncio.wait_for(scheduled, 5))[0] == 4.0
        await env.start_server(port=port)
        back_at = asyncio.get_running_loop().time()
        await reach_status(controller, LoginStatus.ONLINE, timeout=3)
        assert asyncio.get_running_loop().time() - back_at < 1.0  # not the 4 s the backoff asked for
        assert controller.login_requests == 1
