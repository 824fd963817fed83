"""A small AT-SPI client: reads the app's widgets the way a screen reader does (names, roles, states, text, places).

Qt publishes its widget tree on the accessibility bus once the desktop says a screen reader is on
(`org.a11y.Status.IsEnabled`). The tests use it to find what to click and to read what is on screen; pixels are
left to screenshots and the tray icon's colour.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from jeepney import DBusAddress, Properties, new_method_call  # type: ignore[import-untyped]
from jeepney.io.blocking import DBusConnection, open_dbus_connection  # type: ignore[import-untyped]
from jeepney.wrappers import DBusErrorResponse, unwrap_msg  # type: ignore[import-untyped]

__all__ = ["A11yBus", "Element", "Gone", "a11y_bus_available"]

_ATSPI = "org.a11y.atspi"
_REGISTRY = ("org.a11y.atspi.Registry", "/org/a11y/atspi/accessible/root")
_SERVICE_FILE = Path("/usr/share/dbus-1/services/org.a11y.Bus.service")
# AtspiStateType bits (at-spi2-core's atspi-constants.h).
CHECKED, FOCUSED, SHOWING, VISIBLE = 4, 12, 25, 30
_TIMEOUT = 5.0


def a11y_bus_available() -> bool:
    """Whether at-spi2-core's bus launcher can be started by D-Bus activation on a session bus."""
    if not _SERVICE_FILE.exists():
        return False
    for line in _SERVICE_FILE.read_text(encoding="utf-8").splitlines():
        if line.startswith("Exec="):
            return Path(line.removeprefix("Exec=").split()[0]).exists()
    return False


class Gone(Exception):
    """A widget vanished (or the app stopped answering) while it was being read; read again."""


@dataclasses.dataclass(frozen=True)
class Element:
    """One accessible object as it was when read: where it lives on the bus, and what it said about itself."""

    bus_name: str
    path: str
    role: str
    name: str
    description: str  # Qt gives the tool tip here when no description was set
    states: frozenset[int]
    rect: tuple[int, int, int, int]  # x, y, width, height on the screen
    depth: int

    @property
    def showing(self) -> bool:
        return SHOWING in self.states and VISIBLE in self.states and self.rect[2] > 0 and self.rect[3] > 0

    @property
    def checked(self) -> bool:
        return CHECKED in self.states

    @property
    def focused(self) -> bool:
        return FOCUSED in self.states

    @property
    def center(self) -> tuple[int, int]:
        x, y, w, h = self.rect
        return x + w // 2, y + h // 2


class A11yBus:
    """Turns accessibility on for a (private) session bus and reads applications from the accessibility bus."""

    def __init__(self, session_bus_address: str) -> None:
        self._session: DBusConnection = open_dbus_connection(session_bus_address)
        bus = DBusAddress("/org/a11y/bus", bus_name="org.a11y.Bus", interface="org.a11y.Bus")
        # The call starts at-spi-bus-launcher by D-Bus activation, as a desktop session does at login.
        address = self._call(self._session, bus, "GetAddress")[0]
        status = DBusAddress("/org/a11y/bus", bus_name="org.a11y.Bus", interface="org.a11y.Status")
        unwrap_msg(self._session.send_and_get_reply(Properties(status).set("IsEnabled", "b", True), timeout=_TIMEOUT))
        self.address: str = address
        self._bus: DBusConnection = open_dbus_connection(address)

    def close(self) -> None:
        self._bus.close()
        self._session.close()

    # -- low level --------------------------------------------------------------------------------
    @staticmethod
    def _call(conn: DBusConnection, where: DBusAddress, method: str, signature: str | None = None,
              args: tuple[Any, ...] = ()) -> tuple[Any, ...]:  # fmt: skip
        try:
            reply = conn.send_and_get_reply(new_method_call(where, method, signature, args), timeout=_TIMEOUT)
            body: tuple[Any, ...] = unwrap_msg(reply)
        except (DBusErrorResponse, TimeoutError, OSError) as exc:
            raise Gone(f"{method} on {where.object_path}: {exc}") from None
        return body

    def _on(self, bus_name: str, path: str, interface: str) -> DBusAddress:
        return DBusAddress(path, bus_name=bus_name, interface=interface)

    def _children(self, bus_name: str, path: str) -> list[tuple[str, str]]:
        children: list[tuple[str, str]] = self._call(self._bus, self._on(bus_name, path, f"{_ATSPI}.Accessible"),
                                                     "GetChildren")[0]  # fmt: skip
        return children

    def _read(self, bus_name: str, path: str, depth: int) -> Element:
        accessible = self._on(bus_name, path, f"{_ATSPI}.Accessible")
        properties = self._on(bus_name, path, "org.freedesktop.DBus.Properties")
        name = self._call(self._bus, properties, "Get", "ss", (f"{_ATSPI}.Accessible", "Name"))[0][1]
        description = self._call(self._bus, properties, "Get", "ss", (f"{_ATSPI}.Accessible", "Description"))[0][1]
        role = self._call(self._bus, accessible, "GetRoleName")[0]
        low, high = self._call(self._bus, accessible, "GetState")[0]
        bits = low | (high << 32)
        states = frozenset(i for i in range(64) if bits >> i & 1)
        rect: tuple[int, int, int, int] = (0, 0, 0, 0)
        if SHOWING in states:
            rect = tuple(self._call(self._bus, self._on(bus_name, path, f"{_ATSPI}.Component"), "GetExtents", "u",
                                    (0,))[0])  # fmt: skip
        return Element(bus_name, path, role, name, description, states, rect, depth)

    # -- what tests use -----------------------------------------------------------------------------
    def application(self, pid: int) -> tuple[str, str] | None:
        """The accessible root of the process `pid`, once it has registered."""
        dbus = DBusAddress("/org/freedesktop/DBus", bus_name="org.freedesktop.DBus", interface="org.freedesktop.DBus")
        for bus_name, path in self._children(*_REGISTRY):
            try:
                owner = self._call(self._bus, dbus, "GetConnectionUnixProcessID", "s", (bus_name,))[0]
            except Gone:
                continue
            if owner == pid:
                return bus_name, path
        return None

    def elements(self, pid: int) -> list[Element]:
        """Every showing widget of the app's showing windows, top to bottom (empty if it is not registered)."""
        root = self.application(pid)
        if root is None:
            return []
        return list(self._walk(*root, depth=0, skip_self=True))

    def _walk(self, bus_name: str, path: str, depth: int, skip_self: bool = False) -> Iterator[Element]:
        if not skip_self:
            element = self._read(bus_name, path, depth)
            if not element.showing:
                return  # nothing inside a hidden widget is on screen
            yield element
        for child_bus, child_path in self._children(bus_name, path):
            yield from self._walk(child_bus, child_path, depth + 1)

    def text(self, element: Element) -> str:
        """What a label or field shows (its accessible name may be a fixed description instead)."""
        text: str = self._call(self._bus, self._on(element.bus_name, element.path, f"{_ATSPI}.Text"), "GetText", "ii",
                               (0, -1))[0]  # fmt: skip
        return text
