"""Live WebSocket connections: who is online, and delivering events to them."""

from __future__ import annotations

import asyncio
import json
import logging
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from aiohttp import WSCloseCode, web

from im_desktop.protocol.models import LoginStatus, Opcode
from im_desktop.server.store import SessionRow

__all__ = ["PLATFORM_NAME", "Connection", "Hub", "HubWatcher", "login_object"]

log = logging.getLogger(__name__)

MAX_OUTBOX = 1000  # events queued for one reader before it is told to reconnect and resume
PLATFORM_NAME = "im-desktop"  # the Satori `platform` of every login on this server
FEATURES = [
    "login.get", "user.get", "friend.list", "guild.list", "channel.list", "channel.get",
    "user.channel.create", "message.list", "message.create", "message.get", "message.list.from",
]  # fmt: skip


def login_object(user_id: str, sn: int = 0, status: LoginStatus = LoginStatus.ONLINE) -> dict[str, Any]:
    """A Satori Login for one of this server's users."""
    return {
        "sn": sn,
        "platform": PLATFORM_NAME,
        "user": {"id": user_id, "name": user_id},
        "status": int(status),
        "adapter": PLATFORM_NAME,
        "features": FEATURES,
    }


@dataclass(eq=False)
class Connection:
    """One identified WebSocket; at most one per session.

    Events wait in `outbox`; a writer task exists only while there is something to send, so a slow
    reader never delays the request that published an event, events leave in `sn` order, and an idle
    connection costs no task (at 10,000 sessions, fewer objects means shorter garbage collections).
    """

    ws: web.WebSocketResponse
    session: SessionRow
    last_sn: int = 0
    outbox: deque[tuple[int, dict[str, Any]]] = field(default_factory=deque)
    streaming: bool = False  # False while READY and the resume replay are being sent
    overflowed: bool = False
    writer: asyncio.Task[None] | None = None
    # With a shared broker (catchup.py): the last `sn` this connection has queued or will get from its replay, and
    # None until the resume plan is made. Catch-up reads from here; the in-process broker leaves it None.
    pushed: int | None = None

    @property
    def user_id(self) -> str:
        return self.session.user_id

    async def send(self, op: Opcode, body: dict[str, Any] | None = None) -> bool:
        """Send a frame; False if the peer is already gone (delivery is best effort, the log is durable)."""
        frame = {"op": int(op)} if body is None else {"op": int(op), "body": body}
        try:
            await self.ws.send_str(json.dumps(frame))
        except (ConnectionError, RuntimeError):
            return False
        return True

    async def send_stored_event(self, sn: int, body: dict[str, Any]) -> bool:
        """Send one event of the durable log, with this connection's login filled in."""
        self.last_sn = sn
        return await self.send(Opcode.EVENT, {"sn": sn, **body, "login": login_object(self.user_id)})

    def push(self, sn: int, body: dict[str, Any]) -> None:
        """Queue a live event; a reader too far behind is dropped and will resume from its last `sn`."""
        if len(self.outbox) >= MAX_OUTBOX:
            if not self.overflowed:
                self.overflowed = True
                log.warning("session %s reads too slowly; closing it so it resumes", self.session.id)
                self.outbox.clear()
                self.outbox.append((-1, {}))  # tells the writer to close the socket
            return
        self.outbox.append((sn, body))
        self._wake_writer()

    def start_streaming(self) -> None:
        """READY and the replay are out: live events may flow now."""
        self.streaming = True
        self._wake_writer()

    def _wake_writer(self) -> None:
        if self.streaming and self.outbox and (self.writer is None or self.writer.done()):
            self.writer = asyncio.get_running_loop().create_task(self._write_events(), name="ws-writer")

    async def _write_events(self) -> None:
        """Send queued events in order, skipping any already sent by the replay; end when the queue is empty."""
        while self.outbox:
            sn, body = self.outbox.popleft()
            if sn < 0:
                await self.close(WSCloseCode.TRY_AGAIN_LATER, "too far behind; resume")
                return
            if sn > self.last_sn and not await self.send_stored_event(sn, body):
                return

    def stop(self) -> None:
        if self.writer is not None:
            self.writer.cancel()

    async def close(self, code: int, reason: str) -> None:
        await self.ws.close(code=code, message=reason.encode())


class HubWatcher(Protocol):
    """Told who comes and goes (a shared broker: it follows exactly the users with a socket on this node)."""

    def user_arrived(self, user_id: str) -> None: ...

    def user_left(self, user_id: str) -> None: ...

    def session_attached(self, conn: Connection) -> None: ...

    def session_detached(self, conn: Connection) -> None: ...


class Hub:
    """Registry of identified connections, by session and by user."""

    def __init__(self) -> None:
        self._by_session: dict[str, Connection] = {}
        self._by_user: dict[str, dict[str, Connection]] = {}
        self.watcher: HubWatcher | None = None  # None with the in-process broker: nothing to tell

    def __len__(self) -> int:
        return len(self._by_session)

    def attach(self, conn: Connection) -> Connection | None:
        """Register a connection; return the one it replaces (the same session reconnecting)."""
        old = self._by_session.get(conn.session.id)
        self._by_session[conn.session.id] = conn
        user_conns = self._by_user.get(conn.user_id)
        if user_conns is None:
            user_conns = self._by_user[conn.user_id] = {}
            if self.watcher is not None:
                self.watcher.user_arrived(conn.user_id)
        user_conns[conn.session.id] = conn
        if self.watcher is not None:
            self.watcher.session_attached(conn)
        return old

    def detach(self, conn: Connection) -> None:
        if self._by_session.get(conn.session.id) is conn:
            del self._by_session[conn.session.id]
            user_conns = self._by_user.get(conn.user_id, {})
            user_conns.pop(conn.session.id, None)
            if self.watcher is not None:
                self.watcher.session_detached(conn)
            if not user_conns:
                self._by_user.pop(conn.user_id, None)
                if self.watcher is not None:
                    self.watcher.user_left(conn.user_id)

    def get(self, session_id: str) -> Connection | None:
        return self._by_session.get(session_id)

    def is_online(self, session_id: str) -> bool:
        return session_id in self._by_session

    def of_user(self, user_id: str) -> list[Connection]:
        return list(self._by_user.get(user_id, {}).values())

    def all(self) -> list[Connection]:
        return list(self._by_session.values())

    def select(self, keep: Callable[[Connection], bool]) -> list[Connection]:
        return [c for c in self._by_session.values() if keep(c)]

    @staticmethod
    def publish(conns: Iterable[Connection], sn: int, body: dict[str, Any]) -> None:
        """Queue one stored event for each connection; never waits for a reader."""
        for conn in conns:
            conn.push(sn, body)
