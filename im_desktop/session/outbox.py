"""The controller's outbox: queue, send once while online, keep failures visible until retried or deleted."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Signal

from im_desktop.local.cache import CacheError, OutboxItem
from im_desktop.protocol.errors import ErrorCode, ImError
from im_desktop.session.sync import SendFailure, flush_outbox

if TYPE_CHECKING:
    from im_desktop.local.cache import LocalCache
    from im_desktop.session.live import LiveSession

__all__ = ["Outbox"]

log = logging.getLogger(__name__)

_TASK = "outbox"


class Outbox(QObject):
    """One flush at a time; what is queued while it runs is sent by that same flush.

    Signals (the controller forwards them as its own):
        changed(int): how many messages wait to be sent.
        sent(str, object): channel id and a message the server stored.
        failed(str, str, int, str): channel id, nonce, code and message of a message the server refused.
    """

    changed = Signal(int)
    sent = Signal(str, object)
    failed = Signal(str, str, int, str)

    def __init__(self, live: LiveSession, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._live = live
        self._lock = asyncio.Lock()  # the resync's flush and a send's flush must not send one item twice
        self._dirty = False  # something was queued or retried since the running flush last looked
        self._link_failures = 0  # sends in a row that lost the link while the stream stayed up

    def _cache(self) -> LocalCache:
        if self._live.cache is None:
            raise ImError(ErrorCode.NOT_LOGGED_IN, "Open an account before writing.")
        return self._live.cache

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
                self.changed.emit(self.waiting())
        except CacheError as exc:
            raise ImError(ErrorCode.IO_OPERATION_FAILED, str(exc)) from exc

    def waiting(self) -> int:
        cache = self._live.cache
        try:
            return len(cache.pending()) if cache is not None else 0
        except CacheError:
            return 0

    def _changed(self) -> None:
        self.changed.emit(self.waiting())
        self.flush_soon()

    def flush_soon(self) -> None:
        """Send what waits, if online. A running flush is kept (replace=False) and sees `_dirty`, so nothing
        queued now waits for the next event."""
        self._dirty = True
        if self._live.online:
            self._live.tasks.spawn(_TASK, self.flush(), replace=False)

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

        self._live.tasks.spawn("outbox-retry", later())

    async def _flush_once(self) -> ImError | None:
        """One pass over the waiting messages; what stopped it, if the link or the session did."""
        live = self._live
        creds, cache = live.creds, live.cache
        if creds is None or cache is None:
            return ImError(ErrorCode.NOT_LOGGED_IN)

        # Each message is reported as it is settled, so the UI shows a failure (with Retry and Delete) while
        # the flush goes on, and a flush cut short (kick, logout) has already said what it settled.
        def on_sent(item: OutboxItem, messages: list[dict[str, Any]]) -> None:
            for message in messages:
                self.sent.emit(item.channel_id, message)
            self.changed.emit(self.waiting())

        def on_failed(failure: SendFailure) -> None:
            self.changed.emit(self.waiting())
            self.failed.emit(failure.item.channel_id, failure.item.nonce, int(failure.error.code),
                             failure.error.message)  # fmt: skip

        try:
            result = await flush_outbox(live.client, creds, cache, on_sent, live.timing.send_retry_delays, on_failed)
        except CacheError as exc:
            log.warning("the outbox could not be read or updated: %s", exc)
            return ImError(ErrorCode.IO_OPERATION_FAILED, str(exc))
        finally:
            self.changed.emit(self.waiting())
        if result.stopped is not None:
            log.info("sending stopped (%s); the rest waits", result.stopped.code)
        return result.stopped
