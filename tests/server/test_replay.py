"""Resume replay against the real server: it yields to other clients, it is bounded (re-sync), it is capped per user."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from im_desktop.server import replay as replay_module
from im_desktop.server.replay import REPLAY_LIMIT, ReplayGate, plan_resume
from im_desktop.server.store import LOBBY_CHANNEL
from tests.server.support import EventSocket, RunningServer, Session, running_server

pytestmark = pytest.mark.asyncio

# The longest the event loop (the server's, shared with this test's clients) may go without running another
# task while 20 sockets replay 10k events each. Before replays yielded it was 2.4 s here; now it is 30-60 ms,
# most of it this test's own 21 clients and a garbage collection, and more when the machine is busy.
MAX_LOOP_STALL = 0.5


async def seed_events(server: RunningServer, count: int, content: str = "") -> int:
    """Log `count` message events in #general straight into the server's event log, as months of use would
    leave it (the HTTP path would take minutes); the bodies copy a real event. Returns the newest `sn`."""
    store = server.store
    [(_, template)] = await store.events_after(await store.max_sn() - 1, "seeder", 1)
    bodies = [{**template, "message": {**template["message"], "id": f"seed-{i}", "content": content or f"seeded {i}"}}
              for i in range(count)]  # fmt: skip
    newest = await store.add_events(LOBBY_CHANNEL, bodies)
    assert newest == await store.max_sn()
    return newest


async def post(session: Session, text: str) -> None:
    await session.ok("message.create", {"channel_id": LOBBY_CHANNEL, "content": text})


async def identify(server: RunningServer, session: Session, sn: int | None) -> EventSocket:
    """IDENTIFY on a socket without permessage-deflate (it would only add CPU to both ends of the test)."""
    ws = await server.http.ws_connect(server.url.replace("http", "ws", 1) + "/v1/events", compress=0)
    sock = EventSocket(ws)
    await sock.send(3, {"token": session.token} if sn is None else {"token": session.token, "sn": sn})
    frame = await sock.frame()
    assert frame["op"] == 4, frame
    sock.ready = frame["body"]
    return sock


@contextlib.asynccontextmanager
async def loop_stall_meter() -> AsyncIterator[list[float]]:
    """The longest gap between two wake-ups of a 1 ms ticker: how long the event loop ran something else."""
    worst = [0.0]

    async def tick() -> None:
        last = time.monotonic()
        while True:
            await asyncio.sleep(0.001)
            now = time.monotonic()
            worst[0] = max(worst[0], now - last)
            last = now

    task = asyncio.get_running_loop().create_task(tick())
    try:
        yield worst
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def replayed_sns(sock: EventSocket, newest: int) -> list[int]:
    sns: list[int] = []
    while not sns or sns[-1] < newest:
        try:
            sns.append((await sock.event(timeout=30))["sn"])
        except TimeoutError:
            raise AssertionError(f"replay stopped after {sns[-1:]}, {len(sns)} events") from None
        if len(sns) % 20 == 0:
            # A read returns at once while frames are buffered: yield, or this test's own readers would be
            # the loop stalls it measures.
            await asyncio.sleep(0)
    return sns


async def pings_meanwhile(sock: EventSocket, stop: asyncio.Event) -> list[float]:
    """PING every 20 ms until `stop`; the round-trip of each."""
    rtts = []
    while not stop.is_set():
        sent = time.monotonic()
        await sock.send(1)
        while (await sock.frame(timeout=10))["op"] != 2:
            pass  # an event of #general
        rtts.append(time.monotonic() - sent)
        await asyncio.sleep(0.02)
    return rtts


async def test_replaying_10k_events_to_20_sockets_keeps_the_loop_responsive(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(replay_module, "REPLAY_LIMIT", 20_000)  # about the yields here, not about the limit
    async with running_server(tmp_path) as server:
        replayers = [await server.login(f"replayer-{i:02d}") for i in range(20)]
        bystander = await identify(server, await server.login("bystander"), None)
        await post(replayers[0], "first")
        newest = await seed_events(server, 10_000)
        stop = asyncio.Event()
        async with loop_stall_meter() as worst:
            pinging = asyncio.create_task(pings_meanwhile(bystander, stop))
            socks = await asyncio.gather(*(identify(server, r, 0) for r in replayers))
            replays = await asyncio.gather(*(replayed_sns(s, newest) for s in socks))
            stop.set()
            rtts = await pinging
        assert worst[0] < MAX_LOOP_STALL, f"the event loop stalled for {worst[0] * 1000:.0f} ms"
        for sock, sns in zip(socks, replays, strict=True):
            assert sock.ready["resync"] is False
            assert sns == list(range(1, newest + 1))  # everything, in order, once
        assert rtts, "the bystander got no PONG during the replays"
        await post(replayers[1], "live")
        assert (await socks[0].event())["message"]["content"] == "live"  # streaming follows the replay
        await socks[0].no_event()


async def test_resume_past_the_replay_limit_says_resync(server: RunningServer) -> None:
    alice, bob = await server.login("alice"), await server.login("bob", platform="Web")
    await post(bob, "first")
    newest = await seed_events(server, REPLAY_LIMIT + 1)
    sock = await identify(server, alice, 0)
    assert (sock.ready["resync"], sock.ready["sn"]) == (True, newest)
    await sock.no_event()  # nothing replayed: the client re-reads with message.list instead
    await post(bob, "live")
    event = await sock.event()
    assert (event["message"]["content"], event["sn"]) == ("live", newest + 1)


async def test_resume_within_the_replay_limit_replays(server: RunningServer) -> None:
    alice, bob = await server.login("alice"), await server.login("bob", platform="Web")
    await post(bob, "first")
    newest = await seed_events(server, REPLAY_LIMIT + 1)
    sock = await identify(server, alice, newest - REPLAY_LIMIT)
    assert (sock.ready["resync"], sock.ready["sn"]) == (False, newest - REPLAY_LIMIT)
    assert await replayed_sns(sock, newest) == list(range(newest - REPLAY_LIMIT + 1, newest + 1))
    await sock.no_event()


async def test_resume_from_a_pruned_or_unknown_point_says_resync(server: RunningServer) -> None:
    alice, bob = await server.login("alice"), await server.login("bob", platform="Web")
    for text in ("one", "two", "three"):
        await post(bob, text)
    assert await server.store.prune_events(0, 2, 100) == 1  # retention deletes event 1: the newest 2 are kept
    pruned = await identify(server, alice, 0)  # event 1 is gone: a replay would miss it
    assert (pruned.ready["resync"], pruned.ready["sn"]) == (True, 3)
    await pruned.no_event()
    kept = await identify(server, alice, 1)  # everything after 1 is still there
    assert kept.ready["resync"] is False
    assert [(await kept.event())["message"]["content"] for _ in range(2)] == ["two", "three"]
    future = await identify(server, alice, 1000)  # a resume point this log never had (its data was reset)
    assert (future.ready["resync"], future.ready["sn"]) == (True, 3)
    await post(bob, "live")
    assert (await future.event())["message"]["content"] == "live"  # a high `sn` must not hide live events


async def test_a_fresh_connection_says_no_resync(server: RunningServer) -> None:
    sock = await identify(server, await server.login("alice"), None)
    assert sock.ready["resync"] is False


async def test_replays_of_one_user_beyond_the_cap_wait_their_turn(tmp_path: Path) -> None:
    async with running_server(tmp_path) as server:
        assert (await server.admin("PUT", "policy", {"policy": "multi", "max_instances": {"Linux": 3}})).status == 200
        alices = [await server.login("alice", device_id=f"alice-{i}") for i in range(3)]
        bob = await server.login("bob", platform="Web")
        await post(bob, "first")
        # Replays too large for the socket buffers: a socket that is not read keeps its replay (and its slot) busy.
        newest = await seed_events(server, REPLAY_LIMIT, content=os.urandom(12_000).hex())  # 24 MB a replay
        stuck = [await identify(server, alice, 1) for alice in alices[:2]]  # never read until below
        waiting = await identify(server, alices[2], 1)  # READY at once, then the replay waits for a slot
        other_user = await identify(server, bob, newest - 3)  # another user's replay does not wait
        assert [(await other_user.event())["sn"] for _ in range(3)] == [newest - 2, newest - 1, newest]
        await waiting.no_event(within=0.5)
        await waiting.send(1)
        assert await waiting.frame() == {"op": 2, "body": {}}  # the waiting socket is live: PING is answered
        assert len(await replayed_sns(stuck[0], newest)) == newest - 1  # one replay ends: a slot frees up
        assert await replayed_sns(waiting, newest) == list(range(2, newest + 1))
        assert len(await replayed_sns(stuck[1], newest)) == newest - 1


async def test_the_gate_admits_a_few_per_user_and_forgets_idle_users() -> None:
    gate, entered = ReplayGate(per_user=2), list[str]()

    async def replay(user: str, release: asyncio.Event) -> None:
        async with gate.slot(user):
            entered.append(user)
            await release.wait()

    release = asyncio.Event()
    tasks = [asyncio.create_task(replay(u, release)) for u in ("a", "a", "a", "b")]
    for _ in range(5):
        await asyncio.sleep(0)
    assert sorted(entered) == ["a", "a", "b"]
    assert (gate.busy("a"), gate.busy("b")) == (3, 1)
    release.set()
    await asyncio.gather(*tasks)
    assert entered.count("a") == 3
    assert (gate.busy("a"), gate.busy("b")) == (0, 0)


@pytest.mark.parametrize(
    ("resume", "oldest", "expected"),
    [
        (None, 1, (50, False, 50)),
        (50, 1, (50, False, 50)),
        (0, 1, (0, False, 50)),
        (49, 40, (49, False, 50)),
        (10, 40, (50, True, 50)),  # events 11-39 were pruned
        (60, 1, (50, True, 50)),  # past the newest: another log's position
        (10, None, (50, True, 50)),  # everything was pruned
    ],
)
async def test_plan_resume(resume: int | None, oldest: int | None, expected: tuple[Any, ...]) -> None:
    plan = plan_resume(resume, 50, oldest, limit=50)
    assert (plan.sn, plan.resync, plan.replay_to) == expected
    assert plan_resume(0, 51, 1, limit=50).resync  # one past the limit
