"""Between the cache and the main window: what the open conversation and the conversation list show."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject

from im_desktop.cache import CacheError
from im_desktop.protocol.errors import ImError

if TYPE_CHECKING:
    from im_desktop.session.controller import SessionController
    from im_desktop.ui.main_window import MainWindow
    from im_desktop.ui.tray import TrayIcon

__all__ = ["Conversations"]

_NOTICE_MS = 15_000


class Conversations(QObject):
    """Reads the current controller's cache (it keeps none of its own) and fills the main window and the
    tray badge; sends, retries and deletes through the controller. A failure is said in the status bar,
    never raised inside a Qt slot."""

    def __init__(self, window: MainWindow, tray: TrayIcon | None,
                 controller: Callable[[], SessionController | None]) -> None:  # fmt: skip
        super().__init__()
        self._window, self._tray, self._controller = window, tray, controller
        window.conversation_selected.connect(self.open)
        window.send_requested.connect(lambda channel_id, text: self._act("send_message", channel_id, text))
        window.resend_requested.connect(lambda nonce: self._act("retry_message", nonce))
        window.discard_requested.connect(lambda nonce: self._act("delete_message", nonce))

    def watch(self, controller: SessionController) -> None:
        """Follow a new controller's changes (each profile has its own)."""
        controller.message_received.connect(self._window.on_message)
        controller.message_received.connect(lambda *_: self.refresh())
        controller.conversations_changed.connect(self.refresh)
        controller.outbox_changed.connect(lambda _n: self.refresh_outbox())

    def _notice(self, text: str) -> None:
        self._window.connection_bar.showMessage(text, _NOTICE_MS)

    def _act(self, action: str, *args: str) -> None:
        controller = self._controller()
        if controller is None:
            return
        try:
            getattr(controller, action)(*args)
        except ImError as exc:
            self._notice(exc.message)
            return
        if action == "send_message":
            self.open(args[0])

    def open(self, channel_id: str) -> None:
        controller = self._controller()
        cache = controller.cache if controller is not None else None
        if cache is None:
            return
        try:
            cache.mark_read(channel_id)
            self._window.show_history(channel_id, cache.history(channel_id), cache.outbox())
        except CacheError as exc:
            self._notice(str(exc))
        self.refresh()

    def refresh_outbox(self) -> None:
        controller = self._controller()
        cache = controller.cache if controller is not None else None
        try:
            if cache is not None:
                self._window.set_outbox(cache.outbox())
        except CacheError as exc:
            self._notice(str(exc))

    def refresh(self) -> None:
        controller = self._controller()
        cache = controller.cache if controller is not None else None
        if cache is None:
            return
        try:
            conversations = cache.conversations()
        except CacheError as exc:
            self._notice(str(exc))
            return
        self._window.set_conversations(conversations)
        if self._tray is not None:
            self._tray.on_unread(sum(c.unread for c in conversations))
