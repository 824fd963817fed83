"""The event stream's message size limit holds while a frame arrives (httpx-ws 0.9.0 itself buffers any size),
and a close code sent right after READY reaches the StreamEnd.

If an httpx-ws upgrade changes the internals `BoundedSession` relies on, the memory test here fails."""

from __future__ import annotations

import asyncio
import tracemalloc
from typing import Any

import httpx
import pytest

from im_desktop.protocol.events import EventStream, Ready, StreamEnd
from tests.protocol.raw_ws import RawPeer, RawWsServer

pytestmark = pytest.mark.asyncio

FRAME = 24 * 1024 * 1024  # far past the 1 MiB limit; the old client needed about three times this in memory
READY = {"op": 4, "body": {"logins": [{"platform": "raw", "user": {"id": "bot"}}], "sn": 1}}


async def _run(url: str) -> tuple[StreamEnd, list[Ready], list[dict[str, Any]]]:
    readies: list[Ready] = []
    events: list[dict[str, Any]] = []
    async with httpx.AsyncClient() as http:
        stream = EventStream(http, "ws" + url.removeprefix("http") + "/v1/events", "token", None,
                             ping_interval=30.0, dead_after=30.0, handshake_timeout=5.0)  # fmt: skip
        end = await asyncio.wait_for(stream.run(readies.append, events.append), 30)
    return end, readies, events


@pytest.mark.parametrize("fragmented", [False, True], ids=["one-frame", "fragments"])
async def test_an_oversized_message_is_refused_before_it_is_in_memory(fragmented: bool) -> None:
    sent: list[int] = []

    async def script(peer: RawPeer, n: int) -> None:
        await peer.receive_json()  # IDENTIFY
        await peer.send_json(READY)
        await peer.send_json({"op": 0, "body": {"sn": 2, "type": "before-the-big-one"}})
        sent.append(await peer.send_huge_text(FRAME, fragmented=fragmented))
        await peer.wait_closed()

    async with RawWsServer(script).running() as server:
        tracemalloc.start()
        try:
            end, readies, events = await _run(server.url)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        await server.peers[0].wait_closed()
    assert (end.code, end.ready) == (1009, True)
    assert [r.sn for r in readies] == [1]
    assert [e["type"] for e in events] == ["before-the-big-one"]  # what came before still counts
    assert peak < 8 * 1024 * 1024, f"the client held {peak / 2**20:.1f} MiB for a {FRAME / 2**20:.0f} MiB frame"
    assert server.peers[0].close_code == 1009  # the server is told why
    assert sent[0] < FRAME  # the client hung up long before the end of it


async def test_a_message_at_the_limit_still_arrives() -> None:
    text = '{"op": 0, "body": {"sn": 2, "type": "big", "pad": "' + "y" * (1024 * 1024 - 60) + '"}}'
    assert len(text) <= 1024 * 1024

    async def script(peer: RawPeer, n: int) -> None:
        await peer.receive_json()
        await peer.send_json(READY)
        await peer.send_text(text)
        await peer.close(4000)

    async with RawWsServer(script).running() as server:
        end, _, events = await _run(server.url)
    assert [e["type"] for e in events] == ["big"]
    assert end.code == 4000


@pytest.mark.parametrize("code", [1000, 1001, 4000, 3000])
async def test_a_close_right_after_ready_keeps_its_code(code: int) -> None:
    async def script(peer: RawPeer, n: int) -> None:
        await peer.receive_json()
        await peer.send_json(READY)
        await peer.close(code)  # in the same breath: the client's first PING finds the socket closing

    async with RawWsServer(script).running() as server:
        end, readies, _ = await _run(server.url)
    assert (end.code, end.ready, len(readies)) == (code, True, 1)


async def test_an_abrupt_end_right_after_ready_is_a_lost_connection() -> None:
    async def script(peer: RawPeer, n: int) -> None:
        await peer.receive_json()
        await peer.send_json(READY)
        peer.abort()

    async with RawWsServer(script).running() as server:
        end, _, _ = await _run(server.url)
    assert (end.code, end.ready, end.unreachable) == (None, True, False)
