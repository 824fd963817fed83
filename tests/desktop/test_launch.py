"""Start-up order: the sandbox server is forked before the app's own imports, and a remembered user's cached
conversations are on screen before the network stack, the keyring or the session layer is even imported."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

# Runs the real entry point with MainWindow.show and LoginWindow.show noting what was loaded and running then.
PROBE = """
import json, os, sys
import psutil
from im_desktop.ui.login_window import LoginWindow
from im_desktop.ui.main_window import MainWindow

WATCHED = ("httpx", "httpx_ws", "keyring", "im_desktop.session.controller", "im_desktop.local.credentials", "trio",
           "rich")
seen = {}

def noting(cls, name):
    show = cls.show
    def shown(self):
        servers = [p for p in psutil.Process().children() if "--run-server" in " ".join(p.cmdline())]
        seen.setdefault(name, {"loaded": sorted(m for m in WATCHED if sys.modules.get(m) is not None),
                               "sandbox_running": bool(servers)})
        show(self)
    cls.show = shown

noting(MainWindow, "main")
noting(LoginWindow, "login")
from im_desktop.desktop.launch import main
code = main(sys.argv[1:])
print(json.dumps(seen))
raise SystemExit(code)
"""


def _run(home: Path, until: str) -> dict[str, dict[str, object]]:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "IM_DESKTOP_HOME": str(home)}
    done = subprocess.run([sys.executable, "-c", PROBE, "--exit-after", until], env=env, capture_output=True,
                          text=True, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    seen: dict[str, dict[str, object]] = json.loads(done.stdout.strip().splitlines()[-1])
    return seen


def test_a_remembered_start_shows_the_cache_before_the_network_stack_is_imported(tmp_path: Path) -> None:
    settings = tmp_path / "config" / "settings.json"
    settings.parent.mkdir(parents=True)
    settings.write_text(json.dumps({"last_user": "carol", "remember": True, "current_profile": "sandbox"}))
    seen = _run(tmp_path, "online")
    assert seen["main"] == {"loaded": [], "sandbox_running": True}
    assert "login" not in seen  # straight to the cached conversations, then online by itself
    assert "login steps: discovery" in (tmp_path / "logs" / "im-desktop.log").read_text()


def test_a_first_run_shows_the_login_window_with_the_sandbox_already_booting(tmp_path: Path) -> None:
    seen = _run(tmp_path, "window")
    assert seen["login"] == {"loaded": [], "sandbox_running": True}
    assert "main" not in seen
