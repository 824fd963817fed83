"""One owner for background tasks: strong references, names, failures logged, all cancelled on quit."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection, Coroutine
from typing import Any

__all__ = ["TaskSupervisor"]

log = logging.getLogger(__name__)


class TaskSupervisor:
    """Keeps every task it starts alive until it ends (asyncio and qasync keep only weak references)."""

    def __init__(self) -> None:
        self._tasks: dict[str, asyncio.Task[Any]] = {}
        self._closed = False

    def spawn(self, name: str, coro: Coroutine[Any, Any, Any], *, replace: bool = True) -> asyncio.Task[Any]:
        """Start `coro` as the task `name`; an older task of that name is cancelled first if `replace`."""
        if self._closed:
            coro.close()
            raise RuntimeError("the supervisor is shut down")
        old = self._tasks.get(name)
        if old is not None and not old.done():
            if not replace:
                coro.close()
                return old
            old.cancel()
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks[name] = task
        task.add_done_callback(self._finished)
        return task

    def _finished(self, task: asyncio.Task[Any]) -> None:
        if self._tasks.get(task.get_name()) is task:
            del self._tasks[task.get_name()]
        if not task.cancelled() and task.exception() is not None:
            log.error("background task %s failed", task.get_name(), exc_info=task.exception())

    def running(self, name: str) -> bool:
        task = self._tasks.get(name)
        return task is not None and not task.done()

    def is_current(self, name: str) -> bool:
        """Whether the caller runs inside the task `name`."""
        task = self._tasks.get(name)
        return task is not None and task is asyncio.current_task()

    def cancel(self, name: str) -> None:
        task = self._tasks.get(name)
        if task is not None:
            task.cancel()

    async def cancel_and_wait(self, name: str) -> None:
        """Cancel a task and wait until it has ended. Raises CancelledError only if the caller is cancelled."""
        task = self._tasks.get(name)
        if task is not None and task is not asyncio.current_task():
            task.cancel()
            await _wait_for_end([task])

    async def join(self, name: str) -> None:
        """Wait for a task to finish on its own (e.g. a keyring write that must not be cut short).
        Raises CancelledError only if the caller is cancelled, and that leaves the task running."""
        task = self._tasks.get(name)
        if task is not None and task is not asyncio.current_task():
            await _wait_for_end([task])

    async def shutdown(self) -> None:
        """Cancel every task and wait for all of them; nothing is left running afterwards (unless the
        caller itself is cancelled while it waits: then it gets its CancelledError at once)."""
        self._closed = True
        tasks = [t for t in self._tasks.values() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await _wait_for_end(tasks)


async def _wait_for_end(tasks: Collection[asyncio.Task[Any]]) -> None:
    """Wait until `tasks` have ended, whichever way; their failures are logged by `_finished`, not raised.

    `await task` under suppress() cannot tell the task's CancelledError from the caller's (so it swallowed
    the caller's), and awaiting a task forwards the caller's cancellation into it. asyncio.wait() does
    neither: it never raises what the tasks raised, so a CancelledError out of it is always the caller's
    own and goes up untouched (the caller's Task.cancelling() count stays right for asyncio.timeout).
    """
    if tasks:
        await asyncio.wait(tasks)
