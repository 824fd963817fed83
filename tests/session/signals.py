"""Awaiting Qt signals from async tests without a nested event loop (never qtbot.waitSignal here)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from PySide6.QtCore import SignalInstance

from im_desktop.protocol.models import LoginStatus
from im_desktop.session.controller import SessionController
from im_desktop.ui.qt_async import next_emission

__all__ = ["next_emission", "reach_status", "record", "until"]


def record(signal: SignalInstance) -> list[tuple[Any, ...]]:
    seen: list[tuple[Any, ...]] = []
    signal.connect(lambda *args: seen.append(args))
    return seen


async def reach_status(controller: SessionController, status: LoginStatus, timeout: float = 10.0) -> None:
    """Wait until the controller's Satori status is `status` (now or after a change)."""
    if controller.current_login["status"] == status:
        return
    future: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def check(value: int) -> None:
        if value == status and not future.done():
            future.set_result(None)

    controller.status_changed.connect(check)
    try:
        await asyncio.wait_for(future, timeout)
    finally:
        controller.status_changed.disconnect(check)


async def until(what: str, check: Callable[[], bool], *signals: SignalInstance, timeout: float = 5.0) -> None:
    """Wait until `check()` holds, looking again each time one of `signals` fires (the signals the UI
    refreshes on, so a change that does not announce itself fails here too); fail the test at the deadline."""
    changed = asyncio.Event()

    def poke(*_: object) -> None:
        changed.set()

    for signal in signals:
        signal.connect(poke)
    try:
        async with asyncio.timeout(timeout):
            while not check():
                await changed.wait()
                changed.clear()
    except TimeoutError:
        pytest.fail(f"{what}: not within {timeout} s")
    finally:
        for signal in signals:
            signal.disconnect(poke)
