"""A real HAProxy in front of server nodes: the config the README recommends, in a temporary folder, as a child."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import json
import resource
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

from im_desktop.protocol.errors import ErrorCode, ImError
from tests.server.cluster import Node, free_port

__all__ = ["HAProxy", "haproxy", "max_connections", "render_config"]

START_TIMEOUT = 20.0
CHECK_INTERVAL_MS = 500  # short for the tests; the README's config says 2s

# What HAProxy answers when no node is up (all of them refuse logins: the database is away, say): the server's
# own 90504 with Retry-After, so a client sees one code for an outage, whoever answers.
_UNAVAILABLE = ImError.with_detail(ErrorCode.SERVICE_UNAVAILABLE, "no server node is ready").to_wire()


def render_config(port: int, nodes: Sequence[tuple[str, int]], folder: Path, *, balance: str = "leastconn",
                  check_interval_ms: int = CHECK_INTERVAL_MS, maxconn: int | None = None) -> str:  # fmt: skip
    """haproxy.cfg for a frontend on 127.0.0.1:`port` and a backend of `nodes` (name, port) on loopback."""
    maxconn = maxconn or max_connections()
    servers = "\n".join(f"    server {name} 127.0.0.1:{node_port} check" for name, node_port in nodes)
    return f"""\
global
    maxconn {maxconn}
    stats socket {folder / "admin.sock"} mode 600 level admin
    log stderr format short local0 warning

defaults
    mode http
    log global
    option dontlognull
    timeout connect 2s
    timeout client 60s
    timeout server 60s
    timeout http-request 10s
    timeout http-keep-alive 10s
    timeout queue 5s
    # A WebSocket is a tunnel once upgraded: its idle limit is this, not client/server. Clients PING every
    # 10 s and the server drops silent ones after 30 s, so an hour only bounds what the nodes already bound.
    timeout tunnel 1h
    timeout client-fin 5s
    timeout server-fin 5s
    timeout check 2s
    # A node that refuses the connection (killed, restarting): try again, on another node each time.
    retries 3
    option redispatch 1
    errorfile 503 {folder / "503.http"}

frontend im
    bind 127.0.0.1:{port}
    maxconn {maxconn}
    default_backend nodes

backend nodes
    balance {balance}
    option httpchk
    http-check send meth GET uri /healthz ver HTTP/1.1 hdr Host localhost
    http-check expect status 200
    # Which node answered: for the tests and for an operator's curl -i.
    http-response set-header X-Served-By %[srv_name]
    default-server inter {check_interval_ms} fall 2 rise 2
{servers}
"""


def max_connections() -> int:
    """The most connections one HAProxy can take under this machine's descriptor limit: it needs two per
    proxied connection (client and node side) and a few of its own, and cannot raise a hard limit here."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return max(100, (hard - 200) // 2) if hard != resource.RLIM_INFINITY else 50_000


def _error_file() -> bytes:
    body = json.dumps(_UNAVAILABLE).encode()
    head = ("HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nCache-Control: no-store\r\n"
            f"Retry-After: 2\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n")  # fmt: skip
    return head.encode() + body


class HAProxy:
    """`haproxy -f haproxy.cfg -db` (foreground) as a child process, and its admin socket for the node states."""

    def __init__(self, folder: Path, port: int, process: subprocess.Popen[bytes], config: str) -> None:
        self.folder = folder
        self.port = port
        self.process = process
        self.config = config

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def admin(self, command: str) -> str:
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(5.0)
            s.connect(str(self.folder / "admin.sock"))
            s.sendall(command.encode() + b"\n")
            chunks = []
            while chunk := s.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks).decode()

    def states(self) -> dict[str, str]:
        """Each node's state as HAProxy's health checks see it: "UP", "DOWN", "UP 1/2" (going down), ..."""
        rows = csv.DictReader(io.StringIO(self.admin("show stat").lstrip("# ")))
        return {r["svname"]: r["status"] for r in rows if r["pxname"] == "nodes" and r["svname"] != "BACKEND"}

    async def until_states(self, wanted: dict[str, str], timeout: float = 15.0) -> None:
        """Wait until the named nodes are in these states; fail with what HAProxy says at the deadline."""
        deadline = time.monotonic() + timeout
        while True:
            states = await asyncio.to_thread(self.states)
            if all(states.get(name) == state for name, state in wanted.items()):
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"HAProxy's nodes are {states}, not {wanted}, after {timeout:.0f} s")
            await asyncio.sleep(0.1)

    def stderr(self) -> str:
        log = self.folder / "haproxy.log"
        return log.read_text(errors="replace") if log.exists() else ""


@asynccontextmanager
async def haproxy(nodes: Sequence[Node], *, balance: str = "leastconn",
                  check_interval_ms: int = CHECK_INTERVAL_MS) -> AsyncIterator[HAProxy]:  # fmt: skip
    """HAProxy in front of `nodes`, once every node passed its health check; stopped at the end."""
    folder = Path(tempfile.mkdtemp(prefix="im-desktop-haproxy-"))
    (folder / "503.http").write_bytes(_error_file())
    port = free_port()
    config = render_config(port, [(n.name, n.port) for n in nodes], folder, balance=balance,
                           check_interval_ms=check_interval_ms)  # fmt: skip
    (folder / "haproxy.cfg").write_text(config)
    with (folder / "haproxy.log").open("wb") as log:
        argv = ["haproxy", "-f", str(folder / "haproxy.cfg"), "-db"]
        process = subprocess.Popen(argv, stdout=log, stderr=log, stdin=subprocess.DEVNULL)  # noqa: ASYNC220 (at once)
    proxy = HAProxy(folder, port, process, config)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not (folder / "admin.sock").exists():
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"haproxy did not start ({process.poll()}): {proxy.stderr()[-2000:]}")
            await asyncio.sleep(0.05)
        await proxy.until_states({n.name: "UP" for n in nodes}, START_TIMEOUT)
        yield proxy
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                await asyncio.to_thread(process.wait, 10)
            except subprocess.TimeoutExpired:
                process.kill()
                await asyncio.to_thread(process.wait, 10)
        with contextlib.suppress(OSError):
            shutil.rmtree(folder)
