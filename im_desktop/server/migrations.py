"""Versioned schema migrations of both stores: a schema_version table, and the steps from each version to the next."""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from im_desktop.server.config import StartupError

if TYPE_CHECKING:  # asyncpg is an optional extra: only the PostgreSQL store imports it at run time
    import asyncpg.pool

__all__ = ["PG_MIGRATIONS", "SQLITE_MIGRATIONS", "Migration", "migrate_pg", "migrate_sqlite"]


@dataclass(frozen=True, slots=True)
class Migration:
    """One step: the statements that take a database from version - 1 to `version`, applied in one transaction."""

    version: int
    name: str
    statements: tuple[str, ...]


# Version 1 is the schema of the SQLite store from before migrations existed, word for word.
SQLITE_MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "users, sessions, channels, messages, events, settings", (
        """CREATE TABLE IF NOT EXISTS users(
            id TEXT PRIMARY KEY, created_at REAL NOT NULL, sig_not_before INTEGER NOT NULL DEFAULT 0)""",
        """CREATE TABLE IF NOT EXISTS sessions(
            id TEXT PRIMARY KEY, token_hash TEXT UNIQUE NOT NULL, user_id TEXT NOT NULL,
            platform TEXT NOT NULL, device_id TEXT NOT NULL, device_name TEXT NOT NULL,
            created_at REAL NOT NULL, sig_expires_at INTEGER NOT NULL,
            state TEXT NOT NULL, ended_json TEXT)""",
        "CREATE INDEX IF NOT EXISTS sessions_by_user ON sessions(user_id, state)",
        "CREATE TABLE IF NOT EXISTS channels(id TEXT PRIMARY KEY, type INTEGER NOT NULL, name TEXT, guild_id TEXT)",
        """CREATE TABLE IF NOT EXISTS channel_members(
            channel_id TEXT NOT NULL, user_id TEXT NOT NULL, PRIMARY KEY(channel_id, user_id))""",
        """CREATE TABLE IF NOT EXISTS messages(
            seq INTEGER PRIMARY KEY AUTOINCREMENT, channel_id TEXT NOT NULL, user_id TEXT NOT NULL,
            content TEXT NOT NULL, created_at REAL NOT NULL, nonce TEXT, UNIQUE(user_id, nonce))""",
        "CREATE INDEX IF NOT EXISTS messages_by_channel ON messages(channel_id, seq)",
        """CREATE TABLE IF NOT EXISTS events(
            sn INTEGER PRIMARY KEY AUTOINCREMENT, channel_id TEXT NOT NULL, body TEXT NOT NULL)""",
        "CREATE TABLE IF NOT EXISTS settings(name TEXT PRIMARY KEY, value TEXT NOT NULL)",
        "INSERT OR IGNORE INTO channels(id, type, name, guild_id) VALUES ('general', 0, 'General', 'lobby')",
    )),
)  # fmt: skip

# The same schema in PostgreSQL's words. Sessions get a `pos` to prune them in batches (SQLite uses its rowid);
# bodies are `json`, which keeps the text as written (the same bytes reach a replaying client as a live one).
PG_MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "users, sessions, channels, messages, events, settings", (
        """CREATE TABLE users(
            id TEXT PRIMARY KEY, created_at DOUBLE PRECISION NOT NULL, sig_not_before BIGINT NOT NULL DEFAULT 0)""",
        """CREATE TABLE sessions(
            id TEXT PRIMARY KEY, token_hash TEXT UNIQUE NOT NULL, user_id TEXT NOT NULL,
            platform TEXT NOT NULL, device_id TEXT NOT NULL, device_name TEXT NOT NULL,
            created_at DOUBLE PRECISION NOT NULL, sig_expires_at BIGINT NOT NULL,
            state TEXT NOT NULL, ended_json JSON, pos BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE)""",
        "CREATE INDEX sessions_by_user ON sessions(user_id, state)",
        "CREATE TABLE channels(id TEXT PRIMARY KEY, type INTEGER NOT NULL, name TEXT, guild_id TEXT)",
        """CREATE TABLE channel_members(
            channel_id TEXT NOT NULL, user_id TEXT NOT NULL, PRIMARY KEY(channel_id, user_id))""",
        """CREATE TABLE messages(
            seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, channel_id TEXT NOT NULL, user_id TEXT NOT NULL,
            content TEXT NOT NULL, created_at DOUBLE PRECISION NOT NULL, nonce TEXT, UNIQUE(user_id, nonce))""",
        "CREATE INDEX messages_by_channel ON messages(channel_id, seq)",
        """CREATE TABLE events(
            sn BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, channel_id TEXT NOT NULL, body JSON NOT NULL)""",
        "CREATE TABLE settings(name TEXT PRIMARY KEY, value TEXT NOT NULL)",
        "INSERT INTO channels(id, type, name, guild_id) VALUES ('general', 0, 'General', 'lobby')",
    )),
)  # fmt: skip

_VERSION_TABLE = "CREATE TABLE IF NOT EXISTS schema_version(version INTEGER PRIMARY KEY, name TEXT NOT NULL, " \
                 "applied_at DOUBLE PRECISION NOT NULL)"  # fmt: skip
# Held by the transaction that migrates a PostgreSQL database, so that nodes starting together migrate it once.
_PG_MIGRATION_LOCK = 0x494D_4D49  # "IMMI"


def _too_new(where: str, version: int, known: int) -> StartupError:
    return StartupError(f"The database {where} has schema version {version}, newer than this server's {known}; "
                        "run a newer im-desktop-server on it.")  # fmt: skip


def migrate_sqlite(db: sqlite3.Connection, where: str) -> list[int]:
    """Bring a SQLite database (in autocommit mode) to the newest version; return the versions applied.
    A file from before versioning has no schema_version and holds version 1's tables already: migration 1 only
    creates what is missing (IF NOT EXISTS, OR IGNORE throughout), so it runs there too, leaving the rows be."""
    migrations = SQLITE_MIGRATIONS  # looked up at each call: tests add steps
    db.execute("BEGIN IMMEDIATE")
    try:
        db.execute(_VERSION_TABLE)
        current = int(db.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version").fetchone()[0])
        newest = migrations[-1].version
        if current > newest:
            raise _too_new(where, current, newest)
        applied = []
        for migration in migrations:
            if migration.version <= current:
                continue
            for statement in migration.statements:
                db.execute(statement)  # not executescript(): it would commit first, and a failure midway stay
            db.execute("INSERT INTO schema_version VALUES (?, ?, ?)", (migration.version, migration.name, time.time()))
            applied.append(migration.version)
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
    return applied


async def migrate_pg(conn: asyncpg.pool.PoolConnectionProxy[Any], where: str) -> list[int]:
    """Bring a PostgreSQL database to the newest version in one transaction; return the versions applied."""
    migrations = PG_MIGRATIONS  # looked up at each call: tests add steps
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _PG_MIGRATION_LOCK)
        await conn.execute(_VERSION_TABLE)
        current = int(await conn.fetchval("SELECT COALESCE(MAX(version), 0) FROM schema_version"))
        newest = migrations[-1].version
        if current > newest:
            raise _too_new(where, current, newest)
        applied = []
        for migration in migrations:
            if migration.version <= current:
                continue
            for statement in migration.statements:
                await conn.execute(statement)
            await conn.execute("INSERT INTO schema_version VALUES ($1, $2, $3)", migration.version, migration.name,
                               time.time())  # fmt: skip
            applied.append(migration.version)
    return applied
