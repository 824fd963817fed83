"""The local cache: conversations, de-duplicated history, unread counts and the outbox."""

from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path

import pytest

from im_desktop.local.cache import CacheError, LocalCache, OutboxItem


def _message(mid: str, at: int, text: str, user: str = "bob") -> dict[str, object]:
    return {"id": mid, "content": text, "created_at": at, "user": {"id": user}}


def test_history_is_deduplicated_by_id_and_ordered(tmp_path: Path) -> None:
    cache = LocalCache(tmp_path / "alice.sqlite3")
    assert cache.add_messages("general", [_message("2", 2000, "b"), _message("1", 1000, "a")]) == 2
    assert cache.add_messages("general", [_message("2", 2000, "b"), _message("3", 3000, "c")]) == 1
    assert [m.content for m in cache.history("general")] == ["a", "b", "c"]
    assert [m.id for m in cache.history("general", limit=2)] == ["2", "3"]


def test_conversations_track_the_last_message_and_unread(tmp_path: Path) -> None:
    cache = LocalCache(tmp_path / "alice.sqlite3")
    cache.upsert_conversation("general", "General", 0)
    cache.add_messages("general", [_message("1", 1000, "hi")], unread=True)
    cache.add_messages("dm", [_message("9", 5000, "psst")], unread=True)
    [newest, older] = cache.conversations()
    assert (newest.channel_id, newest.last_text, newest.unread) == ("dm", "psst", 1)
    assert (older.name, older.last_text) == ("General", "hi")
    cache.mark_read("dm")
    assert cache.conversations()[0].unread == 0


def test_malformed_messages_are_skipped(tmp_path: Path) -> None:
    cache = LocalCache(tmp_path / "alice.sqlite3")
    assert cache.add_messages("general", [{"content": "no id"}, {"id": 5}, {"id": "ok", "user": "x"}]) == 1


def test_outbox_survives_a_restart_in_order(tmp_path: Path) -> None:
    cache = LocalCache(tmp_path / "alice.sqlite3")
    first = cache.enqueue("general", "one")
    cache.enqueue("general", "two")
    cache.close()
    reopened = LocalCache(tmp_path / "alice.sqlite3")
    assert [i.content for i in reopened.pending()] == ["one", "two"]
    reopened.sent(first, [_message("7", 7000, "one", "alice")])
    assert [i.content for i in reopened.pending()] == ["two"]
    assert [m.content for m in reopened.history("general")] == ["one"]
    reopened.set_state("last_sn", 42)
    assert reopened.get_state("last_sn") == 42


def test_a_sent_message_already_delivered_by_its_event_is_not_new_again(tmp_path: Path) -> None:
    cache = LocalCache(tmp_path / "alice.sqlite3")
    item = cache.enqueue("general", "hi")
    cache.add_messages("general", [_message("7", 7000, "hi", "alice")])  # the server's event came first
    assert cache.sent(item, [_message("7", 7000, "hi", "alice")]) == []
    other = cache.enqueue("general", "second")
    assert [m["id"] for m in cache.sent(other, [_message("8", 8000, "second", "alice")])] == ["8"]
    assert cache.pending() == []


def test_a_file_that_is_not_a_database_is_moved_aside_and_rebuilt(tmp_path: Path) -> None:
    path = tmp_path / "alice.sqlite3"
    path.write_bytes(b"this is not a database\n" * 100)
    cache = LocalCache(path)
    assert cache.rebuilt_from is not None and cache.rebuilt_from.name.startswith("alice.sqlite3.damaged-")
    assert cache.rebuilt_from.read_bytes() == b"this is not a database\n" * 100  # kept for a bug report
    assert cache.conversations() == [] and cache.pending() == []
    cache.enqueue("general", "works again")
    assert [i.content for i in cache.pending()] == ["works again"]


def test_a_truncated_database_is_moved_aside_and_rebuilt(tmp_path: Path) -> None:
    path = tmp_path / "alice.sqlite3"
    cache = LocalCache(path)
    cache.add_messages("general", [_message(str(i), 1000 + i, "x" * 2000) for i in range(200)])
    cache.close()
    for suffix in ("-wal", "-shm"):
        assert not (tmp_path / f"alice.sqlite3{suffix}").exists()  # checkpointed on close: all is in the file
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])  # a crash or a full disk cut it short
    reopened = LocalCache(path)
    assert reopened.rebuilt_from is not None
    assert reopened.history("general") == []


def test_a_cache_from_before_the_failed_state_keeps_its_outbox(tmp_path: Path) -> None:
    path = tmp_path / "alice.sqlite3"
    old = sqlite3.connect(path)
    old.executescript(
        "CREATE TABLE outbox(nonce TEXT PRIMARY KEY, channel_id TEXT NOT NULL, content TEXT NOT NULL,"
        " queued_at REAL NOT NULL);"
        "INSERT INTO outbox VALUES ('n1', 'general', 'written with 0.1', 1.0);"
    )
    old.commit()
    old.close()
    cache = LocalCache(path)
    assert cache.rebuilt_from is None
    assert cache.pending() == [OutboxItem("n1", "general", "written with 0.1", 1.0, "pending", "", 0)]


def test_failed_messages_stay_until_retried_or_deleted(tmp_path: Path) -> None:
    cache = LocalCache(tmp_path / "alice.sqlite3")
    bad, good = cache.enqueue("general", "refused"), cache.enqueue("general", "fine")
    cache.mark_failed(bad, 70402, "content too long")
    assert [i.content for i in cache.pending()] == ["fine"]
    [failed, waiting] = cache.outbox()
    assert (failed.state, failed.error_code, failed.error, waiting.state) == ("failed", 70402, "content too long",
                                                                              "pending")  # fmt: skip
    assert cache.next_pending() == waiting and cache.next_pending({good.nonce}) is None
    assert cache.requeue(bad.nonce) and [i.content for i in cache.pending()] == ["refused", "fine"]
    assert cache.drop(bad.nonce) and not cache.drop(bad.nonce)
    assert [i.content for i in cache.outbox()] == ["fine"]


def test_a_full_disk_is_a_cache_error_not_a_crash(tmp_path: Path) -> None:
    cache = LocalCache(tmp_path / "alice.sqlite3")
    pages = cache._db.execute("PRAGMA page_count").fetchone()[0]
    cache._db.execute(f"PRAGMA max_page_count = {pages}")  # SQLite's own "database or disk is full"
    with pytest.raises(CacheError, match="full"):
        cache.add_messages("general", [_message(str(i), i, "x" * 4000) for i in range(50)])
    with pytest.raises(CacheError, match="full"):
        cache.enqueue("general", "y" * 400_000)


def test_absurd_fields_from_a_server_are_stored_safely(tmp_path: Path) -> None:
    cache = LocalCache(tmp_path / "alice.sqlite3")
    assert cache.add_messages("general", [{"id": "1", "created_at": 2**70, "content": "late"},
                                          {"id": "2", "created_at": True, "content": 5}]) == 2  # fmt: skip
    [late, odd] = sorted(cache.history("general"), key=lambda m: m.id)
    assert 0 < late.created_at < 2**53 and (odd.content, late.content) == ("", "late")
    cache.set_state("last_sn", 5)
    cache._db.execute("UPDATE state SET value = '{broken' WHERE name = 'last_sn'")
    assert cache.get_state("last_sn") is None


@pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX permission bits")
def test_the_cache_folder_and_files_are_private_even_after_a_rebuild(tmp_path: Path) -> None:
    old_umask = os.umask(0o022)  # the usual one: the cache must not depend on a strict one
    try:
        folder = tmp_path / "cache" / "sandbox"
        cache = LocalCache(folder / "alice.sqlite3")
        cache.enqueue("general", "private words")  # the WAL now has content
        files = {p.name: stat.S_IMODE(p.stat().st_mode) for p in folder.iterdir()}
        assert files == dict.fromkeys(["alice.sqlite3", "alice.sqlite3-wal", "alice.sqlite3-shm"], 0o600)
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
        cache.close()
        (folder / "alice.sqlite3").write_bytes(b"not a database" * 100)
        rebuilt = LocalCache(folder / "alice.sqlite3")
        assert rebuilt.rebuilt_from is not None
        assert stat.S_IMODE((folder / "alice.sqlite3").stat().st_mode) == 0o600
        rebuilt.close()
    finally:
        os.umask(old_umask)


def _unread(cache: LocalCache) -> dict[str, int]:
    return {c.channel_id: c.unread for c in cache.conversations()}


def test_the_read_mark_survives_a_restart_and_unread_counts_from_it(tmp_path: Path) -> None:
    path = tmp_path / "alice.sqlite3"
    cache = LocalCache(path)
    cache.add_messages("dm", [_message("1", 1000, "a"), _message("2", 2000, "b")], unread=True)
    assert cache.read_mark("dm") is None and _unread(cache) == {"dm": 2}  # nothing read here yet
    assert cache.mark_read("dm") is True
    assert cache.read_mark("dm") == (2000, "2") and _unread(cache) == {"dm": 0}
    cache.close()
    cache = LocalCache(path)  # a restart
    assert cache.read_mark("dm") == (2000, "2") and _unread(cache) == {"dm": 0}
    # While the app was closed: bob wrote twice and alice once from her phone; a resync stores them as read
    # or unread without knowing (unread=False), so the count must come from the mark, not from the flag.
    cache.add_messages("dm", [_message("3", 3000, "c"), _message("4", 4000, "me", "alice"),
                              _message("5", 5000, "d")])  # fmt: skip
    assert _unread(cache) == {"dm": 2}
    cache.close()
    cache = LocalCache(path)
    assert _unread(cache) == {"dm": 2} and cache.read_mark("dm") == (2000, "2")  # the marker's place, too


def test_older_pages_never_count_as_unread_and_the_mark_never_moves_back(tmp_path: Path) -> None:
    cache = LocalCache(tmp_path / "alice.sqlite3")
    cache.add_messages("dm", [_message("10", 10_000, "new")], unread=True)
    cache.mark_read("dm")
    cache.add_messages("dm", [_message("1", 1000, "old"), _message("2", 2000, "older page")])  # paging back
    assert _unread(cache) == {"dm": 0}
    assert cache.mark_read("dm") is False  # nothing new: the list need not be redrawn
    assert cache.read_mark("dm") == (10_000, "10")
    cache.add_messages("dm", [_message("11", 10_000, "same millisecond")], unread=True)  # ties go by id
    assert _unread(cache) == {"dm": 1}


def test_marking_an_empty_conversation_read_sets_no_mark(tmp_path: Path) -> None:
    cache = LocalCache(tmp_path / "alice.sqlite3")
    cache.upsert_conversation("general", "General", 0)
    cache.mark_read("general")
    assert cache.read_mark("general") is None
    cache.add_messages("general", [_message("1", 1000, "hi")], unread=True)  # counted as the live event says
    assert _unread(cache) == {"general": 1}


def test_history_pages_before_and_after_a_message_in_order(tmp_path: Path) -> None:
    cache = LocalCache(tmp_path / "alice.sqlite3")
    # Two messages in the same millisecond go by id; another conversation never leaks in.
    cache.add_messages("general", [_message(f"m{i:02}", 1000 * (i // 2), f"t{i}") for i in range(10)])
    cache.add_messages("other", [_message("x", 4000, "elsewhere")])
    assert cache.history_count("general") == 10 and cache.history_count("nowhere") == 0
    assert [m.id for m in cache.history_before("general", None, 3)] == ["m07", "m08", "m09"]
    assert [m.id for m in cache.history_before("general", (3000, "m07"), 3)] == ["m04", "m05", "m06"]
    assert [m.id for m in cache.history_before("general", (3000, "m06"), 100)] == [f"m{i:02}" for i in range(6)]
    assert cache.history_before("general", (0, "m00"), 5) == []
    assert [m.id for m in cache.history_after("general", (2000, "m04"), 3)] == ["m05", "m06", "m07"]
    assert [m.id for m in cache.history_after("general", (3000, "m07"), 100)] == ["m08", "m09"]
    assert cache.history_after("general", (4000, "m09"), 5) == []
    assert cache.history_before("general", None, 0) == []


def test_a_page_is_read_without_the_rest_of_a_long_conversation(tmp_path: Path) -> None:
    cache = LocalCache(tmp_path / "alice.sqlite3")
    cache.add_messages("big", [_message(str(i), i, "x") for i in range(20_000)])
    plan = " ".join(str(row[-1]) for row in cache._db.execute(
        "EXPLAIN QUERY PLAN SELECT * FROM messages WHERE channel_id = ? AND (created_at, id) < (?, ?) "
        "ORDER BY created_at DESC, id DESC LIMIT 100", ("big", 10_000, "10000")))  # fmt: skip
    assert "USING INDEX" in plan and "SCAN" not in plan.replace("SCAN CONSTANT", "")
    page = cache.history_before("big", (10_000, "10000"), 100)
    assert [m.created_at for m in page] == list(range(9900, 10_000))
