"""A real HTTP or SOCKS5 proxy (pproxy) on loopback, in a process of its own, that logs every connection it makes."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

__all__ = ["LoopbackProxy", "loopback_proxy"]

# pproxy's own command line sets up uvloop in a way Python 3.11 refuses; its library API is what it runs on.
_RUNNER = """
import asyncio, sys
import pproxy

async def main():
    server = pproxy.Server(sys.argv[1])
    handler = await server.start_server({"rserver": [], "verbose": lambda text: print(text, flush=True)})
    print("listening", handler.sockets[0].getsockname()[1], flush=True)
    await asyncio.Event().wait()

asyncio.run(main())
"""


class LoopbackProxy:
    """`url` to give the client; `connections_to(port)` counts what it has carried there so far."""

    def __init__(self, scheme: str, folder: Path) -> None:
        self.scheme = scheme
        self._log = folder / f"{scheme}-proxy.log"
        self._proc: subprocess.Popen[bytes] | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def log(self) -> list[str]:
        return self._log.read_text(encoding="utf-8", errors="replace").splitlines() if self._log.exists() else []

    def connections_to(self, port: int) -> int:
        """Connections it opened to 127.0.0.1:`port` on a client's behalf (pproxy logs "… -> host:port")."""
        return sum(1 for line in self.log() if line.endswith(f" -> 127.0.0.1:{port}"))

    async def start(self, timeout: float = 15.0) -> None:
        """Start on the port it had before (a restart), or on a free one; up once it says it listens."""
        self._log.parent.mkdir(parents=True, exist_ok=True)
        before = sum(1 for line in self.log() if line.startswith("listening "))
        self._proc = self._spawn()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while len(said := [line for line in self.log() if line.startswith("listening ")]) <= before:
            if self._proc.poll() is not None or loop.time() > deadline:
                pytest.fail(f"the {self.scheme} proxy did not start: {self.log()[-5:]}")
            await asyncio.sleep(0.05)
        self.port = int(said[-1].split()[1])

    def _spawn(self) -> subprocess.Popen[bytes]:
        with self._log.open("ab") as out:
            return subprocess.Popen([sys.executable, "-c", _RUNNER, f"{self.scheme}://127.0.0.1:{self.port}"],
                                    stdout=out, stderr=subprocess.STDOUT)  # fmt: skip

    def stop(self) -> None:
        """Gone at once, with every connection it carries (SIGKILL: nothing is closed politely)."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.send_signal(signal.SIGKILL)
            self._proc.wait(timeout=10)
        self._proc = None


@contextlib.asynccontextmanager
async def loopback_proxy(scheme: str, folder: Path) -> AsyncIterator[LoopbackProxy]:
    proxy = LoopbackProxy(scheme, folder)
    await proxy.start()
    try:
        yield proxy
    finally:
        proxy.stop()
