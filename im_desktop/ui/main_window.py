"""The main window: conversations, history, a composer, the account menu and the connection bar."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from PySide6.QtCore import QDateTime, QItemSelectionModel, QModelIndex, QPoint, Qt, Signal
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QHBoxLayout,
    QListView,
    QMainWindow,
    QMenu,
    QPushButton,
    QSplitter,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from im_desktop.local.cache import CachedMessage, Conversation, OutboxItem
from im_desktop.ui.composer import Composer
from im_desktop.ui.conversation_list import CHANNEL_ROLE, ConversationDelegate, ConversationModel
from im_desktop.ui.message_model import FAILED, HistorySource, ListSource, MessageModel
from im_desktop.ui.message_view import MessageView
from im_desktop.ui.plain import SHORT, plain_label, shown
from im_desktop.ui.status_bar import ConnectionStatusBar
from im_desktop.ui.theme import mark_error

__all__ = ["MainWindow"]


class _FailedRow(QWidget):
    """A message the server refused: what it said, with Retry and Delete."""

    def __init__(self, text: str, window: MainWindow, nonce: str) -> None:
        super().__init__()
        row = QHBoxLayout(self)
        row.setContentsMargins(4, 2, 4, 2)
        self.label = plain_label(text)
        self.label.setWordWrap(True)
        mark_error(self.label)  # the red that reads on the scheme in force
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
        older_requested(str, str): the open conversation was scrolled past what the cache holds: load the page
            before this message id (the newest page when "") from the server; answer with on_older_loaded or
            on_older_failed.
        link_activated(str): a link in a message was clicked (its address, unchecked: confirm before opening).
        send_requested(str, str): channel id and text to send (queued if offline).
        resend_requested(str): "Retry" on a failed message (its outbox nonce).
        discard_requested(str): "Delete" on a failed message (its outbox nonce).
        switch_account_requested(): "Switch account…" from the account menu.
        logout_requested(): "Log out" from the account menu.
        quit_requested(): "Quit", or closing the window when there is no tray to keep the app in.
        settings_requested(): "Settings…" from the account menu.
        new_conversation_requested(): "New conversation…" (Ctrl+N): ask for a UserID.
        message_user_requested(str): "Message bob" on a message: the direct conversation with that UserID.
        hidden_to_tray(): the window was closed but the app keeps running in the tray.
    """

    conversation_selected = Signal(str)
    older_requested = Signal(str, str)
    link_activated = Signal(str)
    send_requested = Signal(str, str)
    resend_requested = Signal(str)
    discard_requested = Signal(str)
    switch_account_requested = Signal()
    logout_requested = Signal()
    quit_requested = Signal()
    hidden_to_tray = Signal()
    settings_requested = Signal()
    new_conversation_requested = Signal()
    message_user_requested = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(self.tr("im-desktop"))
        self.resize(860, 560)
        self.keep_in_tray = False
        self._current = ""
        self._user_id = ""

        self.conversation_model = ConversationModel(self)
        self.conversations = QListView()
        self.conversations.setModel(self.conversation_model)
        self.conversations.setItemDelegate(ConversationDelegate(self.conversations, self.conversation_model))
        self.conversations.setUniformItemSizes(True)
        self.conversations.setAccessibleName(self.tr("Conversations"))
        self.new_button = QPushButton(self.tr("New conversation"))
        self.new_button.setAccessibleName(self.tr("Start a new conversation"))
        self.history_model = MessageModel(self)
        self.history = MessageView(self.history_model)
        self.history.setAccessibleName(self.tr("Messages"))
        self.history.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.header = plain_label()
        self.header.setAccessibleDescription(self.tr("Conversation title"))
        self.history_note = plain_label()  # "Loading older messages…", "This is where it starts."
        self.history_note.hide()
        self.composer = Composer()
        self.composer.setAccessibleName(self.tr("Message"))
        self.composer.setPlaceholderText(self.tr("Write a message…"))
        self.send_button = QPushButton(self.tr("Send"))
        self.send_button.setAccessibleName(self.tr("Send message"))

        right = QWidget()
        column = QVBoxLayout(right)
        column.addWidget(self.header)
        column.addWidget(self.history_note)
        column.addWidget(self.history, 1)
        row = QHBoxLayout()
        row.addWidget(self.composer, 1)
        row.addWidget(self.send_button)
        column.addLayout(row)
        left = QWidget()
        list_column = QVBoxLayout(left)
        list_column.setContentsMargins(0, 0, 0, 0)
        list_column.addWidget(self.new_button)
        list_column.addWidget(self.conversations, 1)
        splitter = QSplitter()
        splitter.addWidget(left)
        splitter.addWidget(right)
        splitter.setStretchFactor(1, 3)
        self.setCentralWidget(splitter)

        self.connection_bar = ConnectionStatusBar(self)
        self.setStatusBar(self.connection_bar)
        self._build_menus()

        self.conversations.selectionModel().currentChanged.connect(self._on_conversation_clicked)
        self.history.older_wanted.connect(self._ask_older)
        self.history.link_activated.connect(self.link_activated)
        self.history.customContextMenuRequested.connect(self._message_menu)
        self.new_button.clicked.connect(self.new_conversation_requested)
        self.history_model.rowsInserted.connect(lambda _parent, first, last: self._attach_failed(first, last))
        self.history_model.modelReset.connect(lambda: self._attach_failed(0, self.history_model.rowCount() - 1))
        self.composer.submitted.connect(self._send)
        self.send_button.clicked.connect(self._send)
        self._update_send_enabled()
        self.composer.textChanged.connect(self._update_send_enabled)

    def _build_menus(self) -> None:
        account = self.menuBar().addMenu(self.tr("&Account"))
        self.identity_action = QAction(self)  # who and where, as the first line of the menu; not a command
        self.identity_action.setEnabled(False)
        self.identity_action.setVisible(False)
        account.addAction(self.identity_action)
        self.new_action = QAction(self.tr("&New conversation…"), self)
        self.new_action.setShortcut(QKeySequence.StandardKey.New)
        self.new_action.triggered.connect(self.new_conversation_requested)
        account.addSeparator()
        self.switch_action = QAction(self.tr("&Switch account…"), self)
        self.logout_action = QAction(self.tr("&Log out"), self)
        quit_action = QAction(self.tr("&Quit"), self)
        quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        account.addActions([self.switch_action, self.logout_action])
        account.addSeparator()
        self.settings_action = QAction(self.tr("S&ettings…"), self)
        # Linux desktops have no standard key for it (Qt's list is empty there): Ctrl+, as GNOME and KDE apps use.
        preferences = QKeySequence.keyBindings(QKeySequence.StandardKey.Preferences)
        self.settings_action.setShortcuts(preferences or [QKeySequence("Ctrl+,")])
        self.settings_action.setMenuRole(QAction.MenuRole.PreferencesRole)  # macOS: in the application menu
        self.settings_action.triggered.connect(self.settings_requested)
        account.addAction(self.settings_action)
        account.addSeparator()
        account.addAction(quit_action)
        self.switch_action.triggered.connect(self.switch_account_requested)
        self.logout_action.triggered.connect(self.logout_requested)
        quit_action.triggered.connect(self.quit_requested)
        self.menuBar().addMenu(self.tr("&Conversations")).addAction(self.new_action)
        self.addActions([self.new_action, self.settings_action])  # their keys work while the menu bar is hidden

    # -- read-only views for tests and the composition root -------------------------------------
    def history_lines(self) -> list[str]:
        """Every row of the open conversation's window as it reads on screen (and to a screen reader), oldest
        first."""
        return self.history_model.lines()

    def conversation_lines(self) -> list[str]:
        model = self.conversation_model
        return [str(model.data(model.index(i))) for i in range(model.rowCount())]

    def failed_row(self, nonce: str) -> _FailedRow | None:
        model = self.history_model
        for i in range(model.rowCount()):
            row = model.row(i)
            widget = self.history.indexWidget(model.index(i))
            if row.kind == FAILED and row.nonce == nonce and isinstance(widget, _FailedRow):
                return widget
        return None

    def current_conversation(self) -> str:
        return self._current

    # -- slots ----------------------------------------------------------------------------------
    def set_user(self, user_id: str, server: str = "") -> None:
        """Who is logged in, on which server (its title): in the title, the account menu and the status bar."""
        self._user_id = user_id
        self.history_model.own_user = user_id
        who = shown(user_id, SHORT)
        where = f"{who} · {shown(server, SHORT)}" if server else who
        self.setWindowTitle(self.tr("im-desktop — {user}").format(user=where) if user_id else self.tr("im-desktop"))
        # A menu item's text is not rich text, but "&" marks a mnemonic: doubled, it shows as itself.
        self.identity_action.setText(self.tr("Logged in as {user}").format(user=where).replace("&", "&&"))
        self.identity_action.setVisible(bool(user_id))
        self.connection_bar.set_identity(user_id, server)

    def author_actions(self, row: int) -> list[QAction]:
        """What a message's author offers: "Message bob" (a direct conversation), unless it is our own."""
        if not 0 <= row < self.history_model.rowCount():
            return []
        author = self.history_model.row(row).user_id
        if not author or author == self._user_id:
            return []
        action = QAction(self.tr("Message {user}").format(user=shown(author, SHORT)).replace("&", "&&"), self)
        action.triggered.connect(lambda: self.message_user_requested.emit(author))
        return [action]

    def set_conversations(self, conversations: Iterable[Conversation]) -> None:
        """Refill the list, keeping the open conversation selected (without opening it again)."""
        selection = self.conversations.selectionModel()
        selection.blockSignals(True)
        try:
            self.conversation_model.set_conversations(list(conversations))
            row = self.conversation_model.row_of(self._current) if self._current else -1
            if row >= 0:
                selection.setCurrentIndex(self.conversation_model.index(row),
                                          QItemSelectionModel.SelectionFlag.ClearAndSelect)  # fmt: skip
        finally:
            selection.blockSignals(False)
        if not self._current and self.conversation_model.rowCount():
            self.conversations.setCurrentIndex(self.conversation_model.index(0))

    def show_history(self, channel_id: str, messages: Iterable[CachedMessage], outbox: Iterable[OutboxItem]) -> None:
        """Open a conversation whose messages are all at hand (oldest first)."""
        self.open_history(channel_id, ListSource(messages), outbox)

    def open_history(self, channel_id: str, source: HistorySource, outbox: Iterable[OutboxItem], *,
                     unread: int = 0) -> None:  # fmt: skip
        """Open a conversation on its newest messages, read from `source` a page at a time; the oldest of the
        `unread` newest messages gets the "new messages" marker, and the view starts there if it is far up."""
        if channel_id != self._current:
            self.history.reset_paging()
            self.history_note.hide()
        self._current = channel_id
        row = self.conversation_model.row_of(channel_id)
        self.header.setText(self.conversation_model.name(row) if row >= 0 else shown(channel_id, SHORT))
        self.history.unseen = 0
        self.history_model.open(channel_id, source, outbox, unread=unread)
        self.history.scroll_to_latest()
        marker = self.history_model.row_of(self.history_model.marker) if self.history_model.marker else -1
        if marker >= 0 and self.history.visualRect(self.history_model.index(marker)).top() < 0:
            # More is new than fits: start at the first new message, not at the end of them.
            self.history.scrollTo(self.history_model.index(marker), QListView.ScrollHint.PositionAtTop)
        self.history.update_jump()
        self._update_send_enabled()

    def set_outbox(self, outbox: Iterable[OutboxItem]) -> None:
        """What is not on the server yet, below the history: waiting (grey) or failed (with Retry, Delete)."""
        with self.history.keeping_bottom():
            self.history_model.set_outbox(outbox)

    def on_message(self, channel_id: str, message: dict[str, Any]) -> None:
        """A live message; shown at once if its conversation is open (above what is still in the outbox). If
        the person is reading further up, it is counted on the "jump to latest" button and the first one gets
        the "new messages" marker."""
        message_id = message.get("id")
        if channel_id != self._current or not isinstance(message_id, str) or not message_id:
            return
        raw_user = message.get("user")
        user: dict[str, Any] = raw_user if isinstance(raw_user, dict) else {}
        user_id = user.get("id") if isinstance(user.get("id"), str) else ""
        created = message.get("created_at")
        created = created if isinstance(created, int) and not isinstance(created, bool) else None
        when = created or int(QDateTime.currentMSecsSinceEpoch())  # no time given: when it reached us
        content = message.get("content") if isinstance(message.get("content"), str) else ""
        cached = CachedMessage(channel_id, message_id, str(user_id), str(content), when)
        following = self.history.at_bottom() and self.history_model.at_latest
        with self.history.keeping_bottom():
            added = self.history_model.add_live(cached)
        mine = user_id == self._user_id
        if (added or not self.history_model.at_latest) and not following and not mine:
            self.history.unseen += 1
            if not self.history_model.marker:
                self.history_model.set_marker("m:" + message_id)
                self.history.scheduleDelayedItemsLayout()
            self.history.update_jump()

    def catch_up(self) -> None:
        """The cache may hold newer messages than the open conversation shows (a resync): show them."""
        with self.history.keeping_bottom():
            self.history_model.catch_up()

    def on_older_loaded(self, channel_id: str, new: int, more: bool) -> None:
        """The page asked for with older_requested is in the cache (`new` messages; `more` before them)."""
        if channel_id != self._current:
            return
        self.history.on_older_loaded(new, more)
        self._say(self.tr("This is the beginning of the conversation.") if not more else "")

    def on_older_failed(self, channel_id: str) -> None:
        if channel_id == self._current:
            self.history.on_older_failed()
            self._say("")

    # -- internals ------------------------------------------------------------------------------
    def _say(self, note: str) -> None:
        self.history_note.setText(note)
        self.history_note.setVisible(bool(note))

    def _ask_older(self) -> None:
        oldest = self.history_model.oldest()
        self._say(self.tr("Loading older messages…"))
        self.older_requested.emit(self._current, oldest.id if oldest is not None else "")

    def _attach_failed(self, first: int, last: int) -> None:
        """A failed outbox row is a row widget with Retry and Delete (few: only refused messages)."""
        model = self.history_model
        for i in range(max(0, first), last + 1):
            row = model.row(i)
            index = model.index(i)
            if row.kind == FAILED and self.history.indexWidget(index) is None:
                self.history.setIndexWidget(index, _FailedRow(model.line(row), self, row.nonce))

    def _message_menu(self, point: QPoint) -> None:
        actions = self.author_actions(self.history.indexAt(point).row())
        if actions:
            menu = QMenu(self)
            menu.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
            menu.addActions(actions)
            menu.popup(self.history.viewport().mapToGlobal(point))  # popup(), not exec(): no nested loop

    def _on_conversation_clicked(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if current.isValid():
            self.conversation_selected.emit(str(current.data(CHANNEL_ROLE)))

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
