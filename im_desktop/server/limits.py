"""Connection limits: request deadlines, a connection cap that fits the descriptor limit, quiet accept errors."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import logging
import ssl
import sys
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any, cast

from aiohttp import StreamReader, web
from aiohttp.web_protocol import RequestHandler

from im_desktop.protocol.errors import ErrorCode, ImError
from im_desktop.server.tls import HandshakeWatch

__all__ = [
    "ConnectionGuard",
    "GuardedSite",
    "Limits",
    "descriptor_limit",
    "plan_limits",
    "quiet_accept_errors",
    "raise_descriptor_limit",
]

log = logging.getLogger(__name__)

# Descriptors kept from connections: the database and its WAL and SHM files, the lock file, the log, the
# listening sockets, the event loop's own (epoll, self-pipe), the standard streams, and slack (a journal, a
# keys file being read).
RESERVED_DESCRIPTORS = 64
# A refused connection stays open up to REFUSAL_LINGER seconds so that its client reads the 503: closing a
# socket with request bytes still unread sends a reset, which can destroy the reply. At most REFUSAL_SLOTS
# linger at once; further refusals close as soon as the reply is written.
REFUSAL_SLOTS = 32
REFUSAL_LINGER = 1.0
MIN_BACKLOG = 16
MIN_CONNECTIONS = 8
REPORT_INTERVAL = 10.0  # seconds between two log lines about the same kind of trouble
_OUT_OF_RESOURCES = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})


def _busy_reply() -> bytes:
    body = json.dumps(ImError(ErrorCode.SERVER_BUSY).to_wire()).encode()
    head = (
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nRetry-After: 1\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + body


_BUSY_REPLY = _busy_reply()


@dataclass(frozen=True, slots=True)
class Limits:
    connections: int  # open connections at most
    backlog: int  # the listen backlog; asyncio also accepts up to this many sockets in one pass
    descriptors: int | None  # the soft descriptor limit, where the platform has one


def descriptor_limit() -> int | None:
    """This process's soft limit on open descriptors, or None where there is none (Windows, unlimited)."""
    if sys.platform == "win32":
        return None
    import resource

    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return None if soft == resource.RLIM_INFINITY else soft


def raise_descriptor_limit() -> tuple[int, int] | None:
    """Raise the soft descriptor limit to the hard one (services often start at 1024 soft with a hard limit far
    above): (before, after), or None where there is no limit."""
    if sys.platform == "win32":
        return None
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return None
    # macOS reports an unlimited hard limit yet refuses more than kern.maxfilesperproc: try smaller steps.
    steps = [hard] if hard != resource.RLIM_INFINITY else []
    steps += [n for n in (1 << 20, 1 << 16, 10240) if hard == resource.RLIM_INFINITY or n < hard]
    for target in steps:
        if target <= soft:
            break
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError):
            continue
        return soft, target
    return soft, soft


def plan_limits(max_connections: int, backlog: int, descriptors: int | None) -> Limits:
    """Fit the connection cap and the backlog to the descriptor limit, so that accept() never runs out.
    asyncio accepts up to `backlog` sockets in one pass before the cap sees any of them, so the backlog is
    budgeted as descriptors too, and kept to an eighth of the limit."""
    if descriptors is None:
        return Limits(max_connections, backlog, None)
    backlog = max(MIN_BACKLOG, min(backlog, descriptors // 8))
    room = descriptors - RESERVED_DESCRIPTORS - REFUSAL_SLOTS - backlog
    return Limits(min(max_connections, max(MIN_CONNECTIONS, room)), backlog, descriptors)


class _Report:
    """One kind of trouble, logged at most once per REPORT_INTERVAL with how often it happened meanwhile: an
    attacker decides how often it happens, and must not decide how big the log grows."""

    __slots__ = ("_args", "_count", "_due", "_text", "_timer")

    def __init__(self, text: str) -> None:
        self._text = text + " (%d since the last report)"
        self._args: tuple[object, ...] = ()
        self._count = 0
        self._due = float("-inf")
        self._timer: asyncio.TimerHandle | None = None

    def add(self, *args: object) -> None:
        self._count, self._args = self._count + 1, args
        loop = asyncio.get_running_loop()
        if loop.time() >= self._due:
            self.flush()
        elif self._timer is None:  # what happens meanwhile is reported when the interval is over
            self._timer = loop.call_at(self._due, self.flush)

    def flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._count:
            log.warning(self._text, *self._args, self._count)
            self._count, self._due = 0, asyncio.get_running_loop().time() + REPORT_INTERVAL


class _Connection(asyncio.Protocol):
    """One admitted connection: aiohttp's request handler does the HTTP, this does the guard's bookkeeping."""

    __slots__ = ("_deadline", "_guard", "busy", "counted", "handler", "served")

    def __init__(self, guard: ConnectionGuard, handler: RequestHandler) -> None:
        self._guard = guard
        self.handler = handler
        self._deadline: asyncio.TimerHandle | None = None
        self.busy = 0  # requests being handled (a WebSocket is one for its whole life)
        self.served = False  # a request arrived whole at least once
        self.counted = True  # still counted against the cap

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.handler.connection_made(transport)
        self._guard.became_idle(self)
        self._deadline = asyncio.get_running_loop().call_later(self._guard.header_timeout, self._header_deadline)

    def data_received(self, data: bytes) -> None:
        self.handler.data_received(data)

    def eof_received(self) -> None:
        self.handler.eof_received()  # aiohttp's handler does not keep half-closed connections open

    def pause_writing(self) -> None:
        self.handler.pause_writing()

    def resume_writing(self) -> None:
        self.handler.resume_writing()

    def connection_lost(self, exc: BaseException | None) -> None:
        self._guard.forget(self)
        self._cancel_deadline()
        self.handler.connection_lost(exc)

    def request_started(self, request: web.BaseRequest) -> None:
        self.busy += 1
        self.served = True
        self._cancel_deadline()
        self._guard.became_busy(self)
        if not request.content.is_eof():  # a body still on its way (a small one came with the headers)
            loop = asyncio.get_running_loop()
            self._deadline = loop.call_later(self._guard.body_timeout, self._body_deadline, request.content)

    def request_ended(self) -> None:
        self.busy -= 1
        self._cancel_deadline()
        if not self.busy:
            self._guard.became_idle(self)

    def close(self) -> None:
        self._cancel_deadline()
        self.handler.force_close()

    def _header_deadline(self) -> None:
        # Trickling a request line or headers does not move this: only a whole request does.
        self._deadline = None
        if not self.served:
            self.close()

    def _body_deadline(self, body: StreamReader) -> None:
        # The handler is waiting for the rest of the body: closing the connection ends that wait too.
        self._deadline = None
        if not body.is_eof():
            self.close()

    def _cancel_deadline(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None


class _Refusal(asyncio.Protocol):
    """A connection over the cap: `503` with code 90502 SERVER_BUSY, then closed."""

    __slots__ = ("_guard", "_linger", "_timer", "_transport")

    def __init__(self, guard: ConnectionGuard, linger: bool) -> None:
        self._guard, self._linger = guard, linger
        self._transport: asyncio.Transport | None = None
        self._timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)
        self._guard.refusals.add(self)
        self._transport.write(_BUSY_REPLY)
        if self._linger and self._transport.can_write_eof():
            self._transport.write_eof()
            self._timer = asyncio.get_running_loop().call_later(REFUSAL_LINGER, self._transport.close)
        else:
            self._transport.close()

    def data_received(self, data: bytes) -> None:
        pass  # the reply does not depend on the request: it is not read, only drained

    def eof_received(self) -> bool:
        return False  # the client read its reply and hung up: close now

    def connection_lost(self, exc: BaseException | None) -> None:
        self._guard.refusals.discard(self)
        if self._timer is not None:
            self._timer.cancel()

    def abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()


Handler = Callable[[web.BaseRequest], Awaitable[web.StreamResponse]]


class ConnectionGuard:
    """The listening socket's protocol factory. It counts open connections; at the cap it closes the one idle
    longest (silent, half-sent, or between keep-alive requests) to make room, and only when every connection is
    busy (a request in progress, a WebSocket) refuses the new one with 503. A connection that has not sent the
    line and headers of one whole request within `header_timeout` of connecting is closed, and so is one whose
    request body is not all in within `body_timeout` of its headers; aiohttp's keep-alive timeout closes one
    that waits longer than the idle timeout for its next request, half-sent or not."""

    def __init__(self, server: web.Server, *, cap: int, header_timeout: float, body_timeout: float) -> None:
        self._server = server
        self.cap = cap
        self.header_timeout = header_timeout
        self.body_timeout = body_timeout
        self.open = 0
        self.refusals: set[_Refusal] = set()
        self._idle: dict[_Connection, None] = {}  # longest idle first
        self._shedding = False
        self._evicted = _Report("connection cap (%d) reached: closed the longest-idle connection to make room")
        self._refused = _Report("connection cap (%d) reached with every connection busy: refused one with 503")
        server.request_handler = self._tracked(server.request_handler)

    def __call__(self) -> asyncio.Protocol:
        if self.open >= self.cap:
            if not self._evict():
                self._refused.add(self.cap)
                return _Refusal(self, linger=len(self.refusals) < REFUSAL_SLOTS)
            self._evicted.add(self.cap)
        self.open += 1
        return _Connection(self, self._server())

    def watched(self) -> asyncio.Protocol:
        """As a call, for a TLS listener: a connection whose handshake fails is forgotten (tls.HandshakeWatch)."""
        inner = self()
        forget = partial(self.forget, inner) if isinstance(inner, _Connection) else lambda: None
        return HandshakeWatch(inner, forget, self.header_timeout + 1.0)

    def out_of_descriptors(self) -> None:
        """accept() failed for lack of descriptors below the cap (something else holds more than was reserved):
        close the longest-idle connection so that asyncio's next try lets a waiting one in. Once per loop pass:
        asyncio retries the whole backlog in one pass, and each of those failures is the same shortage."""
        if self._shedding:
            return
        self._shedding = True
        asyncio.get_running_loop().call_soon(self._shed_again)
        self._evict()

    def close(self) -> None:
        """At shutdown (aiohttp closes the admitted connections itself)."""
        for refusal in list(self.refusals):
            refusal.abort()
        for report in (self._evicted, self._refused):
            report.flush()

    def _shed_again(self) -> None:
        self._shedding = False

    def became_idle(self, conn: _Connection) -> None:
        if conn.counted:
            self._idle.pop(conn, None)
            self._idle[conn] = None

    def became_busy(self, conn: _Connection) -> None:
        self._idle.pop(conn, None)

    def forget(self, conn: _Connection) -> None:
        self._idle.pop(conn, None)
        if conn.counted:
            conn.counted = False
            self.open -= 1

    def _evict(self) -> bool:
        victim = next(iter(self._idle), None)
        if victim is None:
            return False
        self.forget(victim)  # its descriptor is freed within a loop pass
        victim.close()
        return True

    @staticmethod
    def _tracked(handler: Handler) -> Handler:
        """The server's request handler, telling each connection when a request starts and ends."""

        async def tracked(request: web.BaseRequest) -> web.StreamResponse:
            transport = request.transport
            conn = transport.get_protocol() if transport is not None else None
            if not isinstance(conn, _Connection):
                return await handler(request)
            conn.request_started(request)
            try:
                return await handler(request)
            finally:
                conn.request_ended()

        return tracked


class GuardedSite(web.BaseSite):
    """A TCP site whose connections go through a ConnectionGuard."""

    __slots__ = ("_guard", "_host", "_listen_backlog", "_port")

    def __init__(self, runner: web.BaseRunner, guard: ConnectionGuard, host: str, port: int, *, backlog: int,
                 ssl_context: ssl.SSLContext | None = None) -> None:  # fmt: skip
        super().__init__(runner, backlog=backlog, ssl_context=ssl_context)
        self._guard, self._host, self._port, self._listen_backlog = guard, host, port, backlog

    @property
    def name(self) -> str:
        return f"{'https' if self._ssl_context else 'http'}://{self._host}:{self._port}"

    async def start(self) -> None:
        await super().start()
        loop = asyncio.get_running_loop()
        tls, timeout = self._ssl_context, self._guard.header_timeout  # a TLS handshake is part of the first request
        self._server = await loop.create_server(self._guard if tls is None else self._guard.watched, self._host,
                                                self._port, backlog=self._listen_backlog, ssl=tls,
                                                ssl_handshake_timeout=timeout if tls else None)  # fmt: skip


@contextlib.contextmanager
def quiet_accept_errors(loop: asyncio.AbstractEventLoop, on_resource_error: Callable[[], None]) -> Iterator[None]:
    """asyncio logs each failed accept() with a traceback, and out of descriptors it retries the whole backlog in
    one pass and again a second later: thousands of tracebacks a second. For the duration, log one line per
    REPORT_INTERVAL instead and call `on_resource_error` for each failure for lack of resources; every other
    error goes to the handler that was there before."""
    previous = loop.get_exception_handler()
    report = _Report("accepting a connection failed: %s")

    def handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        if isinstance(exc, OSError) and "socket" in context and "accept" in str(context.get("message", "")).lower():
            report.add(exc.strerror or type(exc).__name__)
            if exc.errno in _OUT_OF_RESOURCES:
                on_resource_error()
            return
        if previous is not None:
            previous(loop, context)
        else:
            loop.default_exception_handler(context)

    loop.set_exception_handler(handler)
    try:
        yield
    finally:
        report.flush()
        if loop.get_exception_handler() is handler:
            loop.set_exception_handler(previous)
