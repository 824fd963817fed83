"""The local cache, one SQLite file per user: conversations, history and the outbox, readable offline."""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["CachedMessage", "Conversation", "LocalCache", "OutboxItem"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS conversations(
    channel_id TEXT PRIMARY KEY, name TEXT NOT NULL, type INTEGER NOT NULL,
    last_text TEXT NOT NULL DEFAULT '', last_at INTEGER NOT NULL DEFAULT 0, unread INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS messages(
    channel_id TEXT NOT NULL, id TEXT NOT NULL, user_id TEXT NOT NULL, content TEXT NOT NULL,
    created_at INTEGER NOT NULL, PRIMARY KEY(channel_id, id));
CREATE INDEX IF NOT EXISTS messages_by_time ON messages(channel_id, created_at);
CREATE TABLE IF NOT EXISTS outbox(
    nonce TEXT PRIMARY KEY, channel_id TEXT NOT NULL, content TEXT NOT NULL, queued_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS state(name TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


@dataclass(frozen=True, slots=True)
class Conversation:
    channel_id: str
    name: str
    type: int
    last_text: str
    last_at: int
    unread: int


@dataclass(frozen=True, slots=True)
class CachedMessage:
    channel_id: str
    id: str
    user_id: str
    content: str
    created_at: int  # ms


@dataclass(frozen=True, slots=True)
class OutboxItem:
    nonce: str
    channel_id: str
    content: str
    queued_at: float


class LocalCache:
    """Holds what the user has seen and written. It never stores a ticket or token."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(path, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    # -- conversations and history --------------------------------------------------------------
    def upsert_conversation(self, channel_id: str, name: str, channel_type: int) -> None:
        self._db.execute(
            "INSERT INTO conversations(channel_id, name, type) VALUES (?, ?, ?) "
            "ON CONFLICT(channel_id) DO UPDATE SET name = excluded.name, type = excluded.type",
            (channel_id, name, channel_type),
        )

    def conversations(self) -> list[Conversation]:
        rows = self._db.execute("SELECT * FROM conversations ORDER BY last_at DESC, channel_id")
        return [Conversation(*row) for row in rows]

    def add_messages(self, channel_id: str, messages: list[dict[str, Any]], *, unread: bool = False) -> int:
        """Store Satori messages, ignoring ids already stored; return how many were new."""
        new = 0
        self._db.execute("BEGIN")
        try:
            for m in messages:
                message_id = m.get("id")
                if not isinstance(message_id, str) or not message_id:
                    continue
                user = m["user"] if isinstance(m.get("user"), dict) else {}
                created = m.get("created_at") if isinstance(m.get("created_at"), int) else int(time.time() * 1000)
                content = m.get("content") if isinstance(m.get("content"), str) else ""
                cur = self._db.execute(
                    "INSERT OR IGNORE INTO messages(channel_id, id, user_id, content, created_at)"
                    " VALUES (?, ?, ?, ?, ?)",
                    (channel_id, message_id, str(user.get("id", "")), content, created),
                )
                if cur.rowcount:
                    new += 1
                    self._db.execute(
                        "INSERT INTO conversations(channel_id, name, type, last_text, last_at, unread) "
                        "VALUES (?, ?, 0, ?, ?, ?) ON CONFLICT(channel_id) DO UPDATE SET "
                        "last_text = CASE WHEN excluded.last_at >= last_at THEN excluded.last_text ELSE last_text END, "
                        "last_at = MAX(last_at, excluded.last_at), unread = unread + excluded.unread",
                        (channel_id, channel_id, content, created, 1 if unread else 0),
                    )
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        return new

    def history(self, channel_id: str, limit: int = 200) -> list[CachedMessage]:
        rows = self._db.execute(
            "SELECT channel_id, id, user_id, content, created_at FROM messages WHERE channel_id = ? "
            "ORDER BY created_at DESC, id DESC LIMIT ?",
            (channel_id, limit),
        )
        return [CachedMessage(*row) for row in rows][::-1]

    def mark_read(self, channel_id: str) -> None:
        self._db.execute("UPDATE conversations SET unread = 0 WHERE channel_id = ?", (channel_id,))

    # -- outbox ---------------------------------------------------------------------------------
    def enqueue(self, channel_id: str, content: str) -> OutboxItem:
        """Keep a message to send; its nonce makes a retried send land once on servers that honour it."""
        item = OutboxItem(uuid.uuid4().hex, channel_id, content, time.time())
        self._db.execute(
            "INSERT INTO outbox(nonce, channel_id, content, queued_at) VALUES (?, ?, ?, ?)",
            (item.nonce, item.channel_id, item.content, item.queued_at),
        )
        return item

    def pending(self) -> list[OutboxItem]:
        rows = self._db.execute("SELECT nonce, channel_id, content, queued_at FROM outbox ORDER BY queued_at")
        return [OutboxItem(*row) for row in rows]

    def sent(self, item: OutboxItem, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The server has it: store the message(s) it made and drop the outbox entry (a crash in between
        only leaves a duplicate id, which `add_messages` ignores). Returns the messages that were new
        here: the server's event may have delivered them first."""
        ids = [m.get("id") for m in messages if isinstance(m.get("id"), str)]
        known = {row[0] for row in self._db.execute(
            f"SELECT id FROM messages WHERE channel_id = ? AND id IN ({','.join('?' * len(ids))})",  # noqa: S608
            (item.channel_id, *ids),
        )} if ids else set()  # fmt: skip
        self.add_messages(item.channel_id, messages)
        self._db.execute("DELETE FROM outbox WHERE nonce = ?", (item.nonce,))
        return [m for m in messages if m.get("id") not in known]

    def drop(self, item: OutboxItem) -> None:
        """The server refused this message for good; the caller tells the user what it said."""
        self._db.execute("DELETE FROM outbox WHERE nonce = ?", (item.nonce,))

    # -- resume point ---------------------------------------------------------------------------
    def get_state(self, name: str) -> Any:
        row = self._db.execute("SELECT value FROM state WHERE name = ?", (name,)).fetchone()
        return None if row is None else json.loads(row[0])

    def set_state(self, name: str, value: Any) -> None:
        self._db.execute("INSERT OR REPLACE INTO state(name, value) VALUES (?, ?)", (name, json.dumps(value)))
