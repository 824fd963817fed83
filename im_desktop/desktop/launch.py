"""The entry point of the desktop app: arguments, the Qt application, one instance per user, the event loop."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

import qasync
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication

from im_desktop import __version__
from im_desktop.desktop.sandbox import SandboxServer
from im_desktop.local.logging_setup import setup_logging
from im_desktop.local.settings import SANDBOX, AppPaths, load_settings
from im_desktop.ui.display_watch import DisplayWatch
from im_desktop.ui.resources import icons_dir, install_language
from im_desktop.ui.signal_wakeup import SignalWakeup
from im_desktop.ui.single_instance import Claim, SingleInstance

__all__ = ["main"]

log = logging.getLogger(__name__)

APP_USER_MODEL_ID = "org.imdesktop.ImDesktop"  # = packaging/bundle_rules.APP_ID and the NSIS script's AUMID


def _parse(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="im-desktop", description="A desktop chat client.")
    parser.add_argument("--home", help="keep settings, cache and logs in this folder (portable mode, tests)")
    parser.add_argument("--exit-after", choices=["window", "online"],
                        help="quit once the first window is up, or once online (smoke tests, benchmarks)")  # fmt: skip
    parser.add_argument("--self-test", action="store_true",
                        help="check this copy (Qt, icons, network information, keyring, translations, a login to "
                        "the built-in server) and exit 0 if all is well")  # fmt: skip
    parser.add_argument("--version", action="version", version=f"im-desktop {__version__}")
    return parser.parse_args(list(argv))


def _skip_unused_extras() -> None:
    """httpx imports its command-line tool (rich, click, pygments: ~70 ms) and httpcore imports trio (~55 ms)
    whenever they happen to be installed; the app runs neither, so their imports fail at once instead."""
    for name in ("httpx._main", "trio"):
        sys.modules.setdefault(name, None)  # type: ignore[arg-type]  # None in sys.modules: "not installed"


def main(argv: Sequence[str] | None = None) -> int:
    _skip_unused_extras()
    options = _parse(sys.argv[1:] if argv is None else argv)
    if options.self_test:  # touches no settings, cache or log of the user's
        from im_desktop.desktop.self_test import main as self_test

        return self_test()
    paths = AppPaths.resolve(options.home)
    if sys.platform == "win32":  # the id the installer's Start-menu shortcut carries: toasts need them to match
        import ctypes

        ctypes.windll.shell32.SetCurrentProcessExplicitAppUserModelID(APP_USER_MODEL_ID)  # type: ignore[attr-defined]
    setup_logging(paths.logs)
    app = QApplication.instance() or QApplication([sys.argv[0]])
    assert isinstance(app, QApplication)
    app.setApplicationName("im-desktop")
    app.setApplicationVersion(__version__)
    app.setWindowIcon(QIcon(str(icons_dir() / "im-desktop.svg")))
    app.setQuitOnLastWindowClosed(False)  # the tray keeps the app; quitting goes through DesktopApp.quit
    instance = SingleInstance(Path(paths.config))
    claim = instance.claim()
    if claim is Claim.RUNNING:
        print("im-desktop is already running; asked it to show its window.")
        return 0
    if claim is Claim.UNAVAILABLE:  # not "already running": say what is wrong and run unguarded
        log.warning("cannot make sure only one im-desktop runs (%s); starting anyway", instance.problem)
    settings = load_settings(paths.settings_file)
    sandbox = SandboxServer.for_paths(paths)
    if settings.profile().kind == SANDBOX:
        sandbox.launch()  # forked first: the server boots (~0.3 s) while this process imports and shows a window
    from im_desktop.desktop.app import DesktopApp  # the composition root's imports overlap the server's boot

    # Before any window exists: the language is read once per start (the dialog says a change needs a restart).
    install_language(app, paths.cache / "translations", settings.language)
    display = DisplayWatch(app)  # if Qt ends its loop by itself (the display went away), the app still quits in order
    runner = asyncio.Runner(loop_factory=lambda: qasync.QEventLoop(display.app))
    try:
        desktop = DesktopApp(app, paths, options, sandbox=sandbox, settings=settings)
        display.on_lost = desktop.quit
        instance.raise_requested.connect(desktop.raise_on_request)
        loop = runner.get_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            # Hand the quit to the loop, which then goes through the same ordered shutdown as Quit.
            signal.signal(signum, lambda *_: loop.call_soon_threadsafe(desktop.quit))
        wake = SignalWakeup()
        try:
            return runner.run(desktop.run())
        finally:
            wake.close()
    finally:
        runner.close()
        instance.close()
        display.close()
