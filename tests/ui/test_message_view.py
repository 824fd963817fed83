"""The message list on screen: paging at the top keeps the reader's place, the server is asked once when the
cache ends, "jump to latest", the new-messages marker, links that are reported and not followed, the composer,
and rows a screen reader can read."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QAccessible, QTextDocument, QWheelEvent
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from im_desktop.desktop.conversations import CachedHistory
from im_desktop.local.cache import CachedMessage, LocalCache
from im_desktop.ui import message_view
from im_desktop.ui.main_window import MainWindow
from im_desktop.ui.message_model import MAX_ROWS, ListSource
from im_desktop.ui.rich_text import render


def _window(qtbot: QtBot) -> MainWindow:
    window = MainWindow()
    qtbot.addWidget(window)
    window.set_user("alice")
    window.resize(800, 600)
    window.show()
    qtbot.waitExposed(window)
    return window


def _messages(n: int, start: int = 0, who: str = "bob") -> list[CachedMessage]:
    return [CachedMessage("c", f"{i:05}", who, f"message {i}", 1_000 + i) for i in range(start, start + n)]


def _cache(tmp_path: Path, n: int) -> LocalCache:
    cache = LocalCache(tmp_path / "alice.sqlite3")
    cache.add_messages("c", [{"id": m.id, "content": m.content, "created_at": m.created_at, "user": {"id": "bob"}}
                             for m in _messages(n)])  # fmt: skip
    return cache


def _top_row(window: MainWindow) -> tuple[str, int]:
    index = window.history.indexAt(QPoint(10, 10))
    assert index.isValid()
    return window.history_model.row(index.row()).uid, window.history.visualRect(index).top()


def _scroll_to_top(window: MainWindow) -> None:
    """Drag the scroll bar to the top, or, if it is there already, turn the wheel up once more."""
    bar = window.history.verticalScrollBar()
    if bar.value() != bar.minimum():
        bar.setValue(bar.minimum())
        return
    viewport = window.history.viewport()
    at = QPointF(viewport.width() / 2, viewport.height() / 2)
    wheel = QWheelEvent(at, viewport.mapToGlobal(at), QPoint(), QPoint(0, 120), Qt.MouseButton.NoButton,
                        Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)  # fmt: skip
    QApplication.sendEvent(viewport, wheel)


def test_scrolling_to_the_top_reads_older_rows_and_keeps_the_place(qtbot: QtBot) -> None:
    window = _window(qtbot)
    window.show_history("c", _messages(1000), [])
    assert window.history.at_bottom() and window.history_model.message_count() == 100
    _scroll_to_top(window)
    assert window.history_model.message_count() == 200
    uid, top = _top_row(window)
    assert uid == "m:00900"  # the row that was at the top is still there, where it was
    assert abs(top - 0) <= message_view.PAD + 2
    for _ in range(20):
        _scroll_to_top(window)
    assert window.history_model.message_count() <= MAX_ROWS
    assert window.history_model.oldest() == _messages(1)[0]
    assert window.history.jump_button.isVisible()


def test_scrolling_far_keeps_a_bounded_number_of_row_heights(qtbot: QtBot) -> None:
    window = _window(qtbot)
    window.show_history("c", _messages(4000), [])
    for _ in range(40):  # up through the whole conversation, a page at a time
        _scroll_to_top(window)
    assert window.history_model.oldest() == _messages(1)[0]
    assert len(window.history.delegate._heights) <= 2 * MAX_ROWS  # not one per row ever shown: a window's worth


def test_the_page_above_is_laid_out_before_the_step_showing_it(qtbot: QtBot, monkeypatch: pytest.MonkeyPatch) -> None:
    window = _window(qtbot)
    window.show_history("c", _messages(1000), [])
    bar, margin = window.history.verticalScrollBar(), window.history.viewport().height()
    while bar.value() - 72 > bar.minimum() + margin:  # up a wheel step at a time, short of the page above
        bar.setValue(bar.value() - 72)
    assert window.history_model.message_count() == 100
    rendered: list[str] = []

    def counted(document: QTextDocument, content: str, *args: Any, **kwargs: Any) -> None:
        rendered.append(content)
        render(document, content, *args, **kwargs)

    monkeypatch.setattr(message_view, "render", counted)
    bar.setValue(bar.minimum())
    window.history.viewport().repaint()
    assert window.history_model.message_count() == 200
    assert rendered == []  # its rows were laid out ahead, a few each step: this step only places them


@pytest.mark.parametrize("cached", [150, 200])  # the cache ends inside a page, or just at its end
def test_past_the_cache_the_server_is_asked_once_until_it_answers(qtbot: QtBot, tmp_path: Path, cached: int) -> None:
    window = _window(qtbot)
    cache = _cache(tmp_path, cached)
    window.open_history("c", CachedHistory(cache, "c", lambda: cache, print), [])
    _scroll_to_top(window)  # the rest of the cache
    with qtbot.waitSignal(window.older_requested) as asked:
        _scroll_to_top(window)
    assert asked.args == ["c", "00000"]
    assert window.history_note.isVisible() and window.history_note.text() == "Loading older messages…"
    with qtbot.assertNotEmitted(window.older_requested):
        _scroll_to_top(window)
    # The server's page arrives in the cache: it is shown above, without another scroll.
    cache.add_messages("c", [{"id": f"-{i:04}", "content": f"older {i}", "created_at": 500 + i,
                              "user": {"id": "carol"}} for i in range(20)])  # fmt: skip
    window.on_older_loaded("c", 20, False)
    oldest = window.history_model.oldest()
    assert oldest is not None and oldest.content == "older 0"
    assert window.history_note.text() == "This is the beginning of the conversation."
    with qtbot.assertNotEmitted(window.older_requested):
        _scroll_to_top(window)


def test_a_failed_page_may_be_asked_again_after_a_pause(qtbot: QtBot, monkeypatch: pytest.MonkeyPatch) -> None:
    window = _window(qtbot)
    window.show_history("c", _messages(30), [])
    with qtbot.waitSignal(window.older_requested):
        window.history.fill_older()
    window.on_older_failed("c")
    assert not window.history_note.isVisible()
    with qtbot.assertNotEmitted(window.older_requested):
        window.history.fill_older()  # not at once: a floor between tries
    monkeypatch.setattr(message_view, "OLDER_FLOOR_S", 0.0)
    with qtbot.waitSignal(window.older_requested):
        window.history.fill_older()


def test_new_messages_while_reading_above_are_counted_and_jump_to_latest(qtbot: QtBot, tmp_path: Path) -> None:
    window = _window(qtbot)
    cache = _cache(tmp_path, 300)
    window.open_history("c", CachedHistory(cache, "c", lambda: cache, print), [])
    assert not window.history.jump_button.isVisible()
    window.history.verticalScrollBar().setValue(window.history.verticalScrollBar().maximum() // 3)
    assert window.history.jump_button.isVisible()
    live = {"id": "09999", "content": "are you there?", "user": {"id": "carol"}, "created_at": 9_999_999}
    cache.add_messages("c", [live])
    window.on_message("c", live)
    assert window.history.unseen == 1 and "1 new" in window.history.jump_button.text()
    assert window.history_model.marker == "m:09999"  # the first of the new ones
    window.history.jump_button.click()
    assert window.history.at_bottom() and window.history_model.at_latest
    assert window.history_lines()[-1].endswith("\nare you there?")
    assert not window.history.jump_button.isVisible() and window.history.unseen == 0
    # At the bottom a new message is simply shown, in sight.
    window.on_message("c", {"id": "10000", "content": "hello", "user": {"id": "carol"}, "created_at": 10_000_000})
    assert window.history.at_bottom() and window.history.unseen == 0
    assert window.history_lines()[-1].endswith("\nhello")


def test_the_marker_is_drawn_above_the_first_unread_message(qtbot: QtBot) -> None:
    window = _window(qtbot)
    messages = _messages(5)
    window.open_history("c", _source(messages), [], unread=0)
    plain = window.history.visualRect(window.history_model.index(3)).height()
    window.open_history("c", _source(messages), [], unread=2)
    assert window.history_model.marker == "m:00003"
    assert window.history.visualRect(window.history_model.index(3)).height() > plain
    assert window.history_lines()[3].endswith("\nmessage 3")  # what is read out stays the message


def _source(messages: list[CachedMessage]) -> ListSource:
    return ListSource(messages)


def _link_point(window: MainWindow, row: int) -> QPoint:
    rect = window.history.visualRect(window.history_model.index(row))
    for y in range(rect.top(), rect.bottom(), 2):
        for x in range(rect.left(), rect.right(), 3):
            if window.history.anchor_at(QPoint(x, y)):
                return QPoint(x, y)
    raise AssertionError("no link drawn in the row")


def test_a_click_on_a_link_reports_its_address_and_text_does_not(qtbot: QtBot) -> None:
    window = _window(qtbot)
    content = 'see <a href="https://example.org/docs?a=1&amp;b=2">the docs</a> or <a href="javascript:x()">this</a>'
    window.show_history("c", [CachedMessage("c", "1", "bob", content, 1000)], [])
    point = _link_point(window, 0)
    with qtbot.waitSignal(window.link_activated) as clicked:
        qtbot.mouseClick(window.history.viewport(), Qt.MouseButton.LeftButton, pos=point)
    assert clicked.args == ["https://example.org/docs?a=1&b=2"]
    rect = window.history.visualRect(window.history_model.index(0))
    with qtbot.assertNotEmitted(window.link_activated):
        qtbot.mouseClick(
            window.history.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(rect.right() - 4, rect.top() + 4)
        )
    assert window.history_lines() == [window.history_lines()[0]] and "see the docs or this" in window.history_lines()[0]


def test_the_composer_sends_on_enter_and_breaks_lines_on_shift_enter(qtbot: QtBot) -> None:
    window = _window(qtbot)
    window.show_history("c", [], [])
    qtbot.keyClicks(window.composer, "first line")
    qtbot.keyClick(window.composer, Qt.Key.Key_Return, Qt.KeyboardModifier.ShiftModifier)
    qtbot.keyClicks(window.composer, "<b>second</b>")
    assert window.composer.text() == "first line\n<b>second</b>"
    with qtbot.waitSignal(window.send_requested) as sent:
        qtbot.keyClick(window.composer, Qt.Key.Key_Return)
    assert sent.args == ["c", "first line\n<b>second</b>"]  # escaped as Satori content by the session on send
    assert window.composer.text() == ""
    with qtbot.assertNotEmitted(window.send_requested):
        qtbot.keyClick(window.composer, Qt.Key.Key_Enter)  # nothing typed: nothing sent


def test_rows_are_read_out_as_their_text(qtbot: QtBot) -> None:
    window = _window(qtbot)
    window.show_history("c", [CachedMessage("c", "1", "bob", "Tom &amp; <b>Jerry</b>", 1000)], [])
    window.set_conversations([])
    view = QAccessible.queryAccessibleInterface(window.history)
    assert view is not None and view.text(QAccessible.Text.Name) == "Messages"
    cells = [view.child(i) for i in range(view.childCount())]
    names = [cell.text(QAccessible.Text.Name) for cell in cells if cell is not None]
    assert window.history_lines()[0] in names and window.history_lines()[0].endswith("\nTom & Jerry")


def test_a_message_id_another_conversation_reuses_shows_that_conversations_text(qtbot: QtBot) -> None:
    # Satori ids are the server's: a third-party server may number each channel's messages from 1.
    window = _window(qtbot)
    window.open_history("a", _source([CachedMessage("a", "1", "bob", "short", 1_000)]), [])
    window.history.grab()  # laid out and drawn: the row's layout is cached
    long = "a long one " * 40
    window.open_history("b", _source([CachedMessage("b", "1", "carol", long, 2_000)]), [])
    document = window.history.delegate.document(window.history_model.row(0))
    assert document.toPlainText() == long
