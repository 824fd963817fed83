"""The main window: conversations, history with pending messages, the composer and closing to the tray."""

from __future__ import annotations

from PySide6.QtCore import QDate, QDateTime, QLocale, Qt, QTime
from PySide6.QtGui import QKeySequence
from pytestqt.qtbot import QtBot

from im_desktop.local.cache import CachedMessage, Conversation, OutboxItem
from im_desktop.protocol.models import LoginStatus
from im_desktop.ui.main_window import MainWindow


def _window(qtbot: QtBot) -> MainWindow:
    window = MainWindow()
    qtbot.addWidget(window)
    window.set_user("alice")
    return window


def _texts(window: MainWindow) -> list[str]:
    return window.history_lines()


def test_conversations_with_unread_counts_and_selection(qtbot: QtBot) -> None:
    window = _window(qtbot)
    with qtbot.waitSignal(window.conversation_selected) as opened:
        window.set_conversations([Conversation("general", "General", 0, "hi", 1000, 2),
                                  Conversation("private:alice:bob", "bob", 1, "yo", 900, 0)])  # fmt: skip
    assert opened.args == ["general"]
    assert window.conversation_lines() == ["General  (2)", "bob"]
    assert window.windowTitle() == "im-desktop — alice"


def test_history_shows_sent_and_pending_messages_and_live_ones(qtbot: QtBot) -> None:
    window = _window(qtbot)
    window.set_conversations([Conversation("general", "General", 0, "", 0, 0)])
    pending = [OutboxItem("n1", "general", "still offline", 0.0), OutboxItem("n2", "other", "elsewhere", 0.0)]
    window.show_history("general", [CachedMessage("general", "1", "bob", "hello", 1_700_000_000_000)], pending)
    assert window.header.text() == "General"
    texts = _texts(window)
    assert texts[0].startswith("bob · ") and texts[0].endswith("\nhello")
    assert texts[1] == "alice · pending\nstill offline"
    window.on_message("general", {"id": "2", "content": "still offline", "user": {"id": "alice"},
                                  "created_at": 1_700_000_060_000})  # fmt: skip
    assert [t.split("\n")[1] for t in _texts(window)] == ["hello", "still offline", "still offline"]
    assert "pending" in _texts(window)[2]  # the reply and the event come first; the app then refreshes the outbox
    window.set_outbox([OutboxItem("n2", "other", "elsewhere", 0.0)])
    assert [t.split("\n")[1] for t in _texts(window)] == ["hello", "still offline"]
    window.on_message("other", {"id": "3", "content": "not shown here"})
    assert len(_texts(window)) == 2


def test_composer_sends_to_the_open_conversation_and_clears(qtbot: QtBot) -> None:
    window = _window(qtbot)
    window.set_conversations([Conversation("general", "General", 0, "", 0, 0)])
    window.show_history("general", [], [])
    assert not window.send_button.isEnabled()
    qtbot.keyClicks(window.composer, "hello")
    assert window.send_button.isEnabled()
    with qtbot.waitSignal(window.send_requested) as sent:
        window.send_button.click()
    assert sent.args == ["general", "hello"]
    assert window.composer.text() == ""


def test_a_refused_message_stays_with_retry_and_delete(qtbot: QtBot) -> None:
    window = _window(qtbot)
    failed = OutboxItem("n1", "general", "too big", 0.0, "failed", "content too long", 70402)
    window.show_history("general", [], [failed, OutboxItem("n2", "general", "next one", 1.0)])
    assert _texts(window) == ["Not sent: too big\nThe server did not accept the request. (code 70402)",
                              "alice · pending\nnext one"]  # fmt: skip
    row = window.failed_row("n1")
    assert row is not None and row.label.text() == _texts(window)[0]
    with qtbot.waitSignal(window.resend_requested) as retried:
        row.retry_button.click()
    assert retried.args == ["n1"]
    with qtbot.waitSignal(window.discard_requested) as deleted:
        row.delete_button.click()
    assert deleted.args == ["n1"]
    window.set_outbox([OutboxItem("n2", "general", "next one", 1.0)])  # the app deleted it
    assert _texts(window) == ["alice · pending\nnext one"] and window.failed_row("n1") is None


def test_satori_content_is_shown_as_the_text_it_stands_for(qtbot: QtBot) -> None:
    window = _window(qtbot)
    window.show_history("general", [CachedMessage("general", "1", "bob", "Tom &amp; <b>Jerry</b> &lt;3", 1000)],
                        [OutboxItem("n1", "general", "a < b & c", 0.0)])  # fmt: skip
    window.on_message("general", {"id": "2", "content": "x &gt; y<br/>z", "user": {"id": "bob"}})
    assert [t.split("\n", 1)[1] for t in _texts(window)] == ["Tom & Jerry <3", "x > y\nz", "a < b & c"]


def test_closing_hides_to_the_tray_or_asks_to_quit(qtbot: QtBot) -> None:
    window = _window(qtbot)
    window.show()
    window.keep_in_tray = True
    with qtbot.waitSignal(window.hidden_to_tray):
        window.close()
    assert not window.isVisible()
    window.show()
    window.keep_in_tray = False
    with qtbot.waitSignal(window.quit_requested):
        window.close()


def test_account_menu_and_accessible_names(qtbot: QtBot) -> None:
    window = _window(qtbot)
    with qtbot.waitSignal(window.logout_requested):
        window.logout_action.trigger()
    with qtbot.waitSignal(window.switch_account_requested):
        window.switch_action.trigger()
    for widget in (window.conversations, window.history, window.composer, window.send_button):
        assert widget.accessibleName()


def test_a_message_shown_once_is_not_shown_again(qtbot: QtBot) -> None:
    window = _window(qtbot)
    window.show_history("general", [CachedMessage("general", "1", "bob", "hello", 1_700_000_000_000)], [])
    window.on_message("general", {"id": "1", "content": "hello", "user": {"id": "bob"}})
    window.on_message("general", {"id": "2", "content": "new", "user": {"id": "bob"}})
    window.on_message("general", {"id": "2", "content": "new", "user": {"id": "bob"}})
    assert [t.split("\n")[1] for t in _texts(window)] == ["hello", "new"]


def test_who_and_where_in_the_title_the_account_menu_and_the_status_bar(qtbot: QtBot) -> None:
    window = _window(qtbot)
    window.set_user("alice", "Built-in sandbox")
    window.connection_bar.on_status_changed(LoginStatus.ONLINE)
    assert window.windowTitle() == "im-desktop — alice · Built-in sandbox"
    assert window.identity_action.isVisible() and not window.identity_action.isEnabled()
    assert window.identity_action.text() == "Logged in as alice · Built-in sandbox"
    assert window.connection_bar.state_text == "Online as alice · Built-in sandbox"
    # A server's title is the user's own words or a server's: "&" is shown, not taken as a mnemonic.
    window.set_user("alice", "R&D <b>chat</b>")
    assert window.identity_action.text() == "Logged in as alice · R&&D <b>chat</b>"
    window.set_user("")
    assert window.windowTitle() == "im-desktop" and not window.identity_action.isVisible()


def test_ctrl_n_and_the_button_ask_for_a_new_conversation(qtbot: QtBot) -> None:
    window = _window(qtbot)
    # The key itself is pressed in the e2e walk (the offscreen platform activates no window for shortcuts).
    assert window.new_action.shortcut() == QKeySequence("Ctrl+N") and window.new_action in window.actions()
    assert window.settings_action.shortcut() == QKeySequence("Ctrl+,")  # Linux: no standard key, so this one
    with qtbot.waitSignal(window.new_conversation_requested, timeout=1000):
        window.new_action.trigger()
    with qtbot.waitSignal(window.new_conversation_requested, timeout=1000):
        window.new_button.click()


def test_a_message_author_offers_message_them_but_not_yourself(qtbot: QtBot) -> None:
    window = _window(qtbot)
    window.set_conversations([Conversation("general", "General", 0, "", 0, 0)])
    messages = [CachedMessage("general", "1", "bob", "hello", 1_700_000_000_000),
                CachedMessage("general", "2", "alice", "hi bob", 1_700_000_001_000)]  # fmt: skip
    window.show_history("general", messages, [])
    [action] = window.author_actions(0)
    assert action.text() == "Message bob"
    with qtbot.waitSignal(window.message_user_requested) as asked:
        action.trigger()
    assert asked.args == ["bob"]
    assert window.author_actions(1) == [] and window.author_actions(7) == []


def test_a_conversation_row_shows_its_last_message_and_time_as_plain_text(qtbot: QtBot) -> None:
    window = _window(qtbot)
    at = QDateTime(QDate(2026, 3, 4), QTime(9, 41)).toMSecsSinceEpoch()
    window.set_conversations([Conversation("private:alice:bob", "bob", 1, "Tom &amp; <b>Jerry</b>\nline two", at, 1)])
    model = window.conversation_model
    description = model.data(model.index(0), Qt.ItemDataRole.AccessibleDescriptionRole)
    when = QLocale().toString(QDate(2026, 3, 4), QLocale.FormatType.ShortFormat)  # not today: the date
    assert description == f"{when} · Tom & Jerry line two"
    assert model.data(model.index(0), Qt.ItemDataRole.DisplayRole) == "bob  (1)"
