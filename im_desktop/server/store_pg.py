"""The PostgreSQL store (asyncpg, a pool): one database shared by every server process that names it."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

import asyncpg

from im_desktop.server.config import StartupError
from im_desktop.server.migrations import migrate_pg
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
    redact_url,
)

__all__ = ["PostgresStore"]

# Held from an event's INSERT to its COMMIT: events commit in `sn` order, on every node, so a reader that sees
# `sn` N has every event up to N (an identity hands out numbers at INSERT, and commits could otherwise overtake
# each other, leaving a hole that a resume or catch-up by `sn` would skip for good). It costs one lock per event,
# held for a round trip: the event log is one sequence, and this keeps it gapless as it is read.
_EVENT_LOG_LOCK = 0x494D_4556  # "IMEV"
_COMMAND_TIMEOUT = 10.0  # seconds: a query that hangs (a lost server) fails instead of holding a request forever

_ACTIVE_OF_USER = "SELECT * FROM sessions WHERE user_id = $1 AND state = 'active' ORDER BY created_at"
_END = "UPDATE sessions SET state = $2, ended_json = $3 WHERE id = $1 AND state = 'active'"
_VISIBLE_EVENTS = (
    "SELECT e.sn, e.body FROM events e JOIN channels c ON c.id = e.channel_id WHERE e.sn > $1"
    " AND (c.guild_id IS NOT NULL OR EXISTS (SELECT 1 FROM channel_members m"
    " WHERE m.channel_id = e.channel_id AND m.user_id = $2)) ORDER BY e.sn LIMIT $3"
)


def _json(value: dict[str, Any] | None) -> str | None:
    return None if value is None else json.dumps(value)


class PostgresStore(Store):
    """All durable state in PostgreSQL. Each method is one statement or one transaction on a pooled connection."""

    errors = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError)

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @classmethod
    async def open(cls, url: str, pool_size: int) -> PostgresStore:
        """Connect a pool and migrate the schema; StartupError (naming the URL without its password) if the
        database cannot be reached or used."""
        where = redact_url(url)
        try:
            pool = await asyncpg.create_pool(url, min_size=1, max_size=max(1, pool_size),
                                             command_timeout=_COMMAND_TIMEOUT)  # fmt: skip
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError, ValueError) as exc:
            raise StartupError(f"The database {where} cannot be used ({_one_line(exc)}).") from None
        try:
            async with pool.acquire() as conn:
                await migrate_pg(conn, where)
        except BaseException as exc:
            await pool.close()
            if isinstance(exc, asyncpg.PostgresError | asyncpg.InterfaceError | OSError):
                raise StartupError(f"The database {where} cannot be migrated ({_one_line(exc)}).") from None
            raise
        return cls(pool)

    async def close(self) -> None:
        await self._pool.close()

    # -- settings and users ---------------------------------------------------------------------
    async def get_setting(self, name: str) -> str | None:
        value = await self._pool.fetchval("SELECT value FROM settings WHERE name = $1", name)
        return None if value is None else str(value)

    async def set_setting(self, name: str, value: str) -> None:
        await self._pool.execute("INSERT INTO settings(name, value) VALUES ($1, $2)"
                                 " ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value", name, value)  # fmt: skip

    async def user_exists(self, user_id: str) -> bool:
        return await self._pool.fetchval("SELECT 1 FROM users WHERE id = $1", user_id) is not None

    async def sig_not_before(self, user_id: str) -> int:
        value = await self._pool.fetchval("SELECT sig_not_before FROM users WHERE id = $1", user_id)
        return 0 if value is None else int(value)

    async def list_users(self, after: str, limit: int) -> list[str]:
        rows = await self._pool.fetch("SELECT id FROM users WHERE id > $1 ORDER BY id LIMIT $2", after, limit)
        return [str(r[0]) for r in rows]

    # -- sessions -------------------------------------------------------------------------------
    async def open_session(self, session: SessionRow, token: str, decide: Decide) -> list[Ending]:
        async with self._pool.acquire() as conn, conn.transaction():
            # The upsert row-locks the user whether it inserts or finds it (DO UPDATE locks the existing row, a
            # bare DO NOTHING would not): every other login, and kick_user, of this user waits for our COMMIT,
            # on this node or another. The policy comes in the same round trip.
            row = await conn.fetchrow(
                "INSERT INTO users(id, created_at) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE"
                " SET sig_not_before = users.sig_not_before"
                " RETURNING sig_not_before, (SELECT value FROM settings WHERE name = $3) AS policy",
                session.user_id, session.created_at, POLICY_SETTING,
            )  # fmt: skip
            assert row is not None
            live = [SessionRow.from_row(r) for r in await conn.fetch(_ACTIVE_OF_USER, session.user_id)]
            endings = decide(LoginState(live, int(row["sig_not_before"]), row["policy"]))
            await conn.execute(
                "INSERT INTO sessions(id, token_hash, user_id, platform, device_id, device_name, created_at,"
                " sig_expires_at, state) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'active')",
                session.id, hash_token(token), session.user_id, session.platform.value, session.device_id,
                session.device_name, session.created_at, session.sig_expires_at,
            )  # fmt: skip
            if endings:
                await conn.executemany(_END, [(e.session.id, e.state, _json(e.ended)) for e in endings])
        return endings

    async def kick_user(self, user_id: str, not_before: int, ended: dict[str, Any]) -> list[SessionRow] | None:
        async with self._pool.acquire() as conn, conn.transaction():
            # The UPDATE locks the user row: a login of this user on any node waits, then sees the new floor.
            found = await conn.fetchval("UPDATE users SET sig_not_before = $2 WHERE id = $1 RETURNING 1",
                                        user_id, not_before)  # fmt: skip
            if found is None:
                return None
            rows = await conn.fetch(
                "UPDATE sessions SET state = 'kicked', ended_json = $2 WHERE user_id = $1 AND state = 'active'"
                " RETURNING *",
                user_id, _json(ended),
            )  # fmt: skip
        return sorted((SessionRow.from_row(r) for r in rows), key=lambda s: s.created_at)

    async def session_by_token(self, token: str) -> SessionRow | None:
        row = await self._pool.fetchrow("SELECT * FROM sessions WHERE token_hash = $1", hash_token(token))
        return None if row is None else SessionRow.from_row(row)

    async def session_by_id(self, session_id: str) -> SessionRow | None:
        row = await self._pool.fetchrow("SELECT * FROM sessions WHERE id = $1", session_id)
        return None if row is None else SessionRow.from_row(row)

    async def active_sessions(self, user_id: str | None = None) -> list[SessionRow]:
        if user_id is None:
            sql = "SELECT * FROM sessions WHERE state = 'active' ORDER BY created_at"
            return [SessionRow.from_row(r) for r in await self._pool.fetch(sql)]
        return [SessionRow.from_row(r) for r in await self._pool.fetch(_ACTIVE_OF_USER, user_id)]

    async def end_session(self, session_id: str, state: str, ended: dict[str, Any] | None) -> bool:
        status = await self._pool.execute(_END, session_id, state, _json(ended))
        return status == "UPDATE 1"

    async def renew_session(self, session_id: str, sig_expires_at: int) -> None:
        await self._pool.execute("UPDATE sessions SET sig_expires_at = $2 WHERE id = $1", session_id, sig_expires_at)

    # -- channels -------------------------------------------------------------------------------
    async def channel(self, channel_id: str) -> ChannelRow | None:
        row = await self._pool.fetchrow("SELECT id, type, name, guild_id FROM channels WHERE id = $1", channel_id)
        return None if row is None else ChannelRow.from_row(row)

    async def channel_members(self, channel_id: str) -> list[str]:
        rows = await self._pool.fetch("SELECT user_id FROM channel_members WHERE channel_id = $1", channel_id)
        return [str(r[0]) for r in rows]

    async def can_read(self, user_id: str, channel: ChannelRow) -> bool:
        if channel.guild_id is not None:
            return True  # guild channels are open to every user of the server
        sql = "SELECT 1 FROM channel_members WHERE channel_id = $1 AND user_id = $2"
        return await self._pool.fetchval(sql, channel.id, user_id) is not None

    async def guild_channels(self, guild_id: str) -> list[ChannelRow]:
        sql = "SELECT id, type, name, guild_id FROM channels WHERE guild_id = $1 ORDER BY id"
        return [ChannelRow.from_row(r) for r in await self._pool.fetch(sql, guild_id)]

    async def ensure_direct_channel(self, a: str, b: str) -> str:
        channel_id = "private:" + ":".join(sorted((a, b)))
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute("INSERT INTO channels(id, type, name) VALUES ($1, 1, NULL) ON CONFLICT DO NOTHING",
                               channel_id)  # fmt: skip
            await conn.execute("INSERT INTO channel_members(channel_id, user_id) VALUES ($1, $2), ($1, $3)"
                               " ON CONFLICT DO NOTHING", channel_id, a, b)  # fmt: skip
        return channel_id

    # -- messages and the event log -------------------------------------------------------------
    async def find_by_nonce(self, user_id: str, nonce: str) -> MessageRow | None:
        row = await self._pool.fetchrow("SELECT * FROM messages WHERE user_id = $1 AND nonce = $2", user_id, nonce)
        return None if row is None else MessageRow.from_row(row)

    async def post_message(
        self, channel: ChannelRow, user_id: str, content: str, now: float, nonce: str | None,
        make_event: Callable[[MessageRow, ChannelRow], dict[str, Any]],
    ) -> Posted:  # fmt: skip
        async with self._pool.acquire() as conn:
            async with conn.transaction():
                # A concurrent insert of the same (user, nonce) makes this one wait for it, then do nothing.
                seq = await conn.fetchval(
                    "INSERT INTO messages(channel_id, user_id, content, created_at, nonce) VALUES ($1, $2, $3, $4, $5)"
                    " ON CONFLICT (user_id, nonce) DO NOTHING RETURNING seq",
                    channel.id, user_id, content, now, nonce,
                )  # fmt: skip
                if seq is not None:
                    message = MessageRow(int(seq), channel.id, user_id, content, now)
                    event = make_event(message, channel)
                    await conn.execute("SELECT pg_advisory_xact_lock($1)", _EVENT_LOG_LOCK)
                    sn = await conn.fetchval("INSERT INTO events(channel_id, body) VALUES ($1, $2) RETURNING sn",
                                             channel.id, json.dumps(event))  # fmt: skip
                    return Posted(message, int(sn), event)
            assert nonce is not None  # only a nonce can conflict
            first = await conn.fetchrow("SELECT * FROM messages WHERE user_id = $1 AND nonce = $2", user_id, nonce)
        assert first is not None
        return Posted(MessageRow.from_row(first), None, {})

    async def add_events(self, channel_id: str, bodies: Sequence[dict[str, Any]]) -> int:
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", _EVENT_LOG_LOCK)
            sns = await conn.fetch(
                "INSERT INTO events(channel_id, body) SELECT $1, b FROM unnest($2::json[]) WITH ORDINALITY AS t(b, i)"
                " ORDER BY i RETURNING sn",
                channel_id, [json.dumps(b) for b in bodies],
            )  # fmt: skip
        return max((int(r[0]) for r in sns), default=0)

    async def max_sn(self) -> int:
        return int(await self._pool.fetchval("SELECT COALESCE(MAX(sn), 0) FROM events"))

    async def oldest_sn(self) -> int | None:
        value = await self._pool.fetchval("SELECT MIN(sn) FROM events")
        return None if value is None else int(value)

    async def stream_start(self, session_id: str) -> StreamStart:
        row = await self._pool.fetchrow(
            "SELECT (SELECT state FROM sessions WHERE id = $1) AS state,"
            " (SELECT COALESCE(MAX(sn), 0) FROM events) AS newest, (SELECT MIN(sn) FROM events) AS oldest",
            session_id,
        )  # fmt: skip
        assert row is not None
        return StreamStart(row["state"], int(row["newest"]), None if row["oldest"] is None else int(row["oldest"]))

    async def events_after(self, sn: int, user_id: str, limit: int) -> list[tuple[int, dict[str, Any]]]:
        rows = await self._pool.fetch(_VISIBLE_EVENTS, sn, user_id, limit)
        return [(int(r[0]), json.loads(r[1])) for r in rows]

    async def messages_page(self, channel_id: str, anchor: int | None, direction: str, limit: int) -> list[MessageRow]:
        base = "SELECT * FROM messages WHERE channel_id = $1"
        if direction == "after":
            rows = await self._pool.fetch(f"{base} AND seq > $2 ORDER BY seq LIMIT $3", channel_id, anchor or 0, limit)
        elif anchor is None:
            rows = await self._pool.fetch(f"{base} ORDER BY seq DESC LIMIT $2", channel_id, limit)
        else:
            rows = await self._pool.fetch(f"{base} AND seq < $2 ORDER BY seq DESC LIMIT $3", channel_id, anchor, limit)
        page = [MessageRow.from_row(r) for r in rows]
        return page if direction == "after" else page[::-1]

    async def message(self, channel_id: str, seq: int) -> MessageRow | None:
        row = await self._pool.fetchrow("SELECT * FROM messages WHERE channel_id = $1 AND seq = $2", channel_id, seq)
        return None if row is None else MessageRow.from_row(row)

    # -- retention ------------------------------------------------------------------------------
    async def prune_sessions(self, after: int, ended_before: float, batch: int) -> tuple[int, int]:
        last = await self._pool.fetchval(
            "SELECT MAX(pos) FROM (SELECT pos FROM sessions WHERE pos > $1 ORDER BY pos LIMIT $2) AS b", after, batch
        )
        if last is None:
            return 0, 0
        status = await self._pool.execute(
            "DELETE FROM sessions WHERE pos > $1 AND pos <= $2 AND (sig_expires_at < $3 OR (state != 'active'"
            " AND COALESCE(CASE WHEN json_typeof(ended_json -> 'at') = 'number'"
            " THEN (ended_json ->> 'at')::double precision END, 0) < $4))",
            after, int(last), int(ended_before), int(ended_before * 1000),
        )  # fmt: skip
        return int(last), int(status.split()[-1])

    async def prune_events(self, older_than_ms: int, keep_newest: int, batch: int) -> int:
        async with self._pool.acquire() as conn:
            newest = int(await conn.fetchval("SELECT COALESCE(MAX(sn), 0) FROM events"))
            rows = await conn.fetch(
                "SELECT sn, CASE WHEN json_typeof(body -> 'timestamp') = 'number'"
                " THEN (body ->> 'timestamp')::double precision END AS ts"
                " FROM events WHERE sn < $1 ORDER BY sn LIMIT $2",
                newest, batch,
            )  # fmt: skip
            last = prune_cut([(int(r[0]), r[1]) for r in rows], newest, keep_newest, older_than_ms)
            if not last:
                return 0
            status = await conn.execute("DELETE FROM events WHERE sn <= $1", last)
        return int(status.split()[-1])


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:300]
