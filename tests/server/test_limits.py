"""Connection limits against the real server: header and idle deadlines, the cap, descriptors, accept errors."""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from im_desktop.protocol import usersig
from im_desktop.server.limits import Limits, plan_limits
from tests.bench.fd_attack import run_fd_attack
from tests.server.support import ADMIN_KEY, SDKAPPID, SECRET_KEY, EventSocket, RunningServer, running_server

needs_prlimit = pytest.mark.skipif(
    not sys.platform.startswith("linux") or shutil.which("prlimit") is None, reason="needs Linux and prlimit"
)
PING, PONG = 1, 2


async def _connect(srv: RunningServer | str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    parts = urlsplit(srv if isinstance(srv, str) else srv.url)
    assert parts.hostname is not None and parts.port is not None
    return await asyncio.open_connection(parts.hostname, parts.port)


async def _until_closed(reader: asyncio.StreamReader, within: float) -> bytes:
    """Everything the server sends until it closes the connection; fails if it is still open after `within`."""
    received = b""
    try:
        async with asyncio.timeout(within):
            while chunk := await reader.read(4096):
                received += chunk
    except TimeoutError:
        raise AssertionError(f"the server kept the connection open for {within} s") from None
    except ConnectionResetError:
        pass  # closed all the same
    return received


async def _reply(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """One HTTP/1.1 reply with a Content-Length body."""
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5.0)
    lines = head.decode("latin-1").split("\r\n")
    length = next(int(v) for k, _, v in (h.partition(":") for h in lines[1:]) if k.strip().lower() == "content-length")
    return int(lines[0].split(" ")[1]), await asyncio.wait_for(reader.readexactly(length), 5.0)


async def _raw_login(srv: RunningServer | str, user_id: str) -> tuple[int, bytes]:
    """A login on a connection of its own (no pooled connection the cap may have closed)."""
    reader, writer = await _connect(srv)
    sig = usersig.generate(SDKAPPID, SECRET_KEY, user_id, 86400, now=int(time.time()))
    body = json.dumps({"user_id": user_id, "user_sig": sig, "platform": "Linux",
                       "device_id": f"{user_id}-device"}).encode()  # fmt: skip
    writer.write(b"POST /im/v1/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                 b"Connection: close\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))  # fmt: skip
    try:
        return await _reply(reader)
    finally:
        writer.close()


async def _pong(sock: EventSocket) -> None:
    await sock.send(PING)
    assert await sock.frame() == {"op": PONG, "body": {}}


def test_the_cap_and_backlog_fit_the_descriptor_limit() -> None:
    # 512 descriptors: backlog 512 / 8 = 64; 512 - 64 reserved - 32 refusal slots - 64 backlog = 352 connections.
    assert plan_limits(50_000, 1024, 512) == Limits(352, 64, 512)
    assert plan_limits(50_000, 1024, 20_000) == Limits(18_880, 1024, 20_000)
    assert plan_limits(50_000, 1024, 1 << 20) == Limits(50_000, 1024, 1 << 20)
    assert plan_limits(50_000, 1024, 100) == Limits(8, 16, 100)  # a floor, however few descriptors
    assert plan_limits(3, 1024, 20_000) == Limits(3, 1024, 20_000)  # a configured cap below the room stands
    assert plan_limits(50_000, 1024, None) == Limits(50_000, 1024, None)  # Windows: no descriptor limit


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "sent",
    [b"", b"GET /im/v1/lo", b"POST /im/v1/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Ty"],
    ids=["silent", "half-a-request-line", "half-the-headers"],
)
async def test_a_request_not_in_by_the_header_timeout_is_closed(tmp_path: Path, sent: bytes) -> None:
    async with running_server(tmp_path / "server", header_timeout=0.3, idle_timeout=30.0) as srv:
        reader, writer = await _connect(srv)
        opened = time.monotonic()
        writer.write(sent)
        assert await _until_closed(reader, within=3.0) == b""
        assert time.monotonic() - opened >= 0.25  # the header timeout, not some other reason
        writer.close()


@pytest.mark.asyncio
async def test_trickling_headers_does_not_extend_the_header_timeout(tmp_path: Path) -> None:
    async with running_server(tmp_path / "server", header_timeout=0.5, idle_timeout=30.0) as srv:
        reader, writer = await _connect(srv)
        writer.write(b"POST /im/v1/login HTTP/1.1\r\nHost: 127.0.0.1\r\n")

        async def trickle() -> None:
            for n in range(100):
                writer.write(b"X-Slow-%d: 1\r\n" % n)
                await asyncio.sleep(0.05)

        dripping = asyncio.create_task(trickle())
        try:
            await _until_closed(reader, within=3.0)
        finally:
            dripping.cancel()
            writer.close()


@pytest.mark.asyncio
async def test_a_body_not_in_by_the_body_timeout_is_closed(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    async with running_server(tmp_path / "server", header_timeout=5.0, body_timeout=0.3, idle_timeout=30.0) as srv:
        reader, writer = await _connect(srv)
        writer.write(b"POST /im/v1/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 100\r\n\r\n{\"user_id\": ")  # fmt: skip
        headers_sent = time.monotonic()
        await _until_closed(reader, within=3.0)
        assert time.monotonic() - headers_sent >= 0.25
        writer.close()
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]  # a client's fault: no traceback


@pytest.mark.asyncio
@pytest.mark.parametrize("then", [b"", b"GET /no/such/page HTTP/1.1\r\nHost: 12"], ids=["silent", "half-sent"])
async def test_an_idle_keep_alive_connection_closes_after_the_idle_timeout(tmp_path: Path, then: bytes) -> None:
    async with running_server(tmp_path / "server", header_timeout=5.0, idle_timeout=0.5) as srv:
        reader, writer = await _connect(srv)
        request = b"GET /no/such/page HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
        for _ in range(2):  # kept alive between requests sent in time
            writer.write(request)
            status, body = await _reply(reader)
            assert (status, json.loads(body)["code"]) == (404, 90404)
        idle_from = time.monotonic()
        writer.write(then)  # the next request, if begun, must be in by the idle timeout too
        assert await _until_closed(reader, within=3.0) == b""
        assert time.monotonic() - idle_from >= 0.4
        writer.close()


@pytest.mark.asyncio
async def test_an_identified_websocket_outlives_both_timeouts(tmp_path: Path) -> None:
    async with running_server(tmp_path / "server", header_timeout=0.3, idle_timeout=0.3) as srv:
        sock = await (await srv.login("alice")).connect()
        for _ in range(2):  # each silent connection is cut meanwhile: the deadlines are running
            reader, writer = await _connect(srv)
            await _until_closed(reader, within=3.0)
            writer.close()
        await _pong(sock)  # more than twice both timeouts later, the WebSocket still works
        assert not sock.ws.closed


@pytest.mark.asyncio
async def test_over_the_cap_a_new_connection_gets_503_server_busy(tmp_path: Path) -> None:
    async with running_server(tmp_path / "server", max_connections=2) as srv:
        alice, bob = await srv.login("alice"), await srv.login("bob")
        alice_sock, bob_sock = await alice.connect(), await bob.connect()  # idle pooled connections make room
        status, body = await _raw_login(srv, "carol")
        assert status == 503, body
        assert json.loads(body)["code"] == 90502
        await _pong(alice_sock)  # the busy connections were left alone
        await _pong(bob_sock)
        await bob_sock.ws.close()
        for _ in range(100):  # room again once the server has seen bob's socket close: 2 s at most
            if (status := (await _raw_login(srv, "carol"))[0]) != 503:
                break
            await asyncio.sleep(0.02)
        assert status == 200


@pytest.mark.asyncio
async def test_at_the_cap_the_longest_idle_connection_makes_room(tmp_path: Path) -> None:
    async with running_server(tmp_path / "server", max_connections=2, header_timeout=30.0) as srv:
        sock = await (await srv.login("alice")).connect()
        reader, writer = await _connect(srv)  # silent: idle, and older than the next one
        assert (await _raw_login(srv, "bob"))[0] == 200
        assert await _until_closed(reader, within=3.0) == b""
        writer.close()
        await _pong(sock)


# -- the server as a process, with few descriptors ---------------------------------------------------
def _open_files_limit(pid: int) -> str:
    return next(line for line in Path(f"/proc/{pid}/limits").read_text().splitlines() if "open files" in line)


@needs_prlimit
@pytest.mark.slow
@pytest.mark.asyncio
async def test_the_descriptor_limit_is_raised_to_the_hard_limit_at_start(tmp_path: Path) -> None:
    proc = await asyncio.create_subprocess_exec(
        "prlimit", "--nofile=256:1024", sys.executable, "-m", "im_desktop.server", "--port", "0", "--print-url",
        "--data-dir", str(tmp_path), "--sandbox", "--log-level", "WARNING", stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdout is not None
    try:
        assert (await asyncio.wait_for(proc.stdout.readline(), 20)).startswith(b"http://")
        assert _open_files_limit(proc.pid).split()[-3:] == ["1024", "1024", "files"]
    finally:
        proc.kill()
        await proc.communicate()


@needs_prlimit
@pytest.mark.slow
@pytest.mark.asyncio
async def test_520_idle_connections_at_512_descriptors_leave_logins_working() -> None:
    result = await asyncio.wait_for(run_fd_attack(nofile=512, attackers=520, duration=3.0), 45.0)
    logins = result["logins"]
    assert result["attack"]["opened"] == 520, result["attack"]
    assert logins["attempted"] >= 100 and logins["success_rate"] >= 0.99, logins  # 1.0 in every run so far
    assert result["server_log_bytes"] < 2_000, result["server_log_head"]  # a line or two, no tracebacks


# The server in a process where something else took all but a few descriptors: accept() runs out below the cap.
_HOGGED_SERVER = """
import asyncio, logging, os, sys
from pathlib import Path
from im_desktop.server.app import run_server
from im_desktop.server.config import Keys, ServerConfig

logging.basicConfig(level="WARNING", format="%(levelname)s %(name)s: %(message)s")
hog = []

def ready(url):
    try:
        while True:
            hog.append(os.open(os.devnull, os.O_RDONLY))
    except OSError:
        pass
    for fd in hog[-6:]:
        os.close(fd)
    print(url, flush=True)

keys = Keys(sdkappid=int(sys.argv[2]), secret_key=sys.argv[3], admin_key=sys.argv[4])
asyncio.run(run_server(ServerConfig(keys=keys, data_dir=Path(sys.argv[1]), port=0, sandbox=True), ready))
"""


@needs_prlimit
@pytest.mark.slow
@pytest.mark.asyncio
async def test_running_out_of_descriptors_logs_a_line_not_a_traceback_per_accept(tmp_path: Path) -> None:
    log_path = tmp_path / "server.log"
    with log_path.open("wb") as log_file:
        proc = await asyncio.create_subprocess_exec(
            "prlimit", "--nofile=160", sys.executable, "-c", _HOGGED_SERVER, str(tmp_path / "data"), str(SDKAPPID),
            SECRET_KEY, ADMIN_KEY, stdout=asyncio.subprocess.PIPE, stderr=log_file,
        )  # fmt: skip
    assert proc.stdout is not None
    crowd: list[asyncio.StreamWriter] = []
    try:
        url = (await asyncio.wait_for(proc.stdout.readline(), 20)).decode().strip()
        host, port = url.removeprefix("http://").split(":")
        for _ in range(12):  # more than the six descriptors left
            crowd.append((await asyncio.open_connection(host, int(port)))[1])
        await asyncio.sleep(2.5)  # the pressure lasts: asyncio retries accept() every second meanwhile
        for writer in crowd:
            writer.close()
        crowd.clear()
        async with asyncio.timeout(10.0):  # and the server recovers (asyncio retries accept() once a second)
            assert (await _raw_login(url, "dave"))[0] == 200
    finally:
        for writer in crowd:
            writer.close()
        proc.terminate()
        await asyncio.wait_for(proc.communicate(), 20)
    log = log_path.read_text(errors="replace")
    assert "Traceback" not in log, log[:2000]
    assert len(log) < 2_000, log[:2000]
    assert "accepting a connection failed: Too many open files" in log
