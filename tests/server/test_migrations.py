"""Versioned schema migrations: a database from before them opens with all its data; versions apply once, whole."""

from __future__ import annotations

import contextlib
import sqlite3
import sys
from pathlib import Path
from typing import Any

import pytest

from im_desktop.protocol.errors import ErrorCode
from im_desktop.server import migrations
from im_desktop.server.config import ServerConfig, StartupError
from im_desktop.server.migrations import Migration
from im_desktop.server.store import open_store
from tests.clocks import FakeClock
from tests.server.support import RunningServer, Session, make_config, running_server

pytestmark = pytest.mark.asyncio

# A database written by the server before migrations existed (commit 71e7ede), dumped with sqlite3's iterdump:
# alice (Linux) and bob (Web) online, carol's Linux session kicked by her Windows one under the "dual" policy,
# two messages in #general (bob's with a nonce), one in the direct channel of alice and bob.
LEGACY_DUMP = Path(__file__).with_name("legacy-0.1.sql")
LEGACY_TOKENS = {
    "alice": "9mjtidsS2KP8TccqMP4Te21XUbOz3els2rxGmlkGPqs",
    "bob": "aS19OisecA5fp3pcrE-S_fvknQM-LLcqgXjZqnLSr7w",
    "carol_old": "hvqAGHlYRUbNMyEdLDNpPRwvyqdw7nT0v0U09Bhd3GA",
}
LEGACY_SESSIONS = {"alice": "c9bfa77528ecde5b", "bob": "7fafa024ef1386b6", "carol_old": "ab3ea1bbc3ef7638"}
LEGACY_NOW = 1_780_000_100.0  # a minute and a half after it was written: every ticket is still good


async def _query(config: ServerConfig, sql: str) -> list[tuple[Any, ...]]:
    """Rows straight from the store's database, beside the server."""
    if config.database:
        import asyncpg

        conn = await asyncpg.connect(config.database)
        try:
            return [tuple(r) for r in await conn.fetch(sql)]
        finally:
            await conn.close()
    with contextlib.closing(sqlite3.connect(config.data_dir / "server.sqlite3")) as db:
        return [tuple(r) for r in db.execute(sql)]


async def _tables(config: ServerConfig) -> set[str]:
    sql = ("SELECT tablename FROM pg_tables WHERE schemaname = 'public'" if config.database
           else "SELECT name FROM sqlite_master WHERE type = 'table'")  # fmt: skip
    return {str(r[0]) for r in await _query(config, sql)}


async def _versions(config: ServerConfig) -> list[int]:
    return [int(r[0]) for r in await _query(config, "SELECT version FROM schema_version ORDER BY version")]


@pytest.mark.sqlite_only
async def test_a_database_made_before_migrations_opens_with_all_its_data(tmp_path: Path) -> None:
    data_dir = tmp_path / "server"
    data_dir.mkdir(mode=0o700)
    with contextlib.closing(sqlite3.connect(data_dir / "server.sqlite3")) as db:
        db.executescript(LEGACY_DUMP.read_text(encoding="utf-8"))
    assert "schema_version" not in {r[0] for r in sqlite3.connect(data_dir / "server.sqlite3").execute(
        "SELECT name FROM sqlite_master")}  # fmt: skip
    clock = FakeClock(LEGACY_NOW)
    for restart in range(2):  # upgraded once, then opened as it is
        async with running_server(data_dir, clock) as server:
            assert await _versions(server.config) == [1]
            alice, bob = (Session(server, u, LEGACY_TOKENS[u], LEGACY_SESSIONS[u], {}) for u in ("alice", "bob"))
            general = await alice.ok("message.list", {"channel_id": "general"})
            expected = ["hello from 0.1", "hi alice"] + (["after the upgrade"] if restart else [])
            assert [m["content"] for m in general["data"]] == expected
            direct = await alice.ok("message.list", {"channel_id": "private:alice:bob"})
            assert [(m["id"], m["content"]) for m in direct["data"]] == [("3", "a secret")]
            retry = await bob.ok("message.create", {"channel_id": "general", "content": "hi alice", "nonce": "bob-n1"})
            assert retry[0]["id"] == "2"  # the nonce still holds: the old message, not a copy
            kicked = await Session(server, "carol", LEGACY_TOKENS["carol_old"], LEGACY_SESSIONS["carol_old"],
                                   {}).api("login.get")  # fmt: skip
            assert kicked.code == ErrorCode.KICKED_OFF_BY_OTHER
            policy = (await server.admin("GET", "policy")).body
            assert (policy["policy"], policy["max_instances"]["Web"]) == ("dual", 2)
            sock = await alice.connect(sn=0)  # the event log replays as it was, then goes on from there
            assert [(await sock.event())["sn"] for _ in range(3)] == [1, 2, 3]
            if restart == 0:
                sent = await alice.ok("message.create", {"channel_id": "general", "content": "after the upgrade"})
                assert sent[0]["id"] == "4"
                assert (await sock.event())["sn"] == 4
    assert await _query(server.config, "SELECT COUNT(*) FROM users") == [(3,)]  # nobody lost
    assert await _query(server.config, "SELECT COUNT(*) FROM sessions") == [(4,)]


async def test_a_database_of_a_newer_schema_is_refused_in_one_line(tmp_path: Path) -> None:
    config = make_config(tmp_path / "server")
    await (await open_store(config)).close()
    await _query_write(config, "INSERT INTO schema_version(version, name, applied_at) VALUES (99, 'future', 0)")
    with pytest.raises(StartupError) as refused:
        await open_store(config)
    message = str(refused.value)
    assert "schema version 99, newer than this server's 1" in message and "\n" not in message


async def test_a_new_version_applies_once_and_a_failing_one_changes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = make_config(tmp_path / "server")
    name = "PG_MIGRATIONS" if config.database else "SQLITE_MIGRATIONS"
    base: tuple[Migration, ...] = getattr(migrations, name)
    notes = Migration(2, "notes", ("CREATE TABLE notes(body TEXT NOT NULL)",
                                   "INSERT INTO notes(body) VALUES ('from version 2')"))  # fmt: skip
    monkeypatch.setattr(migrations, name, (*base, notes))
    for _ in range(2):
        await (await open_store(config)).close()
    assert await _versions(config) == [1, 2]
    assert await _query(config, "SELECT body FROM notes") == [("from version 2",)]  # applied once
    broken = Migration(3, "broken", ("CREATE TABLE half(x INTEGER)", "INSERT INTO nowhere VALUES (1)"))
    monkeypatch.setattr(migrations, name, (*base, notes, broken))
    with pytest.raises(StartupError) as refused:
        await open_store(config)
    assert "nowhere" in str(refused.value) and "\n" not in str(refused.value)
    assert await _versions(config) == [1, 2]
    assert "half" not in await _tables(config)  # the half-done step was rolled back
    assert await _query(config, "SELECT body FROM notes") == [("from version 2",)]


async def _query_write(config: ServerConfig, sql: str) -> None:
    if config.database:
        import asyncpg

        conn = await asyncpg.connect(config.database)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()
        return
    with contextlib.closing(sqlite3.connect(config.data_dir / "server.sqlite3")) as db, db:
        db.execute(sql)


@pytest.mark.sqlite_only
async def test_a_database_url_without_asyncpg_installed_is_refused_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "asyncpg", None)  # as if the server-scale extra were not installed
    monkeypatch.delitem(sys.modules, "im_desktop.server.store_pg", raising=False)
    with pytest.raises(StartupError) as refused:
        await open_store(make_config(tmp_path / "server", database="postgresql://127.0.0.1/im"))
    assert "needs the asyncpg package" in str(refused.value) and "\n" not in str(refused.value)


async def test_the_servers_of_a_test_run_on_the_store_it_names(server: RunningServer, store: str) -> None:
    """The suite's parametrization itself: a [postgresql] test that ran on SQLite would prove nothing."""
    assert type(server.store).__name__ == {"sqlite": "SqliteStore", "postgresql": "PostgresStore"}[store]
    assert (server.config.database is not None) == (store == "postgresql")
