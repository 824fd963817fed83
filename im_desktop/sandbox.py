"""Starts and stops the built-in sandbox server as a child process on a free loopback port."""

from __future__ import annotations

import asyncio
import logging
import socket
import subprocess
import sys
from pathlib import Path

__all__ = ["SandboxServer", "server_command"]

log = logging.getLogger(__name__)

RUN_SERVER_FLAG = "--run-server"


def server_command(data_dir: Path, port: int) -> list[str]:
    """The command that runs the server: the same executable with a flag when frozen (PyInstaller has
    no `python -m`), else this interpreter."""
    args = ["--host", "127.0.0.1", "--port", str(port), "--data-dir", str(data_dir), "--sandbox", "--print-url",
            "--log-level", "WARNING"]  # fmt: skip
    if getattr(sys, "frozen", False):
        return [sys.executable, RUN_SERVER_FLAG, *args]
    return [sys.executable, "-m", "im_desktop", RUN_SERVER_FLAG, *args]


class SandboxServer:
    """The child process. `start()` returns its URL once it listens; `stop()` ends it politely."""

    def __init__(self, data_dir: Path, log_file: Path) -> None:
        self._data_dir = data_dir
        self._log_file = log_file
        self._proc: subprocess.Popen[str] | None = None
        self._port = 0
        self._stopping = False
        self.url = ""

    def _spawn(self) -> subprocess.Popen[str]:
        self._log_file.parent.mkdir(parents=True, exist_ok=True)
        with self._log_file.open("a", encoding="utf-8") as server_log:
            return subprocess.Popen(  # noqa: S603 - our own executable with fixed arguments
                server_command(self._data_dir, self._port), stdout=subprocess.PIPE, stderr=server_log, text=True,
            )  # fmt: skip

    def prepare(self) -> str:
        """Choose the port and return the URL the server will have; nothing is started yet."""
        if not self._port:
            # Fixed for the app's lifetime, so a restarted server is found at the same address.
            self._port = _free_port()
        return f"http://127.0.0.1:{self._port}"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def launch(self) -> None:
        """Fork the server now (a few milliseconds) so it starts while the app does other work."""
        self.prepare()
        if self._proc is None:
            self._proc = self._spawn()

    async def start(self, within: float = 20.0) -> str:
        """Launch if needed, then wait until the server listens; return its URL."""
        self.prepare()
        if self._proc is None:
            # Popen and the blocking readline run in threads: asyncio's subprocess support needs a
            # child watcher that an event loop running on Qt does not have.
            self._proc = await asyncio.to_thread(self._spawn)
        stdout = self._proc.stdout
        assert stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(stdout.readline), within)
        if not line.startswith("http://"):
            await self.stop()
            raise RuntimeError(f"the sandbox server did not start (see {self._log_file})")
        self.url = line.strip()
        log.info("sandbox server at %s (data in %s)", self.url, self._data_dir)
        return self.url

    async def keep_running(self, max_restarts: int = 5) -> None:
        """Restart the server if it dies (a crash, an OOM kill); the controller reconnects by itself."""
        restarts = 0
        while self._proc is not None and restarts < max_restarts:
            proc = self._proc
            code = await asyncio.to_thread(proc.wait)
            if self._stopping or self._proc is not proc:
                return
            restarts += 1
            log.warning("the sandbox server exited with %s; starting it again (%d/%d)", code, restarts, max_restarts)
            if proc.stdout is not None:
                proc.stdout.close()
            self._proc = None
            await self.start()

    async def stop(self, grace: float = 10.0) -> int | None:
        self._stopping = True
        proc, self._proc = self._proc, None
        if proc is None:
            return None
        if proc.poll() is None:
            proc.terminate()  # SIGTERM: the server closes every socket with 1012 and exits 0
            try:
                await asyncio.wait_for(asyncio.to_thread(proc.wait), grace)
            except TimeoutError:
                proc.kill()
                await asyncio.to_thread(proc.wait)
        if proc.stdout is not None:
            proc.stdout.close()
        return proc.returncode


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port
