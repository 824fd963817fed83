"""Real parts for the multi-node tests: a PostgreSQL that can be stopped and started, and server processes."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.server import pg
from tests.server.support import SDKAPPID, SECRET_KEY

__all__ = [
    "OPERATOR_KEY",
    "Node",
    "StoppablePg",
    "free_port",
    "missing_parts",
    "require_parts",
    "server_nodes",
    "stoppable_pg",
    "write_keys",
]

OPERATOR_KEY = "operator-key-of-the-cluster-nodes"  # a keys file needs 24 characters at least
NODE_START_TIMEOUT = 30.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def missing_parts(*programs: str) -> list[str]:
    """The Debian packages whose programs these tests need and do not find (postgresql via tests/server/pg)."""
    missing = []
    if "postgresql" in programs and pg.missing_postgresql() is not None:
        missing.append("postgresql")
    for program, package in (("haproxy", "haproxy"), ("redis-server", "redis-server")):
        if program in programs and shutil.which(program) is None:
            missing.append(package)
    if "redis-server" in programs:
        try:
            import redis  # noqa: F401
        except ImportError:
            missing.append("the Python package redis")
    return missing


def require_parts(*programs: str) -> None:
    """Skip without them, but fail in CI (IM_DESKTOP_CI=1): a skip there would hide that the tests never ran."""
    missing = missing_parts(*programs)
    if not missing:
        return
    why = f"the multi-node tests need: {', '.join(missing)}"
    if os.environ.get(pg.CI_VARIABLE) == "1":
        pytest.fail(f"{why} ({pg.CI_VARIABLE}=1: in CI they must be installed; .ci/run installs them)")
    pytest.skip(why)


class StoppablePg(pg.PgCluster):
    """A PostgreSQL of one test's own, that the test stops (an outage) and starts again on the same port."""

    def _options(self) -> str:
        return " ".join(f"-c {k}={v!r}" if v == "" else f"-c {k}={v}" for k, v in pg.SETTINGS.items())

    def durable_database(self) -> str:
        """The URL of a new database whose commits survive a crash of the server (the cluster runs with
        synchronous_commit off for speed; a test that crashes it must not lose what it committed)."""
        name = self.create_database()
        self.psql(f"ALTER DATABASE {name} SET synchronous_commit = on")
        return self.url(name)

    def halt(self, mode: str = "fast") -> None:
        """pg_ctl stop: "fast" (clients disconnected, a clean shutdown) or "immediate" (as after a crash)."""
        self._run(*self._as_user, str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")

    def resume(self) -> None:
        self._run(*self._as_user, str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-w",
                  "-t", "60", "-o", f"-p {self.port} {self._options()}", "start")  # fmt: skip


@contextlib.contextmanager
def stoppable_pg() -> Iterator[StoppablePg]:
    pg.require()
    cluster = StoppablePg()
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


def write_keys(folder: Path) -> Path:
    """One keys file for every node: a ticket signed for one is good on all, the operator key too."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    keys = folder / "server-keys.json"
    keys.write_text(json.dumps({"sdkappid": SDKAPPID, "secret_key": SECRET_KEY, "admin_key": OPERATOR_KEY}))
    keys.chmod(0o600)
    return keys


@dataclass
class Node:
    """One server process (`python -m im_desktop.server`) on its own port and data folder."""

    name: str
    port: int
    argv: list[str]
    log: Path
    process: asyncio.subprocess.Process | None = None
    drains: list[asyncio.Task[None]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self.process = await asyncio.create_subprocess_exec(
            *self.argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
        assert self.process.stdout is not None and self.process.stderr is not None
        line = b""
        with contextlib.suppress(TimeoutError):
            line = await asyncio.wait_for(self.process.stdout.readline(), NODE_START_TIMEOUT)
        if not line.startswith(b"http://127.0.0.1:"):
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()
            err = (await self.process.stderr.read()).decode(errors="replace")[-2000:]
            raise AssertionError(f"node {self.name} did not start: {line!r} {err}")
        self.drains = [asyncio.create_task(self._drain(self.process.stdout)),
                       asyncio.create_task(self._drain(self.process.stderr))]  # fmt: skip

    async def _drain(self, stream: asyncio.StreamReader) -> None:
        with self.log.open("ab") as out:
            async for line in stream:
                out.write(line)

    def kill(self) -> None:
        """SIGKILL: the node is gone at once, its sockets reset by the kernel."""
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signal.SIGKILL)

    async def stop(self) -> None:
        if self.process is None:
            return
        if self.process.returncode is None:
            self.process.terminate()
            try:
                await asyncio.wait_for(self.process.wait(), 15)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
        await asyncio.gather(*self.drains, return_exceptions=True)

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


# asyncpg's pool logs each failed attempt to reconnect its idle connection with a traceback while the database is
# away (backing off to a minute): expected in an outage, and no failure of ours.
_POOL_RETRY = "Failed to restore the pool connection floor"


def _unexpected_tracebacks(log: str) -> int:
    return log.count("Traceback") - log.count(_POOL_RETRY)


@asynccontextmanager
async def server_nodes(root: Path, database: str, count: int = 3, broker: str | None = None,
                       extra: tuple[str, ...] = ()) -> AsyncIterator[list[Node]]:  # fmt: skip
    """`count` server processes on one database (and broker, when given), each on a fixed free port, so that a
    node restarted later comes back where the load balancer expects it. No traceback may reach their logs."""
    keys = write_keys(root / "keys")
    nodes = []
    for n in range(count):
        name = f"node{n + 1}"
        argv = [sys.executable, "-m", "im_desktop.server", "--host", "127.0.0.1", "--port", str(free_port()),
                "--data-dir", str(root / name), "--keys-file", str(keys), "--database", database, "--sandbox",
                "--print-url", "--log-level", "WARNING", "--allow-host", "*", *extra]  # fmt: skip
        if broker is not None:
            argv += ["--broker", broker]
        nodes.append(Node(name, int(argv[argv.index("--port") + 1]), argv, root / f"{name}.log"))
    async with AsyncExitStack() as stack:
        for node in nodes:
            stack.push_async_callback(node.stop)
        await asyncio.gather(*(node.start() for node in nodes))
        yield nodes
    tracebacks = [n.name for n in nodes if _unexpected_tracebacks(n.output())]
    assert not tracebacks, "\n".join(f"--- {n.name}\n{n.output()[-3000:]}" for n in nodes if n.name in tracebacks)
