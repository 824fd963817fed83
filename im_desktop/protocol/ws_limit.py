"""A WebSocket session that refuses a message over a size limit while it arrives, not once it is in memory."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import wsproto
import wsproto.connection
import wsproto.events
from httpx_ws import AsyncWebSocketSession, HTTPXWSException

__all__ = ["BoundedSession", "MessageTooBig"]

# Relies on httpx-ws internals of 0.8 and 0.9 (0.7 has no `_read_stream`), checked by
# tests/protocol/test_ws_limit.py: the session reads through `_read_stream()`, parses with its wsproto
# `connection`, and raises any HTTPXWSException it finds in its event queue `_send_event`. httpx-ws uses
# `max_message_size_bytes` only as the read size and joins the fragments of a message without any bound
# (a 100 MB frame costs 400 MB), so the bound is enforced here.

_TOO_BIG = 1009  # RFC 6455: "message too big"


class MessageTooBig(HTTPXWSException):
    """The server sent a message longer than the limit; the connection is closed with 1009."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the server sent a message longer than {limit} bytes")
        self.limit = limit


class _CountingConnection(wsproto.connection.Connection):
    """wsproto hands out a long message piece by piece as it arrives: count the pieces, and stop handing
    them out once one message is past the limit (text is counted in characters, binary in bytes)."""

    def __init__(self, limit: int) -> None:
        super().__init__(wsproto.ConnectionType.CLIENT)
        self.limit = limit
        self.oversized = False
        self._size = 0

    def events(self) -> Generator[wsproto.events.Event, None, None]:
        for event in super().events():
            if self.oversized:
                return
            if isinstance(event, wsproto.events.Message):
                self._size += len(event.data)
                if self._size > self.limit:
                    self.oversized = True
                    return
                if event.message_finished:
                    self._size = 0
            yield event


class BoundedSession(AsyncWebSocketSession):
    """`aconnect_ws(..., session_class=BoundedSession, max_message_size_bytes=N)`: no message over N."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.connection = self._counter = _CountingConnection(self._max_message_size_bytes)

    async def _read_stream(self, max_bytes: int) -> bytes:
        if self._counter.oversized:
            # Close first (this also makes the reader stop after this round), then tell the consumer, who
            # has received every message before this one in order.
            await self.close(_TOO_BIG, "message too big")
            await self._send_event.send(MessageTooBig(self._counter.limit))
            return b""
        return await super()._read_stream(max_bytes)
