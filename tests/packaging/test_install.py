"""A person without Python: the tarball installed into a fresh home, the app started the way a double-click in the
menu starts it (gio launch on the installed desktop entry), a login to the built-in server, the tray green,
Quit with exit code 0, then the uninstaller, after which nothing of the app is left."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import psutil
import pytest

from tests.e2e.desktop import AppProcess, missing_packages, require_packages, run_desktop, wait_until
from tests.packaging.conftest import Built

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1500)]

APP_ID = "org.imdesktop.ImDesktop"
LAUNCHER = Path(__file__).resolve().parent / "launcher.py"


def _session_env(home: Path, **more: str) -> dict[str, str]:
    """What a desktop session gives a program it starts: no Python, no development environment."""
    return {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(home), "LANG": "C.UTF-8", **more}


def _ours(home: Path) -> list[str]:
    """Every file or link in the home that belongs to im-desktop."""
    return sorted(str(p.relative_to(home)) for p in home.rglob("*")
                  if ("im-desktop" in p.name or APP_ID in p.name or "im-desktop" in p.parts))  # fmt: skip


def _installed_app(executable: Path) -> int | None:
    for proc in psutil.process_iter(["exe", "status"]):
        if proc.info["exe"] == str(executable) and proc.info["status"] != psutil.STATUS_ZOMBIE:
            return int(proc.pid)
    return None


def test_install_launch_log_in_quit_uninstall(built: Built, tmp_path: Path) -> None:
    require_packages(missing_packages() + (["libglib2.0-bin"] if shutil.which("gio") is None else []))
    with tarfile.open(built.tarball) as archive:
        archive.extractall(tmp_path / "download", filter="data")
    [unpacked] = (tmp_path / "download").glob("im-desktop-*-linux-*")
    home = tmp_path / "home"
    home.mkdir()

    # ./install.sh, twice: the second run updates in place and leaves the same files.
    for _ in range(2):
        done = subprocess.run([str(unpacked / "install.sh")], env=_session_env(home), capture_output=True, text=True,
                              timeout=120, check=False)  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
        assert "lacks libraries" not in done.stderr, done.stderr
        installed = _ours(home)
        assert [p for p in installed if not p.startswith(".local/opt/")] == sorted([
            ".local/bin/im-desktop", f".local/share/applications/{APP_ID}.desktop",
            f".local/share/metainfo/{APP_ID}.metainfo.xml", f".local/share/icons/hicolor/scalable/apps/{APP_ID}.svg",
            *(f".local/share/icons/hicolor/{n}x{n}/apps/{APP_ID}.png" for n in (16, 24, 32, 48, 64, 128, 256, 512)),
        ])  # fmt: skip
    executable = home / ".local" / "opt" / "im-desktop" / "im-desktop"
    entry = home / ".local" / "share" / "applications" / f"{APP_ID}.desktop"
    assert f'Exec="{executable}"' in entry.read_text()
    assert (home / ".local" / "bin" / "im-desktop").resolve() == executable

    with run_desktop(tmp_path / "desktop") as desktop:
        status = tmp_path / "exits.jsonl"
        env = _session_env(home, DISPLAY=desktop.x.display, DBUS_SESSION_BUS_ADDRESS=desktop.bus_address)
        out = tmp_path / "app"
        out.mkdir()
        app = AppProcess(home, env, out, command=[sys.executable, str(LAUNCHER), str(status), "gio", "launch",
                                                 str(entry)],
                         log_file=home / ".local" / "state" / "im-desktop" / "log" / "im-desktop.log")  # fmt: skip
        desktop.apps.append(app)
        app.pid = wait_until("the installed app to start", lambda: _installed_app(executable), 30)
        login = desktop.wait_window(app, "^Log in — IM Desktop$", timeout=60)
        desktop.wait_element(app, "push button", "Log in")
        desktop.wait_tray("offline")  # by now the window has been painted, not only mapped
        desktop.screenshot("installed-login-window.png", login)
        desktop.log_in(app, "erin", remember=False)
        app.wait_log("online", timeout=60)
        main = desktop.wait_window(app, "^im-desktop — erin · Built-in sandbox$")
        desktop.wait_tray("online")
        desktop.screenshot("installed-main-window.png", main)
        desktop.quit_from_tray()
        assert app.wait_exit(60) == 0  # the launcher ends with the first non-zero exit of anything it reaped
        exits = [json.loads(line) for line in status.read_text().splitlines()]
        assert [e["code"] for e in exits if e["cmdline"].startswith(str(executable))] == [0], exits
        assert app.sandbox_servers() == []
        assert app.stderr() == ""  # the frozen app printed no warning at all

    # The uninstaller, as the person finds it in the installed folder; --purge takes settings and messages too.
    done = subprocess.run([str(executable.parent / "uninstall.sh"), "--purge"], env=_session_env(home),
                          capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert _ours(home) == []
    for folder in ("opt", "share/icons", "share/applications", "share/metainfo", "bin"):
        assert not (home / ".local" / folder).exists(), folder  # the folders it made, it took away again
