"""The Satori event stream `GET {base}/v1/events`: IDENTIFY, READY, PING/PONG, EVENT, resume by `sn`."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web

from im_desktop.protocol.errors import ImError
from im_desktop.protocol.models import CloseCode, Opcode
from im_desktop.server.hub import Connection, Hub, login_object
from im_desktop.server.replay import ReplayGate, plan_resume, replay
from im_desktop.server.sessions import SessionService, session_to_wire

__all__ = ["FRAME_BURST", "FRAME_RATE", "MAX_TOKEN_CHARS", "EventStream"]

log = logging.getLogger(__name__)

_PONG = json.dumps({"op": int(Opcode.PONG), "body": {}})
# Frames one socket may send: a token bucket of FRAME_BURST frames refilled at FRAME_RATE per second. A client
# sends IDENTIFY once and a PING every 8-10 s (ours, Koishi, satori-python), so this is two orders of magnitude
# above need, yet a flood is cut after a few milliseconds instead of being answered at 80k frames/s.
FRAME_RATE = 20.0
FRAME_BURST = 100
MAX_TOKEN_CHARS = 512  # ours are 43; a longer one cannot be valid, and is not worth hashing
_SN_CEILING = 2**63  # SQLite integers are signed 64-bit: a larger `sn` can be no position in the log
# How long a closing socket waits for the peer's close frame. Ours is already out; waiting longer only lets a
# peer that ignores it keep the server reading (aiohttp's default is 10 s).
_CLOSE_WAIT = 2.0
_CLOSED = (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR)


class _Refused(Exception):
    """A frame this server closes the socket for, with the documented close code."""

    def __init__(self, code: CloseCode, why: str) -> None:
        super().__init__(why)
        self.code = code
        self.why = why


def _parse(text: str) -> tuple[int, dict[str, Any]]:
    try:
        frame = json.loads(text)
    except (ValueError, RecursionError):  # deep nesting overflows the parser's stack: garbage like any other
        raise _Refused(CloseCode.INVALID_MESSAGE, "not JSON, or nested too deeply") from None
    if not isinstance(frame, dict):
        raise _Refused(CloseCode.INVALID_MESSAGE, "not a JSON object")
    op, body = frame.get("op"), frame.get("body")
    if not isinstance(op, int) or isinstance(op, bool) or op not in Opcode._value2member_map_:
        raise _Refused(CloseCode.INVALID_MESSAGE, "no known op")
    if body is None:
        body = {}  # satori-python and others send PING without a body
    if not isinstance(body, dict):
        raise _Refused(CloseCode.INVALID_MESSAGE, "body is not an object")
    return op, body


def _resume_point(body: dict[str, Any]) -> int | None:
    """IDENTIFY's `sn`: absent or null means a fresh start; anything but a whole number in 0..2^63-1 is refused."""
    # The spec says `sn`; servers and clients from before 2024-12 say `sequence`.
    for key in ("sn", "sequence"):
        value = body.get(key)
        if value is None:
            continue
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < _SN_CEILING:
            raise _Refused(CloseCode.INVALID_MESSAGE, f"'{key}' is not a whole number from 0 to 2^63-1")
        return value
    return None


def _token(body: dict[str, Any]) -> str:
    token = body.get("token")
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_CHARS:
        raise _Refused(CloseCode.INVALID_TOKEN, "no token, or not a string of 1-512 characters")
    try:
        token.encode()
    except UnicodeEncodeError:  # a lone surrogate from a JSON escape: it cannot be hashed, so it matches nothing
        raise _Refused(CloseCode.INVALID_TOKEN, "the token is not valid Unicode") from None
    return token


@dataclass(eq=False, slots=True)
class _Socket:
    """A WebSocket on /v1/events, identified or not yet."""

    ws: web.WebSocketResponse
    peer: str
    conn: Connection | None = None
    opened_at: float = field(default_factory=time.monotonic)
    last_heard: float = field(default_factory=time.monotonic)
    frame_tokens: float = FRAME_BURST
    closing: bool = False
    replay: asyncio.Task[None] | None = None

    def take_frame(self, now: float) -> bool:
        """Spend one frame of the budget (refilled since the last frame); False once it is spent."""
        self.frame_tokens = min(FRAME_BURST, self.frame_tokens + (now - self.last_heard) * FRAME_RATE)
        self.last_heard = now
        if self.frame_tokens < 1.0:
            return False
        self.frame_tokens -= 1.0
        return True


class EventStream:
    """One coroutine per socket; all state changes go through the SessionService."""

    def __init__(self, service: SessionService, hub: Hub) -> None:
        self.service = service
        self.hub = hub
        self._sockets: set[_Socket] = set()
        self._replays = ReplayGate()

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        # autoping off: protocol-level pings are answered here, so that they count against the frame budget.
        ws = web.WebSocketResponse(max_msg_size=self.service.config.max_frame_bytes, autoping=False,
                                   timeout=_CLOSE_WAIT)  # fmt: skip
        await ws.prepare(request)
        socket = _Socket(ws, request.remote or "?")
        self._sockets.add(socket)
        try:
            await self._serve(socket)
        except _Refused as refused:
            log.info("event stream from %s closed with %d: %s", socket.peer, refused.code, refused.why)
            await ws.close(code=refused.code, message=refused.why.encode())
        except ConnectionError:
            pass  # a PONG to a socket that was closing meanwhile (by its peer, or by a kick): nothing to report
        except Exception:
            # Past prepare() the response is a WebSocket: an exception escaping from here would make aiohttp
            # write an HTTP 500 into it. Log the bug once and close the socket cleanly instead.
            log.exception("event stream from %s: internal error", socket.peer)
            with contextlib.suppress(Exception):
                await ws.close(code=WSCloseCode.INTERNAL_ERROR, message=b"internal error")
        finally:
            self._sockets.discard(socket)
            if socket.replay is not None:
                socket.replay.cancel()
            if socket.conn is not None:
                socket.conn.stop()
                self.hub.detach(socket.conn)
        return ws

    async def _serve(self, socket: _Socket) -> None:
        ws = socket.ws
        while not ws.closed:
            # No timeout here: one sweeper enforces IDENTIFY and heartbeat deadlines for all sockets,
            # instead of a timer per socket per frame.
            msg = await ws.receive()
            if msg.type in _CLOSED:
                return  # the peer closed, or a frame over the size limit (aiohttp closed with 1009)
            if not socket.take_frame(time.monotonic()):
                log.warning("event stream from %s sent frames faster than %.0f/s; closed with %d",
                            socket.peer, FRAME_RATE, CloseCode.RATE_LIMITED)  # fmt: skip
                await ws.close(code=CloseCode.RATE_LIMITED, message=b"rate limited")
                return
            if msg.type is WSMsgType.PING:
                await ws.pong(msg.data)
                continue
            if msg.type is WSMsgType.PONG:
                continue
            if msg.type is not WSMsgType.TEXT:
                raise _Refused(CloseCode.INVALID_MESSAGE, "binary frame")
            op, body = _parse(msg.data)
            if socket.conn is None:
                # Before IDENTIFY only IDENTIFY counts: a PING gets no PONG (the socket must still identify
                # within the deadline), so an anonymous socket costs the server nothing but a parse.
                if op == Opcode.IDENTIFY and not await self._identify(socket, body):
                    return
            elif op == Opcode.PING:
                await ws.send_str(_PONG)

    async def watch_deadlines(self) -> None:
        """Close sockets that never identified, or went silent past the heartbeat timeout."""
        config = self.service.config
        interval = min(1.0, config.identify_timeout / 10, config.heartbeat_timeout / 10)
        while True:
            await asyncio.sleep(interval)
            now = time.monotonic()
            for socket in list(self._sockets):
                if socket.closing:
                    continue
                if socket.conn is None and now - socket.opened_at > config.identify_timeout:
                    socket.closing = True
                    self.service.spawn(socket.ws.close(code=CloseCode.IDENTIFY_TIMEOUT, message=b"timeout"))
                elif socket.conn is not None and now - socket.last_heard > config.heartbeat_timeout:
                    socket.closing = True
                    self.service.spawn(socket.ws.close(code=CloseCode.HEARTBEAT_TIMEOUT, message=b"timeout"))

    async def _identify(self, socket: _Socket, body: dict[str, Any]) -> bool:
        """Authenticate, attach, send READY, and start the replay (or re-sync); False if the socket was closed."""
        resume_from = _resume_point(body)
        token = _token(body)
        try:
            session = await self.service.authenticate(token)
        except ImError:
            await self._refuse(socket, token)
            return False
        conn = socket.conn = Connection(socket.ws, session)
        old = self.hub.attach(conn)  # online from here on; live events wait in its outbox until streaming starts
        if old is not None:
            self.service.spawn(old.close(WSCloseCode.OK, "superseded by a newer connection of this session"))
        # With a shared broker, news of this user reaches this node from here on (or `heard` is False, and the
        # catch-up reads the store until it does).
        heard = await self.service.broker.ready(conn)
        # Read after attaching: an event published from here on is in the outbox, and one logged before `newest`
        # is in the replay (the writer skips the overlap by `sn`). And an end of the session recorded while
        # authenticate() waited for the store found no connection to close: it shows in the state read here.
        start = await self.service.store.stream_start(session.id)
        if start.state != "active":
            if self.hub.get(session.id) is not conn:
                return True  # the end found this connection after all: its goodbye is on the way, and closes it
            self.hub.detach(conn)
            socket.conn = None
            await self._refuse(socket, token)
            return False
        plan = plan_resume(resume_from, start.newest, start.oldest)
        conn.last_sn = plan.sn
        if self.service.broker.shared:
            conn.pushed = plan.replay_to  # live events after the replay come from the catch-up (catchup.py)
            self.service.broker.planned(conn, heard)
        ready = {
            "logins": [login_object(session.user_id)],
            "proxy_urls": [],
            "sn": plan.sn,
            "resync": plan.resync,
            "session": session_to_wire(session, online=True),
            "heartbeat_interval": self.service.config.heartbeat_interval,
        }
        await conn.send(Opcode.READY, ready)
        if plan.replays:
            # In a task of its own, so that this socket's PINGs are answered while its replay runs.
            socket.replay = asyncio.get_running_loop().create_task(self._replay(conn, plan.replay_to), name="replay")
        else:
            conn.start_streaming()
        return True

    async def _replay(self, conn: Connection, upto: int) -> None:
        """Replay from the durable log; the writer then skips queued events the replay already sent."""
        try:
            async with self._replays.slot(conn.user_id):
                if await replay(conn, self.service.store, upto, self._replays.share):
                    conn.start_streaming()
        except Exception:
            log.exception("replay for session %s failed; closing its socket so that it resumes", conn.session.id)
            await conn.close(WSCloseCode.INTERNAL_ERROR, "replay failed; resume")

    async def _refuse(self, socket: _Socket, token: str) -> None:
        """Explain an ended session with `login-removed` (kicked while offline, say), or reject the token."""
        ws = socket.ws
        session = await self.service.store.session_by_token(token)
        if session is None or session.state not in ("kicked", "expired"):
            raise _Refused(CloseCode.INVALID_TOKEN, "unknown or logged-out token")
        body, close = self.service.ended_event(session)
        await ws.send_str(json.dumps({"op": int(Opcode.EVENT), "body": {"sn": 0, **body}}))
        await ws.close(code=close, message=str((session.ended or {}).get("reason", "ended")).encode())

    async def close_all(self) -> None:
        """At shutdown: tell every client to come back (1012 service restart)."""
        conns = self.hub.all()
        await asyncio.gather(
            *(c.close(WSCloseCode.SERVICE_RESTART, "server restarting") for c in conns), return_exceptions=True
        )
