"""The SQLite store: the default, one server process, its database file in the data folder."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from im_desktop.local.private_files import PRIVATE_FILE_MODE, ensure_private_file, private_dir, warn_if_open
from im_desktop.server.config import StartupError
from im_desktop.server.migrations import migrate_sqlite
from im_desktop.server.store import (
    POLICY_SETTING,
    ChannelRow,
    Decide,
    Ending,
    LoginState,
    MessageRow,
    Posted,
    SessionRow,
    Store,
    StreamStart,
    hash_token,
    prune_cut,
)

__all__ = ["SqliteStore"]

# Every statement here takes well under a millisecond, so the server calls SQLite on its event loop thread: a
# thread hop would cost more than the query. No method awaits anything, so each runs whole without letting
# another task in: every method is atomic on this loop as well as in the file, as the single process needs.


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
        migrate_sqlite(db, str(path))
    except BaseException:
        db.close()
        raise
    return db


class SqliteStore(Store):
    """All durable state in one file. WAL mode: a crash of the process loses nothing that was committed."""

    errors = (sqlite3.Error,)

    def __init__(self, path: Path) -> None:
        """Open (or create) the database, private to this user, check it whole and migrate it: a damaged file
        stops the start with StartupError naming it, instead of answering 500s for whatever sits on a bad page."""
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

    async def close(self) -> None:
        self._db.close()

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def _sessions(self, where: str, *args: object) -> list[SessionRow]:
        rows = self._db.execute(f"SELECT * FROM sessions WHERE {where} ORDER BY created_at", args)  # noqa: S608
        return [SessionRow.from_row(r) for r in rows]

    def _one_session(self, where: str, arg: str) -> SessionRow | None:
        row = self._db.execute(f"SELECT * FROM sessions WHERE {where} = ?", (arg,)).fetchone()  # noqa: S608
        return None if row is None else SessionRow.from_row(row)

    # -- settings and users ---------------------------------------------------------------------
    async def get_setting(self, name: str) -> str | None:
        row = self._db.execute("SELECT value FROM settings WHERE name = ?", (name,)).fetchone()
        return None if row is None else str(row[0])

    async def set_setting(self, name: str, value: str) -> None:
        self._db.execute("INSERT OR REPLACE INTO settings(name, value) VALUES (?, ?)", (name, value))

    async def user_exists(self, user_id: str) -> bool:
        return self._db.execute("SELECT 1 FROM users WHERE id = ?", (user_id,)).fetchone() is not None

    async def sig_not_before(self, user_id: str) -> int:
        row = self._db.execute("SELECT sig_not_before FROM users WHERE id = ?", (user_id,)).fetchone()
        return 0 if row is None else int(row[0])

    async def list_users(self, after: str, limit: int) -> list[str]:
        rows = self._db.execute("SELECT id FROM users WHERE id > ? ORDER BY id LIMIT ?", (after, limit))
        return [str(r[0]) for r in rows]

    # -- sessions -------------------------------------------------------------------------------
    async def open_session(self, session: SessionRow, token: str, decide: Decide) -> list[Ending]:
        with self._transaction():  # BEGIN IMMEDIATE: the write lock from the first read on
            self._db.execute("INSERT OR IGNORE INTO users(id, created_at) VALUES (?, ?)",
                             (session.user_id, session.created_at))  # fmt: skip
            floor = self._db.execute("SELECT sig_not_before FROM users WHERE id = ?", (session.user_id,)).fetchone()
            policy = self._db.execute("SELECT value FROM settings WHERE name = ?", (POLICY_SETTING,)).fetchone()
            live = self._sessions("user_id = ? AND state = 'active'", session.user_id)
            endings = decide(LoginState(live, int(floor[0]), None if policy is None else str(policy[0])))
            self._db.execute(
                "INSERT INTO sessions(id, token_hash, user_id, platform, device_id, device_name, created_at,"
                " sig_expires_at, state) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'active')",
                (session.id, hash_token(token), session.user_id, session.platform.value, session.device_id,
                 session.device_name, session.created_at, session.sig_expires_at),
            )  # fmt: skip
            for ending in endings:
                self._end(ending.session.id, ending.state, ending.ended)
        return endings

    async def kick_user(self, user_id: str, not_before: int, ended: dict[str, Any]) -> list[SessionRow] | None:
        with self._transaction():
            cur = self._db.execute("UPDATE users SET sig_not_before = ? WHERE id = ?", (not_before, user_id))
            if cur.rowcount == 0:
                return None
            sessions = self._sessions("user_id = ? AND state = 'active'", user_id)
            for session in sessions:
                self._end(session.id, "kicked", ended)
        return [dataclasses.replace(s, state="kicked", ended=ended) for s in sessions]

    async def session_by_token(self, token: str) -> SessionRow | None:
        return self._one_session("token_hash", hash_token(token))

    async def session_by_id(self, session_id: str) -> SessionRow | None:
        return self._one_session("id", session_id)

    async def active_sessions(self, user_id: str | None = None) -> list[SessionRow]:
        if user_id is None:
            return self._sessions("state = 'active'")
        return self._sessions("user_id = ? AND state = 'active'", user_id)

    def _end(self, session_id: str, state: str, ended: dict[str, Any] | None) -> bool:
        return self._db.execute(
            "UPDATE sessions SET state = ?, ended_json = ? WHERE id = ? AND state = 'active'",
            (state, json.dumps(ended) if ended is not None else None, session_id),
        ).rowcount == 1  # fmt: skip

    async def end_session(self, session_id: str, state: str, ended: dict[str, Any] | None) -> bool:
        return self._end(session_id, state, ended)

    async def renew_session(self, session_id: str, sig_expires_at: int) -> None:
        self._db.execute("UPDATE sessions SET sig_expires_at = ? WHERE id = ?", (sig_expires_at, session_id))

    # -- channels -------------------------------------------------------------------------------
    async def channel(self, channel_id: str) -> ChannelRow | None:
        row = self._db.execute("SELECT * FROM channels WHERE id = ?", (channel_id,)).fetchone()
        return None if row is None else ChannelRow.from_row(row)

    async def channel_members(self, channel_id: str) -> list[str]:
        rows = self._db.execute("SELECT user_id FROM channel_members WHERE channel_id = ?", (channel_id,))
        return [str(r[0]) for r in rows]

    async def can_read(self, user_id: str, channel: ChannelRow) -> bool:
        if channel.guild_id is not None:
            return True  # guild channels are open to every user of the server
        row = self._db.execute(
            "SELECT 1 FROM channel_members WHERE channel_id = ? AND user_id = ?", (channel.id, user_id)
        ).fetchone()
        return row is not None

    async def guild_channels(self, guild_id: str) -> list[ChannelRow]:
        rows = self._db.execute("SELECT * FROM channels WHERE guild_id = ? ORDER BY id", (guild_id,))
        return [ChannelRow.from_row(r) for r in rows]

    async def ensure_direct_channel(self, a: str, b: str) -> str:
        channel_id = "private:" + ":".join(sorted((a, b)))
        with self._transaction():
            self._db.execute("INSERT OR IGNORE INTO channels(id, type, name) VALUES (?, 1, NULL)", (channel_id,))
            self._db.executemany(
                "INSERT OR IGNORE INTO channel_members(channel_id, user_id) VALUES (?, ?)",
                [(channel_id, a), (channel_id, b)],
            )
        return channel_id

    # -- messages and the event log -------------------------------------------------------------
    async def find_by_nonce(self, user_id: str, nonce: str) -> MessageRow | None:
        row = self._db.execute("SELECT * FROM messages WHERE user_id = ? AND nonce = ?", (user_id, nonce)).fetchone()
        return None if row is None else MessageRow.from_row(row)

    async def post_message(
        self, channel: ChannelRow, user_id: str, content: str, now: float, nonce: str | None,
        make_event: Callable[[MessageRow, ChannelRow], dict[str, Any]],
    ) -> Posted:  # fmt: skip
        with self._transaction():
            cur = self._db.execute(
                "INSERT OR IGNORE INTO messages(channel_id, user_id, content, created_at, nonce)"
                " VALUES (?, ?, ?, ?, ?)",
                (channel.id, user_id, content, now, nonce),
            )
            if cur.rowcount == 0:  # UNIQUE(user_id, nonce): this nonce was used already
                assert nonce is not None
                first = await self.find_by_nonce(user_id, nonce)
                assert first is not None
                return Posted(first, None, {})
            assert cur.lastrowid is not None
            message = MessageRow(cur.lastrowid, channel.id, user_id, content, now)
            event = make_event(message, channel)
            sn = self._add_event(channel.id, event)
        return Posted(message, sn, event)

    def _add_event(self, channel_id: str, body: dict[str, Any]) -> int:
        cur = self._db.execute("INSERT INTO events(channel_id, body) VALUES (?, ?)", (channel_id, json.dumps(body)))
        assert cur.lastrowid is not None
        return cur.lastrowid

    async def add_events(self, channel_id: str, bodies: Sequence[dict[str, Any]]) -> int:
        sn = 0
        with self._transaction():
            for body in bodies:
                sn = self._add_event(channel_id, body)
        return sn

    async def max_sn(self) -> int:
        return int(self._db.execute("SELECT MAX(sn) FROM events").fetchone()[0] or 0)

    async def oldest_sn(self) -> int | None:
        row = self._db.execute("SELECT MIN(sn) FROM events").fetchone()
        return None if row[0] is None else int(row[0])

    async def stream_start(self, session_id: str) -> StreamStart:
        row = self._db.execute("SELECT state FROM sessions WHERE id = ?", (session_id,)).fetchone()
        return StreamStart(None if row is None else str(row[0]), await self.max_sn(), await self.oldest_sn())

    async def events_after(self, sn: int, user_id: str, limit: int) -> list[tuple[int, dict[str, Any]]]:
        rows = self._db.execute(
            "SELECT e.sn, e.body FROM events e JOIN channels c ON c.id = e.channel_id WHERE e.sn > ?"
            " AND (c.guild_id IS NOT NULL OR EXISTS (SELECT 1 FROM channel_members m"
            " WHERE m.channel_id = e.channel_id AND m.user_id = ?)) ORDER BY e.sn LIMIT ?",
            (sn, user_id, limit),
        )
        return [(int(r[0]), json.loads(r[1])) for r in rows]

    async def messages_page(self, channel_id: str, anchor: int | None, direction: str, limit: int) -> list[MessageRow]:
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
        page = [MessageRow.from_row(r) for r in rows]
        return page if direction == "after" else page[::-1]

    async def message(self, channel_id: str, seq: int) -> MessageRow | None:
        row = self._db.execute("SELECT * FROM messages WHERE channel_id = ? AND seq = ?", (channel_id, seq)).fetchone()
        return None if row is None else MessageRow.from_row(row)

    # -- retention ------------------------------------------------------------------------------
    async def prune_sessions(self, after: int, ended_before: float, batch: int) -> tuple[int, int]:
        row = self._db.execute(
            "SELECT MAX(rowid) FROM (SELECT rowid FROM sessions WHERE rowid > ? ORDER BY rowid LIMIT ?)",
            (after, batch),
        ).fetchone()
        last = int(row[0] or 0)
        if not last:
            return 0, 0
        cur = self._db.execute(
            "DELETE FROM sessions WHERE rowid > ? AND rowid <= ? AND (sig_expires_at < ? OR (state != 'active'"
            " AND COALESCE(CASE WHEN json_valid(ended_json) THEN json_extract(ended_json, '$.at') END, 0) < ?))",
            (after, last, int(ended_before), int(ended_before * 1000)),
        )
        return last, cur.rowcount

    async def prune_events(self, older_than_ms: int, keep_newest: int, batch: int) -> int:
        newest = await self.max_sn()
        rows = self._db.execute(
            "SELECT sn, CASE WHEN json_valid(body) THEN json_extract(body, '$.timestamp') END FROM events"
            " WHERE sn < ? ORDER BY sn LIMIT ?",
            (newest, batch),
        ).fetchall()
        last = prune_cut([(int(r[0]), r[1]) for r in rows], newest, keep_newest, older_than_ms)
        if not last:
            return 0
        return self._db.execute("DELETE FROM events WHERE sn <= ?", (last,)).rowcount
