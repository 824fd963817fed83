"""A real Redis for the tests: Debian's redis-server on a free loopback port, in a temporary folder, not persisted."""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from tests.server.pg import CI_VARIABLE

__all__ = ["RedisServer", "missing_redis", "require"]


def missing_redis() -> str | None:
    """Why the Redis tests cannot run here, or None."""
    if shutil.which("redis-server") is None:
        return "the broker tests need the Debian package redis-server"
    try:
        import redis  # noqa: F401
    except ImportError:
        return "the broker tests need the Python package redis (pip install -e '.[test]')"
    return None


def require() -> None:
    """Skip without Redis, but fail in CI: a skip there would hide that the cluster tests never ran."""
    why = missing_redis()
    if why is None:
        return
    if os.environ.get(CI_VARIABLE) == "1":
        pytest.fail(f"{why} ({CI_VARIABLE}=1: in CI it must be installed; .ci/run installs it)")
    pytest.skip(why)


def _die_with_parent() -> None:
    """In the child before exec: Linux kills it when the test process dies, even by a timeout's hard exit that
    runs no teardown (a PDEATHSIG follows the forking thread: start redis from the test's main thread)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class RedisServer:
    """One redis-server; `restart()` keeps its port, so clients reconnect to the same URL (with nothing in it:
    there is no persistence, as after a real Redis lost its memory)."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="im-desktop-redis-"))
        self.port = 0
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        for attempt in range(5):  # the free port may be taken between choosing and binding it
            self.port = self.port or _free_port()
            if self._launch():
                return
            self.port = 0
            if attempt == 4:
                raise RuntimeError(f"redis-server did not start: {self._log()}")

    def _launch(self, timeout: float = 10.0) -> bool:
        self._proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.root), "--logfile", str(self.root / "redis.log"), "--protected-mode", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=_die_with_parent,
        )  # fmt: skip
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                return False
            if self._answers():
                return True
            time.sleep(0.02)
        self.stop()
        return False

    def _answers(self) -> bool:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
        return False

    def _log(self) -> str:
        path = self.root / "redis.log"
        return path.read_text(errors="replace")[-2000:] if path.exists() else "(no log)"

    def stop(self) -> None:
        """Stop it at once (SIGKILL): its clients see their connections drop, as when Redis dies."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait(10)
        self._proc = None

    def restart(self) -> None:
        """Start it again on the same port (after stop())."""
        port = self.port
        for _ in range(50):  # the old socket may take a moment to be free
            self.port = port
            if self._launch():
                return
            time.sleep(0.1)
        raise RuntimeError(f"redis-server did not start again on port {port}: {self._log()}")

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)
