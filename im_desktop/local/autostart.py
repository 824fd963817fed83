"""Start at login: an XDG autostart entry (Linux), the HKCU Run key (Windows), a LaunchAgent (macOS)."""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Protocol

from im_desktop.local.private_files import private_dir, replace_file

__all__ = ["AUTOSTART_ID", "Autostart", "LaunchAgent", "RunKey", "XdgAutostart", "for_this_system", "launch_command"]

log = logging.getLogger(__name__)

AUTOSTART_ID = "org.imdesktop.ImDesktop"  # = packaging/bundle_rules.APP_ID: the desktop entry's and bundle's id
_RUN_KEY = r"Software\Microsoft\Windows\CurrentVersion\Run"
_RUN_VALUE = "im-desktop"
_ENTRY_MODE = 0o644  # what the desktop's own tools write: the entry holds nothing secret
_MAX_ENTRY_BYTES = 64 * 1024  # an autostart entry is a few lines; a bigger file is not ours to read


class Autostart(Protocol):
    """Whether the app starts when the user logs in; `set_enabled` raises OSError when it cannot be changed."""

    def enabled(self) -> bool: ...

    def set_enabled(self, on: bool) -> None: ...


def launch_command(home: str | None = None) -> list[str]:
    """How this copy is started again: the frozen executable, or this Python running the package (windowless
    pythonw on Windows); with the portable folder it runs with now, if any."""
    if getattr(sys, "frozen", False):
        command = [sys.executable]
    else:
        python = Path(sys.executable)
        windowless = python.with_name("pythonw.exe")
        command = [str(windowless if sys.platform == "win32" and windowless.exists() else python), "-m", "im_desktop"]
    return [*command, "--home", str(Path(home).resolve())] if home else command


def _exec_arg(arg: str) -> str:
    """One argument of an Exec key (Desktop Entry spec): quoted when it must be, `%` doubled, then the string
    escapes of the key's value (a backslash written twice)."""
    reserved = set(" \t\n\"'\\><~|&;$*?#()`")
    quoted = arg
    if not arg or reserved & set(arg):
        quoted = '"' + "".join("\\" + ch if ch in '"`$\\' else ch for ch in arg) + '"'
    return quoted.replace("%", "%%").replace("\\", "\\\\")


def _desktop_value(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n").replace("\t", "\\t").replace("\r", "\\r")


class XdgAutostart:
    """$XDG_CONFIG_HOME/autostart/<id>.desktop. An entry of the same name in $XDG_CONFIG_DIRS (a system-wide one,
    say from a package) is switched off for this user with Hidden=true, as the spec says, not by deleting it."""

    def __init__(self, command: list[str], *, config_home: Path | None = None,
                 config_dirs: list[Path] | None = None) -> None:  # fmt: skip
        self.command = command
        home = config_home or Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
        dirs = config_dirs if config_dirs is not None else [
            Path(p) for p in (os.environ.get("XDG_CONFIG_DIRS") or "/etc/xdg").split(":") if p
        ]  # fmt: skip
        self.path = home / "autostart" / f"{AUTOSTART_ID}.desktop"
        self._system = [d / "autostart" / f"{AUTOSTART_ID}.desktop" for d in dirs]

    def enabled(self) -> bool:
        if self.path.is_file():
            return not _switched_off(self.path)
        return any(path.is_file() and not _switched_off(path) for path in self._system)

    def set_enabled(self, on: bool) -> None:
        system_entry = any(path.is_file() for path in self._system)
        if on:
            self._write(hidden=False)
        elif system_entry:
            self._write(hidden=True)
        else:
            self.path.unlink(missing_ok=True)
        log.info("start at login %s (%s)", "on" if on else "off", self.path)

    def _write(self, *, hidden: bool) -> None:
        lines = [
            "[Desktop Entry]", "Type=Application", "Version=1.4", "Name=im-desktop",
            "Comment=Chat that stays connected", f"Exec={' '.join(_exec_arg(a) for a in self.command)}",
            # Where the app was uninstalled, the desktop skips the entry instead of failing at every login.
            f"TryExec={_desktop_value(self.command[0])}", f"Icon={AUTOSTART_ID}", "Terminal=false",
            "X-GNOME-Autostart-enabled=true",
        ]  # fmt: skip
        if hidden:
            lines.append("Hidden=true")
        private_dir(self.path.parent.parent, warn=False)  # ~/.config: made private only if it is not there yet
        self.path.parent.mkdir(exist_ok=True)
        replace_file(self.path, ("\n".join(lines) + "\n").encode("utf-8"), _ENTRY_MODE)


def _switched_off(path: Path) -> bool:
    """Hidden=true or X-GNOME-Autostart-enabled=false in the entry's main group."""
    try:
        if path.stat().st_size > _MAX_ENTRY_BYTES:
            return True
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return True
    group = ""
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("["):
            group = line
        elif group == "[Desktop Entry]" and "=" in line:
            key, _, value = line.partition("=")
            if (key.strip(), value.strip().lower()) in (("Hidden", "true"), ("X-GNOME-Autostart-enabled", "false")):
                return True
    return False


class LaunchAgent:
    """~/Library/LaunchAgents/<id>.plist with RunAtLoad: launchd starts the app when the user logs in."""

    def __init__(self, command: list[str], *, home: Path | None = None) -> None:
        self.command = command
        self.path = (home or Path.home()) / "Library" / "LaunchAgents" / f"{AUTOSTART_ID}.plist"

    def enabled(self) -> bool:
        return self.path.is_file()

    def set_enabled(self, on: bool) -> None:
        if not on:
            self.path.unlink(missing_ok=True)
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        doc = {"Label": AUTOSTART_ID, "ProgramArguments": self.command, "RunAtLoad": True, "ProcessType": "Interactive"}
        # Imported here: plistlib pulls in expat, which the Linux and Windows bundles leave out (lintian refuses an
        # embedded copy of a system library in the .deb).
        import plistlib

        replace_file(self.path, plistlib.dumps(doc), _ENTRY_MODE)


class RunKey:
    """HKEY_CURRENT_USER\\...\\CurrentVersion\\Run, value "im-desktop": the quoted command line."""

    def __init__(self, command: list[str]) -> None:
        self.command = command

    def enabled(self) -> bool:
        if sys.platform != "win32":
            raise OSError("the Run key is on Windows only")
        import winreg

        try:
            with winreg.OpenKey(winreg.HKEY_CURRENT_USER, _RUN_KEY) as key:
                winreg.QueryValueEx(key, _RUN_VALUE)
        except FileNotFoundError:
            return False
        return True

    def set_enabled(self, on: bool) -> None:
        if sys.platform != "win32":
            raise OSError("the Run key is on Windows only")
        import winreg

        with winreg.CreateKey(winreg.HKEY_CURRENT_USER, _RUN_KEY) as key:
            if on:
                winreg.SetValueEx(key, _RUN_VALUE, 0, winreg.REG_SZ, subprocess.list2cmdline(self.command))
            else:
                with contextlib.suppress(FileNotFoundError):
                    winreg.DeleteValue(key, _RUN_VALUE)


def for_this_system(command: list[str]) -> Autostart:
    if sys.platform == "win32":
        return RunKey(command)
    if sys.platform == "darwin":
        return LaunchAgent(command)
    return XdgAutostart(command)
