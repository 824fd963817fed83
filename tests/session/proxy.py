"""A TCP proxy between client and server that tests can cut, black-hole or slow down: the network seam."""

from __future__ import annotations

import asyncio
import contextlib
import enum


class Mode(enum.Enum):
    PASS = "pass"
    CUT = "cut"  # connections reset, new ones refused: a cable pulled or Wi-Fi gone
    BLACKHOLE = "blackhole"  # connections stay open but nothing gets through: a dead NAT or a sleeping laptop


class FaultProxy:
    """Listens on 127.0.0.1 and forwards to the real server, unless told otherwise."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.mode = Mode.PASS
        self.delay = 0.0
        self.connections = 0
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.sockets[0].getsockname()[:2]
        return f"http://{host}:{port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)

    async def close(self) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for task in list(self._pipes):
            task.cancel()
        await asyncio.gather(*self._pipes, return_exceptions=True)

    def cut(self) -> None:
        """Reset every connection; refuse new ones until `restore()`."""
        self.mode = Mode.CUT
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    def blackhole(self) -> None:
        self.mode = Mode.BLACKHOLE

    def restore(self) -> None:
        self.mode = Mode.PASS

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.mode is Mode.CUT:
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self.connections += 1
        self._writers.update((writer, up_writer))
        for src, dst in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.get_running_loop().create_task(self._pipe(src, dst))
            self._pipes.add(task)
            task.add_done_callback(self._pipes.discard)

    async def _pipe(self, src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            while data := await src.read(65536):
                if self.mode is Mode.BLACKHOLE:
                    continue  # swallowed: neither side hears anything, neither side is told
                if self.mode is Mode.CUT:
                    break
                if self.delay:
                    await asyncio.sleep(self.delay)
                dst.write(data)
                await dst.drain()
        dst.transport.abort() if self.mode is Mode.CUT else dst.close()
