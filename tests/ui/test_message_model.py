"""The message window: a long cached conversation opens on one page, moves a page at a time, stays bounded,
and shows the outbox only where the newest messages are."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from im_desktop.desktop.conversations import CachedHistory
from im_desktop.local.cache import CachedMessage, LocalCache, OutboxItem
from im_desktop.ui.message_model import FAILED, MAX_ROWS, MESSAGE, PAGE, PENDING, ListSource, MessageModel

TOTAL = 3000


class CountingSource:
    """The cache as the app reads it, counting how many messages each read brought."""

    def __init__(self, cache: LocalCache, channel_id: str) -> None:
        self.notices: list[str] = []
        self._inner = CachedHistory(cache, channel_id, lambda: cache, self.notices.append)
        self.read = 0

    def older(self, than: CachedMessage | None, limit: int) -> list[CachedMessage]:
        got = self._inner.older(than, limit)
        self.read += len(got)
        return got

    def newer(self, than: CachedMessage, limit: int) -> list[CachedMessage]:
        got = self._inner.newer(than, limit)
        self.read += len(got)
        return got


def long_cache(tmp_path: Path, total: int = TOTAL) -> LocalCache:
    cache = LocalCache(tmp_path / "alice.sqlite3")
    cache.add_messages("big", [{"id": f"{i:05}", "content": f"message {i}", "created_at": 1_000 + i,
                                "user": {"id": "bob"}} for i in range(total)])  # fmt: skip
    return cache


def ids(model: MessageModel) -> list[int]:
    return [int(model.row(i).uid[2:]) for i in range(model.message_count())]


def test_a_long_conversation_opens_on_its_newest_page_only(tmp_path: Path, qtbot: QtBot) -> None:
    source = CountingSource(long_cache(tmp_path), "big")
    model = MessageModel()
    model.open("big", source, [OutboxItem("n1", "big", "typed", 0.0), OutboxItem("n2", "other", "elsewhere", 0.0)])
    assert source.read == PAGE  # not the 3000: the rest is read when scrolled to
    assert ids(model) == list(range(TOTAL - PAGE, TOTAL))
    assert model.rowCount() == PAGE + 1 and model.row(PAGE).kind == PENDING
    assert model.at_latest and model.older_in_source
    assert model.data(model.index(PAGE - 1)) == model.data(model.index(PAGE - 1), Qt.ItemDataRole.AccessibleTextRole)
    assert str(model.data(model.index(PAGE - 1))).endswith(f"\nmessage {TOTAL - 1}")


def test_the_window_pages_to_the_start_and_back_and_stays_bounded(tmp_path: Path, qtbot: QtBot) -> None:
    source = CountingSource(long_cache(tmp_path), "big")
    model = MessageModel()
    model.open("big", source, [OutboxItem("n1", "big", "typed", 0.0)])
    seen = set(ids(model))
    while model.older_in_source:
        before = ids(model)[0]
        came = model.fetch_older()
        assert ids(model)[: came + 1] == list(range(before - came, before + 1))  # contiguous, no gap, no repeat
        assert model.message_count() <= MAX_ROWS
        seen.update(ids(model))
    assert seen == set(range(TOTAL)) and ids(model)[0] == 0
    assert not model.at_latest and all(model.row(i).kind == MESSAGE for i in range(model.rowCount()))
    model.set_outbox([OutboxItem("n2", "big", "while far up", 0.0)])  # waits until the window is back
    assert all(model.row(i).kind == MESSAGE for i in range(model.rowCount()))
    while not model.at_latest:
        model.fetch_newer()
        assert model.message_count() <= MAX_ROWS
    assert ids(model)[-1] == TOTAL - 1 and ids(model) == list(range(TOTAL - len(ids(model)), TOTAL))
    assert [model.row(i).content for i in range(model.message_count(), model.rowCount())] == ["while far up"]
    assert model.older_in_source


def test_jumping_to_the_latest_reads_one_page(tmp_path: Path, qtbot: QtBot) -> None:
    source = CountingSource(long_cache(tmp_path), "big")
    model = MessageModel()
    model.open("big", source, [])
    for _ in range(10):
        model.fetch_older()
    assert not model.at_latest
    source.read = 0
    model.jump_to_latest()
    assert source.read == PAGE and model.at_latest and ids(model)[-1] == TOTAL - 1


def test_live_messages_go_above_the_outbox_once_and_only_where_the_newest_are(qtbot: QtBot) -> None:
    model = MessageModel()
    model.own_user = "alice"
    old = [CachedMessage("c", str(i), "bob", f"m{i}", i) for i in range(3)]
    failed = OutboxItem("n1", "c", "refused", 0.0, "failed", "too long", 70402)
    model.open("c", ListSource(old), [failed, OutboxItem("n2", "c", "waiting", 1.0)])
    assert model.add_live(CachedMessage("c", "9", "bob", "live", 9))
    assert not model.add_live(CachedMessage("c", "9", "bob", "live", 9))  # the same id again
    assert not model.add_live(CachedMessage("c", "1", "bob", "m1", 1))  # already in the window
    kinds = [model.row(i).kind for i in range(model.rowCount())]
    assert kinds == [MESSAGE] * 4 + [FAILED, PENDING]
    assert model.lines()[3].endswith("\nlive") and model.lines()[4] == (
        "Not sent: refused\nThe server did not accept the request. (code 70402)"
    )
    assert model.lines()[5] == "alice · pending\nwaiting"


def test_the_marker_goes_above_the_oldest_unread_message_from_others(qtbot: QtBot) -> None:
    model = MessageModel()
    model.own_user = "alice"
    messages = [CachedMessage("c", str(i), who, f"m{i}", i) for i, who in
                enumerate(["bob", "bob", "carol", "alice", "bob", "alice"])]  # fmt: skip
    model.open("c", ListSource(messages), [], unread=2)  # bob's 4 and carol's 2 (alice's own do not count)
    assert model.marker == "m:2"
    model.open("c", ListSource(messages), [], unread=3)
    assert model.marker == "m:1"
    model.open("c", ListSource(messages), [], unread=0)
    assert model.marker == ""
    model.open("c", ListSource(messages), [], unread=50)  # more than there are: the oldest one
    assert model.marker == "m:0"


def test_a_closed_cache_reads_as_empty_and_says_so_once(tmp_path: Path, qtbot: QtBot) -> None:
    cache = long_cache(tmp_path, 10)
    notices: list[str] = []
    source = CachedHistory(cache, "big", lambda: cache, notices.append)
    cache.close()
    model = MessageModel()
    model.open("big", source, [])
    assert model.rowCount() == 0 and len(notices) == 1 and "local cache" in notices[0]
    other = CachedHistory(cache, "big", lambda: None, notices.append)  # another account's cache is current now
    assert other.older(None, 10) == [] and len(notices) == 1
