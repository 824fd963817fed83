"""The app's sandbox server child: starts on loopback, comes back at the same address if it dies, stops cleanly."""

from __future__ import annotations

import asyncio
import json
import signal
import urllib.request
from pathlib import Path

import pytest

from im_desktop.sandbox import SandboxServer

pytestmark = [pytest.mark.asyncio, pytest.mark.slow]


def _discover(url: str) -> dict[str, object]:
    with urllib.request.urlopen(f"{url}/im/v1/discovery", timeout=5) as reply:  # noqa: S310 - loopback URL
        result: dict[str, object] = json.load(reply)
        return result


async def test_start_restart_after_a_crash_and_stop(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    sandbox = SandboxServer(tmp_path / "data", tmp_path / "logs" / "sandbox.log")
    url = await sandbox.start()
    assert url.startswith("http://127.0.0.1:")
    assert (await asyncio.to_thread(_discover, url))["sandbox"] is True
    keeper = asyncio.ensure_future(sandbox.keep_running())
    assert sandbox._proc is not None
    sandbox._proc.send_signal(signal.SIGKILL)  # a crash
    for _ in range(100):
        await asyncio.sleep(0.1)
        try:
            if (await asyncio.to_thread(_discover, url))["server"] == "im-desktop":
                break
        except OSError:
            continue
    assert sandbox.url == url  # back at the same address, so the app reconnects by itself
    assert await sandbox.stop() == 0
    await asyncio.wait_for(keeper, 10)
    assert "starting it again (1/5)" in caplog.text
