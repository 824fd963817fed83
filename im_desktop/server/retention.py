"""Retention: ended sessions and old events leave the database after the configured time, in small batches."""

from __future__ import annotations

import asyncio
import logging

from im_desktop.server.config import ServerConfig
from im_desktop.server.store import Store

__all__ = ["Retention"]

log = logging.getLogger(__name__)

# Rows looked at per statement: a few milliseconds of SQLite (on the event loop), then the loop gets a turn.
_BATCH = 1000


class Retention:
    """Deletes sessions that ended (or whose ticket ran out) `session_retention` ago, and events older than
    `event_retention` or beyond the newest `event_retention_max`. A client resuming from a pruned `sn` is told
    to re-sync (the store keeps the newest event, so oldest_sn() shows what is gone); messages stay."""

    def __init__(self, config: ServerConfig, store: Store) -> None:
        self.config = config
        self.store = store

    async def sweep(self, now: float) -> tuple[int, int]:
        """Prune what is due at `now`; return (sessions, events) deleted."""
        ended_before = now - self.config.session_retention
        sessions, after = 0, 0
        while True:
            after, deleted = await self.store.prune_sessions(after, ended_before, _BATCH)
            sessions += deleted
            if not after:
                break
            await asyncio.sleep(0)
        older_than_ms = int((now - self.config.event_retention) * 1000)
        events = 0
        while True:
            deleted = await self.store.prune_events(older_than_ms, self.config.event_retention_max, _BATCH)
            events += deleted
            if deleted < _BATCH:
                break
            await asyncio.sleep(0)
        if sessions or events:
            log.info("retention: deleted %d ended sessions and %d events", sessions, events)
        return sessions, events
