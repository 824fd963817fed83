"""The end-to-end harness: a virtual X display with a real tray host (trayer), a private D-Bus session with an
unlocked Secret Service and the accessibility bus, and the real app as a subprocess, driven with the mouse and
the keyboard through the X server (xdotool) like a person would.

Waits are on things that happen (a log line, a window mapped, a widget showing, a tray colour), each with a
deadline; nothing sleeps for a fixed time in the hope that something is done (only a check that something does
NOT happen watches for a short, fixed while).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import psutil
import pytest

from im_desktop.local.settings import AppPaths, load_settings, save_settings
from tests.e2e.a11y import A11yBus, Element, Gone, a11y_bus_available
from tests.secret_service import private_secret_service

__all__ = [
    "TOOLS",
    "AppProcess",
    "Desktop",
    "Rect",
    "ServerClient",
    "X",
    "choose_look",
    "missing_packages",
    "require_packages",
    "run_desktop",
    "sandbox_servers",
    "sandbox_url",
    "wait_until",
]  # fmt: skip

T = TypeVar("T")
# The programs the harness runs, and the Debian packages they come in.
TOOLS = {"Xvfb": "xvfb", "trayer": "trayer", "xdotool": "xdotool", "xwininfo": "x11-utils", "import": "imagemagick",
         "dbus-daemon": "dbus", "gnome-keyring-daemon": "gnome-keyring"}  # fmt: skip
SCREEN = (1280, 800)
DISPLAYS = range(90, 121)
# The tray icons' fill colours (resources/icons/tray-<state>.svg).
TRAY_COLOURS = {
    "online": (0x1E, 0x9E, 0x5A),
    "connecting": (0xB4, 0x76, 0x03),
    "offline": (0x8A, 0x90, 0x99),
    "kicked": (0xD9, 0x54, 0x54),
    "needs-login": (0x8F, 0x6A, 0xE5),
}
SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"


def missing_packages() -> list[str]:
    """The Debian packages whose programs are not here (the accessibility bus is at-spi2-core's)."""
    missing = [package for tool, package in TOOLS.items() if shutil.which(tool) is None]
    if not a11y_bus_available():
        missing.append("at-spi2-core")
    return missing


# Set by .ci/run: there a missing system package is a broken setup, not a reason to skip.
CI_VARIABLE = "IM_DESKTOP_CI"


def require_packages(missing: list[str], who: str = "the desktop tests") -> None:
    """Skip without the system packages a test needs, but fail in CI: a skip there would hide that the
    end-to-end test never ran."""
    if not missing:
        return
    why = f"{who} need these Debian packages: {' '.join(missing)}"
    if os.environ.get(CI_VARIABLE) == "1":
        pytest.fail(f"{why} ({CI_VARIABLE}=1: in CI they must be installed; .ci/run installs them)")
    pytest.skip(why)


def wait_until(what: str, check: Callable[[], T | None], timeout: float, *, interval: float = 0.1,
               describe: Callable[[], str] | None = None) -> T:  # fmt: skip
    """Poll `check` until it returns something truthy; fail with `what` (and `describe()`) at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(Gone):  # a widget went away mid-read: look again
            result = check()
            if result:
                return result
        if time.monotonic() > deadline:
            detail = f"; {describe()}" if describe is not None else ""
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}{detail}")
        time.sleep(interval)


@dataclasses.dataclass(frozen=True)
class Rect:
    x: int
    y: int
    width: int
    height: int

    def grow(self, left: int = 0, top: int = 0, right: int = 0, bottom: int = 0) -> Rect:
        return Rect(self.x - left, self.y - top, self.width + left + right, self.height + top + bottom)

    def inside(self, other: Rect) -> bool:
        return (other.x <= self.x and other.y <= self.y and self.x + self.width <= other.x + other.width
                and self.y + self.height <= other.y + other.height)  # fmt: skip


@dataclasses.dataclass(frozen=True)
class XWindow:
    id: int
    name: str | None
    wm_class: str
    rect: Rect  # absolute, on the screen


_TREE_LINE = re.compile(
    r"^\s*(0x[0-9a-f]+) (?:\"(.*)\"|\(has no name\)): \((.*)\)\s+(\d+)x(\d+)[+-]-?\d+[+-]-?\d+\s+\+(-?\d+)\+(-?\d+)\s*$"
)


# -- processes ------------------------------------------------------------------------------------------
def _stop(proc: subprocess.Popen[Any], grace: float = 10.0) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return int(proc.returncode)


def _read_line(fd: int, proc: subprocess.Popen[Any], timeout: float) -> str | None:
    """A line from a pipe, or None if the writer exits (or the deadline passes) before writing one."""
    deadline = time.monotonic() + timeout
    data = b""
    while b"\n" not in data:
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        ready, _, _ = select.select([fd], [], [], min(left, 0.2))
        if ready:
            chunk = os.read(fd, 64)
            if not chunk:
                return None
            data += chunk
        elif proc.poll() is not None:
            return None
    return data.decode().strip()


@contextlib.contextmanager
def virtual_display() -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """Xvfb on the first free display number in :90..:120 (a lost race for a number moves on to the next)."""
    for number in DISPLAYS:
        taken = (Path(f"/tmp/.X{number}-lock"), Path(f"/tmp/.X11-unix/X{number}"))  # noqa: S108 - X's own files
        if any(path.exists() for path in taken):
            continue
        read_fd, write_fd = os.pipe()
        proc = subprocess.Popen(
            ["Xvfb", f":{number}", "-screen", "0", f"{SCREEN[0]}x{SCREEN[1]}x24", "-nolisten", "tcp",
             "-displayfd", str(write_fd)],
            pass_fds=(write_fd,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        os.close(write_fd)
        try:
            announced = _read_line(read_fd, proc, 15.0)
        finally:
            os.close(read_fd)
        if announced != str(number):
            _stop(proc)
            continue
        try:
            yield f":{number}", proc
        finally:
            _stop(proc)
        return
    raise RuntimeError(f"no free X display in :{DISPLAYS.start}..:{DISPLAYS.stop - 1}")


# -- the X server -------------------------------------------------------------------------------------
class X:
    """xdotool, xwininfo and ImageMagick's `import` on one display."""

    def __init__(self, display: str) -> None:
        self.display = display
        self.env = {**os.environ, "DISPLAY": display}

    def run(self, *args: str, check: bool = True) -> str:
        done = subprocess.run(args, env=self.env, capture_output=True, text=True, timeout=30, check=False)
        if check and done.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} failed ({done.returncode}): {done.stderr.strip()}")
        return done.stdout

    def tree(self) -> list[XWindow]:
        windows = []
        for line in self.run("xwininfo", "-root", "-tree").splitlines():
            if m := _TREE_LINE.match(line):
                wid, name, wm_class, w, h, x, y = m.groups()
                windows.append(XWindow(int(wid, 16), name, wm_class, Rect(int(x), int(y), int(w), int(h))))
        return windows

    def visible_windows(self, pid: int, title: str) -> list[int]:
        """Mapped top-level windows of `pid` whose title matches the regular expression `title`."""
        out = self.run("xdotool", "search", "--all", "--onlyvisible", "--pid", str(pid), "--name", title, check=False)
        return [int(line) for line in out.split()]

    def info(self, window: int) -> dict[str, str]:
        """xwininfo's fields for one window ("Width", "Map State", "Override Redirect State", ...)."""
        out = self.run("xwininfo", "-id", str(window))
        return {k.strip(): v.strip() for k, _, v in (line.partition(":") for line in out.splitlines()) if v.strip()}

    def geometry(self, window: int) -> Rect:
        field = self.info(window)
        return Rect(int(field["Absolute upper-left X"]), int(field["Absolute upper-left Y"]), int(field["Width"]),
                    int(field["Height"]))  # fmt: skip

    def click(self, x: int, y: int, button: int = 1) -> None:
        self.run("xdotool", "mousemove", str(x), str(y), "click", str(button))

    def type(self, text: str) -> None:
        self.run("xdotool", "type", "--delay", "25", text)

    def key(self, *keys: str) -> None:
        self.run("xdotool", "key", "--delay", "25", *keys)

    def screenshot(self, path: Path, rect: Rect, zoom: int = 1) -> Path:
        """A PNG of one region of the screen (`zoom` times, pixel for pixel), without the timestamps that
        would make every run's file differ."""
        path.parent.mkdir(parents=True, exist_ok=True)
        crop = f"{rect.width}x{rect.height}+{rect.x}+{rect.y}"
        scale = ["-filter", "point", "-resize", f"{zoom * 100}%"] if zoom > 1 else []
        self.run("import", "-window", "root", "-crop", crop, "+repage", *scale, "-strip",
                 "-define", "png:exclude-chunks=date,time", str(path))  # fmt: skip
        return path

    def pixels(self, rect: Rect) -> list[tuple[int, int, int]]:
        out = self.run("import", "-window", "root", "-crop", f"{rect.width}x{rect.height}+{rect.x}+{rect.y}",
                       "-depth", "8", "txt:-")  # fmt: skip
        found = []
        for line in out.splitlines()[1:]:
            if m := re.search(r"#([0-9A-Fa-f]{6})", line):
                value = int(m.group(1), 16)
                found.append((value >> 16, value >> 8 & 0xFF, value & 0xFF))
        return found


@contextlib.contextmanager
def tray_host(x: X, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """trayer at the top right, the hand-checked configuration; up once its panel window is mapped. On a loaded
    machine trayer now and then exits at start without a panel (its log says why): it is started again, twice at
    most, and the test fails with trayer's own words if it never comes up."""
    proc: subprocess.Popen[bytes] | None = None
    log.parent.mkdir(parents=True, exist_ok=True)
    try:
        for attempt in range(3):
            with log.open("ab") as out:
                proc = subprocess.Popen(
                    ["trayer", "--edge", "top", "--align", "right", "--widthtype", "request", "--height", "24",
                     "--transparent", "false", "--tint", "0x333333"],
                    env=x.env, stdout=out, stderr=out,
                )  # fmt: skip
            try:
                wait_until("trayer's panel", functools.partial(_panel_up, x, proc), 20,
                           describe=lambda: log.read_text(errors="replace")[-500:])  # fmt: skip
                break
            except AssertionError:
                _stop(proc)
                if attempt == 2:
                    raise
        assert proc is not None
        yield proc
    finally:
        if proc is not None:
            _stop(proc)


def _panel_up(x: X, proc: subprocess.Popen[bytes]) -> bool:
    return proc.poll() is None and _panel(x) is not None


def _panel(x: X) -> XWindow | None:
    return next((w for w in x.tree() if w.name == "panel" and '"trayer"' in w.wm_class), None)


# -- the app --------------------------------------------------------------------------------------------
class AppProcess:
    """One run of the app (`python -m im_desktop` unless told otherwise) with its own home folder. `command`
    may start the app through a launcher; then `pid` is set to the app's own once it shows up."""

    def __init__(self, home: Path, env: dict[str, str], out_dir: Path, *, command: list[str] | None = None,
                 log_file: Path | None = None) -> None:  # fmt: skip
        self.home = home
        self.log_file = log_file or home / "logs" / "im-desktop.log"
        # The log file is the home's, shared with earlier runs: this run's part starts here.
        self._log_start = self.log_file.stat().st_size if self.log_file.exists() else 0
        self._stdout = (out_dir / "stdout.txt").open("ab")
        self._stderr_path = out_dir / "stderr.txt"
        self._stderr = self._stderr_path.open("ab")
        self.proc = subprocess.Popen(command or [sys.executable, "-m", "im_desktop"], env=env, stdout=self._stdout,
                                     stderr=self._stderr)  # fmt: skip
        self.pid = self.proc.pid

    def log(self) -> str:
        """What this run has logged so far."""
        if not self.log_file.exists():
            return ""
        with self.log_file.open("rb") as fh:
            fh.seek(self._log_start)
            return fh.read().decode("utf-8", errors="replace")

    def log_count(self, message: str) -> int:
        """How many log lines are exactly this message (after the time, level and logger name)."""
        return sum(1 for line in self.log().splitlines() if line.endswith(f": {message}"))

    def stderr(self) -> str:
        return self._stderr_path.read_text(encoding="utf-8", errors="replace")

    def wait_log(self, message: str, count: int = 1, timeout: float = 30.0) -> None:
        def seen() -> bool:
            assert self.proc.poll() is None, f"the app exited ({self.proc.returncode}):\n{self.stderr()[-3000:]}"
            return self.log_count(message) >= count

        wait_until(f"log line {message!r} #{count}", seen, timeout, describe=lambda: "log:\n" + self.log()[-3000:])

    def sandbox_servers(self) -> list[psutil.Process]:
        """Live sandbox server processes of this home (children or orphans)."""
        return sandbox_servers(self.home)

    def terminate(self, timeout: float = 30.0) -> int:
        """SIGTERM, then wait for the exit code (fails the test if it does not come in time)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.wait_exit(timeout)
        finally:
            self.kill()

    def wait_exit(self, timeout: float) -> int:
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"the app did not exit within {timeout:.0f} s") from None

    def kill(self) -> None:
        """Last resort for teardown: nothing of this run may outlive the test."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        for server in self.sandbox_servers():
            with contextlib.suppress(psutil.NoSuchProcess):
                server.kill()
        self._stdout.close()
        self._stderr.close()


def choose_look(home: Path, *, language: str = "zh_CN", theme: str = "dark") -> None:
    """What a person picks in Settings (language, theme), saved before the app starts: the next start uses it."""
    paths = AppPaths.resolve(str(home))
    chosen = dataclasses.replace(load_settings(paths.settings_file), language=language, theme=theme)
    save_settings(paths.settings_file, chosen)


def sandbox_url(app: AppProcess, timeout: float = 30.0) -> str:
    """The app's built-in server, once the app has logged where it listens."""
    found = wait_until("the sandbox server's address in the log", lambda: re.search(
        r"sandbox server at (http://127\.0\.0\.1:\d+)", app.log()), timeout, describe=app.log)  # fmt: skip
    return found.group(1)


def sandbox_servers(home: Path) -> list[psutil.Process]:
    """Live sandbox server processes started for this home (children or orphans)."""
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = proc.info["cmdline"] or []
        if "--run-server" in cmdline and str(home) in " ".join(cmdline) and proc.status() != psutil.STATUS_ZOMBIE:
            found.append(proc)
    return found


# -- everything together ------------------------------------------------------------------------------
class Desktop:
    """A display, a tray, a keyring and an accessibility bus; starts apps on it and looks at them."""

    def __init__(self, x: X, bus_address: str, a11y: A11yBus, tmp: Path,
                 x_server: subprocess.Popen[bytes] | None = None) -> None:  # fmt: skip
        self.x, self.bus_address, self.a11y, self.tmp = x, bus_address, a11y, tmp
        self.x_server = x_server
        self.apps: list[AppProcess] = []

    def close_display(self) -> None:
        """The X server goes away, as when the person logs out of the desktop session."""
        assert self.x_server is not None, "this desktop's X server was not started here"
        _stop(self.x_server)

    # -- the app --------------------------------------------------------------------------------------
    def start_app(self, home: Path, *, scale: float | None = None) -> AppProcess:
        """The app with its own home folder; `scale` is the desktop's scale factor (2 for 200 %)."""
        env = {k: v for k, v in os.environ.items() if k not in ("QT_QPA_PLATFORM", "PYTEST_CURRENT_TEST")}
        env.update(DISPLAY=self.x.display, DBUS_SESSION_BUS_ADDRESS=self.bus_address, IM_DESKTOP_HOME=str(home))
        if scale is not None:
            env["QT_SCALE_FACTOR"] = str(scale)
        out = self.tmp / f"app-{len(self.apps) + 1}"
        out.mkdir(parents=True, exist_ok=True)
        app = AppProcess(home, env, out)
        self.apps.append(app)
        return app

    def window(self, app: AppProcess, title: str) -> Rect | None:
        """The mapped window of `app` whose title matches `title` (a regular expression)."""
        found = self.x.visible_windows(app.pid, title)
        return self.x.geometry(found[0]) if found else None

    def wait_window(self, app: AppProcess, title: str, timeout: float = 30.0) -> Rect:
        return wait_until(f"a window titled {title!r}", lambda: self.window(app, title), timeout,
                          describe=lambda: f"windows: {[w.name for w in self.x.tree() if w.name]}")  # fmt: skip

    # -- widgets, through the accessibility bus --------------------------------------------------------
    def elements(self, app: AppProcess) -> list[Element]:
        return self.a11y.elements(app.pid)

    def find(self, app: AppProcess, role: str, name: str | re.Pattern[str]) -> Element | None:
        for element in self.elements(app):
            matches = name.search(element.name) if isinstance(name, re.Pattern) else element.name == name
            if element.role == role and matches:
                return element
        return None

    def wait_element(self, app: AppProcess, role: str, name: str | re.Pattern[str], timeout: float = 30.0) -> Element:
        return wait_until(f"a showing {role} named {name!r}", lambda: self.find(app, role, name), timeout,
                          describe=lambda: self.describe(app))  # fmt: skip

    def click(self, element: Element, button: int = 1) -> None:
        self.x.click(*element.center, button=button)

    @staticmethod
    def rect(element: Element) -> Rect:
        return Rect(*element.rect)

    def status_text(self, app: AppProcess) -> str:
        """The main window's connection status as shown (Qt reads the label's tool tip out as its description)."""
        label = self.find(app, "label", "Connection status")
        return label.description.split("\n")[0] if label is not None else ""

    def describe(self, app: AppProcess) -> str:
        try:
            shown = [f"{e.role} {e.name!r}" + (f" ({e.description!r})" if e.description else "")
                     for e in self.elements(app)]  # fmt: skip
        except Gone as exc:
            return f"widgets: unreadable ({exc})"
        return "widgets: " + "; ".join(shown)

    def log_in(self, app: AppProcess, user_id: str, *, remember: bool, secret: str = "") -> None:
        """Fill in the login window with the mouse and keyboard; Enter logs in."""
        field = self.wait_element(app, "text", "UserID")
        self.click(field)
        self.x.key("ctrl+a", "BackSpace")
        self.x.type(user_id)
        wait_until("the UserID to be typed", lambda: (e := self.find(app, "text", "UserID")) and
                   self.a11y.text(e) == user_id, 10)  # fmt: skip
        if secret:
            secret_field = self.wait_element(app, "text", "UserSig")
            self.click(secret_field)
            self.x.type(secret)
        box = self.wait_element(app, "check box", "Remember me")
        if box.checked != remember:
            self.click(box)
            wait_until("Remember me to flip", lambda: (e := self.find(app, "check box", "Remember me")) and
                       e.checked == remember, 10)  # fmt: skip
        self.x.key("Return")

    def quit_from_tray(self) -> None:
        """Quit, the way a person does it: the tray icon's context menu, its last item."""
        icon = self.tray_icon()
        assert icon is not None, "no tray icon to quit from"
        self.x.click(icon.x + icon.width // 2, icon.y + icon.height // 2, button=3)
        wait_until("the tray icon's menu", self.tray_menu, 10)
        self.x.key("Up", "Return")  # from the top, Up wraps round to the last item: Quit

    # -- the tray -------------------------------------------------------------------------------------
    def tray_icon(self) -> Rect | None:
        """Where trayer shows the app's icon: the app's window inside trayer's panel."""
        panel = _panel(self.x)
        if panel is None:
            return None
        icons = [w.rect for w in self.x.tree() if w.name == "im-desktop" and '"im-desktop"' in w.wm_class
                 and w.rect.width > 8 and w.rect.inside(panel.rect)]  # fmt: skip
        return icons[0] if icons else None

    def tray_menu(self) -> Rect | None:
        """The icon's context menu while it is open: a mapped popup of the app outside the panel.

        (Qt leaves popups without a parent widget out of the accessibility tree, so this one is found in X.)"""
        panel = _panel(self.x)
        for window in self.x.tree():
            if window.name != "im-desktop" or '"im-desktop"' not in window.wm_class or window.rect.width < 40:
                continue
            if panel is not None and window.rect.inside(panel.rect):
                continue
            with contextlib.suppress(RuntimeError):  # gone since the tree was read
                info = self.x.info(window.id)
                if info.get("Map State") == "IsViewable" and info.get("Override Redirect State") == "yes":
                    return window.rect
        return None

    def tray_area(self) -> Rect:
        panel = _panel(self.x)
        assert panel is not None, "trayer's panel is gone"
        return panel.rect.grow(left=8)  # a little of the desktop beside it, so the panel's edge shows

    def tray_state(self) -> str:
        """The state the icon's colour says (see TRAY_COLOURS), or '' when there is no icon or no match."""
        icon = self.tray_icon()
        if icon is None:
            return ""
        counts = dict.fromkeys(TRAY_COLOURS, 0)
        for pixel in self.x.pixels(icon):
            for state, colour in TRAY_COLOURS.items():
                if sum(abs(a - b) for a, b in zip(pixel, colour, strict=True)) <= 30:
                    counts[state] += 1
        state, hits = max(counts.items(), key=lambda item: item[1])
        return state if hits >= 20 else ""

    def wait_tray(self, state: str, timeout: float = 30.0) -> None:
        wait_until(f"the tray icon to turn {state}", lambda: self.tray_state() == state, timeout, interval=0.25,
                   describe=lambda: f"it is {self.tray_state() or 'unrecognised'}")  # fmt: skip

    # -- screenshots ----------------------------------------------------------------------------------
    def screenshot(self, name: str, rect: Rect, zoom: int = 1) -> Path:
        """Kept in tests/e2e/screenshots when IM_DESKTOP_SCREENSHOTS=1 (for the README), else in the test's tmp."""
        folder = SCREENSHOTS if os.environ.get("IM_DESKTOP_SCREENSHOTS") == "1" else self.tmp / "screenshots"
        return self.x.screenshot(folder / name, rect, zoom)

    def close(self) -> None:
        for app in self.apps:
            app.kill()


@contextlib.contextmanager
def run_desktop(tmp: Path) -> Iterator[Desktop]:
    """Everything a test needs, torn down in reverse order whatever happens."""
    with contextlib.ExitStack() as stack:
        display, x_server = stack.enter_context(virtual_display())
        x = X(display)
        stack.enter_context(tray_host(x, tmp / "trayer.log"))
        bus_address = stack.enter_context(private_secret_service(tmp / "session"))
        a11y = A11yBus(bus_address)
        stack.callback(_stop_a11y_bus, tmp / "session")
        stack.callback(a11y.close)
        desktop = Desktop(x, bus_address, a11y, tmp, x_server)
        stack.callback(desktop.close)
        yield desktop


def _stop_a11y_bus(session_home: Path) -> None:
    """The accessibility bus was started by D-Bus activation on our private bus; it must not outlive it."""
    for proc in psutil.process_iter(["name", "cmdline", "environ"]):
        with contextlib.suppress(psutil.Error):
            command = " ".join(proc.info["cmdline"] or [])
            runtime = (proc.info["environ"] or {}).get("XDG_RUNTIME_DIR", "")
            if "at-spi" in command and (str(session_home) in command or runtime == str(session_home)):
                proc.terminate()


# -- the server, as another client ------------------------------------------------------------------
class ServerClient:
    """Talks to the app's server over HTTP, as a second device or the operator would."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.http = httpx.Client(base_url=url, timeout=10.0)

    def close(self) -> None:
        self.http.close()

    def demo_ticket(self, user_id: str) -> str:
        reply = self.http.post("/im/v1/demo/usersig", json={"user_id": user_id})
        reply.raise_for_status()
        ticket: str = reply.json()["user_sig"]
        return ticket

    def login(self, user_id: str, user_sig: str, platform: str, device_id: str, device_name: str) -> str:
        body = {"user_id": user_id, "user_sig": user_sig, "platform": platform, "device_id": device_id,
                "device_name": device_name}  # fmt: skip
        reply = self.http.post("/im/v1/login", json=body)
        assert reply.status_code == 200, reply.text
        token: str = reply.json()["token"]
        return token

    def satori(self, token: str, user_id: str, method: str, body: dict[str, Any]) -> Any:
        headers = {"Authorization": f"Bearer {token}", "Satori-Platform": "im-desktop", "Satori-User-ID": user_id}
        reply = self.http.post(f"/v1/{method}", json=body, headers=headers)
        assert reply.status_code == 200, reply.text
        return reply.json()
