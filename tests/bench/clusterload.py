"""Load generators for bench_cluster.py, run as child processes: sessions that resume after a node dies, and a
sample of the app's own SessionControllers."""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import random
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))  # run as a script: make the `tests` package importable
from tests.bench import wsload  # noqa: E402

OP_EVENT, OP_PING, OP_PONG, OP_IDENTIFY, OP_READY = 0, 1, 2, 3, 4
RECONNECT_FLOOR, RECONNECT_CAP = 0.2, 5.0  # seconds: jittered, doubling, like a real client's backoff


# -- sessions that come back ----------------------------------------------------------------------
@dataclass(eq=False, slots=True)
class Resuming:
    token: str
    sn: int = 0
    ws: aiohttp.ClientWebSocketResponse | None = None
    ping_sent_at: float = 0.0
    ping_measured: bool = False
    down_at: float = 0.0  # time.monotonic() when it lost its socket, 0.0 while up


@dataclass
class ResumeStats:
    measuring: bool = False
    rtts: list[float] = field(default_factory=list)
    pings_sent: int = 0
    pongs_received: int = 0
    outages: list[tuple[float, float]] = field(default_factory=list)  # (down_at, READY again at)
    closes: Counter[str] = field(default_factory=Counter)
    connect_errors: Counter[str] = field(default_factory=Counter)
    events: int = 0


class ResumingHolder:
    """Identified WebSockets with a PING every 10 s; one that closes connects again (with its token and `sn`)
    after a jittered backoff, through the same address: the load balancer picks another node."""

    def __init__(self, ws_url: str) -> None:
        self.ws_url = ws_url
        self.sessions: list[Resuming] = []
        self.stats = ResumeStats()
        self.tasks: set[asyncio.Task[None]] = set()
        self.closing = False
        self.first_up = asyncio.Event()

    def up(self) -> int:
        return sum(1 for s in self.sessions if s.ws is not None and not s.ws.closed and not s.down_at)

    async def identify(self, http: aiohttp.ClientSession, held: Resuming) -> None:
        ws = await http.ws_connect(self.ws_url, timeout=aiohttp.ClientWSTimeout(ws_close=5.0))
        body: dict[str, Any] = {"token": held.token}
        if held.sn:
            body["sn"] = held.sn
        await ws.send_str(json.dumps({"op": OP_IDENTIFY, "body": body}))
        ready = await asyncio.wait_for(ws.receive(), 30.0)
        frame = json.loads(ready.data) if ready.type is aiohttp.WSMsgType.TEXT else {}
        if frame.get("op") != OP_READY:
            await ws.close()
            raise RuntimeError(f"no READY: {ready.type.name} close code {ws.close_code}")
        held.sn = int(frame["body"].get("sn") or held.sn)
        held.ws = ws

    async def keep(self, http: aiohttp.ClientSession, held: Resuming, gate: asyncio.Semaphore) -> None:
        delay = RECONNECT_FLOOR
        while not self.closing:
            if held.ws is None or held.ws.closed:
                try:
                    async with gate:
                        await self.identify(http, held)
                except wsload.WS_ERRORS as exc:
                    self.stats.connect_errors[wsload.short_error(exc)] += 1
                    await asyncio.sleep(random.uniform(delay / 2, delay))
                    delay = min(delay * 2, RECONNECT_CAP)
                    continue
                delay = RECONNECT_FLOOR
                if held.down_at:
                    self.stats.outages.append((held.down_at, time.monotonic()))
                    held.down_at = 0.0
            await self.read(held)
            if self.closing:
                return
            held.down_at = held.down_at or time.monotonic()
            self.stats.closes[str(held.ws.close_code if held.ws is not None else None)] += 1
            held.ws = None
            await asyncio.sleep(random.uniform(0.0, RECONNECT_FLOOR))  # clients do not return in lockstep

    async def read(self, held: Resuming) -> None:
        assert held.ws is not None
        stats = self.stats
        async for msg in held.ws:
            if msg.type is not aiohttp.WSMsgType.TEXT:
                continue
            frame = json.loads(msg.data)
            op = frame.get("op")
            if op == OP_PONG and held.ping_sent_at:
                if held.ping_measured:
                    stats.rtts.append(time.monotonic() - held.ping_sent_at)
                    stats.pongs_received += 1
                held.ping_sent_at, held.ping_measured = 0.0, False
            elif op == OP_EVENT:
                sn = (frame.get("body") or {}).get("sn")
                if isinstance(sn, int) and sn > held.sn:
                    held.sn = sn
                stats.events += 1

    async def heartbeat(self) -> None:
        slots = wsload.HEARTBEAT_SLOTS
        tick_seconds, start, tick = wsload.HEARTBEAT_INTERVAL / slots, time.monotonic(), 0
        while True:
            tick += 1
            await asyncio.sleep(max(0.0, start + tick * tick_seconds - time.monotonic()))
            for held in self.sessions[tick % slots :: slots]:
                ws = held.ws
                if ws is None or ws.closed:
                    continue
                held.ping_sent_at, held.ping_measured = time.monotonic(), self.stats.measuring
                try:
                    await ws.send_str(wsload.PING_FRAME)
                except (ConnectionError, RuntimeError):
                    held.ping_measured = False
                    continue
                self.stats.pings_sent += int(held.ping_measured)


async def hold_child(config: dict[str, Any], commands: asyncio.StreamReader) -> None:
    holder = ResumingHolder(config["ws_url"])
    holder.sessions = [Resuming(t) for t in config["tokens"]]
    random.shuffle(holder.sessions)  # heartbeat slots by position: spread them at random
    gate = asyncio.Semaphore(config["connect_concurrency"])
    timeout = aiohttp.ClientTimeout(total=None, connect=30)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0), timeout=timeout) as http:
        started = time.monotonic()
        tasks = [asyncio.create_task(holder.keep(http, s, gate)) for s in holder.sessions]
        beat = asyncio.create_task(holder.heartbeat())
        deadline = started + config.get("connect_timeout", 240.0)
        while holder.up() < len(holder.sessions) and time.monotonic() < deadline:  # noqa: ASYNC110 (a count)
            await asyncio.sleep(0.2)
        wsload.emit({"event": "connected", "open": holder.up(), "seconds": time.monotonic() - started,
                     "errors": dict(holder.stats.connect_errors)})  # fmt: skip
        while (command := (await wsload.read_message(commands))["command"]) != "close":
            stats = holder.stats
            if command == "measure":
                stats.measuring = True
            elif command == "report":
                stats.measuring = False
                await asyncio.sleep(1.0)  # the PINGs still in flight
                down = [s.down_at for s in holder.sessions if s.down_at]
                wsload.emit({"event": "report", "open": holder.up(), "rtts": stats.rtts, "pings_sent": stats.pings_sent,
                             "pongs_received": stats.pongs_received, "outages": stats.outages, "still_down": down,
                             "closes": dict(stats.closes), "connect_errors": dict(stats.connect_errors)})  # fmt: skip
                stats.rtts, stats.outages, stats.pings_sent, stats.pongs_received = [], [], 0, 0
        holder.closing = True
        beat.cancel()
        await asyncio.gather(*(s.ws.close() for s in holder.sessions if s.ws is not None), return_exceptions=True)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, beat, return_exceptions=True)
    wsload.emit({"event": "closed"})


# -- the app's own client -------------------------------------------------------------------------
async def controllers_child(config: dict[str, Any], commands: asyncio.StreamReader) -> None:
    """SessionControllers logged in through the balancer; report ONLINE/offline moments and what they received."""
    from im_desktop.local.credentials import CredentialStore
    from im_desktop.protocol.models import LoginStatus
    from im_desktop.session.controller import SessionController
    from im_desktop.session.tickets import SandboxTickets
    from im_desktop.session.types import ServerProfile
    from tests.session.keyrings import MemoryKeyring

    folder = Path(tempfile.mkdtemp(prefix="im-bench-controllers-"))
    controllers: dict[str, SessionController] = {}
    received: dict[str, list[str]] = {}
    offline_at: dict[str, float] = {}
    outages: list[tuple[str, float, float]] = []

    def watch(user: str, ctl: SessionController) -> None:
        def status(value: int) -> None:
            if value == LoginStatus.ONLINE and user in offline_at:
                outages.append((user, offline_at.pop(user), time.monotonic()))
            elif value != LoginStatus.ONLINE and user not in offline_at:
                offline_at[user] = time.monotonic()

        ctl.status_changed.connect(status)
        ctl.message_received.connect(lambda _c, m: received[user].append(str(m.get("content"))))

    def cached(ctl: SessionController) -> list[str]:
        """What the controller's cache holds: a message it got without a signal (a re-sync) still counts."""
        cache = ctl.cache
        if cache is None:
            return []
        return [m.content for c in cache.conversations() for m in cache.history(c.channel_id, 1000)]

    for user in config["users"]:
        ctl = SessionController(ServerProfile("bench", config["base_url"]), cache_dir=folder / user,
                                credentials=CredentialStore(MemoryKeyring()), platform="Linux",
                                device_id=f"bench-{user}", device_name="bench")  # fmt: skip
        controllers[user], received[user] = ctl, []
        watch(user, ctl)
    started = time.monotonic()
    results = await asyncio.gather(*(c.login(u, SandboxTickets()) for u, c in controllers.items()),
                                   return_exceptions=True)  # fmt: skip
    failed = {u: wsload.short_error(r) for u, r in zip(controllers, results, strict=True) if isinstance(r, Exception)}
    online = [u for u, c in controllers.items() if c.current_login["status"] == LoginStatus.ONLINE]
    wsload.emit({"event": "online", "online": online, "failed": failed, "seconds": time.monotonic() - started})
    while (command := (await wsload.read_message(commands))["command"]) != "close":
        if command == "report":
            now_online = [u for u, c in controllers.items() if c.current_login["status"] == LoginStatus.ONLINE]
            logins = {u: c.login_requests for u, c in controllers.items()}
            wsload.emit({"event": "report", "online": now_online, "outages": outages, "offline_since": offline_at,
                         "received": received, "cached": {u: cached(c) for u, c in controllers.items()},
                         "logins": logins})  # fmt: skip
    for ctl in controllers.values():
        await ctl.aclose()
    wsload.emit({"event": "closed"})


def main(role: str) -> None:
    if role == "controllers":
        import qasync
        from PySide6.QtCore import QCoreApplication

        app = QCoreApplication.instance() or QCoreApplication([])
        loop = qasync.QEventLoop(app)
        asyncio.set_event_loop(loop)
        with loop:
            loop.run_until_complete(child_main(role))
        return
    gc.disable()  # as wsload: a full collection over thousands of sockets would count as server latency
    asyncio.run(child_main(role))


async def child_main(role: str) -> None:
    commands = asyncio.StreamReader(limit=wsload.LINE_LIMIT)
    loop = asyncio.get_running_loop()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(commands), sys.stdin)
    config = await wsload.read_message(commands)
    await (hold_child if role == "hold" else controllers_child)(config, commands)


async def start_child(role: str, config: dict[str, Any]) -> wsload.LoadChild:
    process = await asyncio.create_subprocess_exec(
        sys.executable, __file__, role, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        limit=wsload.LINE_LIMIT,
    )  # fmt: skip
    child = wsload.LoadChild(process)
    await child.send(config)
    return child


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("role", choices=["hold", "controllers"])
    main(parser.parse_args().role)
