"""The server as users run it: the command line, and a restart that loses no session and no message."""

from __future__ import annotations

import asyncio
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import pytest

from tests.server.support import EventSocket, database_for

pytestmark = pytest.mark.slow


@asynccontextmanager
async def server_process(data_dir: Path, port: int = 0, *extra: str
                         ) -> AsyncIterator[tuple[asyncio.subprocess.Process, str]]:  # fmt: skip
    database = database_for(data_dir)  # the store under test: PostgreSQL, or SQLite in the folder
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "im_desktop.server", "--port", str(port), "--data-dir", str(data_dir),
        "--sandbox", "--print-url", "--log-level", "WARNING", *(["--database", database] if database else []), *extra,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdout is not None
    try:
        url = (await asyncio.wait_for(proc.stdout.readline(), 20)).decode().strip()
        assert url.startswith("http://127.0.0.1:"), url
        yield proc, url
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.communicate()


async def _login(http: aiohttp.ClientSession, url: str, user_id: str) -> dict[str, str]:
    async with http.post(f"{url}/im/v1/demo/usersig", json={"user_id": user_id}) as resp:
        sig = (await resp.json())["user_sig"]
    body = {"user_id": user_id, "user_sig": sig, "platform": "Linux", "device_id": "dev-1"}
    async with http.post(f"{url}/im/v1/login", json=body) as resp:
        assert resp.status == 200
        token = (await resp.json())["token"]
    return {"Authorization": f"Bearer {token}", "Satori-Platform": "im-desktop", "Satori-User-ID": user_id}


async def _identify(http: aiohttp.ClientSession, url: str, token: str, sn: int | None = None) -> EventSocket:
    sock = EventSocket(await http.ws_connect(url.replace("http", "ws", 1) + "/v1/events"))
    await sock.send(3, {"token": token} if sn is None else {"token": token, "sn": sn})
    frame = await sock.frame()
    assert frame["op"] == 4, frame
    sock.ready = frame["body"]
    return sock


async def _send(http: aiohttp.ClientSession, url: str, headers: dict[str, str], text: str) -> None:
    async with http.post(f"{url}/v1/message.create", json={"channel_id": "general", "content": text},
                         headers=headers) as resp:  # fmt: skip
        assert resp.status == 200


async def _contents(http: aiohttp.ClientSession, url: str, headers: dict[str, str]) -> list[str]:
    async with http.post(f"{url}/v1/message.list", json={"channel_id": "general"}, headers=headers) as resp:
        return [m["content"] for m in (await resp.json())["data"]]


@pytest.mark.asyncio
@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGKILL], ids=["graceful", "crash"])
async def test_sessions_and_messages_survive_a_restart(tmp_path: Path, stop: signal.Signals) -> None:
    async with aiohttp.ClientSession() as http:
        async with server_process(tmp_path) as (proc, url):
            alice, bob = await _login(http, url, "alice"), await _login(http, url, "bob")
            token = alice["Authorization"].removeprefix("Bearer ")
            sock = await _identify(http, url, token)
            session_id = sock.ready["session"]["session_id"]
            assert isinstance(session_id, str) and session_id
            await _send(http, url, bob, "before")
            last_sn = (await sock.event())["sn"]
            await _send(http, url, alice, "mine, acknowledged")
            await sock.event()
            proc.send_signal(stop)
            close = await sock.close_code(timeout=10)
            assert await asyncio.wait_for(proc.wait(), 10) == (0 if stop == signal.SIGTERM else -signal.SIGKILL)
            if stop == signal.SIGTERM:
                assert close == aiohttp.WSCloseCode.SERVICE_RESTART  # "come back", not "go away"
        port = int(url.rsplit(":", 1)[1])
        async with server_process(tmp_path, port) as (_, url2):
            assert url2 == url
            resumed = await _identify(http, url, token, sn=last_sn)
            assert resumed.ready["session"]["session_id"] == session_id  # the same session: no new login needed
            replayed = await resumed.event()
            assert replayed["message"]["content"] == "mine, acknowledged"
            assert await _contents(http, url, alice) == ["before", "mine, acknowledged"]
            async with http.get(f"{url}/im/v1/admin/instances") as resp:  # no operator key: nothing to see
                assert resp.status == 403
                assert (await resp.json())["code"] == 70403


async def run_cli(*args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(*args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


@pytest.mark.asyncio
async def test_command_line_help_and_bad_arguments(tmp_path: Path) -> None:
    for cmd in (["im-desktop-server", "--help"], [sys.executable, "-m", "im_desktop.server", "--help"]):
        rc, out, _ = await run_cli(*cmd)
        assert rc == 0
        assert "--data-dir" in out and "--sandbox" in out
    server = [sys.executable, "-m", "im_desktop.server"]
    rc, _, err = await run_cli(*server, "--port", "70000", "--data-dir", str(tmp_path))
    assert rc == 2
    assert "--port must be between 0 and 65535" in err


@pytest.mark.asyncio
@pytest.mark.postgresql_only
async def test_a_database_that_cannot_be_used_stops_the_server_in_one_line(tmp_path: Path) -> None:
    server = [sys.executable, "-m", "im_desktop.server", "--port", "0", "--data-dir", str(tmp_path / "server")]
    rc, _, err = await run_cli(*server, "--database", "mysql://db.example.com/im")
    assert (rc, err) == (2, "--database must be a postgresql:// URL\n")
    rc, _, err = await run_cli(*server, "--database-pool", "0")
    assert (rc, err) == (2, "--database-pool must be between 1 and 1000, not 0\n")
    with socket.socket() as closed:  # a port that nothing listens on
        closed.bind(("127.0.0.1", 0))
        nobody = f"postgresql://im:hunter2@127.0.0.1:{closed.getsockname()[1]}/im"
        rc, out, err = await run_cli(*server, "--database", nobody, "--print-url")
    assert (rc, out) == (1, "")
    assert err.startswith(f"im-desktop-server: The database postgresql://im:***@127.0.0.1:{nobody.split(':')[3]}")
    assert "cannot be used (" in err and err.count("\n") == 1 and "Traceback" not in err, err
    assert "hunter2" not in err  # the password is never printed


@pytest.mark.asyncio
async def test_busy_port_and_damaged_keys_file_fail_clearly(tmp_path: Path) -> None:
    server = [sys.executable, "-m", "im_desktop.server"]
    async with server_process(tmp_path / "a") as (_, url):
        port = url.rsplit(":", 1)[1]
        rc, _, err = await run_cli(*server, "--port", port, "--data-dir", str(tmp_path / "b"))
        assert rc == 1
        assert f"cannot listen on 127.0.0.1:{port}" in err
    keys = tmp_path / "a" / "server-keys.json"
    assert keys.stat().st_mode & 0o077 == 0  # readable by its owner only
    keys.write_text("{not json")
    rc, _, err = await run_cli(*server, "--data-dir", str(tmp_path / "a"))
    assert rc != 0
    assert "keys file" in err and "damaged" in err
    assert keys.read_text() == "{not json"  # left as it was, for the operator to inspect


@pytest.mark.asyncio
async def test_a_second_server_on_the_same_data_folder_refuses_to_start(tmp_path: Path) -> None:
    """Two servers on one SQLite database would corrupt each other's view of it: the folder is locked."""
    async with aiohttp.ClientSession() as http, server_process(tmp_path) as (first, url):
        second = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "im_desktop.server", "--port", "0", "--print-url", "--data-dir", str(tmp_path),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip
        try:
            out, err = await asyncio.wait_for(second.communicate(), 20)
        finally:
            if second.returncode is None:  # it started after all: it must not outlive the test
                second.kill()
                await second.wait()
        assert second.returncode == 1
        assert out == b""  # it never listened
        assert err.decode() == f"im-desktop-server: another server (pid {first.pid}) is using the data folder " \
                               f"{tmp_path}; stop it first\n"  # fmt: skip
        assert first.returncode is None
        alice = await _login(http, url, "alice")  # the first one serves on
        await _send(http, url, alice, "still here")
        assert await _contents(http, url, alice) == ["still here"]


@pytest.mark.asyncio
async def test_allowed_host_names_and_origins_come_from_the_command_line(tmp_path: Path) -> None:
    async with server_process(tmp_path / "data", 0, "--allow-host", "chat.example.com", "--allow-origin",
                              "https://chat.example.com") as (_, url), aiohttp.ClientSession() as http:  # fmt: skip

        async def discovery(**headers: str) -> int:
            async with http.get(f"{url}/im/v1/discovery", headers=headers) as resp:
                return resp.status

        assert await discovery(Host="chat.example.com", Origin="https://chat.example.com") == 200
        assert await discovery(Host="rebound.attacker.example") == 403  # DNS rebinding: a name nobody allowed
        assert await discovery(Origin="https://evil.example") == 403
