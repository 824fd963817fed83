"""The Redis broker (redis.asyncio): wake-ups and session news between server processes, presence, lock-out counts."""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections import deque
from collections.abc import Collection, Sequence
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ConstantBackoff, NoBackoff
from redis.exceptions import RedisError

from im_desktop.server.broker import Broker, NodeHooks
from im_desktop.server.catchup import FORCED, CatchUp
from im_desktop.server.config import ServerConfig, StartupError
from im_desktop.server.hub import Connection, Hub
from im_desktop.server.lockout import SharedCounts
from im_desktop.server.redis_channel import ALL_CHANNEL, USER_CHANNEL, Subscriber, message
from im_desktop.server.store import SessionRow, Store, redact_url

__all__ = ["CLIENT_NAME", "PRESENCE_KEY", "RedisBroker"]

log = logging.getLogger(__name__)

CLIENT_NAME = "im-desktop-"  # + node id (+ "-sub" for its subscription): how an operator tells them apart
PRESENCE_KEY = "im:p:"  # + session id: the node holding its socket, expiring unless refreshed
_FAIL_KEY, _LOCK_KEY = "im:lf:", "im:ll:"  # + UserID/address: a run of failed logins, and a lock-out
_ERRORS = (RedisError, OSError, TimeoutError)
_BATCH = 256  # commands per round trip
_RETRY_FLOOR, _RETRY_CAP = 0.2, 5.0  # seconds between attempts to publish again after a failure
_START_WAIT = 5.0  # how long a starting node waits for its subscription before serving anyway
_CLOSE_FLUSH = 1.0  # at shutdown, how long the last commands (sessions going offline) may take
_LOCKOUT = """
if redis.call('EXISTS', KEYS[2]) == 1 then return 1 end
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
if n >= tonumber(ARGV[2]) then
  redis.call('SET', KEYS[2], '1', 'PX', ARGV[3])
  redis.call('DEL', KEYS[1])
end
return 0
"""
# A node deletes a presence key only while it names that node: the session may have moved to another one since.
_UNPRESENCE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"
_Command = tuple[tuple[str | int, ...], "asyncio.Future[bool] | None"]


class RedisBroker(Broker, SharedCounts):
    """Several server processes on one Redis. The database holds every event; Redis only says "user U has events
    up to sn N" on U's channel, to the nodes that hold a socket of U (each subscribes to its users only), which then
    read them from the database (catchup.py). A wake-up lost in a disconnection costs nothing but a later read:
    after a reconnect every socket here catches up from the store, and a node that could not publish says so
    with one "catch up on everything" when it can again."""

    kind = "redis"
    shared = True
    errors = _ERRORS

    def __init__(self, url: str, node: str, client: aioredis.Redis, sub_client: aioredis.Redis) -> None:
        self.url = url
        self.node = node
        self._cmd = client
        self._hub = Hub()
        self._catchup: CatchUp | None = None
        self._hooks: NodeHooks | None = None
        self._ttl_ms = 30_000
        self._subscriber = Subscriber(sub_client, self.node, self._on_message, self._on_subscribed, self._on_link)
        self._outbox: deque[_Command] = deque()
        self._publisher: asyncio.Task[None] | None = None
        self._lost = False  # a publish failed: the other nodes must catch up on everything once we can
        self._acks: dict[Connection, asyncio.Future[bool]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._lock_script = client.register_script(_LOCKOUT)

    @classmethod
    async def open(cls, url: str) -> RedisBroker:
        """Connect (StartupError, naming the URL without its password, if Redis cannot be reached)."""
        node = secrets.token_hex(6)
        kw: dict[str, Any] = {"socket_connect_timeout": 2.0, "socket_timeout": 5.0}
        try:
            # One quick retry on a fresh connection: a pooled one may have died with a Redis restart.
            client = aioredis.Redis.from_url(url, retry=Retry(ConstantBackoff(0.05), 1),
                                             client_name=f"{CLIENT_NAME}{node}", **kw)  # fmt: skip
            sub = aioredis.Redis.from_url(
                url, retry=Retry(NoBackoff(), 0), client_name=f"{CLIENT_NAME}{node}-sub", **kw
            )
        except ValueError as exc:
            raise StartupError(f"The broker URL {redact_url(url)} cannot be used ({exc}).") from None
        try:
            await client.ping()
        except _ERRORS as exc:
            await client.aclose()
            await sub.aclose()
            raise StartupError(f"The broker {redact_url(url)} cannot be reached ({exc}).") from None
        return cls(url, node, client, sub)

    # -- lifecycle ------------------------------------------------------------------------------
    def bind(self, hub: Hub, store: Store, hooks: NodeHooks, config: ServerConfig) -> None:
        self._hub = hub
        self._hooks = hooks
        self._catchup = CatchUp(hub, store)
        self._ttl_ms = max(int(config.heartbeat_timeout * 1000), 100)
        hub.watcher = self

    async def start(self) -> None:
        """Start listening, and wait (a little) until the subscription is up: a node that takes logins before
        hears nothing of its users, and its health check says so."""
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._subscriber.run(), name="redis-subscriber"),
                       loop.create_task(self._refresh_presence(), name="redis-presence")]  # fmt: skip
        try:
            await asyncio.wait_for(self._subscriber.up.wait(), _START_WAIT)
        except TimeoutError:
            log.warning("the broker's subscription is not up yet; serving meanwhile")

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        await self._subscriber.close()
        if self._catchup is not None:
            await self._catchup.close()

    async def close(self) -> None:
        await self.stop()
        if self._publisher is not None and not self._lost:
            await asyncio.wait([self._publisher], timeout=_CLOSE_FLUSH)
        if self._publisher is not None:
            self._publisher.cancel()
            await asyncio.gather(self._publisher, return_exceptions=True)
        for _, done in self._outbox:
            _settle(done, False)
        await self._cmd.aclose()

    # -- the hub's news: who has a socket here --------------------------------------------------
    def user_arrived(self, user_id: str) -> None:
        assert self._catchup is not None
        self._catchup.arrived(user_id)
        self._subscriber.want(user_id)

    def user_left(self, user_id: str) -> None:
        assert self._catchup is not None
        self._catchup.left(user_id)
        self._subscriber.drop(user_id)

    def session_attached(self, conn: Connection) -> None:
        done = asyncio.get_running_loop().create_future()
        self._acks[conn] = done
        self._send(("SET", PRESENCE_KEY + conn.session.id, self.node, "PX", self._ttl_ms), done)

    def session_detached(self, conn: Connection) -> None:
        self._acks.pop(conn, None)
        self._send(("EVAL", _UNPRESENCE, 1, PRESENCE_KEY + conn.session.id, self.node))

    async def ready(self, conn: Connection) -> bool:
        """Wait (briefly) until this node hears its user's channel and shows the session online."""
        ack = self._acks.pop(conn, None)
        subscribed = await self._subscriber.confirmed(conn.user_id)
        if ack is not None:
            await asyncio.wait([ack], timeout=self._subscriber.wait)
        return subscribed

    def planned(self, conn: Connection, ready: bool) -> None:
        assert self._catchup is not None
        self._catchup.planned(conn, ready)

    # -- what this node says --------------------------------------------------------------------
    def deliver(self, sn: int, body: dict[str, Any], users: Collection[str] | None) -> None:
        assert self._catchup is not None
        wake = message("w", self.node, sn=sn)
        if users is None:
            self._catchup.wake_all(sn)  # this node's own sockets need no round trip through Redis
            self._send(("PUBLISH", ALL_CHANNEL, wake))
            return
        for user_id in users:
            self._catchup.wake(user_id, sn)
            self._send(("PUBLISH", USER_CHANNEL + user_id, wake))

    def session_ended(self, session: SessionRow) -> None:
        self._send(("PUBLISH", USER_CHANNEL + session.user_id, message("e", self.node, s=session.id)))

    def login_changed(self, kind: str, session: SessionRow) -> None:
        code = "a" if kind == "added" else "u"
        self._send(("PUBLISH", USER_CHANNEL + session.user_id, message(code, self.node, s=session.id)))

    def _send(self, args: tuple[str | int, ...], done: asyncio.Future[bool] | None = None) -> None:
        """Queue a command; one task sends the queue in order, in pipelines."""
        if self._lost:
            _settle(done, False)  # dropped: the "catch up on everything" that ends the outage covers it
            return
        self._outbox.append((args, done))
        if self._publisher is None or self._publisher.done():
            self._publisher = asyncio.get_running_loop().create_task(self._publish(), name="redis-publisher")

    async def _publish(self) -> None:
        delay = _RETRY_FLOOR
        while self._outbox or self._lost:
            if self._lost:
                try:
                    await self._cmd.publish(ALL_CHANNEL, message("c", self.node))
                except _ERRORS:
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, _RETRY_CAP)
                    continue
                log.info("publishing to the broker again; the other nodes catch up")
                self._lost = False
                delay = _RETRY_FLOOR
                continue
            batch = [self._outbox.popleft() for _ in range(min(_BATCH, len(self._outbox)))]
            try:
                pipe = self._cmd.pipeline(transaction=False)
                for args, _ in batch:
                    pipe.execute_command(*args)
                await pipe.execute(raise_on_error=False)
            except _ERRORS as exc:
                log.warning("publishing to the broker failed (%s); the other nodes will catch up once it is back", exc)
                self._lost = True
                for _, done in [*batch, *self._outbox]:
                    _settle(done, False)
                self._outbox.clear()
                continue
            for _, done in batch:
                _settle(done, True)

    async def _refresh_presence(self) -> None:
        """Keep the presence keys of this node's sockets alive; a dead node's expire within the heartbeat
        timeout (their TTL), and its sessions show offline on every node."""
        while True:
            await asyncio.sleep(self._ttl_ms / 3000)
            for conn in self._hub.all():
                self._send(("SET", PRESENCE_KEY + conn.session.id, self.node, "PX", self._ttl_ms))

    # -- what this node hears -------------------------------------------------------------------
    def _on_link(self, up: bool, again: bool) -> None:
        """The subscription came up (`again`: after a loss, when news may have been missed) or went down."""
        if up and again and self._hooks is not None:
            self._hooks.reconcile()  # each user's catch-up follows its channel's confirmation
            for conn in self._hub.all():  # a restarted Redis has lost them
                self._send(("SET", PRESENCE_KEY + conn.session.id, self.node, "PX", self._ttl_ms))

    def _on_subscribed(self, user_id: str) -> None:
        """News of this user reaches us from here on: read what a socket planned before may have missed."""
        assert self._catchup is not None
        if any(c.pushed is not None for c in self._hub.of_user(user_id)):
            self._catchup.wake(user_id, FORCED)

    def _on_message(self, user_id: str | None, kind: str, sn: int | None, session_id: str | None) -> None:
        catchup, hooks = self._catchup, self._hooks
        assert catchup is not None
        assert hooks is not None
        if user_id is None:  # the channel of every user
            if kind == "w" and sn is not None:
                catchup.wake_all(sn)
            elif kind == "c":
                catchup.wake_all(FORCED)
                hooks.reconcile()
        elif kind == "w" and sn is not None:
            catchup.wake(user_id, sn)
        elif kind == "e" and session_id is not None:
            hooks.ended_elsewhere(session_id)
        elif kind in ("a", "u") and session_id is not None:
            hooks.login_changed_elsewhere("added" if kind == "a" else "updated", session_id)

    # -- presence, lock-out, health -------------------------------------------------------------
    async def online(self, session_ids: Sequence[str]) -> set[str]:
        local = {s for s in session_ids if self._hub.is_online(s)}
        if not session_ids:
            return local
        try:
            values = await self._cmd.mget([PRESENCE_KEY + s for s in session_ids])
        except _ERRORS as exc:
            log.warning("presence cannot be read from the broker (%s); answering for this node only", exc)
            return local
        return local | {s for s, v in zip(session_ids, values, strict=True) if v is not None}

    def lockout_counts(self) -> SharedCounts:
        return self

    async def fail(self, key: str, failures: int, window: float, duration: float) -> bool | None:
        args = [max(int(window * 1000), 1), failures, max(int(duration * 1000), 1)]
        try:
            return bool(await self._lock_script(keys=[_FAIL_KEY + key, _LOCK_KEY + key], args=args))
        except _ERRORS:
            return None

    async def clear(self, key: str) -> None:
        try:
            await self._cmd.delete(_FAIL_KEY + key, _LOCK_KEY + key)
        except _ERRORS as exc:
            log.warning("a lock-out count could not be cleared (%s)", exc)

    @property
    def healthy(self) -> bool:
        return self._subscriber.connected and not self._lost

    async def health(self) -> dict[str, Any]:
        started = time.perf_counter()
        try:
            await asyncio.wait_for(self._cmd.ping(), 1.0)
            rtt: float | None = round((time.perf_counter() - started) * 1000, 2)
        except _ERRORS:
            rtt = None
        return {"kind": self.kind, "ok": rtt is not None and self.healthy, "node": self.node, "ping_ms": rtt,
                "subscribed": self._subscriber.connected, "publishing": not self._lost,
                "users": self._subscriber.wanted}  # fmt: skip


def _settle(done: asyncio.Future[bool] | None, ok: bool) -> None:
    if done is not None and not done.done():
        done.set_result(ok)
