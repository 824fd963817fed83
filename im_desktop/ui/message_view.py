"""The message list: a QListView over MessageModel drawn by a delegate, paging at the top, "jump to latest"."""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager

from PySide6.QtCore import QEvent, QModelIndex, QPersistentModelIndex, QPoint, QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import (
    QAbstractTextDocumentLayout,
    QFont,
    QFontMetrics,
    QGuiApplication,
    QHelpEvent,
    QKeyEvent,
    QKeySequence,
    QMouseEvent,
    QPainter,
    QPalette,
    QResizeEvent,
    QTextDocument,
    QWheelEvent,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QListView,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QToolButton,
    QToolTip,
    QWidget,
)

from im_desktop.ui.message_model import FAILED, MAX_ROWS, MESSAGE, PENDING, MessageModel, Row, time_text
from im_desktop.ui.plain import SHORT, isolate, plain_tooltip, shown
from im_desktop.ui.rich_text import Style, render

__all__ = ["MessageDelegate", "MessageView"]

PAD = 6
MAX_DOCUMENTS = 400  # laid-out rows kept for painting; more than a screenful, far fewer than a window
MAX_HEIGHTS = 2 * MAX_ROWS  # row heights kept: the whole window and then some, so scrolling far costs no more
# Within WARM_SCREENS of the top, each scroll step lays out WARM_ROWS of the page above ahead of time, so the
# step that brings the page in costs about as much as any other (a page at once would be a dropped frame).
WARM_SCREENS, WARM_ROWS = 6, 25
OLDER_FLOOR_S = 2.0  # after a failed page from the server, no new ask sooner than this
_Index = QModelIndex | QPersistentModelIndex


class MessageDelegate(QStyledItemDelegate):
    """Draws a row: "who · when" over the formatted text, and "New messages" above the first new one. Heights
    are kept per row and width, so laying out a window of rows costs a dictionary look-up each."""

    def __init__(self, view: MessageView) -> None:
        super().__init__(view)
        self._view = view
        self._documents: OrderedDict[str, QTextDocument] = OrderedDict()
        self._heights: OrderedDict[str, int] = OrderedDict()
        self._width = -1
        self._style: Style | None = None

    def reset(self) -> None:
        """Forget every layout (the palette, the font or the width changed)."""
        self._documents.clear()
        self._heights.clear()
        self._style = None

    def _text_width(self) -> int:
        width = max(80, self._view.viewport().width() - 2 * PAD)
        if width != self._width:
            self._width = width
            self._heights.clear()  # documents re-wrap lazily, on their next use
        return width

    def _bold(self) -> QFont:
        font = QFont(self._view.font())
        font.setBold(True)
        return font

    def _header_height(self) -> int:
        return QFontMetrics(self._bold()).height() + 2

    def _marker_height(self) -> int:
        return QFontMetrics(self._view.font()).height() + 8

    def document(self, row: Row) -> QTextDocument:
        width = self._text_width()
        document = self._documents.get(row.uid)
        if document is None:
            if self._style is None:
                self._style = Style.from_palette(self._view.palette())
            document = QTextDocument()
            document.setUndoRedoEnabled(False)
            document.setDocumentMargin(0)
            document.setDefaultFont(self._view.font())
            render(document, row.content, self._style, own_user=self._view.model_.own_user, markup=row.kind == MESSAGE)
            self._documents[row.uid] = document
            if len(self._documents) > MAX_DOCUMENTS:
                self._documents.popitem(last=False)
        else:
            self._documents.move_to_end(row.uid)
        if document.textWidth() != width:
            document.setTextWidth(width)
        return document

    def prepare(self, rows: list[Row], budget: int) -> list[Row]:
        """Lay out up to `budget` of these rows now (their heights and documents are kept); the rest to do."""
        for row in rows[:budget]:
            self.row_height(row)
        return rows[budget:]

    def _marked(self, row: Row) -> bool:
        return bool(row.uid) and row.uid == self._view.model_.marker

    def row_height(self, row: Row) -> int:
        key = f"{row.kind}{'!' if self._marked(row) else ''}{row.uid}"
        self._text_width()
        height = self._heights.get(key)
        if height is None:
            body = math.ceil(self.document(row).size().height())
            height = 2 * PAD + self._header_height() + body + (self._marker_height() if self._marked(row) else 0)
            self._heights[key] = height
            if len(self._heights) > MAX_HEIGHTS:  # the longest unused go: rows the window dropped long ago
                self._heights.popitem(last=False)
        else:
            self._heights.move_to_end(key)
        return height

    def sizeHint(self, option: QStyleOptionViewItem, index: _Index) -> QSize:
        row = self._view.model_.row(index.row())
        width = self._view.viewport().width()
        if row.kind == FAILED:  # a row widget (text, Retry, Delete) stands there: as tall as it needs
            widget = self._view.indexWidget(self._view.model_.index(index.row()))
            if widget is None:
                return QSize(width, QFontMetrics(self._view.font()).height() * 2 + 2 * PAD)
            hint = widget.heightForWidth(width) if widget.hasHeightForWidth() else -1
            return QSize(width, hint if hint > 0 else widget.sizeHint().height())
        return QSize(width, self.row_height(row))

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: _Index) -> None:
        row = self._view.model_.row(index.row())
        style = self._view.style()
        style.drawPrimitive(QStyle.PrimitiveElement.PE_PanelItemViewItem, option, painter, self._view)
        if row.kind == FAILED:
            return
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        palette = option.palette
        text_role = QPalette.ColorRole.HighlightedText if selected else QPalette.ColorRole.Text
        rect = option.rect.adjusted(PAD, PAD, -PAD, -PAD)
        painter.save()
        y = rect.top()
        if self._marked(row):
            self._paint_marker(painter, palette, rect.left(), y, rect.width())
            y += self._marker_height()
        bold = self._bold()
        painter.setFont(bold)
        painter.setPen(palette.color(text_role))
        who = QFontMetrics(bold).elidedText(isolate(shown(row.user_id, SHORT)), Qt.TextElideMode.ElideRight,
                                            rect.width() // 2)  # fmt: skip
        baseline = y + QFontMetrics(bold).ascent()
        painter.drawText(QPoint(rect.left(), baseline), who)
        painter.setFont(self._view.font())
        if not selected:
            painter.setPen(palette.color(QPalette.ColorRole.PlaceholderText))
        painter.drawText(QPoint(rect.left() + QFontMetrics(bold).horizontalAdvance(who), baseline),
                         f" · {time_text(row.created_at)}")  # fmt: skip
        y += self._header_height()
        document = self.document(row)
        painter.translate(rect.left(), y)
        context = QAbstractTextDocumentLayout.PaintContext()
        colours = QPalette(palette)
        if row.kind == PENDING and not selected:
            colours.setColor(QPalette.ColorRole.Text, palette.color(QPalette.ColorRole.PlaceholderText))
        else:
            colours.setColor(QPalette.ColorRole.Text, palette.color(text_role))
        context.palette = colours
        context.clip = QRectF(0, 0, rect.width(), document.size().height())
        document.documentLayout().draw(painter, context)
        painter.restore()

    def _paint_marker(self, painter: QPainter, palette: QPalette, x: int, y: int, width: int) -> None:
        label = self._view.tr("New messages")
        metrics = QFontMetrics(self._view.font())
        height = self._marker_height() - 4
        accent = palette.color(QPalette.ColorRole.Highlight)
        painter.setPen(accent)
        painter.setFont(self._view.font())
        text_width = metrics.horizontalAdvance(label) + 16
        middle = y + height // 2
        left_end = x + (width - text_width) // 2
        painter.drawLine(x, middle, left_end, middle)
        painter.drawLine(left_end + text_width, middle, x + width, middle)
        painter.drawText(QRectF(left_end, y, text_width, height), Qt.AlignmentFlag.AlignCenter, label)

    def anchor_at(self, index: _Index, point: QPoint) -> str:
        """The address of the link under `point` (viewport coordinates) in this row, or ""."""
        row = self._view.model_.row(index.row())
        if row.kind == FAILED:
            return ""
        rect = self._view.visualRect(self._view.model_.index(index.row()))
        top = rect.top() + PAD + self._header_height() + (self._marker_height() if self._marked(row) else 0)
        local = QPointF(point.x() - rect.left() - PAD, point.y() - top)
        if local.y() < 0:
            return ""
        return str(self.document(row).documentLayout().anchorAt(local))


class MessageView(QListView):
    """Rows of MessageModel. Scrolling near the top reads older messages from the source and, when it has no
    more, asks for them (older_wanted); scrolling back down reads newer ones. Where the person was reading
    stays put while rows come and go above. Links are reported (link_activated), never opened here.

    Signals:
        older_wanted(): the source has nothing older than the window: the server should be asked.
        link_activated(str): the address of a link that was clicked.
    """

    older_wanted = Signal()
    link_activated = Signal(str)

    def __init__(self, model: MessageModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model_ = model
        self.setModel(model)
        self.delegate = MessageDelegate(self)
        self.setItemDelegate(self.delegate)
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOn)  # a steady width: no re-wrap loop
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setUniformItemSizes(False)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setMouseTracking(True)
        self.verticalScrollBar().setSingleStep(24)
        self.verticalScrollBar().valueChanged.connect(self._on_scrolled)
        self.jump_button = QToolButton(self)
        self.jump_button.setAccessibleName(self.tr("Jump to latest"))
        self.jump_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        self.jump_button.clicked.connect(self.jump_to_latest)
        self.jump_button.hide()
        self.waiting_older = False  # a page was asked of the server and has not come
        self.older_done = False  # the server has nothing older
        self.unseen = 0  # messages that arrived while the person looked elsewhere
        self._failed_at = -math.inf
        self._adjusting = False
        self._pressed = ""
        self._ahead: tuple[tuple[str, str], list[Row]] = (("", ""), [])  # (channel, oldest id): rows to lay out

    # -- where the person is --------------------------------------------------------------------
    def at_bottom(self) -> bool:
        bar = self.verticalScrollBar()
        return bar.value() >= bar.maximum() - 2

    def reset_paging(self) -> None:
        """Another conversation: nothing is being waited for, and its server history is not known to end."""
        self.waiting_older, self.older_done, self.unseen = False, False, 0
        self._failed_at = -math.inf
        self.delegate.reset()  # its layouts are keyed by message id, which another conversation may reuse

    @contextmanager
    def keeping_bottom(self) -> Iterator[None]:
        """Rows change at the end: if the newest row was in sight, it still is afterwards."""
        was_at_bottom = self.at_bottom() and self.model_.at_latest
        yield
        if was_at_bottom:
            self.scroll_to_latest()
        self.update_jump()

    def scroll_to_latest(self) -> None:
        self.executeDelayedItemsLayout()
        self.scrollToBottom()
        self.unseen = 0

    @contextmanager
    def _anchored(self) -> Iterator[None]:
        """The row at the top of the viewport keeps its place on screen while rows come or go around it."""
        anchor = self.indexAt(QPoint(PAD, PAD))
        uid = self.model_.row(anchor.row()).uid if anchor.isValid() else ""
        top = self.visualRect(anchor).top() if anchor.isValid() else 0
        self._adjusting = True  # the scroll bar moves while rows change: that is not the person scrolling
        try:
            yield
            self.executeDelayedItemsLayout()
            row = self.model_.row_of(uid) if uid else -1
            if row >= 0:
                bar = self.verticalScrollBar()
                bar.setValue(bar.value() + self.visualRect(self.model_.index(row)).top() - top)
        finally:
            self._adjusting = False

    def _on_scrolled(self, value: int) -> None:
        if self._adjusting:
            return
        bar, margin = self.verticalScrollBar(), self.viewport().height()
        if value <= bar.minimum() + margin:
            self.fill_older()
        elif value <= bar.minimum() + WARM_SCREENS * margin and self.model_.older_in_source:
            self._warm()
        elif value >= bar.maximum() - margin and not self.model_.at_latest:
            with self._anchored():
                self.model_.fetch_newer()
        if self.model_.at_latest and self.at_bottom():
            self.unseen = 0
        self.update_jump()

    def _warm(self) -> None:
        oldest = self.model_.oldest()
        key = (self.model_.channel_id, oldest.id if oldest is not None else "")
        if self._ahead[0] != key:  # the window moved: the page above it is another one
            self._ahead = (key, self.model_.peek_older())
        self._ahead = (key, self.delegate.prepare(self._ahead[1], WARM_ROWS))

    def fill_older(self) -> None:
        """Older rows above: from the source if it has them, else (once, until it answers) from the server."""
        if self.model_.older_in_source:
            with self._anchored():
                came = self.model_.fetch_older()
            if came:
                return
        if self.older_done or self.waiting_older or time.monotonic() - self._failed_at < OLDER_FLOOR_S:
            return
        self.waiting_older = True
        self.older_wanted.emit()

    def on_older_loaded(self, new: int, more: bool) -> None:
        """The server's page is in the source: shown at once if the person is still at the top."""
        self.waiting_older, self.older_done = False, not more
        if new:
            self.model_.older_in_source = True
            if self.verticalScrollBar().value() <= self.viewport().height():
                self.fill_older()

    def on_older_failed(self) -> None:
        self.waiting_older = False
        self._failed_at = time.monotonic()

    def jump_to_latest(self) -> None:
        self.model_.jump_to_latest()
        self.scroll_to_latest()
        self.update_jump()

    def update_jump(self) -> None:
        bar = self.verticalScrollBar()
        away = not self.model_.at_latest or bar.value() < bar.maximum() - self.viewport().height() // 2
        if self.unseen:
            self.jump_button.setText(self.tr("{count} new ↓").format(count=self.unseen))
        else:
            self.jump_button.setText(self.tr("Jump to latest ↓"))
        self.jump_button.setVisible(away)
        if away:
            self._place_jump_button()

    def _place_jump_button(self) -> None:
        self.jump_button.adjustSize()
        area = self.viewport().geometry()
        size = self.jump_button.size()
        self.jump_button.move(area.right() - size.width() - 12, area.bottom() - size.height() - 12)
        self.jump_button.raise_()

    # -- input ----------------------------------------------------------------------------------
    def anchor_at(self, point: QPoint) -> str:
        index = self.indexAt(point)
        return self.delegate.anchor_at(index, point) if index.isValid() else ""

    def wheelEvent(self, event: QWheelEvent) -> None:
        at_top = self.verticalScrollBar().value() == self.verticalScrollBar().minimum()
        super().wheelEvent(event)
        if at_top and event.angleDelta().y() > 0:  # already at the top the value does not change: ask anyway
            self.fill_older()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        super().mouseMoveEvent(event)
        if self.anchor_at(event.position().toPoint()):
            self.viewport().setCursor(Qt.CursorShape.PointingHandCursor)
        else:
            self.viewport().unsetCursor()

    def mousePressEvent(self, event: QMouseEvent) -> None:
        left = event.button() == Qt.MouseButton.LeftButton
        self._pressed = self.anchor_at(event.position().toPoint()) if left else ""
        super().mousePressEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        super().mouseReleaseEvent(event)
        pressed, self._pressed = self._pressed, ""
        released = self.anchor_at(event.position().toPoint())
        if pressed and event.button() == Qt.MouseButton.LeftButton and released == pressed:
            self.link_activated.emit(pressed)

    def viewportEvent(self, event: QEvent) -> bool:
        if event.type() == QEvent.Type.ToolTip and isinstance(event, QHelpEvent):
            href = self.anchor_at(event.pos())
            if href:  # the whole address, as plain text: what the link's words may hide
                QToolTip.showText(event.globalPos(), plain_tooltip(shown(href)), self.viewport())
                return True
        return super().viewportEvent(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.matches(QKeySequence.StandardKey.Copy):
            rows = sorted(index.row() for index in self.selectionModel().selectedIndexes())
            QGuiApplication.clipboard().setText("\n\n".join(self.model_.line(self.model_.row(r)) for r in rows))
            return
        super().keyPressEvent(event)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)  # rows re-wrap: the delegate notices the new width on the next layout
        self.update_jump()

    def changeEvent(self, event: QEvent) -> None:
        if event.type() in (QEvent.Type.PaletteChange, QEvent.Type.FontChange, QEvent.Type.StyleChange):
            self.delegate.reset()
            self.scheduleDelayedItemsLayout()
        super().changeEvent(event)
