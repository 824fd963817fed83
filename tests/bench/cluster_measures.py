"""The cluster benchmark's measurements: logins, held sessions, delivery and kicks between two nodes, failover."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import aiohttp

from im_desktop.protocol import usersig
from tests.bench import clusterload, wsload
from tests.bench.bench_server import ServerUnderTest
from tests.server.support import SDKAPPID, SECRET_KEY

LIVE_TIMEOUT = 3.0  # a message or kick not heard within this is "not live" (it would come with the next resume)
Result = dict[str, Any]


def sign(user: str) -> str:
    return usersig.generate(SDKAPPID, SECRET_KEY, user, wsload.SIG_LIFETIME)


@dataclass
class Setup:
    name: str
    nodes: list[ServerUnderTest]
    base_url: str  # where clients go: the one node, or the balancer

    @property
    def ws_url(self) -> str:
        return self.base_url.replace("http://", "ws://", 1) + "/v1/events"


# -- measurements ---------------------------------------------------------------------------------
async def run_logins(base_url: str, users: list[str], procs: int, concurrency: int) -> Result:
    children = []
    try:
        for n in range(procs):
            children.append(await wsload.LoadChild.start("login", {
                "base_url": base_url, "sdkappid": SDKAPPID, "secret_key": SECRET_KEY, "user_ids": users[n::procs],
                "warmup_user_ids": [f"warm-{base_url[-5:]}-{n}-{j}" for j in range(16)],
                "concurrency": max(1, concurrency // procs),
            }))  # fmt: skip
        for child in children:
            await child.expect("warm", 120.0)
        for child in children:
            await child.send({"command": "go"})
        done = [await child.expect("done", 600.0) for child in children]
    finally:
        await asyncio.gather(*(child.stop() for child in children))
    tokens = {u: t for m in done for u, t in m["tokens"].items()}
    seconds = max(m["finished"] for m in done) - min(m["started"] for m in done)
    return {"tokens": tokens, "attempted": len(users), "ok": len(tokens), "seconds": round(seconds, 2),
            "errors": dict(sum((Counter(m["errors"]) for m in done), Counter())),
            "logins_per_second": round(len(tokens) / seconds, 1) if seconds else 0.0,
            "latency_ms": wsload.summarize([x for m in done for x in m["latencies"]])}  # fmt: skip


async def start_holders(setup: Setup, tokens: list[str], procs: int, concurrency: int) -> list[wsload.LoadChild]:
    children = []
    for n in range(procs):
        children.append(await clusterload.start_child("hold", {
            "ws_url": setup.ws_url, "tokens": tokens[n::procs], "connect_concurrency": max(1, concurrency // procs),
        }))  # fmt: skip
    return children


async def report(children: list[wsload.LoadChild]) -> list[Result]:
    for child in children:
        await child.send({"command": "report"})
    return [await child.expect("report", 120.0) for child in children]


async def close_children(children: list[wsload.LoadChild]) -> None:
    for child in children:
        with contextlib.suppress(Exception):
            await child.send({"command": "close"})
    await asyncio.gather(*(child.stop(120.0) for child in children), return_exceptions=True)


class Peer:
    """A user with a token on one node, and (once connected) its event stream there."""

    def __init__(self, http: aiohttp.ClientSession, node: str, user: str) -> None:
        self.http, self.node, self.user = http, node, user
        self.token = ""
        self.waiting: dict[str, asyncio.Future[float]] = {}
        self.reader: asyncio.Task[None] | None = None
        self.ws: aiohttp.ClientWebSocketResponse | None = None

    async def login(self, device: str = "bench-peer") -> None:
        token, error = await wsload.login_once(self.http, self.node, wsload.login_body(self.user, sign(self.user),
                                                                                       device))  # fmt: skip
        if token is None:
            raise RuntimeError(f"login of {self.user} on {self.node} failed: {error}")
        self.token = token

    async def call(self, method: str, body: Result) -> Any:
        headers = {"Authorization": f"Bearer {self.token}", "Satori-Platform": "im-desktop",
                   "Satori-User-ID": self.user}  # fmt: skip
        async with self.http.post(f"{self.node}/v1/{method}", json=body, headers=headers) as resp:
            payload = await resp.json()
            if resp.status != 200:
                raise RuntimeError(f"{method} on {self.node}: {resp.status} {payload}")
            return payload

    async def connect(self) -> None:
        ws_url = self.node.replace("http://", "ws://", 1) + "/v1/events"
        self.ws = await wsload.open_identified(self.http, ws_url, self.token)
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.ws is not None
        async for msg in self.ws:
            if msg.type is not aiohttp.WSMsgType.TEXT:
                continue
            body = json.loads(msg.data).get("body") or {}
            content = (body.get("message") or {}).get("content")
            future = self.waiting.pop(str(content), None)
            if future is not None and not future.done():
                future.set_result(time.monotonic())

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self.reader is not None:
            self.reader.cancel()


async def measure_delivery(sender_node: str, receiver_node: str, samples: int) -> Result:
    """A message posted on `sender_node` to a direct channel, until its event reaches a socket on `receiver_node`."""
    latencies, late, tag = [], 0, sender_node[-5:]
    async with aiohttp.ClientSession() as http:
        # Pairs of users, so that no sender goes over the per-user message rate (10/s).
        pairs = [(Peer(http, sender_node, f"d-send-{tag}-{n}"), Peer(http, receiver_node, f"d-recv-{tag}-{n}"))
                 for n in range(min(10, samples))]  # fmt: skip
        for sender, receiver in pairs:
            await sender.login()
            await receiver.login()
            await receiver.connect()
        channels = [(await s.call("user.channel.create", {"user_id": r.user}))["id"] for s, r in pairs]
        receivers = [r for _, r in pairs]
        try:
            for k in range(samples):
                (sender, receiver), channel = pairs[k % len(pairs)], channels[k % len(pairs)]
                text = f"delivery-{k}"
                arrived = receiver.waiting[text] = asyncio.get_running_loop().create_future()
                sent = time.monotonic()
                await sender.call("message.create", {"channel_id": channel, "content": text})
                try:
                    latencies.append(await asyncio.wait_for(arrived, LIVE_TIMEOUT) - sent)
                except TimeoutError:
                    late += 1
                await asyncio.sleep(0.02)
        finally:
            await asyncio.gather(*(r.close() for r in receivers))
    return {"samples": samples, "live": len(latencies), "not_live": late, "latency_ms": wsload.summarize(latencies)}


async def measure_kicks(first_node: str, second_node: str, samples: int) -> Result:
    """Instance A logged in and connected on `first_node`; B (same user and platform) logs in on `second_node`:
    the time until A hears login-removed."""
    latencies, late, tag = [], 0, first_node[-5:]
    async with aiohttp.ClientSession() as http:
        for k in range(samples):
            user = f"kick-{tag}-{k}"
            first = Peer(http, first_node, user)
            await first.login("device-a")
            ws_url = first_node.replace("http://", "ws://", 1) + "/v1/events"
            ws = await wsload.open_identified(http, ws_url, first.token)
            sent = time.monotonic()
            body = wsload.login_body(user, sign(user), "device-b")
            second = asyncio.create_task(wsload.login_once(http, second_node, body))
            try:
                async with asyncio.timeout(LIVE_TIMEOUT):
                    while True:
                        msg = await ws.receive()
                        if msg.type is not aiohttp.WSMsgType.TEXT:
                            raise TimeoutError  # closed without the event
                        if (json.loads(msg.data).get("body") or {}).get("type") == "login-removed":
                            latencies.append(time.monotonic() - sent)
                            break
            except TimeoutError:
                late += 1
            await second
            await ws.close()
            await asyncio.sleep(0.02)
    return {"samples": samples, "live": len(latencies), "not_live": late, "latency_ms": wsload.summarize(latencies)}


async def failover(setup: Setup, holders: list[wsload.LoadChild], users: list[str], messages: int) -> Result:
    """Kill one node under load. Holders and SessionControllers on it come back through the balancer; a sender
    posts to every controller's direct channel meanwhile (retrying with the same nonce): none may be lost."""
    ctl = await clusterload.start_child("controllers", {"base_url": setup.base_url, "users": users})
    try:
        online = await ctl.expect("online", 120.0)
        async with aiohttp.ClientSession() as http:
            senders = {u: Peer(http, setup.base_url, f"f-send-{u}") for u in users}  # under the per-user rate
            for sender in senders.values():
                await sender.login()
            channels = {u: (await senders[u].call("user.channel.create", {"user_id": u}))["id"] for u in users}
            acked: dict[str, list[str]] = {u: [] for u in users}
            failed_posts = Counter[str]()

            async def post(n: int) -> None:
                user = users[n % len(users)]
                text, body = f"f-{n}", {"channel_id": channels[user], "content": f"f-{n}", "nonce": f"f-{n}"}
                for _ in range(50):  # a request that met the dying node is sent again: the nonce keeps it once
                    try:
                        await senders[user].call("message.create", body)
                    except (RuntimeError, aiohttp.ClientError, ValueError) as exc:
                        failed_posts[wsload.short_error(exc)[:60]] += 1
                        await asyncio.sleep(0.2)
                        continue
                    acked[user].append(text)
                    return

            victim = setup.nodes[1]
            posting = asyncio.create_task(_post_spread(post, messages, seconds=6.0))
            await asyncio.sleep(1.0)
            killed_at = time.monotonic()
            victim.process.send_signal(signal.SIGKILL)
            await posting
            deadline = time.monotonic() + 30.0
            while True:  # until every controller has every acknowledged message, or the deadline
                await ctl.send({"command": "report"})
                state = await ctl.expect("report", 60.0)
                missing = {u: sorted(set(acked[u]) - set(state["received"][u])) for u in users}
                settled = all(set(missing[u]) <= set(state["cached"][u]) for u in users)
                if (settled and len(state["online"]) == len(users)) or time.monotonic() > deadline:
                    break
                await asyncio.sleep(1.0)
        # Then the bulk sessions: each report hands over the outages since the last one.
        held, outages_seen = [], []
        deadline = killed_at + 60.0
        while True:
            held = await report(holders)
            outages_seen += [pair for m in held for pair in m["outages"]]
            if sum(len(m["still_down"]) for m in held) == 0 or time.monotonic() > deadline:
                break
            await asyncio.sleep(1.0)
    finally:
        await close_children([ctl])
    outages = [up - down for down, up in outages_seen if down >= killed_at - 0.5]
    still_down = sum(len(m["still_down"]) for m in held)
    ctl_outages = {u: up - killed_at for u, down, up in state["outages"] if down >= killed_at - 0.5}
    ctl_back = max(ctl_outages.values(), default=0.0)
    back_all = max([*(up - killed_at for down, up in outages_seen if down >= killed_at - 0.5),
                    *ctl_outages.values()], default=0.0)  # fmt: skip
    received = state["received"]
    duplicates = sum(
        c - 1 for u in users for c in Counter(t for t in received[u] if t.startswith("f-")).values() if c > 1
    )
    return {
        "killed": "node2", "controllers": len(users), "controllers_online_before": len(online["online"]),
        "controllers_on_killed_node": len(ctl_outages), "controllers_online_after": len(state["online"]),
        "controller_back_seconds": {u: round(s, 2) for u, s in ctl_outages.items()},
        "controller_new_logins": sum(max(0, n - 1) for n in state["logins"].values()),
        "sessions_dropped": len(outages), "sessions_still_down": still_down,
        "session_back_ms": wsload.summarize(outages), "all_back_seconds": round(back_all, 2),
        "controllers_back_seconds": round(ctl_back, 2),
        "messages_acked": sum(len(v) for v in acked.values()), "post_retries": dict(failed_posts),
        "messages_lost": sum(1 for u, v in missing.items() for t in v if t not in state["cached"][u]),
        "messages_not_signalled": sum(1 for u, v in missing.items() for t in v if t in state["cached"][u]),
        "messages_duplicated": duplicates,
        "missing": {u: {"texts": v, "receiver_on_killed_node": u in ctl_outages} for u, v in missing.items() if v},
        "holder_connect_errors": dict(sum((Counter(m["connect_errors"]) for m in held), Counter())),
        "holder_closes": dict(sum((Counter(m["closes"]) for m in held), Counter())),
        "held_after": sum(m["open"] for m in held),
    }  # fmt: skip


async def _post_spread(post: Any, count: int, seconds: float) -> None:
    """`count` posts spread evenly over `seconds`, each in its own task (a slow one does not hold up the rest)."""
    tasks, start = [], time.monotonic()
    for n in range(count):
        await asyncio.sleep(max(0.0, start + n * seconds / count - time.monotonic()))
        tasks.append(asyncio.create_task(post(n)))
    await asyncio.gather(*tasks)
