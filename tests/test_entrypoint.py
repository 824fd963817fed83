"""The real entry point in a subprocess: it starts, goes online, quits with exit code 0 and leaves nothing behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

pytestmark = pytest.mark.slow


def _env(home: Path) -> dict[str, str]:
    return {**os.environ, "QT_QPA_PLATFORM": "offscreen", "IM_DESKTOP_HOME": str(home)}


def _app(home: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "im_desktop", *args], env=_env(home), text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip


def _sandbox_children(home: Path) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = proc.info["cmdline"] or []
        if "--run-server" in cmdline and str(home) in " ".join(cmdline):
            found.append(proc)
    return found


def _assert_clean_exit(proc: subprocess.Popen[str], home: Path) -> None:
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "Fatal Python error" not in err and "Traceback" not in err, err
    assert _sandbox_children(home) == []  # the sandbox server was stopped, not orphaned


def test_first_run_shows_a_window_and_exits_zero(tmp_path: Path) -> None:
    _assert_clean_exit(_app(tmp_path, "--exit-after", "window"), tmp_path)
    log = (tmp_path / "logs" / "im-desktop.log").read_text()
    assert "sandbox server at http://127.0.0.1:" in log and "first window shown" in log


def test_remembered_user_goes_online_at_start_and_exits_zero(tmp_path: Path) -> None:
    settings = tmp_path / "config" / "settings.json"
    settings.parent.mkdir(parents=True)
    settings.write_text(json.dumps({"last_user": "carol", "remember": True, "current_profile": "sandbox"}))
    _assert_clean_exit(_app(tmp_path, "--exit-after", "online"), tmp_path)
    assert "online" in (tmp_path / "logs" / "im-desktop.log").read_text()
    assert list((tmp_path / "cache" / "sandbox").glob("carol.sqlite3"))


def test_a_second_launch_defers_to_the_first_and_sigterm_quits_cleanly(tmp_path: Path) -> None:
    first = _app(tmp_path)
    log = tmp_path / "logs" / "im-desktop.log"
    deadline = time.monotonic() + 30
    while not (log.exists() and "first window shown" in log.read_text()):
        assert time.monotonic() < deadline and first.poll() is None, "the first instance did not start"
        time.sleep(0.1)
    second = _app(tmp_path)
    out, _ = second.communicate(timeout=30)
    assert second.returncode == 0
    assert "already running" in out
    deadline = time.monotonic() + 10
    while "another launch asked for this window; raising it" not in log.read_text():  # the first one obeyed
        assert time.monotonic() < deadline, "the first instance did not raise its window"
        time.sleep(0.05)
    first.send_signal(signal.SIGTERM)
    _assert_clean_exit(first, tmp_path)
