"""The real app on a real (virtual) desktop: X display, tray host, Secret Service, driven with mouse and keyboard.

The walk of the desktop issue: first run, log in with "Remember me", a message, quit and the remembered login
after a restart, a black-holed network and its return, a kick from a second device, log out, quit. A second test
lets a pasted ticket really expire on a server of its own and answers the ticket dialog.

Screenshots go to the test's temporary folder; with IM_DESKTOP_SCREENSHOTS=1 they go to tests/e2e/screenshots
(the ones the README shows).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import keyring.backends.SecretService
import psutil
import pytest
import secretstorage

from im_desktop.protocol import usersig
from im_desktop.protocol.errors import ImError
from tests.e2e.desktop import (
    AppProcess,
    Desktop,
    ServerClient,
    missing_packages,
    require_packages,
    sandbox_servers,
    sandbox_url,
    virtual_display,
    wait_until,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

LOGIN_TITLE = "^Log in — IM Desktop$"
SERVICE = "im-desktop"
# What a UserSig or a session token looks like, wherever one might have leaked.
SECRET_SHAPES = [re.compile(r"eJ[A-Za-z0-9*_\-]{40,}"), re.compile(r"(?i)bearer\s+[A-Za-z0-9._~+/=\-]{8,}")]


def test_missing_packages_fail_in_ci_and_skip_elsewhere(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IM_DESKTOP_CI", "1")
    with pytest.raises(pytest.fail.Exception, match=r"need these Debian packages: xvfb trayer \(IM_DESKTOP_CI=1"):
        require_packages(["xvfb", "trayer"])
    require_packages([])  # nothing missing: nothing to say, in CI or not
    monkeypatch.delenv("IM_DESKTOP_CI")
    with pytest.raises(pytest.skip.Exception, match=r"need these Debian packages: xvfb trayer$"):
        require_packages(["xvfb", "trayer"])


def _remembered_ticket() -> str | None:
    """The app's keyring entry, read through the real Secret Service on the private bus."""
    credential = keyring.backends.SecretService.Keyring().get_credential(SERVICE, None)
    return credential.password if credential is not None else None


def _keyring_entries() -> dict[str, str]:
    """Every secret the app keeps in the keyring, by entry name."""
    with secretstorage.dbus_init() as connection:
        collection = secretstorage.get_default_collection(connection)
        items = collection.search_items({"service": SERVICE})
        return {item.get_attributes()["username"]: item.get_secret().decode() for item in items}


def _keyring_ticket_of(user_id: str) -> str | None:
    """The UserSig for `user_id` among the app's entries (it may be stored in chunks; one chunk fits here)."""
    for secret in _keyring_entries().values():
        with contextlib.suppress(ImError):
            if usersig.decode(secret).identifier == user_id:
                return secret
    return None


def _assert_no_secrets(files: list[Path], secrets: list[str]) -> None:
    for path in files:
        text = path.read_text(encoding="utf-8") if path.exists() else ""
        for secret in secrets:
            assert secret not in text, f"a ticket or token is in {path.name}"
        for shape in SECRET_SHAPES:
            assert not shape.search(text), f"something shaped like a ticket or token is in {path.name}"


def _assert_clean_exit(app: AppProcess, code: int) -> None:
    assert code == 0, app.stderr()[-3000:]
    stderr = app.stderr()
    assert "Traceback" not in stderr and "Fatal Python error" not in stderr, stderr[-3000:]
    assert app.sandbox_servers() == [], "the sandbox server outlived the app"


def _wait_status(desktop: Desktop, app: AppProcess, pattern: str, timeout: float = 30.0) -> str:
    def shown() -> str | None:
        text = desktop.status_text(app)
        return text if re.match(pattern, text) else None

    return wait_until(f"the status bar to say {pattern!r}", shown, timeout, describe=lambda: desktop.describe(app))


def _send_message(desktop: Desktop, app: AppProcess, text: str, watch: float = 0.5) -> int:
    """Type a message and send it with Enter; return how often its line shows in the conversation at most
    while the echo settles (the next send redraws the history from the cache, so look now)."""
    composer = desktop.wait_element(app, "text", "Message")
    desktop.click(composer)
    desktop.x.type(text)
    desktop.x.key("Return")
    # Sent and echoed by the server: the line carries a time, no longer "pending".
    desktop.wait_element(app, "list item", re.compile(rf"^alice · (?!pending).*\n{re.escape(text)}$"))
    most, until = 0, time.monotonic() + watch
    while time.monotonic() < until:
        most = max(most, _history_lines(desktop, app, text))
        time.sleep(0.05)
    return most


def _history_lines(desktop: Desktop, app: AppProcess, text: str) -> int:
    return sum(1 for e in desktop.elements(app) if e.role == "list item" and e.name.endswith("\n" + text))


class Findings:
    """Problems that do not stop the walk (the steps after them still say something); the test fails at the end."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def check(self, ok: bool, problem: str) -> None:
        if not ok:
            self.problems.append(problem)

    def assert_none(self) -> None:
        assert not self.problems, "\n".join(self.problems)


@contextlib.contextmanager
def _stopped(proc: psutil.Process) -> Iterator[None]:
    """The process is frozen (SIGSTOP): its sockets stay open and the kernel still queues, nothing answers."""
    proc.send_signal(signal.SIGSTOP)
    try:
        yield
    finally:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.send_signal(signal.SIGCONT)


MAIN_TITLE = "^im-desktop — alice · Built-in sandbox$"  # who is logged in, and where
ONLINE = "^Online as alice · Built-in sandbox$"
HOSTILE_DEVICE = "<h1 style='color:red'>SECURITY ALERT</h1><img src=/dev/zero>Pixel 9"


def test_the_desktop_walk(desktop: Desktop, tmp_path: Path) -> None:
    home = tmp_path / "home"
    findings = Findings()

    # 1. First run: the login window, and a grey icon in the tray.
    app = desktop.start_app(home)
    app.wait_log("first window shown")
    login = desktop.wait_window(app, LOGIN_TITLE)
    desktop.wait_element(app, "push button", "Log in")
    desktop.wait_tray("offline")
    desktop.screenshot("login-window.png", login)
    desktop.screenshot("tray-offline.png", desktop.tray_area(), zoom=3)
    assert _remembered_ticket() is None and not _keyring_entries()

    # 2. Log in as alice with "Remember me": the main window, online, a message sent, the ticket in the keyring.
    desktop.log_in(app, "alice", remember=True)
    app.wait_log("online")
    main = desktop.wait_window(app, MAIN_TITLE)
    # A few lines, as people write: each must show once. (The server's message-created event and its reply
    # to the send race each other; whichever comes second must not add the line again. One line loses that
    # race only now and then, so several are sent.)
    chat = ["Hello from the desktop walk", "Is anyone here?", "I type with xdotool", "on a virtual display",
            "with a real tray", "and a real keyring", "Bob, are you there?", "See you"]  # fmt: skip
    shown = {line: _send_message(desktop, app, line) for line in chat}
    assert desktop.window(app, LOGIN_TITLE) is None, "the login window is still on screen"
    _wait_status(desktop, app, ONLINE)
    desktop.wait_tray("online")
    wait_until("the ticket in the keyring", _remembered_ticket, 15)
    remembered = wait_until("alice's UserSig in the keyring", lambda: _keyring_ticket_of("alice"), 15,
                            describe=lambda: f"entries: {sorted(_keyring_entries())}")  # fmt: skip
    server = ServerClient(sandbox_url(app))
    try:
        bob = server.login("bob", server.demo_ticket("bob"), "Linux", "bob-laptop", "Bob's laptop")
        listed = server.satori(bob, "bob", "message.list", {"channel_id": "general"})
        stored = [m["content"] for m in listed["data"]]
        assert all(stored.count(line) == 1 for line in chat), f"the server did not get each once: {stored}"
    finally:
        server.close()
    findings.check(all(n == 1 for n in shown.values()),
                   f"messages sent and stored once show more often in the open conversation: {shown}")  # fmt: skip
    desktop.screenshot("main-window.png", main)
    desktop.screenshot("tray-online.png", desktop.tray_area(), zoom=3)

    # 2b. Ctrl+N: a new conversation with bob by his UserID, checked as typed; it opens named for him.
    desktop.x.key("ctrl+n")
    new = desktop.wait_window(app, "^New conversation$")
    desktop.x.type("bob smith")
    wait_until("the hint, as typed: no spaces in a UserID", lambda: "(not space)" in desktop.wait_element(
        app, "text", "UserID").description, 10)  # fmt: skip
    new = desktop.wait_window(app, "^New conversation$")  # taller now: it grew to show the hint
    desktop.screenshot("new-conversation.png", new)
    desktop.x.key("ctrl+a")
    desktop.x.type("bob")
    desktop.x.key("Return")
    wait_until("the dialog to close", lambda: desktop.window(app, "^New conversation$") is None, 10)
    desktop.wait_element(app, "list item", re.compile("^bob"))  # in the conversation list, named for bob
    _send_message(desktop, app, "hi bob, just you and me")
    server = ServerClient(sandbox_url(app))
    try:
        bob = server.login("bob", server.demo_ticket("bob"), "Linux", "bob-laptop", "Bob's laptop")
        dm = server.satori(bob, "bob", "user.channel.create", {"user_id": "alice"})["id"]
        listed = server.satori(bob, "bob", "message.list", {"channel_id": dm})
        assert [m["content"] for m in listed["data"]] == ["hi bob, just you and me"], listed
    finally:
        server.close()
    desktop.screenshot("direct-conversation.png", main)

    # 3. Quit with SIGTERM, start again: online at once, the login window never shown.
    _assert_clean_exit(app, app.terminate())
    app = desktop.start_app(home)
    deadline = time.monotonic() + 30
    while app.log_count("online") < 1:
        assert desktop.window(app, LOGIN_TITLE) is None, "the login window showed although alice is remembered"
        assert time.monotonic() < deadline and app.proc.poll() is None, "no remembered login:\n" + app.log()
        time.sleep(0.1)
    main = desktop.wait_window(app, MAIN_TITLE)
    assert desktop.window(app, LOGIN_TITLE) is None
    _wait_status(desktop, app, ONLINE)
    desktop.wait_tray("online")

    # 4. The network goes quiet (the server is frozen, its sockets open): the app notices by itself, then
    #    comes back once the server answers again.
    [server_proc] = app.sandbox_servers()
    with _stopped(server_proc):
        frozen_at = time.monotonic()
        status = _wait_status(desktop, app, "^Reconnecting", timeout=30)
        noticed = time.monotonic() - frozen_at
        assert noticed <= 25, f"the dead link was noticed only after {noticed:.0f} s"
        assert desktop.tray_state() == "connecting"
        bar = desktop.wait_element(app, "status bar", "Connection status bar")
        desktop.screenshot("reconnecting.png", desktop.rect(bar))
        assert status.startswith("Reconnecting")
    app.wait_log("online", count=2, timeout=40)
    _wait_status(desktop, app, ONLINE)
    desktop.wait_tray("online")

    # 5. alice logs in on a phone whose name is markup (whoever has the account picks it): the app is kicked,
    #    says by which device, in the device's literal name (no headline, no image read from /dev/zero), and
    #    logs in again when asked.
    server = ServerClient(sandbox_url(app))
    try:
        phone_ticket = server.demo_ticket("alice")
        phone_token = server.login("alice", phone_ticket, "Android", "pixel-9-device", HOSTILE_DEVICE)
    finally:
        server.close()
    dialog = desktop.wait_window(app, "^Logged out$")
    desktop.wait_element(app, "label", re.compile(re.escape(HOSTILE_DEVICE)))
    desktop.wait_tray("kicked")
    _wait_status(desktop, app, "^Logged in elsewhere: .*Pixel 9")
    desktop.screenshot("kicked-dialog.png", dialog)
    desktop.screenshot("tray-kicked.png", desktop.tray_area(), zoom=3)
    desktop.click(desktop.wait_element(app, "push button", "Log in again"))
    app.wait_log("online", count=3)
    wait_until("the dialog to close", lambda: desktop.window(app, "^Logged out$") is None, 10)
    _wait_status(desktop, app, ONLINE)
    desktop.wait_tray("online")

    # 6. An expired ticket: see test_an_expired_ticket_asks_for_a_new_one (a sandbox ticket lasts 7 days and
    #    renews itself without asking).

    # 7. Log out from the Account menu: the login window again, and the keyring forgets the ticket.
    desktop.click(desktop.wait_element(app, "menu item", "Account"))
    desktop.click(desktop.wait_element(app, "menu item", "Log out"))
    desktop.wait_window(app, LOGIN_TITLE)
    wait_until("the main window to go", lambda: desktop.window(app, MAIN_TITLE) is None, 10)
    wait_until("the keyring to forget the ticket", lambda: _remembered_ticket() is None and not _keyring_entries(), 15,
               describe=lambda: f"entries: {sorted(_keyring_entries())}")  # fmt: skip
    desktop.wait_tray("offline")

    # ... and Quit from the tray icon's menu.
    desktop.quit_from_tray()
    _assert_clean_exit(app, app.wait_exit(30))
    assert sandbox_servers(home) == []

    secrets = [remembered, phone_ticket, phone_token, bob]
    _assert_no_secrets([*sorted((home / "logs").glob("*.log")), home / "config" / "settings.json"], secrets)
    findings.assert_none()


def _own_server(data_dir: Path) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen([sys.executable, "-m", "im_desktop.server", "--port", "0", "--print-url",
                             "--data-dir", str(data_dir), "--log-level", "WARNING"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)  # fmt: skip
    assert proc.stdout is not None
    url = proc.stdout.readline().strip()
    assert url.startswith("http://"), "the server did not start"
    return proc, url


def test_an_expired_ticket_asks_for_a_new_one(desktop: Desktop, tmp_path: Path) -> None:
    """A pasted UserSig cannot renew itself: when it runs out while online, the app asks for a new one."""
    server, url = _own_server(tmp_path / "server")
    try:
        keys = json.loads((tmp_path / "server" / "server-keys.json").read_text())
        home = tmp_path / "home"
        (home / "config").mkdir(parents=True)
        profile = {"name": "lab", "title": "Lab server", "kind": "im", "base_url": url, "ticket_url": ""}
        settings = {"profiles": [profile], "current_profile": "lab", "last_user": "", "remember": False}
        (home / "config" / "settings.json").write_text(json.dumps(settings))

        app = desktop.start_app(home)
        desktop.wait_window(app, LOGIN_TITLE)
        lifetime = 40  # long enough to type it in and go online, short enough to wait for
        short = usersig.generate(keys["sdkappid"], keys["secret_key"], "dave", lifetime)
        desktop.log_in(app, "dave", remember=False, secret=short)
        app.wait_log("online")
        main = desktop.wait_window(app, "^im-desktop — dave · Lab server$")
        expires_at = usersig.decode(short).expires_at
        draft = "a draft that must survive"
        desktop.click(desktop.wait_element(app, "text", "Message"))
        desktop.x.type(draft)

        # The server ends the session when the ticket runs out; the app cannot renew a pasted one: it asks.
        dialog = desktop.wait_window(app, "^Log in again$", timeout=max(expires_at - time.time(), 0) + 30)
        desktop.wait_element(app, "label", "Your login ticket has expired")
        desktop.wait_tray("needs-login")
        _wait_status(desktop, app, "^Needs a new login ticket$")
        assert desktop.window(app, "^im-desktop — dave · Lab server$") is not None, "the main window went away"
        desktop.screenshot("ticket-dialog.png", dialog)

        fresh = usersig.generate(keys["sdkappid"], keys["secret_key"], "dave", 86400)
        desktop.click(desktop.wait_element(app, "text", "UserSig"))
        desktop.x.type(fresh)
        desktop.x.key("Return")
        app.wait_log("online", count=2)
        wait_until("the dialog to close", lambda: desktop.window(app, "^Log in again$") is None, 10)
        _wait_status(desktop, app, "^Online as dave · Lab server$")
        desktop.wait_tray("online")
        assert main == desktop.window(app, "^im-desktop — dave · Lab server$")
        composer = desktop.wait_element(app, "text", "Message")
        assert desktop.a11y.text(composer) == draft, "the draft was lost"

        _assert_clean_exit(app, app.terminate())
        assert _remembered_ticket() is None, "a ticket was remembered without Remember me"
        _assert_no_secrets([*sorted((home / "logs").glob("*.log")), home / "config" / "settings.json"],
                           [short, fresh])  # fmt: skip
    finally:
        server.terminate()
        server.wait(timeout=10)
        if server.stdout is not None:
            server.stdout.close()


def _running(proc: psutil.Process) -> bool:
    with contextlib.suppress(psutil.NoSuchProcess):
        return bool(proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE)
    return False


def test_closing_the_display_ends_the_app(desktop: Desktop, tmp_path: Path) -> None:
    """The person logs out of the desktop: the X server goes away under the app while it is online with its
    sandbox server. The app quits through its own sequence with exit code 0, says why, and leaves nothing behind."""
    app = desktop.start_app(tmp_path / "home")
    desktop.wait_window(app, LOGIN_TITLE)
    desktop.log_in(app, "alice", remember=False)
    app.wait_log("online")
    desktop.wait_window(app, MAIN_TITLE)
    tree = [psutil.Process(app.pid), *psutil.Process(app.pid).children(recursive=True)]
    assert any("--run-server" in proc.cmdline() for proc in tree[1:]), "no sandbox server under the app"

    closed_at = time.monotonic()
    desktop.close_display()
    code = app.wait_exit(20)
    took = time.monotonic() - closed_at
    _assert_clean_exit(app, code)
    wait_until("every process of the app's tree to end", lambda: not any(_running(proc) for proc in tree), 10,
               describe=lambda: f"left: {[proc.pid for proc in tree if _running(proc)]}")  # fmt: skip
    assert took < 10, f"the app took {took:.1f} s to quit after its display went away"
    assert app.log_count("the X display went away (X11 connection error 1): quitting") == 1, app.log()


# Qt on a real X display; the display is killed, then an Xlib call meets the dead connection (what a paint or a
# clipboard request can do before Qt's own event loop notices). Without the handler libX11 exits with code 1.
XLIB_PROBE = """
import ctypes, os, signal, sys
from PySide6.QtWidgets import QApplication
from im_desktop.ui.display_watch import keep_xlib_from_exiting
app = QApplication([])
print("handler", keep_xlib_from_exiting(app) if sys.argv[1] == "guarded" else False, flush=True)
os.kill(int(sys.argv[2]), signal.SIGKILL)
libx11 = ctypes.CDLL("libX11.so.6")
libx11.XSync.argtypes = [ctypes.c_void_p, ctypes.c_int]
for _ in range(3):
    libx11.XSync(int(app.nativeInterface().display()), 0)
print("alive", flush=True)
os._exit(0)
"""


@pytest.mark.parametrize("mode", ["guarded", "unguarded"])
def test_xlib_never_exits_the_app_when_the_display_dies(mode: str) -> None:
    require_packages([p for p in missing_packages() if p == "xvfb"], "the Xlib exit test")
    with virtual_display() as (display, x_server):
        env = {**os.environ, "DISPLAY": display, "QT_QPA_PLATFORM": "xcb"}
        done = subprocess.run([sys.executable, "-c", XLIB_PROBE, mode, str(x_server.pid)], env=env,
                              capture_output=True, text=True, timeout=60)  # fmt: skip
    if mode == "guarded":
        assert done.stdout.split() == ["handler", "True", "alive"] and done.returncode == 0, done.stderr
    else:  # what the handler is for: libX11's own handler ends the process with 1 before "alive"
        assert "alive" not in done.stdout and done.returncode == 1, (done.stdout, done.stderr)
