"""The Satori event stream `GET {base}/v1/events`: IDENTIFY, READY, PING/PONG, EVENT, resume by `sn`."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web

from im_desktop.protocol.errors import ImError
from im_desktop.protocol.models import CloseCode, Opcode
from im_desktop.server.hub import Connection, Hub, login_object
from im_desktop.server.sessions import SessionService, session_to_wire

__all__ = ["EventStream"]

log = logging.getLogger(__name__)

_REPLAY_BATCH = 500
_PONG = json.dumps({"op": int(Opcode.PONG), "body": {}})


class _BadFrame(Exception):
    """A frame that is not a Satori signal."""


def _parse(text: str) -> tuple[int, dict[str, Any]]:
    try:
        frame = json.loads(text)
    except ValueError:
        raise _BadFrame from None
    if not isinstance(frame, dict):
        raise _BadFrame
    op, body = frame.get("op"), frame.get("body")
    if not isinstance(op, int) or isinstance(op, bool) or op not in Opcode._value2member_map_:
        raise _BadFrame
    if body is None:
        body = {}  # satori-python and others send PING without a body
    if not isinstance(body, dict):
        raise _BadFrame
    return op, body


def _resume_point(body: dict[str, Any]) -> int | None:
    # The spec says `sn`; servers and clients from before 2024-12 say `sequence`.
    for key in ("sn", "sequence"):
        value = body.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return value
    return None


@dataclass(eq=False, slots=True)
class _Socket:
    """A WebSocket on /v1/events, identified or not yet."""

    ws: web.WebSocketResponse
    conn: Connection | None = None
    opened_at: float = field(default_factory=time.monotonic)
    last_heard: float = field(default_factory=time.monotonic)
    closing: bool = False


class EventStream:
    """One coroutine per socket; all state changes go through the SessionService."""

    def __init__(self, service: SessionService, hub: Hub) -> None:
        self.service = service
        self.hub = hub
        self._sockets: set[_Socket] = set()

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=self.service.config.max_frame_bytes)
        await ws.prepare(request)
        socket = _Socket(ws)
        self._sockets.add(socket)
        try:
            while not ws.closed:
                # No timeout here: one sweeper enforces IDENTIFY and heartbeat deadlines for all sockets,
                # instead of a timer per socket per frame.
                msg = await ws.receive()
                socket.last_heard = time.monotonic()
                if msg.type is not WSMsgType.TEXT:
                    if msg.type is WSMsgType.BINARY:
                        await ws.close(code=CloseCode.INVALID_MESSAGE, message=b"invalid message")
                    break  # CLOSE, CLOSING, CLOSED, or ERROR (e.g. a frame over the size limit)
                try:
                    op, body = _parse(msg.data)
                except _BadFrame:
                    await ws.close(code=CloseCode.INVALID_MESSAGE, message=b"invalid message")
                    break
                if op == Opcode.PING:
                    await ws.send_str(_PONG)
                elif op == Opcode.IDENTIFY and socket.conn is None:
                    socket.conn = await self._identify(ws, body)
                    if socket.conn is None:
                        break
        finally:
            self._sockets.discard(socket)
            if socket.conn is not None:
                socket.conn.stop()
                self.hub.detach(socket.conn)
        return ws

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

    async def _identify(self, ws: web.WebSocketResponse, body: dict[str, Any]) -> Connection | None:
        token = body.get("token")
        token = token if isinstance(token, str) else None
        try:
            session = self.service.authenticate(token)
        except ImError:
            await self._refuse(ws, token)
            return None
        resume_from = _resume_point(body)
        store = self.service.store
        conn = Connection(ws, session, last_sn=resume_from if resume_from is not None else store.max_sn())
        old = self.hub.attach(conn)  # online from here on; live events wait in its outbox
        if old is not None:
            self.service.spawn(old.close(WSCloseCode.OK, "superseded by a newer connection of this session"))
        ready = {
            "logins": [login_object(session.user_id)],
            "proxy_urls": [],
            "sn": conn.last_sn,
            "session": session_to_wire(session, online=True),
            "heartbeat_interval": self.service.config.heartbeat_interval,
        }
        await conn.send(Opcode.READY, ready)
        # Replay from the durable log; the writer then skips queued events the replay already sent.
        while batch := store.events_after(conn.last_sn, conn.user_id, _REPLAY_BATCH):
            for sn, event in batch:
                await conn.send_stored_event(sn, event)
        conn.start_streaming()
        return conn

    async def _refuse(self, ws: web.WebSocketResponse, token: str | None) -> None:
        """Explain an ended session with `login-removed` (kicked while offline, say), or reject the token."""
        session = self.service.store.session_by_token(token) if token else None
        if session is None or session.state not in ("kicked", "expired"):
            await ws.close(code=CloseCode.INVALID_TOKEN, message=b"invalid token")
            return
        body, close = self.service.ended_event(session)
        await ws.send_str(json.dumps({"op": int(Opcode.EVENT), "body": {"sn": 0, **body}}))
        await ws.close(code=close, message=str((session.ended or {}).get("reason", "ended")).encode())

    async def close_all(self) -> None:
        """At shutdown: tell every client to come back (1012 service restart)."""
        conns = self.hub.all()
        await asyncio.gather(
            *(c.close(WSCloseCode.SERVICE_RESTART, "server restarting") for c in conns), return_exceptions=True
        )
