"""Start at login: the XDG autostart entry (valid, launchable by GLib with an awkward home folder, Hidden=true over a
system-wide entry), the macOS LaunchAgent, and the Windows Run key on Windows."""

from __future__ import annotations

import os
import plistlib
import shutil
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from im_desktop.local.autostart import AUTOSTART_ID, LaunchAgent, RunKey, XdgAutostart, launch_command

ENTRY = f"{AUTOSTART_ID}.desktop"


def _xdg(tmp_path: Path, command: list[str] | None = None) -> XdgAutostart:
    return XdgAutostart(command or ["/opt/im desktop/im-desktop"], config_home=tmp_path / "config",
                        config_dirs=[tmp_path / "etc-xdg"])  # fmt: skip


def _keys(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text(encoding="utf-8").splitlines()[1:] if "=" in line)


def _exec_argv(value: str) -> list[str]:
    """The Exec key as the Desktop Entry spec reads it: the string's escapes, then arguments split at spaces
    outside double quotes, inside which a backslash escapes `"`, `` ` ``, `$` and itself; then %% is %."""
    text = value.replace("\\\\", "\\")
    args: list[str] = []
    current, quoted, i, started = "", False, 0, False
    while i < len(text):
        ch = text[i]
        if quoted and ch == "\\" and i + 1 < len(text) and text[i + 1] in '"`$\\':
            current, i = current + text[i + 1], i + 2
            continue
        if ch == '"':
            quoted, started = not quoted, True
        elif ch == " " and not quoted:
            if started:
                args.append(current)
            current, started = "", False
        else:
            current, started = current + ch, True
        i += 1
    if started:
        args.append(current)
    return [arg.replace("%%", "%") for arg in args]


def test_on_writes_an_entry_that_runs_this_copy_and_off_removes_it(tmp_path: Path) -> None:
    command = launch_command(str(tmp_path / 'my home $HOME `x` "q" 100%'))
    autostart = _xdg(tmp_path, command)
    assert not autostart.enabled()
    autostart.set_enabled(True)
    entry = tmp_path / "config" / "autostart" / ENTRY
    assert autostart.enabled() and entry.is_file()
    keys = _keys(entry)
    assert _exec_argv(keys["Exec"]) == command
    assert keys["TryExec"] == sys.executable and keys["Type"] == "Application" and "Hidden" not in keys
    autostart.set_enabled(False)
    assert not entry.exists() and not autostart.enabled()


def test_the_entry_passes_desktop_file_validate(tmp_path: Path) -> None:
    validate = shutil.which("desktop-file-validate")
    if validate is None:
        pytest.skip("needs desktop-file-utils")
    autostart = _xdg(tmp_path, launch_command(str(tmp_path / "home with space")))
    autostart.set_enabled(True)
    done = subprocess.run([validate, str(autostart.path)], capture_output=True, text=True, check=False)
    assert done.returncode == 0 and not done.stdout.strip(), done.stdout + done.stderr


@pytest.mark.slow
def test_glib_launches_the_entry_with_the_home_folder_intact(tmp_path: Path) -> None:
    """`gio launch` reads the entry as a desktop session does: the app it starts uses the odd folder given."""
    gio = shutil.which("gio")
    if gio is None:
        pytest.skip("needs gio (libglib2.0-bin)")
    home = tmp_path / "a home with 'single' \"double\" `back` quotes, $HOME and 100%"
    autostart = _xdg(tmp_path, [*launch_command(str(home)), "--exit-after", "window"])
    autostart.set_enabled(True)
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    env.pop("IM_DESKTOP_HOME", None)
    subprocess.run([gio, "launch", str(autostart.path)], env=env, check=True, timeout=30)
    log = home / "logs" / "im-desktop.log"
    deadline = time.monotonic() + 30
    while not (log.is_file() and "first window shown" in log.read_text(encoding="utf-8", errors="replace")):
        if time.monotonic() > deadline:
            pytest.fail(f"the app started from the entry did not use {home}")
        time.sleep(0.1)
    # It quits by itself (--exit-after window), its sandbox server with it: nothing may outlive the test.
    while running := _started_with(home):
        if time.monotonic() > deadline:
            for proc in running:
                proc.kill()
            pytest.fail(f"the app started from the entry did not quit: {[p.pid for p in running]}")
        time.sleep(0.1)


def _started_with(home: Path) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        if str(home) in " ".join(proc.info["cmdline"] or []) and proc.status() != psutil.STATUS_ZOMBIE:
            found.append(proc)
    return found


def test_off_over_a_system_wide_entry_writes_hidden_true(tmp_path: Path) -> None:
    system = tmp_path / "etc-xdg" / "autostart" / ENTRY
    system.parent.mkdir(parents=True)
    system.write_text("[Desktop Entry]\nType=Application\nName=im-desktop\nExec=im-desktop\n", encoding="utf-8")
    autostart = _xdg(tmp_path)
    assert autostart.enabled()  # the system's entry starts it
    autostart.set_enabled(False)
    assert _keys(autostart.path)["Hidden"] == "true"
    assert not autostart.enabled()
    assert system.is_file()  # not ours to delete
    autostart.set_enabled(True)
    assert "Hidden" not in _keys(autostart.path) and autostart.enabled()


def test_an_entry_switched_off_by_the_desktop_counts_as_off(tmp_path: Path) -> None:
    autostart = _xdg(tmp_path)
    autostart.path.parent.mkdir(parents=True)
    autostart.path.write_text("[Desktop Entry]\nType=Application\nExec=x\nX-GNOME-Autostart-enabled=false\n")
    assert not autostart.enabled()
    autostart.path.write_text("[Desktop Entry]\nType=Application\nExec=x\n[Desktop Action y]\nHidden=true\n")
    assert autostart.enabled()  # Hidden in another group says nothing about the entry


def test_a_new_config_folder_is_private(tmp_path: Path) -> None:
    autostart = _xdg(tmp_path)
    autostart.set_enabled(True)
    if os.name == "posix":
        assert (tmp_path / "config").stat().st_mode & 0o077 == 0


def test_the_launch_agent_runs_the_command_at_load(tmp_path: Path) -> None:
    agent = LaunchAgent(["/Applications/im-desktop.app/Contents/MacOS/im-desktop"], home=tmp_path)
    assert not agent.enabled()
    agent.set_enabled(True)
    doc = plistlib.loads(agent.path.read_bytes())
    assert agent.path == tmp_path / "Library" / "LaunchAgents" / f"{AUTOSTART_ID}.plist"
    assert doc["Label"] == AUTOSTART_ID and doc["RunAtLoad"] is True
    assert doc["ProgramArguments"] == ["/Applications/im-desktop.app/Contents/MacOS/im-desktop"]
    agent.set_enabled(False)
    assert not agent.enabled()


def test_a_source_or_pip_copy_is_started_as_this_python_running_the_package(tmp_path: Path) -> None:
    assert launch_command() == [sys.executable, "-m", "im_desktop"]
    assert launch_command(str(tmp_path))[-2:] == ["--home", str(tmp_path.resolve())]


@pytest.mark.skipif(sys.platform != "win32", reason="the Run key is Windows only")
def test_the_run_key_holds_the_quoted_command() -> None:  # pragma: no cover - Windows
    key = RunKey([sys.executable, "-m", "im_desktop", "--home", "C:\\a b"])
    before = key.enabled()
    try:
        key.set_enabled(True)
        assert key.enabled()
        key.set_enabled(False)
        assert not key.enabled()
    finally:
        key.set_enabled(before)


def test_the_run_key_says_it_is_windows_only_elsewhere() -> None:
    if sys.platform == "win32":
        pytest.skip("this is Windows")
    with pytest.raises(OSError, match="Windows only"):
        RunKey(["x"]).enabled()
