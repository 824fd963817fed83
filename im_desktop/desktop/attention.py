"""What the person sees: read marks for the conversation in the focused window, notifications for the rest."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Signal

from im_desktop.local.cache import CacheError
from im_desktop.ui.notifications import Notifier, WindowWatch
from im_desktop.ui.notify_rules import notice_for, should_notify

if TYPE_CHECKING:
    from im_desktop.session.controller import SessionController
    from im_desktop.session.current import CurrentSession
    from im_desktop.ui.main_window import MainWindow

__all__ = ["Attention"]

log = logging.getLogger(__name__)


class Attention(QObject):
    """Marks the open conversation read only while the main window is shown, not minimised and focused (and
    again when it comes back into focus), and hands every other message to the notifier when the rules say so.
    Unread counts and read marks live in the cache; the conversation list and the tray badge show them.

    Signals:
        marked_read(): a read mark changed outside a message's arrival; the conversation list should refresh.
    """

    marked_read = Signal()

    def __init__(self, window: MainWindow, notifier: Notifier, session: CurrentSession,
                 enabled: Callable[[], bool]) -> None:  # fmt: skip
        super().__init__()
        self.notifier, self._session, self._enabled = notifier, session, enabled
        self.window = WindowWatch(window, window.current_conversation)
        self.window.changed.connect(self.catch_up)
        # The composition root makes this before Conversations, so it connects to each new controller first: a
        # message read as it arrives is marked before the list refreshes for it. (It connects the window's
        # conversation_selected to catch_up after Conversations.open: an opened conversation is read only if seen.)
        session.changed.connect(self._follow)

    def _follow(self, controller: SessionController) -> None:
        controller.message_received.connect(self.on_message)

    def seen(self, channel_id: str) -> bool:
        return self.window.state().seen(channel_id)

    def on_message(self, channel_id: str, message: dict[str, Any]) -> None:
        controller = self._session.controller
        if controller is None or controller.cache is None or not isinstance(message, dict):
            return
        state = self.window.state()
        if state.seen(channel_id):
            self._mark_read(channel_id, refresh=False)  # Conversations refreshes right after this
            return
        if not should_notify(channel_id, message, own_id=controller.login_user, window=state,
                             enabled=self._enabled()):  # fmt: skip
            return
        try:
            name = next((c.name for c in controller.cache.conversations() if c.channel_id == channel_id), "")
        except CacheError:
            name = ""  # the notice goes out without the conversation's name
        self.notifier.notify(notice_for(channel_id, message, name))

    def catch_up(self) -> None:
        """The window was shown, restored or focused, or a conversation opened: if the person now sees the
        open conversation, it is read."""
        channel_id = self.window.state().open_channel
        if self.seen(channel_id):
            self._mark_read(channel_id, refresh=True)

    def _mark_read(self, channel_id: str, *, refresh: bool) -> None:
        controller = self._session.controller
        cache = controller.cache if controller is not None else None
        if cache is None:
            return
        try:
            changed = cache.mark_read(channel_id)
        except CacheError as exc:
            log.warning("could not mark %s read: %s", channel_id, exc)
            return
        self.notifier.withdraw(channel_id)
        if changed and refresh:
            self.marked_read.emit()
