"""The main window: conversations, history, a composer, the account menu and the connection bar."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from PySide6.QtCore import QDateTime, QLocale, Qt, Signal
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from im_desktop.cache import CachedMessage, Conversation, OutboxItem
from im_desktop.ui.status_bar import ConnectionStatusBar

__all__ = ["MainWindow"]

_CHANNEL_ROLE = Qt.ItemDataRole.UserRole


class MainWindow(QMainWindow):
    """Shows what the session layer has; asks for what the user wants.

    Signals:
        conversation_selected(str): the user opened a conversation (channel id).
        send_requested(str, str): channel id and text to send (queued if offline).
        switch_account_requested(): "Switch account…" from the account menu.
        logout_requested(): "Log out" from the account menu.
        quit_requested(): "Quit", or closing the window when there is no tray to keep the app in.
        hidden_to_tray(): the window was closed but the app keeps running in the tray.
    """

    conversation_selected = Signal(str)
    send_requested = Signal(str, str)
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
        self._shown: set[str] = set()  # message ids in the open conversation

        self.conversations = QListWidget()
        self.conversations.setAccessibleName(self.tr("Conversations"))
        self.history = QListWidget()
        self.history.setAccessibleName(self.tr("Messages"))
        self.history.setWordWrap(True)
        self.header = QLabel()
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

    # -- slots ----------------------------------------------------------------------------------
    def set_user(self, user_id: str) -> None:
        self._user_id = user_id
        self.setWindowTitle(self.tr("im-desktop — {user}").format(user=user_id) if user_id else self.tr("im-desktop"))

    def set_conversations(self, conversations: Iterable[Conversation]) -> None:
        """Refill the list, keeping the open conversation selected."""
        self.conversations.blockSignals(True)
        self.conversations.clear()
        for conversation in conversations:
            label = conversation.name
            if conversation.unread:
                label += f"  ({conversation.unread})"
            item = QListWidgetItem(label)
            item.setData(_CHANNEL_ROLE, conversation.channel_id)
            self.conversations.addItem(item)
            if conversation.channel_id == self._current:
                self.conversations.setCurrentItem(item)
        self.conversations.blockSignals(False)
        if not self._current and self.conversations.count():
            self.conversations.setCurrentRow(0)

    def show_history(self, channel_id: str, messages: Iterable[CachedMessage], pending: Iterable[OutboxItem]) -> None:
        self._current = channel_id
        names = {self.conversations.item(i).data(_CHANNEL_ROLE): self.conversations.item(i).text()
                 for i in range(self.conversations.count())}  # fmt: skip
        self.header.setText(names.get(channel_id, channel_id).split("  (")[0])
        self.history.clear()
        self._shown = {message.id for message in messages}
        for message in messages:
            self._append(message.user_id, message.content, message.created_at)
        for item in pending:
            if item.channel_id == channel_id:
                self._append(self._user_id, item.content, None)
        self.history.scrollToBottom()
        self._update_send_enabled()

    def on_message(self, channel_id: str, message: dict[str, Any]) -> None:
        """A live message; shown at once if its conversation is open."""
        message_id = str(message.get("id") or "")
        if channel_id != self._current or (message_id and message_id in self._shown):
            return
        self._shown.add(message_id)
        raw_user = message.get("user")
        user: dict[str, Any] = raw_user if isinstance(raw_user, dict) else {}
        created = message.get("created_at") if isinstance(message.get("created_at"), int) else None
        self._drop_pending(str(message.get("content") or ""))
        self._append(str(user.get("id", "")), str(message.get("content") or ""), created)
        self.history.scrollToBottom()

    def on_send_failed(self, channel_id: str, text: str, code: int, message: str) -> None:
        if channel_id == self._current:
            self._drop_pending(text)
            failed = QListWidgetItem(self.tr("Not sent: {text} ({message})").format(text=text, message=message))
            self.history.addItem(failed)

    def current_conversation(self) -> str:
        return self._current

    # -- internals ------------------------------------------------------------------------------
    def _append(self, user_id: str, text: str, created_at_ms: int | None) -> None:
        if created_at_ms is None:
            when = self.tr("pending")
        else:
            stamp = QDateTime.fromMSecsSinceEpoch(created_at_ms)
            when = QLocale().toString(stamp.time(), QLocale.FormatType.ShortFormat)
        item = QListWidgetItem(f"{user_id} · {when}\n{text}")
        if created_at_ms is None:
            item.setData(_CHANNEL_ROLE, "pending")
            item.setForeground(Qt.GlobalColor.gray)
        self.history.addItem(item)

    def _drop_pending(self, text: str) -> None:
        for row in range(self.history.count()):
            item = self.history.item(row)
            if item.data(_CHANNEL_ROLE) == "pending" and item.text().endswith("\n" + text):
                self.history.takeItem(row)
                return

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
