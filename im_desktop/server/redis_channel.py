"""The Redis broker's channels: one per user with a socket on this node, and one for all; their message format."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

__all__ = ["ALL_CHANNEL", "MAX_MESSAGE_BYTES", "USER_CHANNEL", "Subscriber", "message", "parse"]

log = logging.getLogger(__name__)

USER_CHANNEL = "im:u:"  # + UserID: that user's news, heard by the nodes holding one of its sockets
ALL_CHANNEL = "im:all"  # news for every user (an event of a guild channel; "catch up on everything")
MAX_MESSAGE_BYTES = 512  # ours are under 100; anything longer is not ours
# Messages are JSON objects: "t" the kind, "n" the node that said it (a node ignores its own), and
#   {"t": "w", "sn": N}   the user's (or, on ALL_CHANNEL, everyone's) events up to sn N are stored: read them;
#   {"t": "e", "s": ID}   session ID ended (kicked, logged out, expired): the node holding its socket closes it;
#   {"t": "a"|"u", "s": ID}  session ID was opened (login-added) or renewed (login-updated);
#   {"t": "c"}            (ALL_CHANNEL) a node could not publish for a while: catch up on everything.
_KINDS = frozenset("weauc")
_SN_CEILING = 2**63
_SUBSCRIBE_BATCH = 1000  # channels per SUBSCRIBE command
_ERRORS = (RedisError, OSError, TimeoutError)
_RETRY_FLOOR, _RETRY_CAP = 0.2, 5.0  # seconds between reconnection attempts, doubling
_PING_EVERY = 5.0  # a silent link is pinged; one silent for two rounds is dead (a network gone quiet, no RST)
READY_WAIT = 1.0  # how long a new socket's IDENTIFY waits for its user's subscription at most

OnMessage = Callable[[str | None, str, int | None, str | None], None]  # user (None: all), kind, sn, session


def message(kind: str, node: str, **fields: Any) -> str:
    return json.dumps({"t": kind, "n": node, **fields}, separators=(",", ":"))


def parse(data: object, node: str) -> tuple[str, int | None, str | None] | None:
    """(kind, sn, session id) of a message from another node; None for ours, or for anything malformed."""
    if not isinstance(data, bytes) or len(data) > MAX_MESSAGE_BYTES:
        return None
    try:
        msg = json.loads(data)
    except (ValueError, RecursionError):
        return None
    if not isinstance(msg, dict) or msg.get("n") == node or msg.get("t") not in _KINDS:
        return None
    sn, session = msg.get("sn"), msg.get("s")
    if not isinstance(sn, int) or isinstance(sn, bool) or not 0 <= sn < _SN_CEILING:
        sn = None
    if not isinstance(session, str) or not 0 < len(session) <= 64:
        session = None
    return str(msg["t"]), sn, session


class Subscriber:
    """One pub/sub connection, subscribed to ALL_CHANNEL and to the channel of each wanted user; reconnects by
    itself (never faster than a floor), and resubscribes. Whoever uses it learns when a user's subscription is
    confirmed (from then on no news of that user is missed) and when the link comes back after a loss."""

    def __init__(self, client: aioredis.Redis, node: str, on_message: OnMessage,
                 on_subscribed: Callable[[str], None], on_link: Callable[[bool, bool], None]) -> None:  # fmt: skip
        self._client = client
        self._node = node
        self._on_message = on_message
        self._on_subscribed = on_subscribed
        self._on_link = on_link
        self.connected = False
        self.up = asyncio.Event()  # set while connected
        self.wait = READY_WAIT
        self._down = False  # the last attempt to connect failed: new sockets do not wait for it
        self._ever = False
        self._pubsub: Any = None
        self._want: set[str] = set()
        self._sent: set[str] = set()  # subscribed (or about to be) on the current connection
        self._confirmed: set[str] = set()
        self._pending: dict[str, int] = {}  # SUBSCRIBEs sent and not yet confirmed, per user
        self._changed: set[str] = set()
        self._waiters: dict[str, list[asyncio.Future[bool]]] = {}
        self._flusher: asyncio.Task[None] | None = None
        self._closed = False

    @property
    def wanted(self) -> int:
        return len(self._want)

    def want(self, user_id: str) -> None:
        self._want.add(user_id)
        self._changed.add(user_id)
        self._flush_soon()

    def drop(self, user_id: str) -> None:
        self._want.discard(user_id)
        self._changed.add(user_id)
        for waiter in self._waiters.pop(user_id, []):
            _settle(waiter, False)
        self._flush_soon()

    async def confirmed(self, user_id: str) -> bool:
        """True once the user's channel is heard; False if that takes longer than `wait` or the link is down."""
        if user_id in self._confirmed:
            return True
        if self._down or user_id not in self._want:
            return False
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(user_id, []).append(waiter)
        try:
            return await asyncio.wait_for(asyncio.shield(waiter), self.wait)
        except TimeoutError:
            return False
        finally:  # timed out or cancelled (the socket went away mid-IDENTIFY): not kept for a later confirmation
            waiting = self._waiters.get(user_id)
            if waiting is not None and waiter in waiting:
                waiting.remove(waiter)
                if not waiting:
                    del self._waiters[user_id]

    async def run(self) -> None:
        delay = _RETRY_FLOOR
        while True:
            pubsub: Any = self._client.pubsub()  # its aclose() is untyped
            try:
                await self._listen(pubsub)
            except _ERRORS as exc:
                if self.connected or not self._down:
                    log.warning("the broker's subscription was lost (%s); reconnecting", exc or type(exc).__name__)
            finally:
                if self._reset(down=True):
                    delay = _RETRY_FLOOR  # the first retry after a working link comes at the floor
                with contextlib.suppress(*_ERRORS):
                    await pubsub.aclose()
            await asyncio.sleep(delay)
            delay = min(delay * 2, _RETRY_CAP)

    async def _listen(self, pubsub: Any) -> None:
        self._pubsub = pubsub
        await pubsub.subscribe(ALL_CHANNEL)
        heard = time.monotonic()
        while True:
            msg = await pubsub.get_message(timeout=_PING_EVERY)
            now = time.monotonic()
            if msg is None:
                if now - heard > 2 * _PING_EVERY:
                    raise TimeoutError("the broker stopped answering")
                await pubsub.ping()
                continue
            heard = now
            self._handle(msg)

    def _handle(self, msg: dict[str, Any]) -> None:
        kind, channel = msg.get("type"), msg.get("channel")
        name = channel.decode(errors="replace") if isinstance(channel, bytes) else None
        if kind == "message" and name is not None:
            parsed = parse(msg.get("data"), self._node)
            if parsed is None:
                return
            if name == ALL_CHANNEL:
                self._on_message(None, *parsed)
            elif name.startswith(USER_CHANNEL) and name[len(USER_CHANNEL) :] in self._confirmed:
                self._on_message(name[len(USER_CHANNEL) :], *parsed)
        elif kind == "subscribe" and name == ALL_CHANNEL:
            again = self._ever
            self.connected, self._down, self._ever = True, False, True
            self.up.set()
            if again:
                log.info("the broker's subscription is back; catching up")
            self._changed = set(self._want)
            self._on_link(True, again)
            self._flush_soon()
        elif kind == "subscribe" and name is not None and name.startswith(USER_CHANNEL):
            self._confirm(name[len(USER_CHANNEL) :])

    def _confirm(self, user_id: str) -> None:
        left = self._pending.get(user_id, 0) - 1
        if left > 0:
            self._pending[user_id] = left
            return
        self._pending.pop(user_id, None)
        if user_id not in self._sent:
            return  # unsubscribed again meanwhile
        self._confirmed.add(user_id)
        for waiter in self._waiters.pop(user_id, []):
            _settle(waiter, True)
        self._on_subscribed(user_id)

    def _flush_soon(self) -> None:
        if self.connected and self._changed and (self._flusher is None or self._flusher.done()):
            self._flusher = asyncio.get_running_loop().create_task(self._flush(), name="redis-subscribe")

    async def _flush(self) -> None:
        """Bring the subscriptions in line with the wanted users, a batch per command."""
        pubsub = self._pubsub
        while self._changed and self.connected and pubsub is self._pubsub:
            batch = [self._changed.pop() for _ in range(min(_SUBSCRIBE_BATCH, len(self._changed)))]
            subs = [u for u in batch if u in self._want and u not in self._sent]
            unsubs = [u for u in batch if u not in self._want and u in self._sent]
            try:
                if subs:
                    for user_id in subs:
                        self._sent.add(user_id)
                        self._pending[user_id] = self._pending.get(user_id, 0) + 1
                    await pubsub.subscribe(*(USER_CHANNEL + u for u in subs))
                if unsubs:
                    for user_id in unsubs:
                        self._sent.discard(user_id)
                        self._confirmed.discard(user_id)
                    await pubsub.unsubscribe(*(USER_CHANNEL + u for u in unsubs))
            except _ERRORS:
                return  # the listener finds the link broken, and resubscribes everything once it is back

    def _reset(self, down: bool) -> bool:
        """Forget the connection's state; True if it was up."""
        was = self.connected
        self.connected, self._down = False, down
        self.up.clear()
        self._pubsub = None
        self._sent.clear()
        self._confirmed.clear()
        self._pending.clear()
        self._changed.clear()
        for waiters in self._waiters.values():
            for waiter in waiters:
                _settle(waiter, False)
        self._waiters.clear()
        if was:
            self._on_link(False, False)
        return was

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._flusher is not None:
            self._flusher.cancel()
            await asyncio.gather(self._flusher, return_exceptions=True)
        self._reset(down=True)
        await self._client.aclose()


def _settle(waiter: asyncio.Future[bool], ok: bool) -> None:
    if not waiter.done():
        waiter.set_result(ok)
