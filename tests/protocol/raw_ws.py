"""A WebSocket server on bare asyncio streams, for what no well-behaved server library sends: a frame of tens of
megabytes written from one reused chunk, so the server side allocates next to nothing while the client reads it."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import wsproto
import wsproto.events

_CHUNK = 60_000  # fits a 16-bit frame length, for the fragmented variant


class RawPeer:
    """One accepted connection: wsproto for the handshake and small frames, raw bytes for the huge one."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        self._ws = wsproto.WSConnection(wsproto.ConnectionType.SERVER)
        self._events: asyncio.Queue[wsproto.events.Event | None] = asyncio.Queue()
        self._pump: asyncio.Task[None] | None = None
        self.close_code: int | None = None  # the code of the client's close frame, once one arrived

    async def accept(self) -> None:
        """Complete the upgrade, then keep reading in the background (so the client's close frame is seen
        even while a huge frame is being written)."""
        self._pump = asyncio.get_running_loop().create_task(self._read_all())
        event = await self._next()
        assert isinstance(event, wsproto.events.Request), event
        self._writer.write(self._ws.send(wsproto.events.AcceptConnection()))
        await self._writer.drain()

    async def _read_all(self) -> None:
        with contextlib.suppress(OSError):
            while data := await self._reader.read(65536):
                self._ws.receive_data(data)
                for event in self._ws.events():
                    if isinstance(event, wsproto.events.CloseConnection):
                        self.close_code = event.code
                    self._events.put_nowait(event)
        self._events.put_nowait(None)

    async def _next(self) -> wsproto.events.Event | None:
        return await asyncio.wait_for(self._events.get(), 10)

    async def receive_json(self) -> Any:
        """The next text message from the client, parsed (IDENTIFY, PING)."""
        while True:
            event = await self._next()
            if event is None or isinstance(event, wsproto.events.CloseConnection):
                raise ConnectionError("the client closed")
            if isinstance(event, wsproto.events.TextMessage):
                return json.loads(event.data)

    async def send_json(self, value: Any) -> None:
        await self.send_text(json.dumps(value))

    async def send_text(self, text: str) -> None:
        self._writer.write(self._ws.send(wsproto.events.TextMessage(text)))
        await self._writer.drain()

    async def send_huge_text(self, size: int, *, fragmented: bool) -> int:
        """A text message of `size` bytes: one frame with a 64-bit length, or frames of 60 kB. Returns how
        many payload bytes went out before the client stopped taking them."""
        chunk = b"x" * _CHUNK
        sent = 0
        try:
            if not fragmented:
                self._writer.write(bytes([0x81, 127]) + size.to_bytes(8, "big"))
            while sent < size:
                if fragmented:
                    header = bytes([0x01 if sent == 0 else 0x00, 126]) + _CHUNK.to_bytes(2, "big")
                    self._writer.write(header)
                self._writer.write(chunk)
                sent += _CHUNK
                await self._writer.drain()
            if fragmented:
                self._writer.write(bytes([0x80, 0]))  # the final, empty continuation frame
                await self._writer.drain()
        except OSError:
            pass  # the client hung up on it, as it should
        return sent

    async def close(self, code: int) -> None:
        """A close frame with `code`; then wait for the client to hang up."""
        self._writer.write(self._ws.send(wsproto.events.CloseConnection(code=code)))
        await self._writer.drain()
        await self.wait_closed()

    async def wait_closed(self) -> None:
        """Until the client's side of the connection is gone."""
        if self._pump is not None:
            await asyncio.wait_for(asyncio.shield(self._pump), 10)

    def abort(self) -> None:
        self._writer.transport.abort()

    async def aclose(self) -> None:
        self._writer.transport.abort()
        if self._pump is not None:
            self._pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pump


class RawWsServer:
    """Runs `script(peer, n)` for the n-th connection (from 1); the connection is cut when it returns."""

    def __init__(self, script: Callable[[RawPeer, int], Awaitable[None]]) -> None:
        self._script = script
        self.connections = 0
        self.peers: list[RawPeer] = []
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.sockets[0].getsockname()[:2]
        return f"http://{host}:{port}"

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        peer = RawPeer(reader, writer)
        self.peers.append(peer)
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            await peer.accept()
            await self._script(peer, self.connections)
        except (ConnectionError, TimeoutError):
            pass  # the client went away: that is what most scripts here provoke
        finally:
            await peer.aclose()
            self._handlers.discard(task)

    @asynccontextmanager
    async def running(self) -> AsyncIterator[RawWsServer]:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        try:
            yield self
        finally:
            self._server.close()
            for task in list(self._handlers):
                task.cancel()
            await asyncio.gather(*self._handlers, return_exceptions=True)
            await self._server.wait_closed()
