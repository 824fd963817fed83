"""Load generators for bench_server.py: login batches and idle heartbeating WebSockets, run as child processes."""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import math
import random
import sys
import time
from collections import Counter
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from im_desktop.protocol import usersig

OP_EVENT, OP_PING, OP_PONG, OP_IDENTIFY, OP_READY = 0, 1, 2, 3, 4
PING_FRAME = json.dumps({"op": OP_PING, "body": {}})
HEARTBEAT_INTERVAL = 10.0  # seconds between PINGs of one socket, as the server tells its clients
HEARTBEAT_SLOTS = 1000  # phases within the interval: 10k sockets make bursts of 10 PINGs every 10 ms
LOOP_LAG_PROBE = 0.05  # seconds between probes of this process's own event-loop lag
LINE_LIMIT = 64 * 1024 * 1024  # one JSON message per line; token lists and samples are long
LOGIN_PLATFORM = "Windows"
SIG_LIFETIME = 86400
WS_ERRORS = (aiohttp.ClientError, TimeoutError, OSError, RuntimeError, ValueError)


def summarize(samples: Sequence[float]) -> dict[str, float | int]:
    """count, mean, p50, p90, p99 and max in ms of samples in seconds (nearest-rank percentiles)."""
    if not samples:
        return {"count": 0}
    ordered = sorted(samples)

    def ms(seconds: float) -> float:
        return round(seconds * 1000, 3)

    def rank(q: float) -> float:
        return ms(ordered[max(0, math.ceil(q * len(ordered)) - 1)])

    return {"count": len(ordered), "mean": ms(sum(ordered) / len(ordered)), "p50": rank(0.5), "p90": rank(0.9),
            "p99": rank(0.99), "max": ms(ordered[-1])}  # fmt: skip


def short_error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {str(exc)[:100]}"


def emit(message: dict[str, Any]) -> None:
    """Send one JSON message to the parent process (one line on stdout)."""
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


async def read_message(reader: asyncio.StreamReader) -> dict[str, Any]:
    line = await reader.readline()
    if not line:
        raise SystemExit(0)  # the parent went away: stop quietly
    message: dict[str, Any] = json.loads(line)
    return message


# -- logins ---------------------------------------------------------------------------------------
def login_body(user_id: str, user_sig: str, device_id: str) -> bytes:
    return json.dumps({"user_id": user_id, "user_sig": user_sig, "platform": LOGIN_PLATFORM,
                       "device_id": device_id, "device_name": "bench"}).encode()  # fmt: skip


async def login_once(http: aiohttp.ClientSession, base_url: str, body: bytes) -> tuple[str | None, str | None]:
    """POST one login; (token, None) on success, (None, error) otherwise."""
    try:
        async with http.post(f"{base_url}/im/v1/login", data=body,
                             headers={"Content-Type": "application/json"}) as resp:  # fmt: skip
            payload = await resp.read()
            if resp.status != 200:
                return None, f"HTTP {resp.status}: {payload[:100].decode(errors='replace')}"
            return str(json.loads(payload)["token"]), None
    except (aiohttp.ClientError, TimeoutError, ValueError, KeyError) as exc:
        return None, short_error(exc)


@dataclass
class LoginBatch:
    tokens: dict[str, str] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    started: float = 0.0
    finished: float = 0.0


async def login_batch(
    http: aiohttp.ClientSession, base_url: str, bodies: list[tuple[str, bytes]], concurrency: int
) -> LoginBatch:
    """Log in every (user_id, body) with `concurrency` requests in flight; time each one."""
    batch, pending = LoginBatch(started=time.monotonic()), iter(bodies)

    async def worker() -> None:
        for user_id, body in pending:
            sent = time.monotonic()
            token, error = await login_once(http, base_url, body)
            batch.latencies.append(time.monotonic() - sent)
            if token is not None:
                batch.tokens[user_id] = token
            else:
                batch.errors[error or "?"] += 1

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    batch.finished = time.monotonic()
    return batch


async def login_child(config: dict[str, Any], commands: asyncio.StreamReader) -> None:
    """Sign the tickets (as a business server would), warm the keep-alive pool, wait for "go", run, report."""

    def bodies(user_ids: list[str]) -> list[tuple[str, bytes]]:
        sign = usersig.generate
        return [(u, login_body(u, sign(config["sdkappid"], config["secret_key"], u, SIG_LIFETIME), "bench-device"))
                for u in user_ids]  # fmt: skip

    timed, warm, concurrency = bodies(config["user_ids"]), bodies(config["warmup_user_ids"]), config["concurrency"]
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=60)) as http:
        warmed = await login_batch(http, config["base_url"], warm, concurrency)
        emit({"event": "warm", "errors": dict(warmed.errors)})
        await read_message(commands)  # "go"
        batch = await login_batch(http, config["base_url"], timed, concurrency)
    emit({"event": "done", "tokens": batch.tokens, "latencies": batch.latencies, "errors": dict(batch.errors),
          "started": batch.started, "finished": batch.finished})  # fmt: skip


# -- one WebSocket at a time ----------------------------------------------------------------------
async def open_identified(http: aiohttp.ClientSession, ws_url: str, token: str) -> aiohttp.ClientWebSocketResponse:
    """Connect and IDENTIFY; raise RuntimeError unless READY comes back."""
    ws = await http.ws_connect(ws_url, timeout=aiohttp.ClientWSTimeout(ws_close=5.0))
    await ws.send_str(json.dumps({"op": OP_IDENTIFY, "body": {"token": token}}))
    ready = await asyncio.wait_for(ws.receive(), 30.0)
    if ready.type is not aiohttp.WSMsgType.TEXT or json.loads(ready.data).get("op") != OP_READY:
        await ws.close()
        raise RuntimeError(f"no READY: {ready.type.name} close code {ws.close_code}")
    return ws


async def warm_event_stream(http: aiohttp.ClientSession, ws_url: str, token: str, rounds: int = 20) -> None:
    """Exercise the WebSocket path so that lazy imports and caches are not counted as per-session memory."""
    for _ in range(rounds):
        ws = await open_identified(http, ws_url, token)
        await ws.send_str(PING_FRAME)
        await asyncio.wait_for(ws.receive(), 10.0)
        await ws.close()


async def kick_once(
    http: aiohttp.ClientSession, base_url: str, ws_url: str, user_id: str, sig: str
) -> tuple[float, str]:
    """Connect instance A, log in B (same user and platform): (seconds until A hears login-removed, what it heard)."""
    token, error = await login_once(http, base_url, login_body(user_id, sig, "kick-device-a"))
    if token is None:
        raise RuntimeError(f"login A failed: {error}")
    ws = await open_identified(http, ws_url, token)
    sent = time.monotonic()
    second_login = asyncio.create_task(login_once(http, base_url, login_body(user_id, sig, "kick-device-b")))
    try:
        while True:
            msg = await asyncio.wait_for(ws.receive(), 10.0)
            if msg.type is not aiohttp.WSMsgType.TEXT:
                raise RuntimeError(f"closed before login-removed: {msg.type.name} {ws.close_code}")
            frame = json.loads(msg.data)
            body = frame.get("body") or {}
            if frame.get("op") == OP_EVENT and body.get("type") == "login-removed":
                latency = time.monotonic() - sent
                break
        token_b, error = await second_login
        if token_b is None:
            raise RuntimeError(f"login B failed: {error}")
        closing = await asyncio.wait_for(ws.receive(), 10.0)  # the close frame that follows the event
        close_code = int(closing.data) if closing.type is aiohttp.WSMsgType.CLOSE else ws.close_code
        return latency, f"{(body.get('ended') or {}).get('reason')}, close {close_code}"
    finally:
        second_login.cancel()  # a no-op once it is done
        await ws.close()


async def measure_kicks(
    base_url: str, ws_url: str, sign: Callable[[str], str], count: int, window: float
) -> dict[str, Any]:
    """`count` kicks one after another, spread over `window` seconds, each of a fresh user."""
    latencies, outcomes, errors = list[float](), Counter[str](), Counter[str]()
    slowest: list[tuple[float, float]] = []  # (latency in ms, when it ended), for matching with server stalls
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=8), timeout=timeout) as http:
        spacing, started = window / max(count, 1), time.monotonic()
        for i in range(count):
            if time.monotonic() > started + window + 30.0:
                errors["not started: out of time"] += count - i
                break
            await asyncio.sleep(max(0.0, started + i * spacing - time.monotonic()))
            user_id = f"kick-{i:05d}"
            try:
                latency, outcome = await asyncio.wait_for(kick_once(http, base_url, ws_url, user_id, sign(user_id)), 10)
            except WS_ERRORS as exc:
                errors[short_error(exc)] += 1
                continue
            latencies.append(latency)
            outcomes[outcome] += 1
            slowest = sorted([*slowest, (round(latency * 1000, 1), round(time.time(), 2))], reverse=True)[:5]
    return {"attempted": count, "completed": len(latencies), "latency_ms": summarize(latencies),
            "outcomes": dict(outcomes), "errors": dict(errors), "slowest_ms_at_epoch": slowest}  # fmt: skip


# -- many idle sessions ---------------------------------------------------------------------------
@dataclass(eq=False, slots=True)
class HeldSocket:
    ws: aiohttp.ClientWebSocketResponse
    ping_sent_at: float = 0.0  # of the PING still waiting for its PONG, 0.0 if none
    ping_measured: bool = False  # that PING was sent inside the measurement window


@dataclass
class HolderStats:
    measuring: bool = False
    rtts: list[float] = field(default_factory=list)
    loop_lags: list[float] = field(default_factory=list)
    pings_sent: int = 0
    pongs_received: int = 0
    closed_early: Counter[str] = field(default_factory=Counter)  # close code -> sockets the server or network ended


class SessionHolder:
    """Keeps many identified WebSockets open with a PING every HEARTBEAT_INTERVAL, phases spread at random."""

    def __init__(self, ws_url: str) -> None:
        self.ws_url = ws_url
        self.open: set[HeldSocket] = set()
        self.slots: list[list[HeldSocket]] = [[] for _ in range(HEARTBEAT_SLOTS)]
        self.stats = HolderStats()
        self.connect_errors: Counter[str] = Counter()
        self.tasks: set[asyncio.Task[None]] = set()
        self.closing = False  # set once we close the sockets ourselves

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def connect_all(self, http: aiohttp.ClientSession, tokens: list[str], concurrency: int) -> None:
        gate = asyncio.Semaphore(concurrency)

        async def connect(token: str) -> None:
            async with gate:
                try:
                    ws = await open_identified(http, self.ws_url, token)
                except WS_ERRORS as exc:
                    self.connect_errors[short_error(exc)] += 1
                    return
            held = HeldSocket(ws)
            self.open.add(held)
            self.slots[random.randrange(HEARTBEAT_SLOTS)].append(held)  # its first PING comes within an interval
            self.spawn(self.read_frames(held))

        await asyncio.gather(*(connect(t) for t in tokens))

    async def read_frames(self, held: HeldSocket) -> None:
        stats = self.stats
        while True:
            msg = await held.ws.receive()
            if msg.type is aiohttp.WSMsgType.TEXT:
                if held.ping_sent_at and json.loads(msg.data).get("op") == OP_PONG:
                    if held.ping_measured:
                        stats.rtts.append(time.monotonic() - held.ping_sent_at)
                        stats.pongs_received += 1
                    held.ping_sent_at, held.ping_measured = 0.0, False
            elif msg.type is not aiohttp.WSMsgType.BINARY:  # CLOSE, CLOSING, CLOSED or ERROR
                break
        if not self.closing:
            self.open.discard(held)
            stats.closed_early[str(held.ws.close_code)] += 1

    async def heartbeat(self) -> None:
        """One task for all sockets: every interval/SLOTS seconds, PING the sockets of the next slot."""
        tick_seconds, start, tick = HEARTBEAT_INTERVAL / HEARTBEAT_SLOTS, time.monotonic(), 0
        while True:
            tick += 1
            await asyncio.sleep(max(0.0, start + tick * tick_seconds - time.monotonic()))
            for held in self.slots[tick % HEARTBEAT_SLOTS]:
                if held not in self.open:
                    continue
                held.ping_sent_at, held.ping_measured = time.monotonic(), self.stats.measuring
                try:
                    await held.ws.send_str(PING_FRAME)
                except (ConnectionError, RuntimeError):
                    held.ping_measured = False
                    continue
                self.stats.pings_sent += int(held.ping_measured)

    async def probe_loop_lag(self) -> None:
        """How late this process wakes up: a large lag means the client, not the server, inflates the RTTs."""
        while True:
            due = time.monotonic() + LOOP_LAG_PROBE
            await asyncio.sleep(LOOP_LAG_PROBE)
            if self.stats.measuring:
                self.stats.loop_lags.append(max(0.0, time.monotonic() - due))

    async def await_pongs(self, timeout: float = 5.0) -> None:
        """Give the PINGs of the measurement window still in flight a chance to be answered."""
        for _ in range(int(timeout / 0.05)):
            if not any(h.ping_measured for h in self.open):
                return
            await asyncio.sleep(0.05)

    async def close_all(self) -> None:
        """Close every socket; the ones still waiting for their turn keep sending PINGs meanwhile."""
        self.closing = True

        async def close(held: HeldSocket) -> None:
            try:
                await held.ws.close()
            finally:
                self.open.discard(held)

        await asyncio.wait_for(asyncio.gather(*(close(h) for h in list(self.open)), return_exceptions=True), 90.0)


async def holder_child(config: dict[str, Any], commands: asyncio.StreamReader) -> None:
    """Connect, report, then obey "measure", "report" and "close" from the parent."""
    holder = SessionHolder(config["ws_url"])
    holder.spawn(holder.heartbeat())
    holder.spawn(holder.probe_loop_lag())
    timeout = aiohttp.ClientTimeout(total=None, connect=30)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0), timeout=timeout) as http:
        started = time.monotonic()
        await holder.connect_all(http, config["tokens"], config["connect_concurrency"])
        emit({"event": "connected", "open": len(holder.open), "seconds": time.monotonic() - started,
              "errors": dict(holder.connect_errors)})  # fmt: skip
        while (command := (await read_message(commands))["command"]) != "close":
            stats = holder.stats
            if command == "measure":
                stats.measuring = True
            elif command == "report":
                stats.measuring = False
                await holder.await_pongs()
                emit({"event": "report", "open": len(holder.open), "rtts": stats.rtts, "loop_lags": stats.loop_lags,
                      "pings_sent": stats.pings_sent, "pongs_received": stats.pongs_received,
                      "closed_early": dict(stats.closed_early)})  # fmt: skip
        await holder.close_all()
        for task in list(holder.tasks):
            task.cancel()
    emit({"event": "closed"})


async def child_main(role: str) -> None:
    # A full collection over 10k sockets' objects stalls this process for hundreds of ms, which would be
    # charged to the server as latency; the children live for minutes and make little cyclic garbage.
    gc.disable()
    commands = asyncio.StreamReader(limit=LINE_LIMIT)
    loop = asyncio.get_running_loop()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(commands), sys.stdin)
    config = await read_message(commands)
    await (login_child if role == "login" else holder_child)(config, commands)


class LoadChild:
    """The parent's handle on a child process running this module: one JSON message per line each way."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    @classmethod
    async def start(cls, role: str, config: dict[str, Any]) -> LoadChild:
        process = await asyncio.create_subprocess_exec(
            sys.executable, __file__, role, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            limit=LINE_LIMIT,
        )  # fmt: skip
        child = cls(process)
        await child.send(config)
        return child

    async def send(self, message: dict[str, Any]) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(message).encode() + b"\n")
        await self.process.stdin.drain()

    async def expect(self, event: str, timeout: float) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = await asyncio.wait_for(self.process.stdout.readline(), timeout)
        message: dict[str, Any] = json.loads(line) if line else {}
        if message.get("event") != event:
            raise RuntimeError(f"load child {self.process.pid} sent {message.get('event')!r}, expected {event!r}")
        return message

    async def stop(self, timeout: float = 10.0) -> None:
        if self.process.returncode is None:
            if self.process.stdin is not None:
                self.process.stdin.close()
            try:
                await asyncio.wait_for(self.process.wait(), timeout)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("role", choices=["login", "hold"])
    asyncio.run(child_main(parser.parse_args().role))
