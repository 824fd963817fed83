"""Live WebSocket connections: who is online, and delivering events to them."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from im_desktop.protocol.models import LoginStatus, Opcode
from im_desktop.server.store import SessionRow

__all__ = ["PLATFORM_NAME", "Connection", "Hub", "login_object"]

log = logging.getLogger(__name__)

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
    """One identified WebSocket; at most one per session."""

    ws: web.WebSocketResponse
    session: SessionRow
    last_sn: int = 0
    opened_at: float = field(default_factory=time.monotonic)
    # Live events wait here while READY and the resume replay are being sent, so that none is
    # sent early or lost; None once the connection is streaming.
    backlog: list[tuple[int, dict[str, Any]]] | None = field(default_factory=list)

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

    async def send_event(self, sn: int, body: dict[str, Any]) -> None:
        """Send a stored event once, in `sn` order, with this connection's login filled in."""
        if self.backlog is not None:
            self.backlog.append((sn, body))
        elif sn > self.last_sn:
            self.last_sn = sn
            await self.send(Opcode.EVENT, {"sn": sn, **body, "login": login_object(self.user_id)})

    async def start_streaming(self) -> None:
        """Flush the events that arrived during READY and replay, then send live."""
        while self.backlog:
            sn, body = self.backlog.pop(0)
            if sn > self.last_sn:
                self.last_sn = sn
                await self.send(Opcode.EVENT, {"sn": sn, **body, "login": login_object(self.user_id)})
        self.backlog = None

    async def close(self, code: int, reason: str) -> None:
        await self.ws.close(code=code, message=reason.encode())


class Hub:
    """Registry of identified connections, by session and by user."""

    def __init__(self) -> None:
        self._by_session: dict[str, Connection] = {}
        self._by_user: dict[str, dict[str, Connection]] = {}

    def __len__(self) -> int:
        return len(self._by_session)

    def attach(self, conn: Connection) -> Connection | None:
        """Register a connection; return the one it replaces (the same session reconnecting)."""
        old = self._by_session.get(conn.session.id)
        self._by_session[conn.session.id] = conn
        self._by_user.setdefault(conn.user_id, {})[conn.session.id] = conn
        return old

    def detach(self, conn: Connection) -> None:
        if self._by_session.get(conn.session.id) is conn:
            del self._by_session[conn.session.id]
            user_conns = self._by_user.get(conn.user_id, {})
            user_conns.pop(conn.session.id, None)
            if not user_conns:
                self._by_user.pop(conn.user_id, None)

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

    async def deliver(self, conns: Iterable[Connection], sn: int, body: dict[str, Any]) -> None:
        """Send one stored event to each connection."""
        for conn in conns:
            await conn.send_event(sn, body)
