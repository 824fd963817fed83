"""Replay storm: sockets resume from an old `sn` over a long event log while bystanders measure PING->PONG."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sqlite3
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
from im_desktop.protocol import usersig  # noqa: E402
from im_desktop.server.store import LOBBY_CHANNEL, MessageRow  # noqa: E402
from tests.bench import wsload  # noqa: E402

__all__ = ["replay_storm"]

PING_INTERVAL = 0.1  # per bystander: 10 PINGs/s, under the server's per-socket frame budget, 20 bystanders = 200/s
MIN_WINDOW = 2.0  # seconds measured at least, so that a storm the server shrugs off still yields enough samples
STORM_TIMEOUT = 300.0


def seed_events(data_dir: Path, count: int) -> int:
    """Append `count` copies of the newest event (a real message-created) to the server's log, as a server that
    has been used for months holds them; straight into its SQLite database (the server runs on it: WAL lets
    both write), since posting 10k messages through the API would meet the per-user message limit. Returns the
    newest `sn`."""
    with contextlib.closing(sqlite3.connect(data_dir / "server.sqlite3", timeout=10)) as db, db:
        template = json.loads(db.execute("SELECT body FROM events ORDER BY sn DESC LIMIT 1").fetchone()[0])
        for i in range(count):
            now = time.time()
            cur = db.execute("INSERT INTO messages(channel_id, user_id, content, created_at) VALUES (?, ?, ?, ?)",
                             (LOBBY_CHANNEL, "storm-seed", f"seeded {i}", now))  # fmt: skip
            message = MessageRow(int(cur.lastrowid or 0), LOBBY_CHANNEL, "storm-seed", f"seeded {i}", now)
            db.execute("INSERT INTO events(channel_id, body) VALUES (?, ?)",
                       (LOBBY_CHANNEL, json.dumps({**template, "message": message.to_wire()})))  # fmt: skip
        return int(db.execute("SELECT MAX(sn) FROM events").fetchone()[0])


async def login(http: aiohttp.ClientSession, base_url: str, keys: dict[str, Any], user_id: str) -> str:
    sig = usersig.generate(int(keys["sdkappid"]), str(keys["secret_key"]), user_id, wsload.SIG_LIFETIME)
    token, error = await wsload.login_once(http, base_url, wsload.login_body(user_id, sig, f"{user_id}-device"))
    if token is None:
        raise RuntimeError(f"login of {user_id} failed: {error}")
    return token


@dataclass
class Bystander:
    """An identified socket that PINGs on a schedule and times each PONG (PONGs come back in order)."""

    ws: aiohttp.ClientWebSocketResponse
    in_flight: list[float] = field(default_factory=list)
    rtts: list[float] = field(default_factory=list)
    closing: bool = False  # set when the bench closes it
    closed_early: int | None = None  # the close code, when the server closed it first

    async def read(self) -> None:
        while True:
            msg = await self.ws.receive()
            if msg.type is not aiohttp.WSMsgType.TEXT:
                if not self.closing:
                    self.closed_early = self.ws.close_code
                return
            if json.loads(msg.data).get("op") == wsload.OP_PONG and self.in_flight:
                self.rtts.append(time.monotonic() - self.in_flight.pop(0))

    async def ping(self, phase: float, stop: asyncio.Event) -> None:
        await asyncio.sleep(phase)
        while not stop.is_set() and not self.ws.closed:
            self.in_flight.append(time.monotonic())
            await self.ws.send_str(wsload.PING_FRAME)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), PING_INTERVAL)


async def replay_storm(
    base_url: str, data_dir: Path, *, events: int = 10_000, replayers: int = 20, bystanders: int = 20,
    behind: int | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Against a running server whose data folder is `data_dir`: log `events` events, open `replayers` sockets
    in a child process that all IDENTIFY at once with `sn` 0 (or `behind` events before the newest), and measure
    the PING->PONG latency of `bystanders` other sockets from the IDENTIFYs until every replay has ended."""
    keys = json.loads((data_dir / "server-keys.json").read_text(encoding="utf-8"))
    ws_url = base_url.replace("http://", "ws://", 1) + "/v1/events"
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as http:
        seeder = await login(http, base_url, keys, "storm-seed")
        async with http.post(f"{base_url}/v1/message.create", json={"channel_id": LOBBY_CHANNEL, "content": "seed"},
                             headers={"Authorization": f"Bearer {seeder}", "Satori-Platform": "im-desktop",
                                      "Satori-User-ID": "storm-seed"}) as resp:  # fmt: skip
            if resp.status != 200:
                raise RuntimeError(f"message.create failed: HTTP {resp.status} {(await resp.text())[:200]}")
        newest = seed_events(data_dir, events)
        tokens = [await login(http, base_url, keys, f"storm-r-{i:02d}") for i in range(replayers)]
        watchers = [Bystander(await wsload.open_identified(http, ws_url, await login(http, base_url, keys, user)))
                    for user in (f"storm-b-{i:02d}" for i in range(bystanders))]  # fmt: skip
        readers = [asyncio.create_task(b.read()) for b in watchers]
        resume = 0 if behind is None else max(0, newest - behind)
        config = {"ws_url": ws_url, "tokens": tokens, "sn": resume, "newest": newest}
        child = await ReplayChild.start("replayers", config)
        try:
            await child.expect("connected", 60.0)
            stop, lags = asyncio.Event(), list[float]()
            pingers = [asyncio.create_task(b.ping(i * PING_INTERVAL / max(1, bystanders), stop))
                       for i, b in enumerate(watchers)]  # fmt: skip
            lag_probe = asyncio.create_task(probe_loop_lag(lags, stop))
            started = time.monotonic()
            await child.send({"command": "go"})
            done = await child.expect("done", STORM_TIMEOUT)
            storm_seconds = time.monotonic() - started
            await asyncio.sleep(max(0.0, started + MIN_WINDOW - time.monotonic()))
            stop.set()
            await asyncio.gather(*pingers, lag_probe)
            await asyncio.sleep(min(1.0, PING_INTERVAL * 5))  # the last PONGs
        finally:
            await child.stop()
            for b in watchers:
                b.closing = True
                await b.ws.close()
            await asyncio.gather(*readers, return_exceptions=True)
    rtts = [rtt for b in watchers for rtt in b.rtts]
    return {
        "events_logged": newest, "replayers": replayers, "resume_sn": resume, "bystanders": bystanders,
        "ready_resync": done["resync"], "replayed_events": done["replayed"], "replay_errors": done["errors"],
        "storm_seconds": round(storm_seconds, 3), "slowest_replay_seconds": done["slowest"],
        "bystander_rtt_ms": wsload.summarize(rtts), "pongs_missing": sum(len(b.in_flight) for b in watchers),
        "bystanders_closed_early": dict(Counter(str(b.closed_early) for b in watchers if b.closed_early is not None)),
        "client_loop_lag_ms": wsload.summarize(lags),
    }  # fmt: skip


async def probe_loop_lag(lags: list[float], stop: asyncio.Event) -> None:
    """How late this process wakes up: a large lag means the bench, not the server, inflates the RTTs."""
    while not stop.is_set():
        due = time.monotonic() + wsload.LOOP_LAG_PROBE
        await asyncio.sleep(wsload.LOOP_LAG_PROBE)
        lags.append(max(0.0, time.monotonic() - due))


# -- the replaying sockets, in a child process so that reading 200k events does not slow the bystanders ----------
class ReplayChild(wsload.LoadChild):
    """This module run as a child process: one JSON message per line each way."""

    @classmethod
    async def start(cls, role: str, config: dict[str, Any]) -> ReplayChild:
        process = await asyncio.create_subprocess_exec(
            sys.executable, __file__, role, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            limit=wsload.LINE_LIMIT,
        )  # fmt: skip
        child = cls(process)
        await child.send(config)
        return child


async def replay_one(ws: aiohttp.ClientWebSocketResponse, token: str, sn: int, newest: int) -> tuple[bool, int]:
    """IDENTIFY with `sn`, read until the replay reaches `newest` (or READY says resync): (resync, events)."""
    await ws.send_str(json.dumps({"op": wsload.OP_IDENTIFY, "body": {"token": token, "sn": sn}}))
    replayed, resync, last = 0, False, sn
    while last < newest:
        msg = await ws.receive()
        if msg.type is not aiohttp.WSMsgType.TEXT:
            raise RuntimeError(f"closed with {ws.close_code} after {replayed} events")
        frame = json.loads(msg.data)
        body = frame.get("body") or {}
        if frame.get("op") == wsload.OP_READY:
            resync = body.get("resync") is True
            last = newest if resync else int(body.get("sn", sn))
        elif frame.get("op") == wsload.OP_EVENT:
            replayed += 1
            last = int(body.get("sn", last))
    return resync, replayed


async def replayers_child(config: dict[str, Any], commands: asyncio.StreamReader) -> None:
    timeout = aiohttp.ClientTimeout(total=None, connect=30)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0), timeout=timeout) as http:
        sockets = [await http.ws_connect(config["ws_url"], max_msg_size=0) for _ in config["tokens"]]
        wsload.emit({"event": "connected"})
        await wsload.read_message(commands)  # "go"
        started = time.monotonic()

        async def timed(ws: aiohttp.ClientWebSocketResponse, token: str) -> tuple[bool, int, float]:
            resync, replayed = await replay_one(ws, token, config["sn"], config["newest"])
            return resync, replayed, time.monotonic() - started

        outcomes = await asyncio.gather(*(asyncio.wait_for(timed(ws, t), STORM_TIMEOUT)
                                          for ws, t in zip(sockets, config["tokens"], strict=True)),
                                        return_exceptions=True)  # fmt: skip
        done = [o for o in outcomes if isinstance(o, tuple)]
        errors = Counter(wsload.short_error(o) for o in outcomes if isinstance(o, BaseException))
        slowest = round(max((s for _, _, s in done), default=0.0), 3)
        wsload.emit({"event": "done", "resync": sum(r for r, _, _ in done), "replayed": sum(n for _, n, _ in done),
                     "slowest": slowest, "errors": dict(errors)})  # fmt: skip
        await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)
    await wsload.read_message(commands)  # the parent closes the pipe: SystemExit


async def child_main() -> None:
    commands = asyncio.StreamReader(limit=wsload.LINE_LIMIT)
    loop = asyncio.get_running_loop()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(commands), sys.stdin)
    await replayers_child(await wsload.read_message(commands), commands)


# -- standalone: start a server, run the storm, print the figures --------------------------------------------
async def standalone(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="im-storm-") as data_dir:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "im_desktop.server", "--host", "127.0.0.1", "--port", "0", "--print-url",
            "--data-dir", data_dir, "--sandbox", "--log-level", "WARNING", stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        try:
            assert process.stdout is not None
            url = (await asyncio.wait_for(process.stdout.readline(), 60.0)).decode().strip()
            if not url.startswith("http://"):
                raise RuntimeError(f"the server did not start: {url!r}")
            return await replay_storm(url, Path(data_dir), events=args.events, replayers=args.replayers,
                                      bystanders=args.bystanders, behind=args.behind)  # fmt: skip
        finally:
            process.send_signal(signal.SIGTERM)
            await process.wait()


if __name__ == "__main__":
    if sys.argv[1:] == ["replayers"]:
        asyncio.run(child_main())
        sys.exit(0)
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=10_000, help="events to log (default 10000)")
    parser.add_argument("--replayers", type=int, default=20, help="sockets that resume at once (default 20)")
    parser.add_argument("--bystanders", type=int, default=20, help="sockets that measure PING->PONG (default 20)")
    parser.add_argument("--behind", type=int, default=None, help="resume this many events back (default: sn 0)")
    print(json.dumps(asyncio.run(standalone(parser.parse_args())), indent=2))
