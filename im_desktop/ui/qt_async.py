"""Where Qt and asyncio meet: await a signal or a dialog without a nested event loop."""

from __future__ import annotations

import asyncio
from typing import Any

from PySide6.QtCore import SignalInstance
from PySide6.QtWidgets import QDialog

__all__ = ["await_dialog", "next_emission"]


def next_emission(signal: SignalInstance) -> asyncio.Future[tuple[Any, ...]]:
    """A future resolved with the arguments of the signal's next emission."""
    future: asyncio.Future[tuple[Any, ...]] = asyncio.get_running_loop().create_future()

    def resolve(*args: Any) -> None:
        signal.disconnect(resolve)
        if not future.done():
            future.set_result(args)

    signal.connect(resolve)
    return future


async def await_dialog(dialog: QDialog) -> int:
    """Show a window-modal dialog with open() (never exec(): that would nest a loop inside a coroutine)
    and wait for its result code."""
    finished = next_emission(dialog.finished)
    dialog.open()
    (result,) = await finished
    return int(result)
