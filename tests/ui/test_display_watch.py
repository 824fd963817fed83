"""When Qt ends its event loop by itself (its X display went away), the app still quits through its own sequence.

Qt 6.11's xcb plugin, on a broken X connection, calls QCoreApplication::exit(1) at once and again at later
wake-ups; these tests make the same call on the offscreen platform. The real display going away is walked in
tests/e2e/test_desktop.py::test_closing_the_display_ends_the_app.
"""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
import qasync
from PySide6.QtCore import QCoreApplication, QTimer
from PySide6.QtWidgets import QApplication

from im_desktop.ui.display_watch import DisplayWatch, x11_connection_error


def _qt_gives_up() -> None:
    QTimer.singleShot(0, lambda: QCoreApplication.exit(1))


def _watchdogs() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "quit-watchdog"]


def test_the_quit_runs_to_its_end_when_qt_ends_the_loop(qapp: QApplication, caplog: pytest.LogCaptureFixture) -> None:
    exits: list[int] = []
    watch = DisplayWatch(qapp, grace=30, hard_exit=exits.append)
    runner = asyncio.Runner(loop_factory=lambda: qasync.QEventLoop(watch.app))
    steps: list[str] = []

    async def app() -> int:
        quit_requested = asyncio.Event()
        watch.on_lost = quit_requested.set
        _qt_gives_up()
        await quit_requested.wait()
        steps.append("quit requested")
        _qt_gives_up()  # and again while the app shuts down
        await asyncio.to_thread(time.sleep, 0.05)  # a worker thread, as the sandbox's stop uses
        steps.append("worker done")
        await asyncio.sleep(0.05)  # a timer
        steps.append("shut down")
        return 0

    async def later() -> str:
        _qt_gives_up()
        await asyncio.sleep(0.05)
        return "later"

    try:
        assert runner.run(app()) == 0
        assert runner.run(later()) == "later"  # later runs (as Runner.close's) are not cut short either
    finally:
        runner.close()
        watch.close()
    assert steps == ["quit requested", "worker done", "shut down"]
    assert watch.lost
    assert caplog.messages.count("Qt ended its event loop by itself (code 1): quitting") == 1
    deadline = time.monotonic() + 5
    while _watchdogs():  # closed: the watchdog stands down at once instead of waiting out its 30 s
        assert time.monotonic() < deadline, "the watchdog is still armed after close()"
        time.sleep(0.01)
    assert exits == []


def test_a_quit_that_hangs_still_ends_the_process(qapp: QApplication, caplog: pytest.LogCaptureFixture) -> None:
    # hard_exit stands in for os._exit, which the watchdog calls from its own thread.
    watch = DisplayWatch(qapp, grace=0.3, hard_exit=lambda code: loop.call_soon_threadsafe(ended.set_result, code))
    watch.on_lost = lambda: None  # the app never manages to quit
    runner = asyncio.Runner(loop_factory=lambda: qasync.QEventLoop(watch.app))
    loop = runner.get_loop()
    ended: asyncio.Future[int] = loop.create_future()

    async def stuck() -> int:
        _qt_gives_up()
        return await ended

    started = time.monotonic()
    try:
        assert runner.run(stuck()) == 1
    finally:
        runner.close()
        watch.close()
    assert time.monotonic() - started >= 0.3
    assert "the app did not finish quitting within 0.3 s after its event loop ended; exiting now" in caplog.messages


def test_a_loop_that_the_app_stops_is_left_alone(qapp: QApplication) -> None:
    watch = DisplayWatch(qapp, grace=30, hard_exit=lambda code: None)
    watch.on_lost = lambda: pytest.fail("the app stopped its own loop, and was told to quit")
    runner = asyncio.Runner(loop_factory=lambda: qasync.QEventLoop(watch.app))
    try:
        assert runner.run(asyncio.sleep(0.01, "done")) == "done"
    finally:
        runner.close()
        watch.close()
    assert not watch.lost
    assert _watchdogs() == []


def test_no_x_connection_to_ask_about_off_x11(qapp: QApplication) -> None:
    assert qapp.platformName() == "offscreen"
    assert x11_connection_error(qapp) == 0
