"""The Satori event stream, client side: IDENTIFY, READY, heartbeats, events, and why it ended."""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
import wsproto.utilities
from httpx_ws import (
    AsyncWebSocketSession,
    HTTPXWSException,
    WebSocketDisconnect,
    WebSocketInvalidTypeReceived,
    WebSocketUpgradeError,
    aconnect_ws,
)

from im_desktop.protocol.errors import ImError
from im_desktop.protocol.models import Opcode
from im_desktop.protocol.tls import certificate_error
from im_desktop.protocol.ws_limit import BoundedSession, MessageTooBig

__all__ = ["EventStream", "Ready", "StreamEnd", "event_sn"]

log = logging.getLogger(__name__)

_MAX_FRAME_BYTES = 1024 * 1024
_NETWORK_ERRORS = (HTTPXWSException, httpx.TransportError, OSError, wsproto.utilities.LocalProtocolError)
_T = TypeVar("_T")


def _first_leaf(group: BaseExceptionGroup[Any]) -> BaseException:
    first = group.exceptions[0]
    return _first_leaf(first) if isinstance(first, BaseExceptionGroup) else first


@dataclass(frozen=True, slots=True)
class Ready:
    """READY: the logins (Satori), plus this server's resume point and session when it sends them."""

    logins: list[dict[str, Any]]
    sn: int | None
    session: dict[str, Any] | None
    resync: bool = False  # the server replayed nothing: what it missed must be re-read (message.list)


@dataclass(frozen=True, slots=True)
class StreamEnd:
    """Why a stream stopped. `ended` is the server's own account from `login-removed`, if it sent one."""

    code: int | None
    reason: str
    ended: dict[str, Any] | None = None
    dead: bool = False  # nothing arrived for `dead_after` seconds: the link is black-holed or asleep
    ready: bool = False  # whether READY had arrived
    unreachable: bool = False  # no TCP connection at all (refused, no route): the server or network is down
    # Refused on this side, and no retry can change that: the certificate is bad, or the address is plain http://
    # to another computer. Nothing was sent.
    fatal: ImError | None = None


class _CallbackFailed(Exception):
    """A callback raised: the stream ends, and `run()` raises `error` once the socket is closed."""

    def __init__(self, error: Exception) -> None:
        super().__init__(error)
        self.error = error


def _deliver(callback: Callable[[_T], None], value: _T) -> None:
    try:
        callback(value)
    except Exception as exc:
        raise _CallbackFailed(exc) from exc


def _sn(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def event_sn(body: dict[str, Any]) -> int | None:
    """The event's sequence number: `sn` now, `id` on servers from before 2024-12."""
    for key in ("sn", "id"):
        value = _sn(body.get(key))
        if value is not None:
            return value
    return None


def _parse(text: str) -> tuple[int, dict[str, Any]] | None:
    try:
        frame = json.loads(text)
    except (ValueError, RecursionError):  # deep nesting overflows the parser's stack: garbage like any other
        return None
    if not isinstance(frame, dict) or not isinstance(frame.get("op"), int) or isinstance(frame["op"], bool):
        return None
    body = frame.get("body")
    return frame["op"], body if isinstance(body, dict) else {}  # PONG may have no body at all


def _ready(body: dict[str, Any]) -> Ready:
    logins = body.get("logins")
    session = body.get("session")
    return Ready([x for x in logins if isinstance(x, dict)] if isinstance(logins, list) else [], _sn(body.get("sn")),
                 session if isinstance(session, dict) else None, body.get("resync") is True)  # fmt: skip


class EventStream:
    """One connection to `/v1/events`. `run()` does everything in the calling task and never raises
    for network trouble or anything the server sends: it returns a StreamEnd, so a supervisor can decide
    what comes next. Only an exception from a callback is raised, once the socket is closed."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        url: str,
        token: str | None,
        resume_sn: int | None,
        *,
        ping_interval: float,
        dead_after: float,
        ready_timeout: float = 10.0,
        handshake_timeout: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        refusal: ImError | None = None,
    ) -> None:
        self._http = http
        self._refusal = refusal
        self._url = url
        self._token = token
        self._resume_sn = resume_sn
        self._ping_interval = ping_interval
        self._dead_after = dead_after
        self._ready_timeout = ready_timeout
        self._handshake_timeout = handshake_timeout
        self._clock = clock
        self._ended: dict[str, Any] | None = None
        self._ready = False

    async def run(self, on_ready: Callable[[Ready], None], on_event: Callable[[dict[str, Any]], None]) -> StreamEnd:
        result = await self._connect(on_ready, on_event)
        if isinstance(result, Exception):
            raise result
        return result

    async def _connect(
        self, on_ready: Callable[[Ready], None], on_event: Callable[[dict[str, Any]], None]
    ) -> StreamEnd | Exception:
        if self._refusal is not None:  # the client's transport policy said no: no connection is opened
            return StreamEnd(None, self._refusal.message, fatal=self._refusal)
        # Without a handshake timeout of its own, a black-holed attempt waits for the pool's read timeout.
        extra: dict[str, Any] = {}
        if self._handshake_timeout is not None:
            extra["timeout"] = httpx.Timeout(self._handshake_timeout)
        try:
            connection: contextlib.AbstractAsyncContextManager[AsyncWebSocketSession] = aconnect_ws(
                self._url, self._http, keepalive_ping_interval_seconds=None, max_message_size_bytes=_MAX_FRAME_BYTES,
                session_class=BoundedSession, **extra,
            )  # fmt: skip
            async with connection as ws:
                try:
                    return await self._talk(ws, on_ready, on_event)
                except _CallbackFailed as exc:
                    failure: Exception = exc.error  # leaving the block closes the socket; then it is raised
                except MessageTooBig as exc:
                    return self._end(1009, str(exc))
                except WebSocketDisconnect as exc:
                    return self._end(exc.code, exc.reason)
                except _NETWORK_ERRORS as exc:
                    return self._end(None, f"connection lost ({type(exc).__name__})")
            return failure
        except WebSocketUpgradeError as exc:
            return self._end(None, f"the server refused the WebSocket (HTTP {exc.response.status_code})")
        except (httpx.ConnectError, httpx.ConnectTimeout, OSError) as exc:
            # The same verification as every request (httpx-ws opens the socket through the same client), and
            # the same words for a certificate that fails it.
            if (refused := certificate_error(exc, self._url)) is not None:
                return StreamEnd(None, refused.message, fatal=refused)
            return StreamEnd(None, f"cannot connect ({type(exc).__name__})", unreachable=True)
        except (HTTPXWSException, httpx.TransportError) as exc:
            return self._end(None, f"connection failed ({type(exc).__name__})")
        except ExceptionGroup as group:
            # httpx-ws wraps errors raised by its background reader in an ExceptionGroup.
            first = _first_leaf(group)
            if not isinstance(first, _NETWORK_ERRORS):
                raise
            if (refused := certificate_error(group, self._url)) is not None:
                return StreamEnd(None, refused.message, fatal=refused)
            return self._end(None, f"connection lost ({type(first).__name__})")

    def _end(self, code: int | None, reason: str, dead: bool = False) -> StreamEnd:
        return StreamEnd(code, reason, self._ended, dead, self._ready)

    async def _send(self, ws: AsyncWebSocketSession, op: Opcode, body: dict[str, Any]) -> bool:
        """False when the socket no longer takes writes: the server may have closed it already, and its
        close frame (with the code that says why) is still to be read, so the caller keeps reading."""
        try:
            await ws.send_text(json.dumps({"op": int(op), "body": body}))
        except _NETWORK_ERRORS as exc:
            log.debug("could not send %s (%s); reading on for the close", op.name, type(exc).__name__)
            return False
        return True

    async def _talk(
        self,
        ws: AsyncWebSocketSession,
        on_ready: Callable[[Ready], None],
        on_event: Callable[[dict[str, Any]], None],
    ) -> StreamEnd:
        identify: dict[str, Any] = {} if self._token is None else {"token": self._token}
        if self._resume_sn is not None:
            # The spec's `sn`, and `sequence` for servers that still read the old name.
            identify.update(sn=self._resume_sn, sequence=self._resume_sn)
        await self._send(ws, Opcode.IDENTIFY, identify)
        deadline = self._clock() + self._ready_timeout
        while not self._ready:
            remaining = deadline - self._clock()
            if remaining <= 0:
                return self._end(None, "no READY from the server", dead=True)
            try:
                parsed = _parse(await ws.receive_text(remaining))
            except (TimeoutError, WebSocketInvalidTypeReceived):
                continue
            if parsed is None:
                continue
            op, body = parsed
            if op == Opcode.READY:
                self._ready = True
                _deliver(on_ready, _ready(body))
            elif op == Opcode.EVENT:
                self._note(body)  # e.g. login-removed for a session kicked while offline
                _deliver(on_event, body)
        return await self._stream(ws, on_event)

    async def _stream(self, ws: AsyncWebSocketSession, on_event: Callable[[dict[str, Any]], None]) -> StreamEnd:
        last_heard = next_ping = self._clock()
        while True:
            now = self._clock()
            if now - last_heard >= self._dead_after:
                return self._end(None, f"nothing heard for {self._dead_after:.0f} s", dead=True)
            if now >= next_ping:
                sent = await self._send(ws, Opcode.PING, {})
                next_ping = now + self._ping_interval if sent else float("inf")
            try:
                text = await ws.receive_text(max(min(next_ping, last_heard + self._dead_after) - now, 0.001))
            except TimeoutError:
                continue
            except WebSocketInvalidTypeReceived:
                last_heard = self._clock()
                continue
            last_heard = self._clock()
            if len(text) > _MAX_FRAME_BYTES:  # only if BoundedSession is bypassed (an httpx-ws without _read_stream)
                return self._end(1009, f"the server sent a message of {len(text)} characters")
            parsed = _parse(text)
            if parsed is None:
                log.warning("ignored a frame that is not a Satori signal (%d characters)", len(text))
                continue
            op, body = parsed
            if op == Opcode.EVENT:
                self._note(body)
                _deliver(on_event, body)

    def _note(self, body: dict[str, Any]) -> None:
        if body.get("type") == "login-removed" and isinstance(body.get("ended"), dict):
            self._ended = body["ended"]
