"""The main window: conversations, history, a composer, the account menu and the connection bar."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from PySide6.QtCore import QDateTime, QLocale, Qt, Signal
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QPushButton,
    QSplitter,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from im_desktop.cache import CachedMessage, Conversation, OutboxItem
from im_desktop.protocol.elements import to_plain_text
from im_desktop.ui.messages import describe_error
from im_desktop.ui.plain import SHORT, plain_label, shown
from im_desktop.ui.status_bar import ConnectionStatusBar

__all__ = ["MainWindow"]

_CHANNEL_ROLE = Qt.ItemDataRole.UserRole
_NONCE_ROLE = Qt.ItemDataRole.UserRole + 1  # set on rows of the outbox (waiting or failed), never on messages
_LINE_ROLE = Qt.ItemDataRole.UserRole + 2  # the row's text, also for rows drawn by a widget
MESSAGE_CHARS = 4000  # longer messages are cut on screen (the cache keeps them whole)


def message_text(content: object) -> str:
    """A message's Satori content as the plain text a person reads, bounded."""
    return shown(to_plain_text(content) if isinstance(content, str) else "", MESSAGE_CHARS, multiline=True)


class _FailedRow(QWidget):
    """A message the server refused: what it said, with Retry and Delete."""

    def __init__(self, text: str, window: MainWindow, nonce: str) -> None:
        super().__init__()
        row = QHBoxLayout(self)
        row.setContentsMargins(4, 2, 4, 2)
        self.label = plain_label(text)
        self.label.setWordWrap(True)
        self.label.setStyleSheet("color: #c62828;")
        self.retry_button = QToolButton()
        self.retry_button.setText(self.tr("Retry"))
        self.retry_button.setAccessibleName(self.tr("Send this message again"))
        self.delete_button = QToolButton()
        self.delete_button.setText(self.tr("Delete"))
        self.delete_button.setAccessibleName(self.tr("Delete this unsent message"))
        row.addWidget(self.label, 1)
        row.addWidget(self.retry_button)
        row.addWidget(self.delete_button)
        self.retry_button.clicked.connect(lambda: window.resend_requested.emit(nonce))
        self.delete_button.clicked.connect(lambda: window.discard_requested.emit(nonce))


class MainWindow(QMainWindow):
    """Shows what the session layer has; asks for what the user wants. Everything shown from a message, a
    conversation or a server goes through `shown()`: plain, bounded text.

    Signals:
        conversation_selected(str): the user opened a conversation (channel id).
        send_requested(str, str): channel id and text to send (queued if offline).
        resend_requested(str): "Retry" on a failed message (its outbox nonce).
        discard_requested(str): "Delete" on a failed message (its outbox nonce).
        switch_account_requested(): "Switch account…" from the account menu.
        logout_requested(): "Log out" from the account menu.
        quit_requested(): "Quit", or closing the window when there is no tray to keep the app in.
        hidden_to_tray(): the window was closed but the app keeps running in the tray.
    """

    conversation_selected = Signal(str)
    send_requested = Signal(str, str)
    resend_requested = Signal(str)
    discard_requested = Signal(str)
    switch_account_requested = Signal()
    logout_requested = Signal()
    quit_requested = Signal()
    hidden_to_tray = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(self.tr("im-desktop"))
        self.resize(860, 560)
        self.keep_in_tray = False
        self._current = ""
        self._user_id = ""
        self._names: dict[str, str] = {}
        self._shown: set[str] = set()  # message ids in the open conversation

        self.conversations = QListWidget()
        self.conversations.setAccessibleName(self.tr("Conversations"))
        self.history = QListWidget()
        self.history.setAccessibleName(self.tr("Messages"))
        self.history.setWordWrap(True)
        self.header = plain_label()
        self.header.setAccessibleDescription(self.tr("Conversation title"))
        self.composer = QLineEdit()
        self.composer.setAccessibleName(self.tr("Message"))
        self.composer.setPlaceholderText(self.tr("Write a message…"))
        self.send_button = QPushButton(self.tr("Send"))
        self.send_button.setAccessibleName(self.tr("Send message"))

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

        self.connection_bar = ConnectionStatusBar(self)
        self.setStatusBar(self.connection_bar)
        self._build_menus()

        self.conversations.currentItemChanged.connect(self._on_conversation_clicked)
        self.composer.returnPressed.connect(self._send)
        self.send_button.clicked.connect(self._send)
        self._update_send_enabled()
        self.composer.textChanged.connect(self._update_send_enabled)

    def _build_menus(self) -> None:
        account = self.menuBar().addMenu(self.tr("&Account"))
        self.switch_action = QAction(self.tr("&Switch account…"), self)
        self.logout_action = QAction(self.tr("&Log out"), self)
        quit_action = QAction(self.tr("&Quit"), self)
        quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        account.addActions([self.switch_action, self.logout_action])
        account.addSeparator()
        account.addAction(quit_action)
        self.switch_action.triggered.connect(self.switch_account_requested)
        self.logout_action.triggered.connect(self.logout_requested)
        quit_action.triggered.connect(self.quit_requested)

    # -- read-only views for tests and the composition root -------------------------------------
    def history_lines(self) -> list[str]:
        """Every row of the open conversation as it reads on screen, oldest first."""
        return [str(self.history.item(i).data(_LINE_ROLE)) for i in range(self.history.count())]

    def failed_row(self, nonce: str) -> _FailedRow | None:
        for i in range(self.history.count()):
            item = self.history.item(i)
            widget = self.history.itemWidget(item)
            if item.data(_NONCE_ROLE) == nonce and isinstance(widget, _FailedRow):
                return widget
        return None

    def current_conversation(self) -> str:
        return self._current

    # -- slots ----------------------------------------------------------------------------------
    def set_user(self, user_id: str) -> None:
        self._user_id = user_id
        self.setWindowTitle(self.tr("im-desktop — {user}").format(user=user_id) if user_id else self.tr("im-desktop"))

    def set_conversations(self, conversations: Iterable[Conversation]) -> None:
        """Refill the list, keeping the open conversation selected."""
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
        self._update_send_enabled()

    def set_outbox(self, outbox: Iterable[OutboxItem]) -> None:
        """What is not on the server yet, below the history: waiting (grey) or failed (with Retry, Delete)."""
        for row in reversed(range(self.history.count())):
            if self.history.item(row).data(_NONCE_ROLE):
                self.history.takeItem(row)
        for entry in outbox:
            if entry.channel_id != self._current:
                continue
            if entry.failed:
                self._add_failed(entry)
            else:
                item = self._add_row(self._line(self._user_id, entry.content, None, escaped=False))
                item.setData(_NONCE_ROLE, entry.nonce)
                item.setForeground(Qt.GlobalColor.gray)
        self.history.scrollToBottom()

    def on_message(self, channel_id: str, message: dict[str, Any]) -> None:
        """A live message; shown at once if its conversation is open (above what is still in the outbox)."""
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
        when = created or int(QDateTime.currentMSecsSinceEpoch())  # no time given: when it reached us
        self._add_row(self._line(user.get("id"), message.get("content"), when), position)
        self.history.scrollToBottom()

    # -- internals ------------------------------------------------------------------------------
    def _line(self, user_id: object, content: object, created_at_ms: int | None, *, escaped: bool = True) -> str:
        """ "who · when" over the text; an outbox entry holds what was typed, a message Satori content."""
        if created_at_ms is None:
            when = self.tr("pending")
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

    def _add_failed(self, entry: OutboxItem) -> None:
        reason = describe_error(entry.error_code, entry.error)
        line = self.tr("Not sent: {text}").format(text=shown(entry.content, MESSAGE_CHARS, multiline=True))
        line += "\n" + reason
        item = QListWidgetItem()  # the row widget draws the text; the item only holds its place
        item.setData(_LINE_ROLE, line)
        item.setData(_NONCE_ROLE, entry.nonce)
        self.history.addItem(item)
        widget = _FailedRow(line, self, entry.nonce)
        item.setSizeHint(widget.sizeHint())
        self.history.setItemWidget(item, widget)

    def _on_conversation_clicked(self, item: QListWidgetItem | None, _previous: QListWidgetItem | None) -> None:
        if item is not None:
            self.conversation_selected.emit(str(item.data(_CHANNEL_ROLE)))

    def _send(self) -> None:
        text = self.composer.text().strip()
        if text and self._current:
            self.send_requested.emit(self._current, text)
            self.composer.clear()

    def _update_send_enabled(self) -> None:
        self.send_button.setEnabled(bool(self._current and self.composer.text().strip()))

    def closeEvent(self, event: QCloseEvent) -> None:
        if self.keep_in_tray:
            event.ignore()
            self.hide()
            self.hidden_to_tray.emit()
        else:
            event.ignore()  # the app quits through its own sequence, after async cleanup
            self.quit_requested.emit()
