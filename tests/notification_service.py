"""A real freedesktop notification service for tests: dunst on a virtual X display and a private D-Bus session
bus, with a bus monitor (BecomeMonitor) that records every Notifications call and answer as they crossed the bus,
and a real mouse click on the popup dunst draws."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jeepney import HeaderFields, MessageType, message_bus  # type: ignore[import-untyped]
from jeepney.bus_messages import Monitoring  # type: ignore[import-untyped]
from jeepney.io.blocking import open_dbus_connection  # type: ignore[import-untyped]

from tests.e2e.desktop import X, require_packages, virtual_display, wait_until

__all__ = ["Call", "NotificationService", "notification_service", "private_bus"]

_SERVICE = "org.freedesktop.Notifications"
# A left click runs the notification's default action, as on GNOME and KDE (dunst's own default only closes it).
_DUNSTRC = """[global]
    markup = {markup}
    mouse_left_click = do_action, close_current
    origin = top-right
    offset = 10x40
    width = 320
    font = DejaVu Sans 10
"""


@dataclass
class Call:
    """One method call to the notification service, as the bus carried it, and what it answered."""

    member: str
    sender: str
    body: tuple[Any, ...]
    serial: int
    reply: tuple[Any, ...] | None = None

    def notify_args(self) -> dict[str, Any]:
        names = ("app_name", "replaces_id", "app_icon", "summary", "body", "actions", "hints", "expire_timeout")
        return dict(zip(names, self.body, strict=True))


@dataclass
class NotificationService:
    address: str
    x: X
    calls_seen: list[Call] = field(default_factory=list)
    signals_seen: list[tuple[str, tuple[Any, ...]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    daemon: subprocess.Popen[bytes] | None = None

    def stop_daemon(self) -> None:
        """dunst ends (crashes, or the desktop session replaces it); the bus stays."""
        if self.daemon is not None:
            _end(self.daemon)

    def calls(self, member: str = "Notify") -> list[Call]:
        with self.lock:
            return [c for c in self.calls_seen if c.member == member]

    def signals(self, member: str) -> list[tuple[Any, ...]]:
        with self.lock:
            return [body for name, body in self.signals_seen if name == member]

    def popup(self) -> int | None:
        """dunst's popup window, when one is mapped."""
        out = self.x.run("xdotool", "search", "--onlyvisible", "--class", "Dunst", check=False)
        return int(out.split()[0]) if out.split() else None

    def click_popup(self) -> None:
        """A person's left click in the middle of the popup."""
        window = wait_until("dunst's popup", self.popup, 15)
        rect = self.x.geometry(window)
        self.x.click(rect.x + rect.width // 2, rect.y + rect.height // 2)


def _monitor(address: str, service: NotificationService, ready: threading.Event, stop: threading.Event) -> None:
    conn = open_dbus_connection(address)
    try:
        rules = [f"type='method_call',interface='{_SERVICE}'", "type='method_return'",
                 f"type='signal',interface='{_SERVICE}'"]  # fmt: skip
        conn.send_and_get_reply(Monitoring().BecomeMonitor(rules))
        ready.set()
        by_serial: dict[tuple[str, int], Call] = {}
        while not stop.is_set():
            try:
                msg = conn.receive(timeout=0.1)
            except TimeoutError:
                continue
            fields, kind = msg.header.fields, msg.header.message_type
            with service.lock:
                if kind is MessageType.method_call:
                    call = Call(fields.get(HeaderFields.member, ""), fields.get(HeaderFields.sender, ""),
                                tuple(msg.body), msg.header.serial)  # fmt: skip
                    service.calls_seen.append(call)
                    by_serial[(call.sender, call.serial)] = call
                elif kind is MessageType.method_return:
                    key = (fields.get(HeaderFields.destination, ""), fields.get(HeaderFields.reply_serial, -1))
                    if key in by_serial:
                        by_serial.pop(key).reply = tuple(msg.body)
                elif kind is MessageType.signal:
                    service.signals_seen.append((fields.get(HeaderFields.member, ""), tuple(msg.body)))
    finally:
        conn.close()


@contextlib.contextmanager
def private_bus(home: Path) -> Iterator[str]:
    """A private D-Bus session bus (nothing on it); yields its address."""
    require_packages(["dbus"] if shutil.which("dbus-daemon") is None else [], "the notification tests")
    home.mkdir(parents=True, exist_ok=True)
    bus = subprocess.Popen(["dbus-daemon", "--session", "--nofork", "--print-address=1"],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=home)  # fmt: skip
    try:
        assert bus.stdout is not None
        address = bus.stdout.readline().decode().strip()
        assert address.startswith("unix:"), address
        yield address
    finally:
        bus.terminate()
        bus.wait(timeout=10)
        if bus.stdout is not None:
            bus.stdout.close()


def _has_owner(address: str) -> bool:
    conn = open_dbus_connection(address)
    try:
        reply = conn.send_and_get_reply(message_bus.NameHasOwner(_SERVICE))
        return bool(reply.body[0])
    finally:
        conn.close()


@contextlib.contextmanager
def notification_service(home: Path, *, markup: str = "no", x: X | None = None,
                         address: str | None = None) -> Iterator[NotificationService]:  # fmt: skip
    """dunst and a monitor recording what crosses the bus; on a virtual display and a private session bus of
    their own, or on the display `x` and the bus `address` given (the end-to-end desktop's).
    `markup`: dunst's setting ("no": bodies are plain text; "full": it advertises body-markup)."""
    require_packages([p for p, tool in (("dunst", "dunst"), ("xdotool", "xdotool"), ("x11-utils", "xwininfo"))
                      if shutil.which(tool) is None], "the notification tests")  # fmt: skip
    config = home / "dunstrc"
    home.mkdir(parents=True, exist_ok=True)
    config.write_text(_DUNSTRC.format(markup=markup), encoding="utf-8")
    with contextlib.ExitStack() as stack:
        if x is None:
            display, _xvfb = stack.enter_context(virtual_display())
            x = X(display)
        if address is None:
            address = stack.enter_context(private_bus(home / "bus"))
        service = NotificationService(address, x)
        ready, stop = threading.Event(), threading.Event()
        monitor = threading.Thread(target=_monitor, args=(address, service, ready, stop), daemon=True)
        monitor.start()
        env = {**x.env, "DBUS_SESSION_BUS_ADDRESS": address, "HOME": str(home)}
        dunst = subprocess.Popen(["dunst", "-config", str(config)], env=env, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)  # fmt: skip
        service.daemon = dunst
        try:
            assert ready.wait(10), "the bus monitor did not start"
            wait_until("dunst on the bus", lambda: dunst.poll() is None and _has_owner(address), 15)
            yield service
        finally:
            stop.set()
            _end(dunst)
            monitor.join(timeout=10)


def _end(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
