"""The local cache: conversations, de-duplicated history, unread counts and the outbox."""

from __future__ import annotations

from pathlib import Path

from im_desktop.cache import LocalCache


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
