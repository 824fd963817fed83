"""The task supervisor: strong references, names, replacement, failures logged, shutdown waits."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from im_desktop.session.supervisor import TaskSupervisor

pytestmark = pytest.mark.asyncio


async def test_tasks_are_named_replaced_and_cancelled_on_shutdown() -> None:
    supervisor = TaskSupervisor()
    started = asyncio.Event()

    async def forever() -> None:
        started.set()
        await asyncio.Event().wait()

    first = supervisor.spawn("worker", forever())
    await started.wait()
    second = supervisor.spawn("worker", forever())
    await asyncio.wait([first])
    assert first.cancelled()
    assert second.get_name() == "worker" and supervisor.running("worker")
    await supervisor.shutdown()
    assert second.cancelled()
    with pytest.raises(RuntimeError):
        supervisor.spawn("late", forever())


async def test_a_failing_task_is_logged_not_lost(caplog: pytest.LogCaptureFixture) -> None:
    supervisor = TaskSupervisor()

    async def boom() -> None:
        raise ValueError("broken")

    task = supervisor.spawn("boom", boom())
    await asyncio.gather(task, return_exceptions=True)
    await asyncio.sleep(0)
    assert "background task boom failed" in caplog.text
    assert not supervisor.running("boom")


async def test_join_waits_without_cancelling() -> None:
    supervisor = TaskSupervisor()
    done: list[int] = []

    async def write() -> None:
        await asyncio.sleep(0.05)
        done.append(1)

    supervisor.spawn("write", write())
    await supervisor.join("write")
    assert done == [1]


async def test_the_awaited_tasks_own_end_is_not_raised_to_the_caller() -> None:
    supervisor = TaskSupervisor()

    async def boom() -> None:
        raise ValueError("broken")

    async def forever() -> None:
        await asyncio.Event().wait()

    failing = supervisor.spawn("boom", boom())
    await supervisor.join("boom")  # its ValueError is logged by the supervisor, not raised here
    assert isinstance(failing.exception(), ValueError)
    endless = supervisor.spawn("forever", forever())
    await supervisor.cancel_and_wait("forever")  # its CancelledError is not ours
    assert endless.cancelled()
    me = asyncio.current_task()
    assert me is not None and me.cancelling() == 0  # no cancellation of ours was requested or left pending


class _SlowToEnd:
    """A task that is inside its work (`inside`) and, once cancelled, cleans up until `release` is set."""

    def __init__(self) -> None:
        self.inside = asyncio.Event()
        self.release = asyncio.Event()
        self.finished_work = False
        self.cleaned_up = False

    async def work(self) -> None:
        self.inside.set()
        try:
            await self.release.wait()
            self.finished_work = True
        except asyncio.CancelledError:
            await self.release.wait()  # cleanup that takes a while, as a keyring write or a socket close does
            self.cleaned_up = True  # not reached if the caller's cancellation is forwarded into the task
            raise


async def _cancel_the_caller(waiting: Callable[[], Awaitable[None]], slow: _SlowToEnd) -> asyncio.Task[None]:
    """Run `waiting` in a caller task, cancel the caller while it waits, let the slow task end; the caller."""
    after: list[str] = []

    async def caller() -> None:
        await waiting()
        after.append("carried on")  # must not run: the caller was cancelled

    task = asyncio.get_running_loop().create_task(caller())
    await slow.inside.wait()
    for _ in range(5):  # let the caller reach its wait (each step of it is one loop turn)
        await asyncio.sleep(0)
    assert not task.done()
    task.cancel()
    slow.release.set()
    await asyncio.wait([task])
    assert after == []
    return task


async def test_a_caller_cancelled_in_cancel_and_wait_is_cancelled() -> None:
    supervisor = TaskSupervisor()
    slow = _SlowToEnd()
    worker = supervisor.spawn("worker", slow.work())
    caller = await _cancel_the_caller(lambda: supervisor.cancel_and_wait("worker"), slow)
    assert caller.cancelled()
    await asyncio.wait([worker])
    assert worker.cancelled() and slow.cleaned_up


async def test_a_caller_cancelled_in_join_is_cancelled_and_the_joined_task_goes_on() -> None:
    supervisor = TaskSupervisor()
    slow = _SlowToEnd()
    worker = supervisor.spawn("write", slow.work())
    caller = await _cancel_the_caller(lambda: supervisor.join("write"), slow)
    assert caller.cancelled()
    await asyncio.wait([worker])
    assert not worker.cancelled() and slow.finished_work  # join never cuts the task short


async def test_a_caller_cancelled_in_shutdown_is_cancelled() -> None:
    supervisor = TaskSupervisor()
    slow = _SlowToEnd()
    worker = supervisor.spawn("worker", slow.work())
    caller = await _cancel_the_caller(supervisor.shutdown, slow)
    assert caller.cancelled()
    await asyncio.wait([worker])
    assert worker.cancelled()
    assert slow.cleaned_up  # the caller giving up does not cut the tasks' own cleanup short
