"""The session benchmark's child processes: our server (plain or TLS, restartable) and a satori-python-client peer."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import time
from collections import deque
from pathlib import Path

from tests.tls_support import Issued

PROBE_SCRIPT = Path(__file__).resolve().parent / "satori_client_probe.py"


async def keep_lines(stream: asyncio.StreamReader, lines: deque[str]) -> None:
    async for raw in stream:
        lines.append(raw.decode(errors="replace").rstrip())


class ChildProcess:
    """A subprocess with piped output, stopped by SIGTERM (SIGKILL after 15 s)."""

    def __init__(self) -> None:
        self._process: asyncio.subprocess.Process | None = None
        self._readers: list[asyncio.Task[None]] = []

    async def _spawn(self, argv: list[str]) -> tuple[asyncio.StreamReader, asyncio.StreamReader]:
        pipe = asyncio.subprocess.PIPE
        self._process = process = await asyncio.create_subprocess_exec(*argv, stdout=pipe, stderr=pipe)
        assert process.stdout is not None and process.stderr is not None
        return process.stdout, process.stderr

    async def stop(self) -> int | None:
        process, self._process = self._process, None
        if process is None:
            return None
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), 15)
        except TimeoutError:
            process.kill()
            await process.wait()
        await asyncio.gather(*self._readers)
        return process.returncode


class ServerProcess(ChildProcess):
    """`python -m im_desktop.server` as a subprocess; restartable on the same port and data directory."""

    def __init__(self, data_dir: Path, tls: Issued | None = None, ca_file: str = "") -> None:
        super().__init__()
        self.data_dir = data_dir
        self.tls, self.ca_file = tls, ca_file  # HTTPS/WSS with this certificate, trusted through ca_file
        self.port, self.url = 0, ""
        self.listening_at = 0.0  # time.time() when the URL line arrived: the server is listening
        self.output: deque[str] = deque(maxlen=40)  # anything it said besides the URL (warnings, errors)
        self.exit_codes: list[int] = []

    async def start(self) -> None:
        stdout, stderr = await self._spawn(
            [sys.executable, "-m", "im_desktop.server", "--host", "127.0.0.1", "--port", str(self.port),
             "--data-dir", str(self.data_dir), "--sandbox", "--print-url", "--log-level", "WARNING",
             *(["--tls-cert", str(self.tls.cert), "--tls-key", str(self.tls.key)] if self.tls else [])])  # fmt: skip
        line = b""
        with contextlib.suppress(TimeoutError):
            line = await asyncio.wait_for(stdout.readline(), 30)
        self.listening_at = time.time()
        if not line.startswith(b"https://" if self.tls else b"http://"):
            await self.stop()
            raise RuntimeError(f"the server did not start: {line!r} {(await stderr.read())[-2000:]!r}")
        self.url = line.decode().strip()
        self.port = int(self.url.rsplit(":", 1)[1])
        self._readers = [asyncio.create_task(keep_lines(s, self.output)) for s in (stdout, stderr)]

    async def stop(self) -> int | None:
        code = await super().stop()
        if code is not None:
            self.exit_codes.append(code)
        return code


class SatoriClientPeer(ChildProcess):
    """satori_client_probe.py as a subprocess: a satori-python-client account reporting its status changes."""

    def __init__(self, url: str, token: str) -> None:
        super().__init__()
        self._argv = [sys.executable, str(PROBE_SCRIPT), "--url", url, "--token", token]
        self.changes: list[tuple[str, float]] = []  # (status, time.time())
        self.log: deque[str] = deque(maxlen=30)
        self._heard = asyncio.Event()

    async def start(self) -> None:
        stdout, stderr = await self._spawn(self._argv)
        self._readers = [asyncio.create_task(self._read_changes(stdout)),
                         asyncio.create_task(keep_lines(stderr, self.log))]  # fmt: skip

    async def _read_changes(self, stream: asyncio.StreamReader) -> None:
        async for raw in stream:
            word, _, stamp = raw.decode().strip().partition(" ")
            with contextlib.suppress(ValueError):
                self.changes.append((word, float(stamp)))
                self._heard.set()

    async def until(self, status: str, after: float, timeout: float) -> float:
        """The wall-clock time of the first `status` reported later than `after`."""
        deadline = time.monotonic() + timeout
        while True:
            self._heard.clear()
            if found := [stamp for word, stamp in self.changes if word == status and stamp > after]:
                return found[0]
            if (left := deadline - time.monotonic()) <= 0:
                raise TimeoutError(f"satori-python-client not {status}: {list(self.log)[-5:]}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._heard.wait(), left)
