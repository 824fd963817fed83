"""SQLite persistence for users, sessions, channels, messages and the event log."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from im_desktop.private_files import PRIVATE_FILE_MODE, ensure_private_file, private_dir, warn_if_open
from im_desktop.protocol.models import Platform
from im_desktop.server.config import StartupError

__all__ = ["LOBBY_CHANNEL", "LOBBY_GUILD", "MessageRow", "SessionRow", "Store", "hash_token"]

LOBBY_GUILD = "lobby"
LOBBY_CHANNEL = "general"

# Every statement here takes well under a millisecond, so the server calls SQLite on its event loop
# thread: a thread hop would cost more than the query and make the ordering of writes harder to reason about.
_SCHEMA = """
CREATE TABLE IF NOT EXISTS users(
    id TEXT PRIMARY KEY, created_at REAL NOT NULL, sig_not_before INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS sessions(
    id TEXT PRIMARY KEY, token_hash TEXT UNIQUE NOT NULL, user_id TEXT NOT NULL,
    platform TEXT NOT NULL, device_id TEXT NOT NULL, device_name TEXT NOT NULL,
    created_at REAL NOT NULL, sig_expires_at INTEGER NOT NULL,
    state TEXT NOT NULL, ended_json TEXT);
CREATE INDEX IF NOT EXISTS sessions_by_user ON sessions(user_id, state);
CREATE TABLE IF NOT EXISTS channels(
    id TEXT PRIMARY KEY, type INTEGER NOT NULL, name TEXT, guild_id TEXT);
CREATE TABLE IF NOT EXISTS channel_members(
    channel_id TEXT NOT NULL, user_id TEXT NOT NULL, PRIMARY KEY(channel_id, user_id));
CREATE TABLE IF NOT EXISTS messages(
    seq INTEGER PRIMARY KEY AUTOINCREMENT, channel_id TEXT NOT NULL, user_id TEXT NOT NULL,
    content TEXT NOT NULL, created_at REAL NOT NULL, nonce TEXT, UNIQUE(user_id, nonce));
CREATE INDEX IF NOT EXISTS messages_by_channel ON messages(channel_id, seq);
CREATE TABLE IF NOT EXISTS events(
    sn INTEGER PRIMARY KEY AUTOINCREMENT, channel_id TEXT NOT NULL, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS settings(name TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


def hash_token(token: str) -> str:
    """Session tokens are stored only as hashes, so a copied database logs nobody in."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class SessionRow:
    """One login instance (a device or browser tab of one user)."""

    id: str
    user_id: str
    platform: Platform
    device_id: str
    device_name: str
    created_at: float
    sig_expires_at: int
    state: str  # active | kicked | expired | logged_out
    ended: dict[str, Any] | None

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> SessionRow:
        ended = json.loads(row["ended_json"]) if row["ended_json"] else None
        return cls(
            row["id"], row["user_id"], Platform(row["platform"]), row["device_id"], row["device_name"],
            row["created_at"], row["sig_expires_at"], row["state"], ended,
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class MessageRow:
    seq: int
    channel_id: str
    user_id: str
    content: str
    created_at: float

    def to_wire(self) -> dict[str, Any]:
        return {
            "id": str(self.seq),
            "content": self.content,
            "user": {"id": self.user_id, "name": self.user_id},
            "channel": {"id": self.channel_id},
            "created_at": int(self.created_at * 1000),
        }


def _open(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA journal_mode=WAL")  # a file that is not a database fails here
        db.execute("PRAGMA synchronous=NORMAL")
        # A damaged one only fails here. quick_check reads every page once: about a second per GB at start.
        verdict = db.execute("PRAGMA quick_check(1)").fetchone()
        if verdict is None or verdict[0] != "ok":
            lines = [ln for ln in str(verdict[0] if verdict else "no answer").splitlines() if "***" not in ln]
            raise sqlite3.DatabaseError(f"quick_check: {(lines or ['?'])[0][:200]}")
        db.executescript(_SCHEMA)
        db.execute(
            "INSERT OR IGNORE INTO channels(id, type, name, guild_id) VALUES (?, 0, 'General', ?)",
            (LOBBY_CHANNEL, LOBBY_GUILD),
        )
    except BaseException:
        db.close()
        raise
    return db


class Store:
    """All durable state. WAL mode: a crash of the process loses nothing that was committed."""

    def __init__(self, path: Path) -> None:
        """Open (or create) the database, private to this user, and check it whole: a damaged file stops the
        start with StartupError naming it, instead of answering 500s for whatever sits on a bad page."""
        try:
            private_dir(path.parent)
            ensure_private_file(path)  # before SQLite creates it 0644, and its -wal and -shm files after it
            self._db = _open(path)
        except sqlite3.OperationalError as exc:  # locked, read-only, no space, I/O error: the file may be fine
            raise StartupError(f"The database {path} cannot be opened ({exc}).") from None
        except sqlite3.DatabaseError as exc:
            raise StartupError(f"The database {path} is damaged ({exc}); restore it from a backup, or move it "
                               "away to start with an empty one.") from None  # fmt: skip
        except OSError as exc:
            raise StartupError(f"The database {path} cannot be opened ({exc.strerror or exc}).") from None
        for suffix in ("", "-wal", "-shm"):
            warn_if_open(path.with_name(path.name + suffix), "database file", PRIVATE_FILE_MODE)

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # -- settings -------------------------------------------------------------------------------
    def get_setting(self, name: str) -> str | None:
        row = self._db.execute("SELECT value FROM settings WHERE name = ?", (name,)).fetchone()
        return None if row is None else str(row[0])

    def set_setting(self, name: str, value: str) -> None:
        self._db.execute("INSERT OR REPLACE INTO settings(name, value) VALUES (?, ?)", (name, value))

    # -- users ----------------------------------------------------------------------------------
    def ensure_user(self, user_id: str, now: float) -> None:
        self._db.execute("INSERT OR IGNORE INTO users(id, created_at) VALUES (?, ?)", (user_id, now))

    def user_exists(self, user_id: str) -> bool:
        return self._db.execute("SELECT 1 FROM users WHERE id = ?", (user_id,)).fetchone() is not None

    def sig_not_before(self, user_id: str) -> int:
        row = self._db.execute("SELECT sig_not_before FROM users WHERE id = ?", (user_id,)).fetchone()
        return 0 if row is None else int(row[0])

    def invalidate_sigs(self, user_id: str, not_before: int) -> None:
        self._db.execute("UPDATE users SET sig_not_before = ? WHERE id = ?", (not_before, user_id))

    def list_users(self, after: str, limit: int) -> list[str]:
        rows = self._db.execute("SELECT id FROM users WHERE id > ? ORDER BY id LIMIT ?", (after, limit))
        return [str(r[0]) for r in rows]

    # -- sessions -------------------------------------------------------------------------------
    def add_session(self, session: SessionRow, token: str) -> None:
        self._db.execute(
            "INSERT INTO sessions(id, token_hash, user_id, platform, device_id, device_name, created_at,"
            " sig_expires_at, state) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'active')",
            (session.id, hash_token(token), session.user_id, session.platform.value, session.device_id,
             session.device_name, session.created_at, session.sig_expires_at),
        )  # fmt: skip

    def session_by_token(self, token: str) -> SessionRow | None:
        row = self._db.execute("SELECT * FROM sessions WHERE token_hash = ?", (hash_token(token),)).fetchone()
        return None if row is None else SessionRow.from_row(row)

    def session_by_id(self, session_id: str) -> SessionRow | None:
        row = self._db.execute("SELECT * FROM sessions WHERE id = ?", (session_id,)).fetchone()
        return None if row is None else SessionRow.from_row(row)

    def active_sessions(self, user_id: str | None = None) -> list[SessionRow]:
        if user_id is None:
            rows = self._db.execute("SELECT * FROM sessions WHERE state = 'active' ORDER BY created_at")
        else:
            rows = self._db.execute(
                "SELECT * FROM sessions WHERE user_id = ? AND state = 'active' ORDER BY created_at", (user_id,)
            )
        return [SessionRow.from_row(r) for r in rows]

    def end_session(self, session_id: str, state: str, ended: dict[str, Any] | None) -> None:
        self._db.execute(
            "UPDATE sessions SET state = ?, ended_json = ? WHERE id = ? AND state = 'active'",
            (state, json.dumps(ended) if ended is not None else None, session_id),
        )

    def renew_session(self, session_id: str, sig_expires_at: int) -> None:
        self._db.execute("UPDATE sessions SET sig_expires_at = ? WHERE id = ?", (sig_expires_at, session_id))

    # -- channels -------------------------------------------------------------------------------
    def channel(self, channel_id: str) -> sqlite3.Row | None:
        row: sqlite3.Row | None = self._db.execute("SELECT * FROM channels WHERE id = ?", (channel_id,)).fetchone()
        return row

    def channel_members(self, channel_id: str) -> list[str]:
        rows = self._db.execute("SELECT user_id FROM channel_members WHERE channel_id = ?", (channel_id,))
        return [str(r[0]) for r in rows]

    def can_read(self, user_id: str, channel: sqlite3.Row) -> bool:
        if channel["guild_id"] is not None:
            return True  # guild channels are open to every user of the server
        row = self._db.execute(
            "SELECT 1 FROM channel_members WHERE channel_id = ? AND user_id = ?", (channel["id"], user_id)
        ).fetchone()
        return row is not None

    def guild_channels(self, guild_id: str) -> list[sqlite3.Row]:
        return list(self._db.execute("SELECT * FROM channels WHERE guild_id = ? ORDER BY id", (guild_id,)))

    def ensure_direct_channel(self, a: str, b: str) -> str:
        channel_id = "private:" + ":".join(sorted((a, b)))
        self._db.execute("INSERT OR IGNORE INTO channels(id, type, name) VALUES (?, 1, NULL)", (channel_id,))
        self._db.executemany(
            "INSERT OR IGNORE INTO channel_members(channel_id, user_id) VALUES (?, ?)",
            [(channel_id, a), (channel_id, b)],
        )
        return channel_id

    # -- messages and events --------------------------------------------------------------------
    def find_by_nonce(self, user_id: str, nonce: str) -> MessageRow | None:
        row = self._db.execute("SELECT * FROM messages WHERE user_id = ? AND nonce = ?", (user_id, nonce)).fetchone()
        return None if row is None else self._message(row)

    def add_message(self, channel_id: str, user_id: str, content: str, now: float, nonce: str | None) -> MessageRow:
        cur = self._db.execute(
            "INSERT INTO messages(channel_id, user_id, content, created_at, nonce) VALUES (?, ?, ?, ?, ?)",
            (channel_id, user_id, content, now, nonce),
        )
        assert cur.lastrowid is not None
        return MessageRow(cur.lastrowid, channel_id, user_id, content, now)

    def add_event(self, channel_id: str, body: dict[str, Any]) -> int:
        cur = self._db.execute("INSERT INTO events(channel_id, body) VALUES (?, ?)", (channel_id, json.dumps(body)))
        assert cur.lastrowid is not None
        return cur.lastrowid

    def max_sn(self) -> int:
        row = self._db.execute("SELECT MAX(sn) FROM events").fetchone()
        return int(row[0] or 0)

    # -- retention ------------------------------------------------------------------------------
    def prune_sessions(self, after_rowid: int, ended_before: float, batch: int) -> tuple[int, int]:
        """Look at up to `batch` sessions past `after_rowid`; delete those that ended before `ended_before` or
        whose ticket ran out before it. Returns (the last rowid looked at, 0 when none were left; rows deleted)."""
        row = self._db.execute(
            "SELECT MAX(rowid) FROM (SELECT rowid FROM sessions WHERE rowid > ? ORDER BY rowid LIMIT ?)",
            (after_rowid, batch),
        ).fetchone()
        last = int(row[0] or 0)
        if not last:
            return 0, 0
        cur = self._db.execute(
            "DELETE FROM sessions WHERE rowid > ? AND rowid <= ? AND (sig_expires_at < ? OR (state != 'active'"
            " AND COALESCE(CASE WHEN json_valid(ended_json) THEN json_extract(ended_json, '$.at') END, 0) < ?))",
            (after_rowid, last, int(ended_before), int(ended_before * 1000)),
        )
        return last, cur.rowcount

    def prune_events(self, older_than_ms: int, keep_newest: int, batch: int) -> int:
        """Delete up to `batch` of the oldest events: those dated before `older_than_ms` or beyond the newest
        `keep_newest`; return how many. The newest event always stays, so that max_sn() and oldest_sn() still
        tell how far the log reaches: a resume from before oldest_sn() is known to have missed events."""
        newest = self.max_sn()
        beyond_count = newest - max(keep_newest, 1)
        rows = self._db.execute(
            "SELECT sn, CASE WHEN json_valid(body) THEN json_extract(body, '$.timestamp') END FROM events"
            " WHERE sn < ? ORDER BY sn LIMIT ?",
            (newest, batch),
        ).fetchall()
        last = 0
        for sn, timestamp in rows:
            dated = isinstance(timestamp, int | float)  # an event without a date counts as old
            if sn > beyond_count and dated and timestamp >= older_than_ms:
                break  # the log is in time order: every later event is as young
            last = sn
        if not last:
            return 0
        return self._db.execute("DELETE FROM events WHERE sn <= ?", (last,)).rowcount

    def oldest_sn(self) -> int | None:
        """The oldest `sn` still in the event log (retention prunes older ones), None if the log is empty."""
        row = self._db.execute("SELECT MIN(sn) FROM events").fetchone()
        return None if row[0] is None else int(row[0])

    def events_after(self, sn: int, user_id: str, limit: int) -> list[tuple[int, dict[str, Any]]]:
        rows = self._db.execute(
            "SELECT e.sn, e.body FROM events e JOIN channels c ON c.id = e.channel_id WHERE e.sn > ?"
            " AND (c.guild_id IS NOT NULL OR EXISTS (SELECT 1 FROM channel_members m"
            " WHERE m.channel_id = e.channel_id AND m.user_id = ?)) ORDER BY e.sn LIMIT ?",
            (sn, user_id, limit),
        )
        return [(int(r[0]), json.loads(r[1])) for r in rows]

    def messages_page(self, channel_id: str, anchor: int | None, direction: str, limit: int) -> list[MessageRow]:
        """Messages oldest first: `limit` before or after `anchor` (exclusive), or the newest ones."""
        args: tuple[int, ...]
        if direction == "after":
            sql, args = "seq > ? ORDER BY seq ASC", (anchor or 0,)
        elif anchor is None:
            sql, args = "1 ORDER BY seq DESC", ()
        else:
            sql, args = "seq < ? ORDER BY seq DESC", (anchor,)
        rows = self._db.execute(
            f"SELECT * FROM messages WHERE channel_id = ? AND {sql} LIMIT ?",  # noqa: S608 - fixed fragments
            (channel_id, *args, limit),
        )
        page = [self._message(r) for r in rows]
        return page if direction == "after" else page[::-1]

    def message(self, channel_id: str, seq: int) -> MessageRow | None:
        row = self._db.execute("SELECT * FROM messages WHERE channel_id = ? AND seq = ?", (channel_id, seq)).fetchone()
        return None if row is None else self._message(row)

    @staticmethod
    def _message(row: sqlite3.Row) -> MessageRow:
        return MessageRow(row["seq"], row["channel_id"], row["user_id"], row["content"], row["created_at"])
