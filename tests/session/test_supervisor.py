"""The task supervisor: strong references, names, replacement, failures logged, shutdown waits."""

from __future__ import annotations

import asyncio

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
    await asyncio.sleep(0)
    assert first.cancelled() or first.done()
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
