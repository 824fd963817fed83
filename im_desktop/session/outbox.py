"""The controller's outbox: queue, send once while online, keep failures visible until retried or deleted."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from im_desktop.cache import CacheError, OutboxItem
from im_desktop.protocol.errors import ErrorCode, ImError
from im_desktop.protocol.models import LoginStatus
from im_desktop.session.sync import SendFailure, flush_outbox

if TYPE_CHECKING:
    from im_desktop.cache import LocalCache
    from im_desktop.session.controller import SessionController

__all__ = ["Outbox"]

log = logging.getLogger(__name__)

_TASK = "outbox"


class Outbox:
    """One flush at a time; what is queued while it runs is sent by that same flush."""

    def __init__(self, controller: SessionController) -> None:
        self._c = controller
        self._lock = asyncio.Lock()  # the resync's flush and a send's flush must not send one item twice
        self._dirty = False  # something was queued or retried since the running flush last looked
        self._link_failures = 0  # sends in a row that lost the link while the stream stayed up

    def _cache(self) -> LocalCache:
        if self._c.cache is None:
            raise ImError(ErrorCode.NOT_LOGGED_IN, "Open an account before writing.")
        return self._c.cache

    def send(self, channel_id: str, content: str) -> OutboxItem:
        """Queue a message; it is sent now if online, else as soon as the connection is back."""
        try:
            item = self._cache().enqueue(channel_id, content)
        except CacheError as exc:
            problem = f"The message was not saved, so it was not sent: {exc}"
            raise ImError(ErrorCode.IO_OPERATION_FAILED, problem) from exc
        self._changed()
        return item

    def retry(self, nonce: str) -> None:
        """The user's "Retry" on a failed message."""
        try:
            if not self._cache().requeue(nonce):
                return
        except CacheError as exc:
            raise ImError(ErrorCode.IO_OPERATION_FAILED, str(exc)) from exc
        self._changed()

    def delete(self, nonce: str) -> None:
        """The user's "Delete" on a message that was never sent."""
        try:
            if self._cache().drop(nonce):
                self._c.outbox_changed.emit(self.waiting())
        except CacheError as exc:
            raise ImError(ErrorCode.IO_OPERATION_FAILED, str(exc)) from exc

    def waiting(self) -> int:
        cache = self._c.cache
        try:
            return len(cache.pending()) if cache is not None else 0
        except CacheError:
            return 0

    def _changed(self) -> None:
        self._c.outbox_changed.emit(self.waiting())
        self.flush_soon()

    def flush_soon(self) -> None:
        """Send what waits, if online. A running flush is kept (replace=False) and sees `_dirty`, so nothing
        queued now waits for the next event."""
        self._dirty = True
        if self._c.current_login["status"] == LoginStatus.ONLINE:
            self._c.tasks.spawn(_TASK, self.flush(), replace=False)

    async def flush(self) -> None:
        async with self._lock:
            while True:
                self._dirty = False
                stopped = await self._flush_once()
                if stopped is not None:
                    self._retry_later(stopped)
                    return
                self._link_failures = 0
                if not self._dirty:
                    return

    def _retry_later(self, stopped: ImError) -> None:
        """A send that lost the link while the event stream stayed up (a proxy, a timeout): nothing else would
        bring the flush back on a quiet session, so it comes back by itself, backing off (2 s doubling to 60 s).
        A broken session needs a new one instead, which flushes after its READY."""
        if stopped.code not in (ErrorCode.NET_DISCONNECT, ErrorCode.NET_TIMEOUT, ErrorCode.SERVICE_UNAVAILABLE):
            return
        self._link_failures += 1
        delay = min(2.0 * 2 ** (self._link_failures - 1), 60.0)

        async def later() -> None:
            await asyncio.sleep(delay)
            self.flush_soon()

        self._c.tasks.spawn("outbox-retry", later())

    async def _flush_once(self) -> ImError | None:
        """One pass over the waiting messages; what stopped it, if the link or the session did."""
        c = self._c
        if c.creds is None or c.cache is None:
            return ImError(ErrorCode.NOT_LOGGED_IN)
        cache = c.cache

        # Each message is reported as it is settled, so the UI shows a failure (with Retry and Delete) while
        # the flush goes on, and a flush cut short (kick, logout) has already said what it settled.
        def sent(item: OutboxItem, messages: list[dict[str, Any]]) -> None:
            for message in messages:
                c.message_received.emit(item.channel_id, message)
            c.outbox_changed.emit(self.waiting())

        def failed(failure: SendFailure) -> None:
            c.outbox_changed.emit(self.waiting())
            c.send_failed.emit(failure.item.channel_id, failure.item.nonce, int(failure.error.code),
                               failure.error.message)  # fmt: skip

        try:
            result = await flush_outbox(c.client, c.creds, cache, sent, c.timing.send_retry_delays, failed)
        except CacheError as exc:
            log.warning("the outbox could not be read or updated: %s", exc)
            return ImError(ErrorCode.IO_OPERATION_FAILED, str(exc))
        finally:
            c.outbox_changed.emit(self.waiting())
        if result.stopped is not None:
            log.info("sending stopped (%s); the rest waits", result.stopped.code)
        return result.stopped
