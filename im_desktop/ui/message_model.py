"""The open conversation as a list model: a window of cached messages read a page at a time, then the outbox."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from PySide6.QtCore import (
    QAbstractListModel,
    QCoreApplication,
    QDateTime,
    QLocale,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
)

from im_desktop.local.cache import CachedMessage, OutboxItem
from im_desktop.ui.messages import describe_error
from im_desktop.ui.plain import SHORT, shown
from im_desktop.ui.rich_text import MESSAGE_CHARS, message_text

__all__ = ["FAILED", "MAX_ROWS", "MESSAGE", "PAGE", "PENDING", "HistorySource", "ListSource", "MessageModel", "Row"]

MESSAGE, PENDING, FAILED = 0, 1, 2  # a message on the server; the outbox: waiting, or refused
PAGE = 100  # messages read from the source per step
MAX_ROWS = 600  # messages held at once: scrolling further drops the far end, so any length costs the same
KIND_ROLE = Qt.ItemDataRole.UserRole
NONCE_ROLE = Qt.ItemDataRole.UserRole + 1
_ROOT = QModelIndex()
_Index = QModelIndex | QPersistentModelIndex


class HistorySource(Protocol):
    """Where the window reads a conversation from, oldest first, a page at a time (the cache, in the app)."""

    def older(self, than: CachedMessage | None, limit: int) -> list[CachedMessage]:
        """Up to `limit` messages just before `than` (the newest when None)."""
        ...

    def newer(self, than: CachedMessage, limit: int) -> list[CachedMessage]:
        """Up to `limit` messages just after `than`."""
        ...


class ListSource:
    """A conversation already in memory (a list, oldest first) as a HistorySource."""

    def __init__(self, messages: Iterable[CachedMessage]) -> None:
        self._messages = list(messages)
        self._at = {m.id: i for i, m in enumerate(self._messages)}

    def older(self, than: CachedMessage | None, limit: int) -> list[CachedMessage]:
        end = len(self._messages) if than is None else self._at.get(than.id, 0)
        return self._messages[max(0, end - limit) : end]

    def newer(self, than: CachedMessage, limit: int) -> list[CachedMessage]:
        start = self._at.get(than.id, len(self._messages) - 1) + 1
        return self._messages[start : start + limit]


@dataclass(slots=True)
class Row:
    kind: int
    uid: str  # "m:<message id>" or "o:<outbox nonce>": stable while the row lives
    user_id: str
    content: str  # Satori content (MESSAGE), or the text as typed (PENDING, FAILED)
    created_at: int | None = None  # ms; None while pending
    message: CachedMessage | None = None
    nonce: str = ""
    error: str = ""  # why the server refused it (FAILED), already worded for people
    line: str = ""  # the row as plain text (what a screen reader reads), made on first use


def _tr(text: str) -> str:
    return QCoreApplication.translate("MainWindow", text)  # the words the list had before it was a model


def time_text(created_at_ms: int | None) -> str:
    if created_at_ms is None:
        return _tr("pending")
    stamp = QDateTime.fromMSecsSinceEpoch(created_at_ms if 0 < created_at_ms < 2**47 else 0)
    return QLocale().toString(stamp.time(), QLocale.FormatType.ShortFormat)


def _line(row: Row) -> str:
    if row.kind == FAILED:
        text = _tr("Not sent: {text}").format(text=shown(row.content, MESSAGE_CHARS, multiline=True))
        return f"{text}\n{row.error}"
    body = message_text(row.content) if row.kind == MESSAGE else shown(row.content, MESSAGE_CHARS, multiline=True)
    return f"{shown(row.user_id, SHORT)} · {time_text(row.created_at)}\n{body}"


def _message_row(m: CachedMessage) -> Row:
    return Row(MESSAGE, "m:" + m.id, m.user_id, m.content, m.created_at, m)


class MessageModel(QAbstractListModel):
    """At most MAX_ROWS messages of the open conversation, then (when the window reaches the newest message)
    what waits in the outbox. The view moves the window with fetch_older() and fetch_newer()."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.channel_id = ""
        self.own_user = ""
        self._source: HistorySource = ListSource(())
        self._rows: list[Row] = []
        self._messages = 0  # rows before this index are messages; the rest are the outbox
        self._ids: set[str] = set()
        self._outbox: list[OutboxItem] = []
        self.at_latest = True  # the window ends with the newest message
        self.older_in_source = False  # the source may hold messages before the window
        self.marker = ""  # uid of the first new message ("new messages" are drawn above it)

    # -- reading --------------------------------------------------------------------------------
    def rowCount(self, parent: _Index = _ROOT) -> int:
        return 0 if parent.isValid() else len(self._rows)

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        row = self._rows[index.row()]
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.AccessibleTextRole):
            return self.line(row)
        if role == KIND_ROLE:
            return row.kind
        if role == NONCE_ROLE:
            return row.nonce
        return None

    @staticmethod
    def line(row: Row) -> str:
        if not row.line:
            row.line = _line(row)
        return row.line

    def row(self, i: int) -> Row:
        return self._rows[i]

    def row_of(self, uid: str) -> int:
        return next((i for i, row in enumerate(self._rows) if row.uid == uid), -1)

    def lines(self) -> list[str]:
        return [self.line(row) for row in self._rows]

    def message_count(self) -> int:
        return self._messages

    def oldest(self) -> CachedMessage | None:
        return self._rows[0].message if self._messages else None

    def newest(self) -> CachedMessage | None:
        return self._rows[self._messages - 1].message if self._messages else None

    # -- the window -----------------------------------------------------------------------------
    def open(self, channel_id: str, source: HistorySource, outbox: Iterable[OutboxItem], *, unread: int = 0) -> None:
        """Show the newest messages of a conversation; `unread` of them (from others) are marked new."""
        self.beginResetModel()
        self.channel_id, self._source, self.marker = channel_id, source, ""
        self._outbox = [item for item in outbox if item.channel_id == channel_id]
        wanted = max(PAGE, min(unread + 1, MAX_ROWS))  # the first unread one is in the window if it can be
        messages = source.older(None, wanted)
        self._set_window(messages, older=len(messages) >= wanted)
        self.endResetModel()
        self._mark_unread(unread)

    def jump_to_latest(self) -> None:
        """The window back on the newest messages (after scrolling far up)."""
        if self.at_latest:
            return
        self.beginResetModel()
        messages = self._source.older(None, PAGE)
        self._set_window(messages, older=len(messages) >= PAGE)
        self.endResetModel()

    def _set_window(self, messages: Sequence[CachedMessage], *, older: bool) -> None:
        self._rows = [_message_row(m) for m in messages]
        self._messages = len(self._rows)
        self._ids = {m.id for m in messages}
        self.at_latest, self.older_in_source = True, older
        self._rows.extend(self._outbox_rows())

    def peek_older(self) -> list[Row]:
        """The page before the window as rows, read but not shown (the view lays them out ahead of time)."""
        oldest = self.oldest()
        if not self.older_in_source or oldest is None:
            return []
        return [_message_row(m) for m in self._source.older(oldest, PAGE)]

    def fetch_older(self) -> int:
        """Read the page before the window from the source; returns how many rows came in at the top."""
        if not self.older_in_source:
            return 0
        got = self._source.older(self.oldest(), PAGE)
        self.older_in_source = len(got) >= PAGE
        fresh = [m for m in got if m.id not in self._ids]
        if not fresh:
            return 0
        self.beginInsertRows(QModelIndex(), 0, len(fresh) - 1)
        self._rows[0:0] = [_message_row(m) for m in fresh]
        self._messages += len(fresh)
        self._ids.update(m.id for m in fresh)
        self.endInsertRows()
        if self._messages > MAX_ROWS:  # the newest end goes, and with it the outbox rows
            self._remove(MAX_ROWS, len(self._rows))
            self.at_latest = False
        return len(fresh)

    def fetch_newer(self) -> int:
        """Read the page after the window; returns how many rows came in at the bottom."""
        newest = self.newest()
        if self.at_latest or newest is None:
            return 0
        got = self._source.newer(newest, PAGE)
        came = self._append(got)
        if len(got) < PAGE:
            self.at_latest = True
            self._insert_outbox()
        return came

    def _append(self, messages: Sequence[CachedMessage]) -> int:
        """New rows after the newest message (above the outbox); the oldest go if the window is full."""
        fresh = [m for m in messages if m.id not in self._ids]
        if not fresh:
            return 0
        self.beginInsertRows(QModelIndex(), self._messages, self._messages + len(fresh) - 1)
        self._rows[self._messages : self._messages] = [_message_row(m) for m in fresh]
        self._messages += len(fresh)
        self._ids.update(m.id for m in fresh)
        self.endInsertRows()
        if self._messages > MAX_ROWS:
            self._remove(0, self._messages - MAX_ROWS)
            self.older_in_source = True
        return len(fresh)

    def _remove(self, start: int, end: int) -> None:
        if end <= start:
            return
        self.beginRemoveRows(QModelIndex(), start, end - 1)
        gone = self._rows[start:end]
        del self._rows[start:end]
        self._ids.difference_update(row.message.id for row in gone if row.message is not None)
        self._messages -= sum(1 for row in gone if row.kind == MESSAGE)
        self.endRemoveRows()

    # -- live changes ---------------------------------------------------------------------------
    def catch_up(self) -> int:
        """The source grew at the newest end (a resync after a reconnect): shown, if the window is there."""
        if not self.at_latest:
            return 0
        newest = self.newest()
        if newest is not None:
            return self._append(self._source.newer(newest, PAGE))
        got = self._source.older(None, PAGE)
        self.older_in_source = len(got) >= PAGE
        return self._append(got)

    def add_live(self, message: CachedMessage) -> bool:
        """A message that just arrived: added after the newest (above the outbox) when the window shows the
        newest messages. False if it was already shown or the window is elsewhere."""
        return self.at_latest and self._append([message]) == 1

    def set_outbox(self, outbox: Iterable[OutboxItem]) -> None:
        """What is not on the server yet, after the messages (shown while the window reaches the newest)."""
        self._outbox = [item for item in outbox if item.channel_id == self.channel_id]
        self._remove(self._messages, len(self._rows))
        if self.at_latest:
            self._insert_outbox()

    def _insert_outbox(self) -> None:
        rows = self._outbox_rows()
        if rows and len(self._rows) == self._messages:
            self.beginInsertRows(QModelIndex(), self._messages, self._messages + len(rows) - 1)
            self._rows.extend(rows)
            self.endInsertRows()

    def _outbox_rows(self) -> list[Row]:
        rows = []
        for item in self._outbox:
            if item.failed:
                error = describe_error(item.error_code, item.error)
                rows.append(Row(FAILED, "o:" + item.nonce, self.own_user, item.content, nonce=item.nonce, error=error))
            else:
                rows.append(Row(PENDING, "o:" + item.nonce, self.own_user, item.content, nonce=item.nonce))
        return rows

    # -- the "new messages" marker --------------------------------------------------------------
    def _mark_unread(self, unread: int) -> None:
        """The marker goes above the oldest of the `unread` newest messages from others."""
        if unread <= 0:
            return
        seen = 0
        for i in range(self._messages - 1, -1, -1):
            if self._rows[i].user_id != self.own_user:
                seen += 1
                if seen == unread:
                    self.set_marker(self._rows[i].uid)
                    return
        if self._messages and not self.older_in_source:
            self.set_marker(self._rows[0].uid)

    def set_marker(self, uid: str) -> None:
        old, self.marker = self.marker, uid
        for changed in (old, uid):
            i = self.row_of(changed) if changed else -1
            if i >= 0:
                self.dataChanged.emit(self.index(i), self.index(i))
