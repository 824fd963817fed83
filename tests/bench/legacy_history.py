"""The peer for bench_lists: the message list as it was before model/view (HEAD 71e7ede), one QListWidgetItem a row."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from PySide6.QtCore import QDateTime, QLocale, QObject, Qt, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QPushButton,
    QSplitter,
    QStatusBar,
    QVBoxLayout,
    QWidget,
)

from im_desktop.local.cache import CachedMessage, CacheError, Conversation, LocalCache, OutboxItem
from im_desktop.protocol.elements import to_plain_text
from im_desktop.ui.plain import SHORT, plain_label, shown

__all__ = ["HEAD_LIMIT", "LegacyConversations", "LegacyWindow"]

# What HEAD's Conversations.open read: LocalCache.history(channel_id) with its default limit, the newest 200.
HEAD_LIMIT = 200
_CHANNEL_ROLE = Qt.ItemDataRole.UserRole
_NONCE_ROLE = Qt.ItemDataRole.UserRole + 1
_LINE_ROLE = Qt.ItemDataRole.UserRole + 2
MESSAGE_CHARS = 4000


def message_text(content: object) -> str:
    return shown(to_plain_text(content) if isinstance(content, str) else "", MESSAGE_CHARS, multiline=True)


class LegacyWindow(QMainWindow):
    """HEAD's MainWindow without what the benchmark does not reach (the menus' actions, the composer's signals,
    closing, and failed outbox rows: HEAD gave those a row widget; the benchmark's outbox is empty): the same
    widgets, layout and list-filling code, line for line."""

    conversation_selected = Signal(str)

    def __init__(self) -> None:
        super().__init__()
        self.setWindowTitle("im-desktop")
        self._current = ""
        self._user_id = ""
        self._names: dict[str, str] = {}
        self._shown: set[str] = set()
        self.conversations = QListWidget()
        self.history = QListWidget()
        self.history.setWordWrap(True)
        self.header = plain_label()
        self.composer = QLineEdit()
        self.send_button = QPushButton("Send")
        right = QWidget()
        column = QVBoxLayout(right)
        column.addWidget(self.header)
        column.addWidget(self.history, 1)
        row = QHBoxLayout()
        row.addWidget(self.composer, 1)
        row.addWidget(self.send_button)
        column.addLayout(row)
        splitter = QSplitter()
        splitter.addWidget(self.conversations)
        splitter.addWidget(right)
        splitter.setStretchFactor(1, 3)
        self.setCentralWidget(splitter)
        self.setStatusBar(QStatusBar(self))
        self.menuBar().addMenu("&Account")
        self.conversations.currentItemChanged.connect(self._on_conversation_clicked)

    def set_user(self, user_id: str) -> None:
        self._user_id = user_id

    def set_conversations(self, conversations: Iterable[Conversation]) -> None:
        self.conversations.blockSignals(True)
        self.conversations.clear()
        self._names = {}
        for conversation in conversations:
            name = shown(conversation.name, SHORT)
            self._names[conversation.channel_id] = name
            label = f"{name}  ({conversation.unread})" if conversation.unread else name
            item = QListWidgetItem(label)
            item.setData(_CHANNEL_ROLE, conversation.channel_id)
            self.conversations.addItem(item)
            if conversation.channel_id == self._current:
                self.conversations.setCurrentItem(item)
        self.conversations.blockSignals(False)
        if not self._current and self.conversations.count():
            self.conversations.setCurrentRow(0)

    def show_history(self, channel_id: str, messages: Iterable[CachedMessage], outbox: Iterable[OutboxItem]) -> None:
        self._current = channel_id
        self.header.setText(self._names.get(channel_id) or shown(channel_id, SHORT))
        self.history.clear()
        self._shown = set()
        for message in messages:
            self._shown.add(message.id)
            self._add_row(self._line(message.user_id, message.content, message.created_at))
        self.set_outbox(outbox)

    def set_outbox(self, outbox: Iterable[OutboxItem]) -> None:
        for row in reversed(range(self.history.count())):
            if self.history.item(row).data(_NONCE_ROLE):
                self.history.takeItem(row)
        for entry in outbox:
            if entry.channel_id != self._current:
                continue
            item = self._add_row(self._line(self._user_id, entry.content, None, escaped=False))
            item.setData(_NONCE_ROLE, entry.nonce)
            item.setForeground(Qt.GlobalColor.gray)
        self.history.scrollToBottom()

    def on_message(self, channel_id: str, message: dict[str, Any]) -> None:
        message_id = message.get("id")
        if channel_id != self._current or not isinstance(message_id, str) or message_id in self._shown:
            return
        self._shown.add(message_id)
        raw_user = message.get("user")
        user: dict[str, Any] = raw_user if isinstance(raw_user, dict) else {}
        created = message.get("created_at")
        created = created if isinstance(created, int) and not isinstance(created, bool) else None
        position = next((row for row in range(self.history.count()) if self.history.item(row).data(_NONCE_ROLE)),
                        self.history.count())  # fmt: skip
        when = created or int(QDateTime.currentMSecsSinceEpoch())
        self._add_row(self._line(user.get("id"), message.get("content"), when), position)
        self.history.scrollToBottom()

    def _line(self, user_id: object, content: object, created_at_ms: int | None, *, escaped: bool = True) -> str:
        if created_at_ms is None:
            when = "pending"
        else:
            stamp = QDateTime.fromMSecsSinceEpoch(created_at_ms if 0 < created_at_ms < 2**47 else 0)
            when = QLocale().toString(stamp.time(), QLocale.FormatType.ShortFormat)
        text = message_text(content) if escaped else shown(content, MESSAGE_CHARS, multiline=True)
        return f"{shown(user_id, SHORT)} · {when}\n{text}"

    def _add_row(self, line: str, position: int | None = None) -> QListWidgetItem:
        item = QListWidgetItem(line)
        item.setData(_LINE_ROLE, line)
        if position is None:
            self.history.addItem(item)
        else:
            self.history.insertItem(position, item)
        return item

    def _on_conversation_clicked(self, item: QListWidgetItem | None, _previous: QListWidgetItem | None) -> None:
        if item is not None:
            self.conversation_selected.emit(str(item.data(_CHANNEL_ROLE)))


class LegacyConversations(QObject):
    """HEAD's Conversations.open, refresh and watch. `limit` is how many of the newest messages open reads:
    HEAD_LIMIT as HEAD did, or -1 (SQLite: no limit) for HEAD's list holding the whole conversation.
    LocalCache.history is HEAD's, unchanged; mark_read now also moves a read mark (one indexed query more)."""

    def __init__(self, window: LegacyWindow, cache: Callable[[], LocalCache | None], limit: int) -> None:
        super().__init__()
        self._window, self._cache, self._limit = window, cache, limit
        window.conversation_selected.connect(self.open)

    def watch(self, message_received: Any) -> None:
        message_received.connect(self._window.on_message)
        message_received.connect(lambda *_: self.refresh())

    def open(self, channel_id: str) -> None:
        cache = self._cache()
        if cache is None:
            return
        try:
            cache.mark_read(channel_id)
            self._window.show_history(channel_id, cache.history(channel_id, self._limit), cache.outbox())
        except CacheError as exc:
            self._window.statusBar().showMessage(str(exc))
        self.refresh()

    def refresh(self) -> None:
        cache = self._cache()
        if cache is not None:
            self._window.set_conversations(cache.conversations())
