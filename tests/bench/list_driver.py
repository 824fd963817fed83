"""bench_lists' hands on one implementation: a shown main window over a real cache, opened, scrolled and fed."""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any, cast

from PySide6.QtCore import QEvent, QObject, QPoint, QPointF, Qt, QTimer, Signal
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QAbstractItemView, QAbstractSlider, QApplication, QListWidget, QMainWindow

from im_desktop.desktop.conversations import Conversations
from im_desktop.local.cache import LocalCache
from im_desktop.session.current import CurrentSession
from im_desktop.session.sync import store_event_message
from im_desktop.ui.main_window import MainWindow
from im_desktop.ui.message_view import MessageView
from tests.bench.bench_lists import BIG, OWN, WINDOW_SIZE, content_for
from tests.bench.legacy_history import HEAD_LIMIT, LegacyConversations, LegacyWindow
from tests.bench.stats import summary

__all__ = ["Driver"]

STUCK_STEPS = 3  # this many steps in a row without the top row moving: the list can go no further up


class _Pager(QObject):
    """The controller's HistoryPager as Conversations uses it. The bench cache holds the whole conversation,
    so a page asked of the server (past the oldest cached message) finds nothing older."""

    older_loaded = Signal(str, int, bool)
    older_failed = Signal(str, int, str)

    def request_older(self, channel_id: str, _before_id: str) -> None:
        QTimer.singleShot(0, lambda: self.older_loaded.emit(channel_id, 0, False))


class _Controller(QObject):
    """The parts of SessionController that Conversations reads and watches, over a real LocalCache."""

    message_received = Signal(str, object)
    conversations_changed = Signal()
    outbox_changed = Signal(int)

    def __init__(self, cache: LocalCache) -> None:
        super().__init__()
        self.cache: LocalCache | None = cache
        self.history = _Pager()


class _PaintCount(QObject):
    """Counts paint events of the list's viewport: proof that each timed step ended with the rows painted."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Paint:
            self.count += 1
        return False


class Driver:
    def __init__(self, impl: str, db: Path, total: int) -> None:
        self.app = cast(QApplication, QApplication.instance() or QApplication([]))
        self.impl, self.total = impl, total
        self.notes: list[str] = []
        self.cache = LocalCache(db)
        self.controller = _Controller(self.cache)
        self.rng = random.Random(11)
        self.paging: list[float] = []
        self.window: QMainWindow
        self.view: QAbstractItemView
        if impl == "new":
            window = MainWindow()
            window.set_user(OWN)
            session = CurrentSession()
            conversations = Conversations(window, None, session)
            session.replace(cast(Any, self.controller))
            self.window, self.view, self._open = window, window.history, conversations.open
            self._refresh = conversations.refresh
        else:
            legacy_window = LegacyWindow()
            legacy_window.set_user(OWN)
            legacy = LegacyConversations(legacy_window, lambda: self.cache, HEAD_LIMIT if impl == "head" else -1)
            legacy.watch(self.controller.message_received)
            self.window, self.view, self._open = legacy_window, legacy_window.history, legacy.open
            self._refresh = legacy.refresh
        self.paints = _PaintCount()
        self.view.viewport().installEventFilter(self.paints)
        self.window.resize(*WINDOW_SIZE)
        self.window.show()
        self.app.processEvents()
        self._refresh()  # as after login: the list is filled and its first (newest) conversation opens
        self.paint()

    def paint(self) -> None:
        """Posted events and delayed layouts run, then what changed is painted now, not when Qt would get to it
        (the viewport's paint count shows that it was)."""
        self.app.processEvents()
        self.window.repaint()

    def open_and_paint(self, channel_id: str) -> float:
        painted = self.paints.count
        began = time.perf_counter()
        self._open(channel_id)
        self.paint()
        took = time.perf_counter() - began
        if self.paints.count == painted:
            self.notes.append(f"open {channel_id}: the list was not painted")
        return took

    # -- where the view is --------------------------------------------------------------------------------------
    def top_from_end(self) -> int:
        """How many messages of BIG lie below the row at the top of the viewport (0: the newest)."""
        index = self.view.indexAt(QPoint(8, 8))
        if not index.isValid():
            return -1
        if isinstance(self.view, MessageView):
            uid = self.view.model_.row(index.row()).uid
            return self.total - 1 - int(uid[3:]) if uid.startswith("m:m") else -1
        assert isinstance(self.view, QListWidget)
        return self.view.count() - 1 - index.row()

    def _oldest_held(self) -> str:
        """The oldest message the list holds (the new view: changes when it reads a page from the cache)."""
        if isinstance(self.view, MessageView):
            oldest = self.view.model_.oldest()
            return oldest.id if oldest is not None else ""
        return ""

    def _steps(self, count: int, step: Any, wanted: int = 0) -> tuple[list[float], int]:
        """Time `step` + paint up to `count` times (or until `wanted` messages are passed, or the top). The
        steps that read a page from the cache are also kept apart in self.paging."""
        samples, start, stuck = [], self.top_from_end(), 0
        last = start
        self.paging = []
        for _ in range(count):
            painted, held = self.paints.count, self._oldest_held()
            began = time.perf_counter()
            step()
            self.paint()
            samples.append(time.perf_counter() - began)
            if self._oldest_held() != held:
                self.paging.append(samples[-1])
            now = self.top_from_end()
            if now != last and self.paints.count == painted:
                self.notes.append("a scroll step moved the list but did not paint it")
            stuck = stuck + 1 if now == last else 0
            last = now
            if stuck >= STUCK_STEPS or (wanted and now - start >= wanted):
                break
        return samples, last - start

    def wheel_steps(self, count: int) -> tuple[dict[str, Any], int, dict[str, Any]]:
        viewport = self.view.viewport()
        centre = QPointF(viewport.width() / 2, viewport.height() / 2)

        def wheel() -> None:
            event = QWheelEvent(centre, QPointF(viewport.mapToGlobal(centre.toPoint())), QPoint(0, 0), QPoint(0, 120),
                                Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase,
                                False)  # fmt: skip
            QApplication.sendEvent(viewport, event)

        samples, rows = self._steps(count, wheel)
        self._note_top("wheel", len(samples), count)
        return summary(samples), rows, summary(self.paging)

    def page_steps(self, count: int) -> tuple[dict[str, Any], int, dict[str, Any]]:
        bar = self.view.verticalScrollBar()
        samples, rows = self._steps(count, lambda: bar.triggerAction(QAbstractSlider.SliderAction.SliderPageStepSub))
        self._note_top("page", len(samples), count)
        return summary(samples), rows, summary(self.paging)

    def scroll_through(self, wanted: int) -> int:
        """Up by about 100 messages a step (the new view: to the top of its window, which reads the page before
        it), painting each time, until `wanted` messages are passed or the list goes no further. Returns how
        many were passed."""
        bar = self.view.verticalScrollBar()
        if isinstance(self.view, MessageView):
            step = lambda: bar.setValue(bar.minimum())  # noqa: E731
        else:
            step = lambda: bar.setValue(bar.value() - 100)  # noqa: E731  ScrollPerItem: a value is a row
        _samples, passed = self._steps(wanted, step, wanted)
        if passed < wanted:
            self.notes.append(f"memory: scrolled past only {passed:,} of the {wanted:,} messages wanted "
                              "(the top of what the list holds)")  # fmt: skip
        return passed

    def _note_top(self, what: str, done: int, count: int) -> None:
        if done < count:
            self.notes.append(f"{what}: reached the top of what the list holds after {done} of {count} steps")

    # -- incoming -----------------------------------------------------------------------------------------------
    def incoming(self, count: int) -> tuple[dict[str, Any], int]:
        """A message-created event as the inbox handles it: stored in the cache, message_received emitted
        (Conversations / HEAD's wiring: the window's on_message, then a refresh of the list), painted."""
        samples, shown = [], 0
        at = 1_900_000_000_000
        for n in range(count):
            message = {"id": f"live{n:04d}", "content": content_for(self.rng), "created_at": at + n * 1000}
            body = {"type": "message-created", "channel": {"id": BIG, "type": 1}, "user": {"id": "bob"},
                    "message": message}  # fmt: skip
            painted = self.paints.count
            began = time.perf_counter()
            stored = store_event_message(self.cache, body, OWN)
            if stored is not None:
                self.controller.message_received.emit(stored[0], stored[1])
            self.paint()
            samples.append(time.perf_counter() - began)
            shown += self._on_screen(f"live{n:04d}") and self.paints.count > painted
        return summary(samples), shown

    def _on_screen(self, message_id: str) -> bool:
        """The newest row is this message and lies inside the viewport."""
        area = self.view.viewport().rect()
        if isinstance(self.view, MessageView):
            model = self.view.model_
            last = model.message_count() - 1
            if last < 0 or model.row(last).uid != "m:" + message_id:
                return False
            return area.contains(self.view.visualRect(model.index(last)))
        assert isinstance(self.view, QListWidget)
        item = self.view.item(self.view.count() - 1)
        return item is not None and "bob · " in item.text() and area.intersects(self.view.visualItemRect(item))
