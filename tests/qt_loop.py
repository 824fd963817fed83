"""Tests that need asyncio on the Qt loop: run a coroutine through qasync as the app does, and poll with a deadline."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import pytest
import qasync
from PySide6.QtWidgets import QApplication

__all__ = ["run", "until"]

T = TypeVar("T")


def run(body: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run `body` on the Qt event loop through qasync, as the app's main() does."""
    app = QApplication.instance() or QApplication([])
    assert isinstance(app, QApplication)
    app.setQuitOnLastWindowClosed(False)  # as main() does: the app quits through DesktopApp.quit only
    with asyncio.Runner(loop_factory=lambda: qasync.QEventLoop(app)) as runner:
        return runner.run(body())


async def until(what: str, check: Callable[[], T | None], timeout: float = 10.0) -> T:
    """Look again every 20 ms until `check()` gives something; fail the test at the deadline."""
    deadline = time.monotonic() + timeout
    while not (result := check()):
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {timeout} s")
        await asyncio.sleep(0.02)
    return result
