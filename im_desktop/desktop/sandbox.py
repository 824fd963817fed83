"""Starts and stops the built-in sandbox server as a child process on a free loopback port."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from im_desktop.local.private_files import ensure_private_file, private_dir

if TYPE_CHECKING:
    from im_desktop.local.settings import AppPaths

__all__ = ["SandboxServer", "server_command"]

log = logging.getLogger(__name__)

RUN_SERVER_FLAG = "--run-server"


def server_command(data_dir: Path, port: int) -> list[str]:
    """The command that runs the server: the same executable with a flag when frozen (PyInstaller has
    no `python -m`), else this interpreter."""
    args = ["--host", "127.0.0.1", "--port", str(port), "--data-dir", str(data_dir), "--sandbox", "--print-url",
            "--log-level", "WARNING", "--stop-on-stdin-eof"]  # fmt: skip
    if getattr(sys, "frozen", False):
        return [sys.executable, RUN_SERVER_FLAG, *args]
    return [sys.executable, "-m", "im_desktop", RUN_SERVER_FLAG, *args]


class SandboxServer:
    """The child process. `start()` returns its URL once it listens; `stop()` ends it politely.

    The child's stdin is a pipe only this process writes to: when the app closes it, or dies however it dies,
    the server sees the end of it and stops, so it never outlives the app on the data folder. The server also
    locks its data folder, so a second one there (another app's, or an old orphan's) fails to start, saying why.
    """

    def __init__(self, data_dir: Path, log_file: Path) -> None:
        self._data_dir = data_dir
        self._log_file = log_file
        self._proc: subprocess.Popen[str] | None = None
        self._log_start = 0  # where this run's part of the server's log begins
        self._port = 0
        self._stopping = False
        self._spawned_at = 0.0  # time.monotonic() of the latest spawn
        self.url = ""

    @classmethod
    def for_paths(cls, paths: AppPaths) -> SandboxServer:
        """The sandbox of the app with these folders (its data, and its log beside the app's)."""
        return cls(paths.data / "sandbox-server", paths.logs / "sandbox-server.log")

    def _spawn(self) -> subprocess.Popen[str]:
        private_dir(self._log_file.parent)
        ensure_private_file(self._log_file)  # what the server logs is the user's business only: 0600
        with self._log_file.open("a", encoding="utf-8") as server_log:
            self._log_start = server_log.tell()
            self._spawned_at = time.monotonic()
            return subprocess.Popen(  # noqa: S603 - our own executable with fixed arguments
                server_command(self._data_dir, self._port), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=server_log, text=True,
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
            said = await asyncio.to_thread(self._last_words)
            raise RuntimeError(f"the sandbox server did not start{': ' + said if said else ''} (see {self._log_file})")
        self.url = line.strip()
        booted = 1000 * (time.monotonic() - self._spawned_at)
        log.info("sandbox server at %s (data in %s; listening %.0f ms after it was started)", self.url, self._data_dir,
                 booted)  # fmt: skip
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
            _close_pipes(proc)
            self._proc = None
            await self.start()

    async def stop(self, grace: float = 10.0) -> int | None:
        self._stopping = True
        proc, self._proc = self._proc, None
        if proc is None:
            return None
        # The end of its stdin: the server closes every socket with 1012 and exits 0 (on Windows too, where
        # terminate() would be a hard kill).
        _close_pipes(proc, stdout=False)
        if proc.poll() is None:
            try:
                await asyncio.wait_for(asyncio.to_thread(proc.wait), grace)
            except TimeoutError:
                proc.kill()
                await asyncio.to_thread(proc.wait)
        _close_pipes(proc)
        return proc.returncode

    def _last_words(self) -> str:
        """The last line the server wrote to its log in this run (why it did not start), bounded."""
        try:
            with self._log_file.open("rb") as server_log:
                server_log.seek(max(self._log_start, server_log.seek(0, 2) - 4096))
                tail = server_log.read(4096).decode("utf-8", errors="replace")
        except OSError:
            return ""
        lines = [line.strip() for line in tail.splitlines() if line.strip()]
        return lines[-1][:300] if lines else ""


def _close_pipes(proc: subprocess.Popen[str], *, stdout: bool = True) -> None:
    for pipe in (proc.stdin, proc.stdout if stdout else None):
        if pipe is not None:
            with contextlib.suppress(OSError):  # a pipe to a dead process may fail to flush; it is closed anyway
                pipe.close()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port
