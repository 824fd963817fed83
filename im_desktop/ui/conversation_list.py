"""The conversation list: a model of the cached conversations and a delegate drawing name, time, preview, unread."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import (
    QAbstractListModel,
    QDateTime,
    QLocale,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QRect,
    QSize,
    Qt,
)
from PySide6.QtGui import QFont, QFontMetrics, QPainter, QPalette
from PySide6.QtWidgets import QStyle, QStyledItemDelegate, QStyleOptionViewItem, QWidget

from im_desktop.local.cache import Conversation
from im_desktop.ui.plain import SHORT, shown
from im_desktop.ui.rich_text import message_text

__all__ = ["CHANNEL_ROLE", "ConversationDelegate", "ConversationModel", "preview_text", "when_text"]

CHANNEL_ROLE = Qt.ItemDataRole.UserRole
_ROOT = QModelIndex()
_Index = QModelIndex | QPersistentModelIndex
_PREVIEW = 120  # characters of the last message shown under the name
_PAD = 6


def preview_text(last_text: str) -> str:
    """The last message on one line, as read (markup decoded), short."""
    return shown(" ".join(message_text(last_text[: _PREVIEW * 20]).split()), _PREVIEW)


def when_text(at_ms: int, now: QDateTime | None = None) -> str:
    """The time for today's messages, the date for older ones; nothing for a conversation without any."""
    if not 0 < at_ms < 2**47:
        return ""
    moment = QDateTime.fromMSecsSinceEpoch(at_ms)
    locale = QLocale()
    if moment.date() == (now or QDateTime.currentDateTime()).date():
        return locale.toString(moment.time(), QLocale.FormatType.ShortFormat)
    return locale.toString(moment.date(), QLocale.FormatType.ShortFormat)


class ConversationModel(QAbstractListModel):
    """The cached conversations, newest first. Display text is the name with the unread count ("General  (2)");
    the preview and time are the accessible description."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._rows: list[Conversation] = []
        self._previews: list[str] = []  # each row's last message as read: parsed once per refresh, not per paint

    def rowCount(self, parent: _Index = _ROOT) -> int:
        return 0 if parent.isValid() else len(self._rows)

    def conversation(self, row: int) -> Conversation:
        return self._rows[row]

    def row_of(self, channel_id: str) -> int:
        return next((i for i, c in enumerate(self._rows) if c.channel_id == channel_id), -1)

    def preview(self, row: int) -> str:
        return self._previews[row]

    def name(self, row: int) -> str:
        return shown(self._rows[row].name, SHORT) or shown(self._rows[row].channel_id, SHORT)

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        conversation = self._rows[index.row()]
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.AccessibleTextRole):
            name = self.name(index.row())
            return f"{name}  ({conversation.unread})" if conversation.unread else name
        if role == Qt.ItemDataRole.AccessibleDescriptionRole:
            return " · ".join(t for t in (when_text(conversation.last_at), self._previews[index.row()]) if t)
        if role == CHANNEL_ROLE:
            return conversation.channel_id
        return None

    def set_conversations(self, conversations: list[Conversation]) -> None:
        """The same conversations in the same order are updated in place (the view keeps its scroll and
        selection); anything else is a new list."""
        previews = [preview_text(c.last_text) for c in conversations]
        if [c.channel_id for c in conversations] == [c.channel_id for c in self._rows]:
            self._rows, self._previews = conversations, previews
            if conversations:
                self.dataChanged.emit(self.index(0), self.index(len(conversations) - 1))
            return
        self.beginResetModel()
        self._rows, self._previews = conversations, previews
        self.endResetModel()


class ConversationDelegate(QStyledItemDelegate):
    """Two lines per conversation: the name (bold while unread) and its time; the last message and the count."""

    def __init__(self, view: QWidget, model: ConversationModel) -> None:
        super().__init__(view)
        self._view, self._model = view, model

    def sizeHint(self, option: QStyleOptionViewItem, index: _Index) -> QSize:
        line = QFontMetrics(self._view.font()).height()
        return QSize(200, 2 * line + 2 * _PAD + 2)

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: _Index) -> None:
        conversation = self._model.conversation(index.row())
        self._view.style().drawPrimitive(QStyle.PrimitiveElement.PE_PanelItemViewItem, option, painter, self._view)
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        palette: QPalette = option.palette
        text = palette.color(QPalette.ColorRole.HighlightedText if selected else QPalette.ColorRole.Text)
        quiet = text if selected else palette.color(QPalette.ColorRole.PlaceholderText)
        rect: QRect = option.rect.adjusted(_PAD, _PAD, -_PAD, -_PAD)
        font = QFont(self._view.font())
        metrics = QFontMetrics(font)
        line = metrics.height()
        painter.save()
        when = when_text(conversation.last_at)
        when_width = metrics.horizontalAdvance(when) + _PAD if when else 0
        painter.setPen(quiet)
        painter.setFont(font)
        painter.drawText(QRect(rect.left(), rect.top(), rect.width(), line), Qt.AlignmentFlag.AlignRight, when)
        name_font = QFont(font)
        name_font.setBold(bool(conversation.unread))
        painter.setFont(name_font)
        painter.setPen(text)
        name = QFontMetrics(name_font).elidedText(self._model.name(index.row()), Qt.TextElideMode.ElideRight,
                                                  rect.width() - when_width)  # fmt: skip
        painter.drawText(QRect(rect.left(), rect.top(), rect.width() - when_width, line), Qt.AlignmentFlag.AlignLeft,
                         name)  # fmt: skip
        badge_width = 0
        if conversation.unread:
            count = str(min(conversation.unread, 999)) + ("+" if conversation.unread > 999 else "")
            badge_width = metrics.horizontalAdvance(count) + line
            badge = QRect(rect.right() - badge_width + 1, rect.top() + line + 2, badge_width, line)
            painter.setRenderHint(QPainter.RenderHint.Antialiasing)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(palette.color(QPalette.ColorRole.Highlight))
            painter.drawRoundedRect(badge, line / 2, line / 2)
            painter.setPen(palette.color(QPalette.ColorRole.HighlightedText))
            painter.drawText(badge, Qt.AlignmentFlag.AlignCenter, count)
        painter.setFont(font)
        painter.setPen(quiet)
        preview_width = rect.width() - badge_width - (_PAD if badge_width else 0)
        preview = metrics.elidedText(self._model.preview(index.row()), Qt.TextElideMode.ElideRight, preview_width)
        painter.drawText(QRect(rect.left(), rect.top() + line + 2, preview_width, line), Qt.AlignmentFlag.AlignLeft,
                         preview)  # fmt: skip
        painter.restore()
