"""The PyInstaller build of the server: it freezes, starts, serves a login and a READY, and stops cleanly."""

from __future__ import annotations

import asyncio
import selectors
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "packaging" / "im-desktop-server.spec"
BUILD_TIMEOUT = 480  # about 20 s warm and under a minute cold on 2 cores; generous for slow CI disks


def _freeze(tmp_path: Path) -> Path:
    """Build the spec into tmp_path, from an unrelated cwd, and return the bundle's folder."""
    dist = tmp_path / "dist"
    cmd = [sys.executable, "-m", "PyInstaller", str(SPEC), "--distpath", str(dist),
           "--workpath", str(tmp_path / "build"), "--noconfirm", "--log-level", "WARN"]  # fmt: skip
    done = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=BUILD_TIMEOUT, check=False)
    assert done.returncode == 0, done.stderr[-4000:]
    return dist / "im-desktop-server"


def _read_url(proc: subprocess.Popen[str], timeout: float = 30) -> str:
    """The first stdout line (--print-url), without blocking forever if the server never gets there."""
    assert proc.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ)
        assert selector.select(timeout), "the frozen server printed no URL"
    return proc.stdout.readline().strip()


async def _login_and_identify(url: str) -> dict[str, Any]:
    """Discovery, a demo ticket, a login, then IDENTIFY on the event stream; return the READY body."""
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{url}/im/v1/discovery") as resp:
            assert resp.status == 200
            assert (await resp.json())["server"] == "im-desktop"
        async with http.post(f"{url}/im/v1/demo/usersig", json={"user_id": "alice"}) as resp:
            assert resp.status == 200
            sig = (await resp.json())["user_sig"]
        body = {"user_id": "alice", "user_sig": sig, "platform": "Linux", "device_id": "d1"}
        async with http.post(f"{url}/im/v1/login", json=body) as resp:
            assert resp.status == 200
            token = (await resp.json())["token"]
        assert token
        # The WebSocket leg runs aiohttp's compiled frame reader, which only a hidden import brings along.
        async with http.ws_connect(url.replace("http", "ws", 1) + "/v1/events") as ws:
            await ws.send_json({"op": 3, "body": {"token": token}})
            frame = await ws.receive_json(timeout=10)
    assert frame["op"] == 4, frame
    ready: dict[str, Any] = frame["body"]
    return ready


@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.skipif(sys.platform == "win32", reason="SIGTERM is TerminateProcess on Windows: no graceful exit")
def test_frozen_server_serves_a_login_and_stops_cleanly(tmp_path: Path) -> None:
    bundle = _freeze(tmp_path)
    bundled_icon = bundle / "_internal" / "resources" / "icons" / "im-desktop.svg"  # sys._MEIPASS/resources
    assert bundled_icon.read_bytes() == (ROOT / "resources" / "icons" / "im-desktop.svg").read_bytes()
    assert not (bundle / "_internal" / "PySide6").exists()  # Qt stays out of the server bundle

    cmd = [str(bundle / "im-desktop-server"), "--sandbox", "--port", "0", "--print-url",
           "--data-dir", str(tmp_path / "data"), "--log-level", "WARNING"]  # fmt: skip
    log_path = tmp_path / "server.log"
    with log_path.open("w") as log, subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, text=True) as proc:
        try:
            url = _read_url(proc)
            assert url.startswith("http://127.0.0.1:"), url
            ready = asyncio.run(_login_and_identify(url))
            assert ready["logins"], ready
            proc.send_signal(signal.SIGTERM)
            exit_code = proc.wait(timeout=20)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert exit_code == 0, log_path.read_text()
