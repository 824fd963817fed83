"""The app's sandbox server child: starts on loopback, comes back at the same address if it dies, stops cleanly,
ends with the app however the app ends, and never shares its data folder with a second server."""

from __future__ import annotations

import asyncio
import json
import signal
import stat
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil
import pytest

from im_desktop.desktop.sandbox import SandboxServer

pytestmark = pytest.mark.slow

# A stand-in for the app: starts a sandbox server, says the server's pid, then waits to be killed.
PARENT = """
import asyncio, sys, time
from pathlib import Path
from im_desktop.desktop.sandbox import SandboxServer

sandbox = SandboxServer(Path(sys.argv[1]), Path(sys.argv[2]))
asyncio.run(sandbox.start())
print(sandbox._proc.pid, flush=True)
time.sleep(120)
"""


def _discover(url: str) -> dict[str, object]:
    with urllib.request.urlopen(f"{url}/im/v1/discovery", timeout=5) as reply:  # noqa: S310 - loopback URL
        result: dict[str, object] = json.load(reply)
        return result


def _alive(pid: int) -> bool:
    """Running, and not a zombie (an orphan's parent here may never reap it)."""
    try:
        return bool(psutil.Process(pid).status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False


@pytest.mark.asyncio
async def test_start_restart_after_a_crash_and_stop(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    sandbox = SandboxServer(tmp_path / "data", tmp_path / "logs" / "sandbox.log")
    url = await sandbox.start()
    assert url.startswith("http://127.0.0.1:")
    assert (await asyncio.to_thread(_discover, url))["sandbox"] is True
    keeper = asyncio.ensure_future(sandbox.keep_running())
    assert sandbox._proc is not None
    crashed = sandbox._proc
    crashed.send_signal(signal.SIGKILL)  # a crash
    deadline = time.monotonic() + 20
    while sandbox._proc is crashed or not sandbox.running:
        assert time.monotonic() < deadline, "the sandbox server was not started again"
        await asyncio.sleep(0.05)
    # The new server holds the data folder's lock: the crashed one's was released when it died.
    while True:
        try:
            if (await asyncio.to_thread(_discover, url))["server"] == "im-desktop":
                break
        except OSError:
            pass
        assert time.monotonic() < deadline, "the restarted sandbox server does not answer"
        await asyncio.sleep(0.1)
    assert sandbox.url == url  # back at the same address, so the app reconnects by itself
    assert await sandbox.stop() == 0  # the end of its stdin: a clean exit
    await asyncio.wait_for(keeper, 10)
    assert "starting it again (1/5)" in caplog.text


def test_the_server_ends_when_the_app_is_killed(tmp_path: Path) -> None:
    data, logs = tmp_path / "data", tmp_path / "logs"
    parent = subprocess.Popen([sys.executable, "-c", PARENT, str(data), str(logs / "sandbox.log")],
                              stdout=subprocess.PIPE, text=True)  # fmt: skip
    assert parent.stdout is not None
    child = 0
    try:
        child = int(parent.stdout.readline())
        assert _alive(child) and "--run-server" in psutil.Process(child).cmdline()
        parent.send_signal(signal.SIGKILL)  # no cleanup of any kind: a crash, or the OOM killer
        parent.wait(timeout=10)
        deadline = time.monotonic() + 10
        while _alive(child):
            assert time.monotonic() < deadline, "the sandbox server outlived the app that started it"
            time.sleep(0.05)
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
        parent.stdout.close()
        if child and _alive(child):
            psutil.Process(child).kill()
    # The next start gets the folder: the dead server's lock went with it.
    again = SandboxServer(data, logs / "sandbox.log")
    url = asyncio.run(again.start())
    try:
        assert _discover(url)["sandbox"] is True
    finally:
        assert asyncio.run(again.stop()) == 0


@pytest.mark.asyncio
async def test_a_second_server_on_the_same_folder_fails_to_start_and_says_why(tmp_path: Path) -> None:
    first = SandboxServer(tmp_path / "data", tmp_path / "logs" / "first.log")
    second = SandboxServer(tmp_path / "data", tmp_path / "logs" / "second.log")
    url = await first.start()
    try:
        assert first._proc is not None
        holder = first._proc.pid
        with pytest.raises(RuntimeError) as failed:
            await second.start()
        assert str(failed.value) == (
            f"the sandbox server did not start: im-desktop-server: another server (pid {holder}) is using the data "
            f"folder {tmp_path / 'data'}; stop it first (see {tmp_path / 'logs' / 'second.log'})"
        )
        assert not second.running
        assert (await asyncio.to_thread(_discover, url))["sandbox"] is True  # the first one serves on
    finally:
        await second.stop()  # if it did start, it must not outlive the test
        assert await first.stop() == 0


@pytest.mark.asyncio
async def test_the_sandbox_keeps_its_data_and_log_to_this_user(tmp_path: Path) -> None:
    sandbox = SandboxServer(tmp_path / "data" / "sandbox", tmp_path / "logs" / "sandbox.log")
    await sandbox.start()
    try:
        modes = {
            path.name: stat.S_IMODE(path.stat().st_mode)
            for path in (
                tmp_path / "logs",
                tmp_path / "logs" / "sandbox.log",
                tmp_path / "data" / "sandbox",
                tmp_path / "data" / "sandbox" / "server.sqlite3",
                tmp_path / "data" / "sandbox" / "server-keys.json",
            )
        }
    finally:
        assert await sandbox.stop() == 0
    assert modes == {"logs": 0o700, "sandbox.log": 0o600, "sandbox": 0o700, "server.sqlite3": 0o600,
                     "server-keys.json": 0o600}  # fmt: skip
