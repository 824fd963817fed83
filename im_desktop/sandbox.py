"""Starts and stops the built-in sandbox server as a child process on a free loopback port."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
from pathlib import Path

__all__ = ["SandboxServer", "server_command"]

log = logging.getLogger(__name__)

RUN_SERVER_FLAG = "--run-server"


def server_command(data_dir: Path) -> list[str]:
    """The command that runs the server: the same executable with a flag when frozen (PyInstaller has
    no `python -m`), else this interpreter."""
    args = ["--host", "127.0.0.1", "--port", "0", "--data-dir", str(data_dir), "--sandbox", "--print-url",
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
        self.url = ""

    def _spawn(self) -> subprocess.Popen[str]:
        self._log_file.parent.mkdir(parents=True, exist_ok=True)
        with self._log_file.open("a", encoding="utf-8") as server_log:
            return subprocess.Popen(  # noqa: S603 - our own executable with fixed arguments
                server_command(self._data_dir), stdout=subprocess.PIPE, stderr=server_log, text=True,
            )  # fmt: skip

    async def start(self, within: float = 20.0) -> str:
        # Popen and a blocking readline in threads: asyncio's subprocess support needs a child watcher
        # that an event loop running on Qt does not have.
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

    async def stop(self, grace: float = 10.0) -> int | None:
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
