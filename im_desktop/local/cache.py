"""The local cache, one SQLite file per user: conversations, history and the outbox, readable offline."""

from __future__ import annotations

import functools
import json
import logging
import sqlite3
import time
import uuid
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from im_desktop.local.private_files import ensure_private_file, private_dir

__all__ = ["CacheError", "CachedMessage", "Conversation", "LocalCache", "OutboxItem", "cache_path"]

log = logging.getLogger(__name__)

SCHEMA_VERSION = 2
_SCHEMA = """
CREATE TABLE IF NOT EXISTS conversations(
    channel_id TEXT PRIMARY KEY, name TEXT NOT NULL, type INTEGER NOT NULL,
    last_text TEXT NOT NULL DEFAULT '', last_at INTEGER NOT NULL DEFAULT 0, unread INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS messages(
    channel_id TEXT NOT NULL, id TEXT NOT NULL, user_id TEXT NOT NULL, content TEXT NOT NULL,
    created_at INTEGER NOT NULL, PRIMARY KEY(channel_id, id));
CREATE INDEX IF NOT EXISTS messages_by_time ON messages(channel_id, created_at);
CREATE TABLE IF NOT EXISTS outbox(
    nonce TEXT PRIMARY KEY, channel_id TEXT NOT NULL, content TEXT NOT NULL, queued_at REAL NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending', error TEXT NOT NULL DEFAULT '', error_code INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS state(name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS read_marks(
    channel_id TEXT PRIMARY KEY, message_id TEXT NOT NULL, created_at INTEGER NOT NULL);
"""
# Version 1 (user_version 0) had no failed state: a refused message was deleted on the spot.
_MIGRATIONS = {
    1: "ALTER TABLE outbox ADD COLUMN state TEXT NOT NULL DEFAULT 'pending';"
    "ALTER TABLE outbox ADD COLUMN error TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE outbox ADD COLUMN error_code INTEGER NOT NULL DEFAULT 0;",
}
PENDING, FAILED = "pending", "failed"
P = ParamSpec("P")
R = TypeVar("R")


class CacheError(Exception):
    """The cache file could not be read or written (a full disk, a lost permission). Nothing was sent."""


def cache_path(cache_dir: Path, profile_name: str, user_id: str) -> Path:
    """Where one user's cache on one server lives (the UserID is checked before it becomes a file name)."""
    return cache_dir / profile_name / f"{user_id}.sqlite3"


def _guarded(method: Callable[P, R]) -> Callable[P, R]:
    """SQLite's errors become CacheError, so callers handle one exception for "the disk said no"."""

    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return method(*args, **kwargs)
        except sqlite3.Error as exc:
            raise CacheError(f"The local cache could not be used ({exc}).") from exc

    return wrapper


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
    state: str = PENDING  # or FAILED: the server refused it; the user may retry or delete it
    error: str = ""  # why it failed, in the server's words (shown as plain text)
    error_code: int = 0

    @property
    def failed(self) -> bool:
        return self.state == FAILED


def _connect(path: Path) -> sqlite3.Connection:
    ensure_private_file(path)  # 0600 before SQLite creates it 0644; its -wal and -shm files take the same mode
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.execute("PRAGMA journal_mode=WAL")
        # A file that is not a database fails above; a damaged one only here (cheap for a chat cache).
        verdict = db.execute("PRAGMA quick_check").fetchone()
        if verdict is None or verdict[0] != "ok":  # its report can run to pages: the start says enough
            raise sqlite3.DatabaseError(f"quick_check: {' '.join(str(verdict[0] if verdict else '-').split())[:200]}")
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise sqlite3.DatabaseError(f"cache schema {version} is from a newer im-desktop")
        db.executescript(_SCHEMA)  # a new file gets every table
        # Files from before versioning say 0 whatever they hold: look at the columns themselves.
        if "state" not in {row[1] for row in db.execute("PRAGMA table_info(outbox)")}:
            db.executescript(_MIGRATIONS[1])
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    except BaseException:
        db.close()
        raise
    return db


def _damaged(exc: sqlite3.DatabaseError) -> bool:
    """Whether the file itself is broken. Not "locked", "full", "read-only" or "I/O error" (OperationalError):
    the file may be fine, and it holds the unsent messages, so it is not thrown away for a passing problem."""
    if isinstance(exc, sqlite3.OperationalError):
        return False
    name = getattr(exc, "sqlite_errorname", "")  # absent on the ones _connect raises itself
    return type(exc) is sqlite3.DatabaseError or name in ("SQLITE_CORRUPT", "SQLITE_NOTADB")


def _move_aside(path: Path) -> Path:
    """Keep a damaged file for a bug report instead of deleting it; the cache is rebuilt from the server."""
    aside = path.with_name(f"{path.name}.damaged-{int(time.time())}")
    for n in range(2, 100):  # a second damage within the same second must not overwrite the first copy
        if not aside.exists():
            break
        aside = path.with_name(f"{path.name}.damaged-{int(time.time())}-{n}")
    for suffix in ("", "-wal", "-shm"):
        part = path.with_name(path.name + suffix)
        if part.exists():
            part.replace(aside.with_name(aside.name + suffix))
    return aside


class LocalCache:
    """Holds what the user has seen and written. It never stores a ticket or token."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.rebuilt_from: Path | None = None  # where a damaged file was moved, if it was
        try:
            private_dir(path.parent)  # what the user read and wrote is nobody else's business
            try:
                self._db = _connect(path)
            except sqlite3.DatabaseError as exc:
                if not _damaged(exc) or not path.is_file():
                    raise
                self.rebuilt_from = _move_aside(path)
                log.warning("the cache %s was damaged (%s); moved to %s and rebuilt", path.name, exc,
                            self.rebuilt_from.name)  # fmt: skip
                self._db = _connect(path)
        except (sqlite3.Error, OSError) as exc:
            raise CacheError(f"The local cache could not be opened ({exc}).") from exc

    def close(self) -> None:
        self._db.close()

    # -- conversations and history --------------------------------------------------------------
    @_guarded
    def upsert_conversation(self, channel_id: str, name: str, channel_type: int) -> None:
        self._db.execute(
            "INSERT INTO conversations(channel_id, name, type) VALUES (?, ?, ?) "
            "ON CONFLICT(channel_id) DO UPDATE SET name = excluded.name, type = excluded.type",
            (channel_id, name, channel_type),
        )

    @_guarded
    def conversations(self) -> list[Conversation]:
        rows = self._db.execute("SELECT * FROM conversations ORDER BY last_at DESC, channel_id")
        return [Conversation(*row) for row in rows]

    @_guarded
    def add_messages(self, channel_id: str, messages: list[dict[str, Any]], *, unread: bool = False) -> int:
        """Store Satori messages, ignoring ids already stored; return how many were new."""
        new = 0
        self._db.execute("BEGIN")
        try:
            counts = self._unread_rule(channel_id)
            for m in messages:
                message_id = m.get("id")
                if not isinstance(message_id, str) or not message_id:
                    continue
                user = m["user"] if isinstance(m.get("user"), dict) else {}
                created = m.get("created_at")
                if not isinstance(created, int) or isinstance(created, bool) or not 0 <= created < 2**53:
                    created = int(time.time() * 1000)  # missing or absurd: when it reached us
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
                        (channel_id, channel_id, content, created, counts(created, message_id, user, unread)),
                    )
            self._db.execute("COMMIT")
        except BaseException:
            if self._db.in_transaction:  # SQLite already rolled back after SQLITE_FULL; keep that error
                self._db.execute("ROLLBACK")
            raise
        return new

    @_guarded
    def history(self, channel_id: str, limit: int = 200) -> list[CachedMessage]:
        rows = self._db.execute(
            "SELECT channel_id, id, user_id, content, created_at FROM messages WHERE channel_id = ? "
            "ORDER BY created_at DESC, id DESC LIMIT ?",
            (channel_id, limit),
        )
        return [CachedMessage(*row) for row in rows][::-1]

    # Paging reads: a conversation is ordered by (created_at, id); a view reads it a window at a time, so a
    # conversation of any length opens without reading all of it.
    _MESSAGE_COLUMNS = "channel_id, id, user_id, content, created_at"

    @_guarded
    def history_before(self, channel_id: str, before: tuple[int, str] | None, limit: int) -> list[CachedMessage]:
        """Up to `limit` messages older than the (created_at, id) `before`, or the newest when None; oldest first."""
        if before is None:
            return self.history(channel_id, limit)
        rows = self._db.execute(
            f"SELECT {self._MESSAGE_COLUMNS} FROM messages WHERE channel_id = ? AND (created_at, id) < (?, ?) "  # noqa: S608
            "ORDER BY created_at DESC, id DESC LIMIT ?",
            (channel_id, before[0], before[1], max(0, limit)),
        )
        return [CachedMessage(*row) for row in rows][::-1]

    @_guarded
    def history_after(self, channel_id: str, after: tuple[int, str], limit: int) -> list[CachedMessage]:
        """Up to `limit` messages newer than the (created_at, id) `after`, oldest first."""
        rows = self._db.execute(
            f"SELECT {self._MESSAGE_COLUMNS} FROM messages WHERE channel_id = ? AND (created_at, id) > (?, ?) "  # noqa: S608
            "ORDER BY created_at, id LIMIT ?",
            (channel_id, after[0], after[1], max(0, limit)),
        )
        return [CachedMessage(*row) for row in rows]

    @_guarded
    def history_count(self, channel_id: str) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM messages WHERE channel_id = ?", (channel_id,)).fetchone()[0])

    # -- read marks: where the person stopped reading, kept across restarts ------------------------
    @property
    def owner(self) -> str:
        """Whose cache this is (one file per user, named for them): their own messages are never unread."""
        return self.path.stem

    @_guarded
    def mark_read(self, channel_id: str) -> bool:
        """Everything in the conversation so far has been seen: its read mark moves to the newest message
        (never back) and nothing in it is unread. Whether that changed anything."""
        newest = self._db.execute(
            "SELECT id, created_at FROM messages WHERE channel_id = ? ORDER BY created_at DESC, id DESC LIMIT 1",
            (channel_id,),
        ).fetchone()
        moved = 0
        if newest is not None:
            moved = self._db.execute(
                "INSERT INTO read_marks(channel_id, message_id, created_at) VALUES (?, ?, ?) "
                "ON CONFLICT(channel_id) DO UPDATE SET message_id = excluded.message_id, "
                "created_at = excluded.created_at "
                "WHERE (excluded.created_at, excluded.message_id) > (read_marks.created_at, read_marks.message_id)",
                (channel_id, newest[0], newest[1]),
            ).rowcount
        cleared = self._db.execute("UPDATE conversations SET unread = 0 WHERE channel_id = ? AND unread != 0",
                                   (channel_id,)).rowcount  # fmt: skip
        return bool(moved or cleared)

    @_guarded
    def read_mark(self, channel_id: str) -> tuple[int, str] | None:
        """(created_at, id) of the last message read in the conversation; None if nothing was read here yet."""
        row = self._db.execute("SELECT created_at, message_id FROM read_marks WHERE channel_id = ?",
                               (channel_id,)).fetchone()  # fmt: skip
        return None if row is None else (int(row[0]), str(row[1]))

    def _unread_rule(self, channel_id: str) -> Callable[[int, str, dict[str, Any], bool], int]:
        """Whether a newly stored message counts as unread (1) or not (0). After a read mark: when others wrote
        it after the mark, so what a resync brought in while the app was closed counts and older pages never
        do; without one (nothing read here yet): as the live event said."""
        mark = self._db.execute("SELECT created_at, message_id FROM read_marks WHERE channel_id = ?",
                                (channel_id,)).fetchone()  # fmt: skip
        owner = self.owner

        def counts(created: int, message_id: str, user: dict[str, Any], live_unread: bool) -> int:
            if mark is None:
                return int(live_unread)
            return int((created, message_id) > (mark[0], mark[1]) and str(user.get("id", "")) != owner)

        return counts

    # -- outbox ---------------------------------------------------------------------------------
    _OUTBOX_COLUMNS = "nonce, channel_id, content, queued_at, state, error, error_code"

    @_guarded
    def enqueue(self, channel_id: str, content: str) -> OutboxItem:
        """Keep a message to send; its nonce makes a retried send land once on servers that honour it."""
        item = OutboxItem(uuid.uuid4().hex, channel_id, content, time.time())
        self._db.execute(
            "INSERT INTO outbox(nonce, channel_id, content, queued_at) VALUES (?, ?, ?, ?)",
            (item.nonce, item.channel_id, item.content, item.queued_at),
        )
        return item

    @_guarded
    def outbox(self) -> list[OutboxItem]:
        """Everything not yet on the server, waiting or failed, oldest first."""
        # rowid is the order of typing, even if the wall clock stepped back between two messages.
        rows = self._db.execute(f"SELECT {self._OUTBOX_COLUMNS} FROM outbox ORDER BY rowid")  # noqa: S608
        return [OutboxItem(*row) for row in rows]

    def pending(self) -> list[OutboxItem]:
        """What waits to be sent (failed messages wait for the user instead)."""
        return [item for item in self.outbox() if not item.failed]

    def next_pending(self, skip: Collection[str] = ()) -> OutboxItem | None:
        """The oldest waiting message whose nonce is not in `skip` (read afresh: more may have been queued)."""
        return next((item for item in self.pending() if item.nonce not in skip), None)

    @_guarded
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

    @_guarded
    def mark_failed(self, item: OutboxItem, code: int, error: str) -> bool:
        """The server refused this message: it stays, marked, until the user retries or deletes it. False if
        it is no longer in the outbox (deleted while its send was out)."""
        cur = self._db.execute("UPDATE outbox SET state = ?, error = ?, error_code = ? WHERE nonce = ?",
                               (FAILED, error[:500], code, item.nonce))  # fmt: skip
        return bool(cur.rowcount)

    @_guarded
    def requeue(self, nonce: str) -> bool:
        """The user's "Retry": a failed message waits to be sent again. False if it is not in the outbox."""
        cur = self._db.execute("UPDATE outbox SET state = ?, error = '', error_code = 0 WHERE nonce = ?",
                               (PENDING, nonce))  # fmt: skip
        return bool(cur.rowcount)

    @_guarded
    def drop(self, nonce: str) -> bool:
        """The user's "Delete" of a message that was never sent. False if it is not in the outbox."""
        return bool(self._db.execute("DELETE FROM outbox WHERE nonce = ?", (nonce,)).rowcount)

    # -- resume point ---------------------------------------------------------------------------
    @_guarded
    def get_state(self, name: str) -> Any:
        row = self._db.execute("SELECT value FROM state WHERE name = ?", (name,)).fetchone()
        try:
            return None if row is None else json.loads(row[0])
        except ValueError:
            return None  # damaged state is derived data: as if never stored

    @_guarded
    def set_state(self, name: str, value: Any) -> None:
        self._db.execute("INSERT OR REPLACE INTO state(name, value) VALUES (?, ?)", (name, json.dumps(value)))
