"""`im-desktop --self-test`: what an installed copy needs, checked for real, ending in a login to its own server."""

from __future__ import annotations

import asyncio
import importlib
import importlib.metadata
import os
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

__all__ = ["main"]

_NATIVE_KEYRING = {"linux": "SecretService", "win32": "Windows", "darwin": "macOS"}


@dataclass(frozen=True, slots=True)
class Result:
    name: str
    ok: bool
    detail: str


class CheckFailed(Exception):
    """A check found the copy broken; the message says what is missing."""


def _platform() -> str:
    from PySide6.QtGui import QGuiApplication
    from PySide6.QtWidgets import QSystemTrayIcon

    name = QGuiApplication.platformName()
    if not name:
        raise CheckFailed("no Qt platform plugin loaded")
    tray = "a system tray" if QSystemTrayIcon.isSystemTrayAvailable() else "no system tray"
    return f"{name}, {tray}"


def _svg() -> str:
    from PySide6.QtCore import QLibraryInfo
    from PySide6.QtGui import QIcon, QImageReader

    from im_desktop.ui.resources import icons_dir

    if b"svg" not in [bytes(f.data()) for f in QImageReader.supportedImageFormats()]:
        raise CheckFailed("Qt cannot read SVG (the svg image format plugin is missing)")
    engines = Path(QLibraryInfo.path(QLibraryInfo.LibraryPath.PluginsPath)) / "iconengines"
    if not any("svg" in p.name for p in engines.glob("*")):
        raise CheckFailed(f"the SVG icon engine is missing from {engines}")
    icons = sorted(icons_dir().glob("*.svg"))
    blank = [p.name for p in icons if QIcon(str(p)).pixmap(64, 64).toImage().isNull()]
    if not icons or blank:
        raise CheckFailed(f"icons that do not render: {blank or 'none found'}")
    return f"{len(icons)} icons render"


def _network_information() -> str:
    from PySide6.QtNetwork import QNetworkInformation

    backends = QNetworkInformation.availableBackends()
    if not QNetworkInformation.loadBackendByFeatures(QNetworkInformation.Feature.Reachability):
        raise CheckFailed(f"no reachability backend loads (available: {backends or 'none'})")
    info = QNetworkInformation.instance()
    assert info is not None
    return f"{info.backendName()} (of {', '.join(backends)})"


def _keyring() -> str:
    import keyring
    import keyring.backends.fail

    native = _NATIVE_KEYRING.get(sys.platform, "")
    found = {ep.name for ep in importlib.metadata.entry_points(group="keyring.backends")}
    if native and native not in found:
        raise CheckFailed(f"keyring's {native} backend is not registered (entry points: {sorted(found)})")
    if native:
        importlib.import_module(f"keyring.backends.{native}")
    if sys.platform.startswith("linux"):
        importlib.import_module("secretstorage")  # imports cryptography for the D-Bus session encryption
    backend = keyring.get_keyring()
    name = str(getattr(backend, "name", type(backend).__name__))
    if isinstance(backend, keyring.backends.fail.Keyring):
        return f"{native} bundled; no keyring service runs here, so Remember me is off"
    entry = f"self-test-{os.getpid()}"
    backend.set_password("im-desktop-self-test", entry, "ticket")
    try:
        if backend.get_password("im-desktop-self-test", entry) != "ticket":
            raise CheckFailed(f"{name} did not give back what was stored")
    finally:
        backend.delete_password("im-desktop-self-test", entry)
    return f"{name}: stored, read and deleted a test entry"


def _translations() -> str:
    from PySide6.QtCore import QCoreApplication, QLibraryInfo, QLocale
    from PySide6.QtWidgets import QApplication

    from im_desktop.ui.resources import install_translator, remove_translator

    app = QApplication.instance()
    assert isinstance(app, QApplication)
    with tempfile.TemporaryDirectory() as cache:
        translator = install_translator(app, Path(cache), QLocale(QLocale.Language.Chinese, QLocale.Country.China))
        if translator is None:
            raise CheckFailed("the Simplified Chinese translation does not load")
        try:
            said = QCoreApplication.translate("ConnectionStatusBar", "Online")
        finally:
            remove_translator(app, translator)
    if said != "在线":
        raise CheckFailed(f"'Online' translates to {said!r}")
    qt_own = Path(QLibraryInfo.path(QLibraryInfo.LibraryPath.TranslationsPath)) / "qtbase_zh_CN.qm"
    return "zh_CN" + (" (with Qt's own)" if qt_own.exists() else "")


async def _log_in() -> str:
    from im_desktop.desktop.sandbox import SandboxServer
    from im_desktop.local.credentials import CredentialStore
    from im_desktop.protocol.models import LoginStatus
    from im_desktop.session.controller import SessionController
    from im_desktop.session.tickets import SandboxTickets
    from im_desktop.session.types import ServerProfile

    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="im-desktop-self-test-") as tmp:
        sandbox = SandboxServer(Path(tmp) / "server", Path(tmp) / "server.log")
        try:
            url = await sandbox.start()
            controller = SessionController(
                ServerProfile("self-test", url), cache_dir=Path(tmp) / "cache", credentials=CredentialStore(),
                platform={"win32": "Windows", "darwin": "Mac"}.get(sys.platform, "Linux"), device_id="self-test",
                device_name="self-test",
            )  # fmt: skip
            try:
                await controller.login(f"selftest{os.getpid()}", SandboxTickets())
                if controller.current_login["status"] != LoginStatus.ONLINE:
                    raise CheckFailed("the login to the built-in server did not reach ONLINE")
                await controller.logout(forget=False)
            finally:
                await controller.aclose()
        except OSError as exc:
            raise CheckFailed(f"the built-in server: {exc}") from exc
        finally:
            await sandbox.stop()
    return f"the built-in server from this copy, logged in to ONLINE in {time.monotonic() - started:.2f} s"


def _run(name: str, check: Callable[[], str]) -> Result:
    try:
        return Result(name, True, check())
    except Exception as exc:  # a broken copy fails in many ways: each one is a failed check, never a crash
        return Result(name, False, str(exc) or type(exc).__name__)


def main() -> int:
    """Run every check, print a line each and a verdict; 0 when all passed."""
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # a headless check of a bundle, e.g. in CI
    import qasync
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([sys.argv[0]])
    assert isinstance(app, QApplication)
    results = [_run("Qt platform", _platform), _run("SVG icons", _svg),
               _run("network information", _network_information), _run("keyring", _keyring),
               _run("translations", _translations)]  # fmt: skip
    with asyncio.Runner(loop_factory=lambda: qasync.QEventLoop(app)) as runner:
        try:
            results.append(Result("login", True, runner.run(asyncio.wait_for(_log_in(), 60))))
        except Exception as exc:  # the last check: its failure is reported like the others
            results.append(Result("login", False, str(exc) or type(exc).__name__))
    for result in results:
        print(f"{'ok' if result.ok else 'FAILED':6} {result.name}: {result.detail}")
    failed = [r.name for r in results if not r.ok]
    if failed:
        print(f"im-desktop self-test: FAILED ({', '.join(failed)})")
        return 1
    print(f"im-desktop self-test: passed ({len(results)} checks)")
    return 0
