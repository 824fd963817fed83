"""Between the cache and the main window: what the open conversation and the conversation list show."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject

from im_desktop.local.cache import CachedMessage, CacheError, LocalCache
from im_desktop.protocol.errors import ImError
from im_desktop.ui.link_dialog import ask_to_open
from im_desktop.ui.new_conversation import ask_user_id

if TYPE_CHECKING:
    from im_desktop.session.controller import SessionController
    from im_desktop.session.current import CurrentSession
    from im_desktop.ui.main_window import MainWindow
    from im_desktop.ui.tray import TrayIcon

__all__ = ["Conversations"]

_NOTICE_MS = 15_000
Spawn = Callable[[str, Coroutine[Any, Any, Any]], None]


class CachedHistory:
    """One conversation in the cache as the main window's HistorySource: read a page at a time, so a
    conversation of any length opens at once. A cache that fails or was closed (another account) reads
    as empty, said once in the status bar, never raised into the view."""

    def __init__(self, cache: LocalCache, channel_id: str, current: Callable[[], LocalCache | None],
                 notice: Callable[[str], None]) -> None:  # fmt: skip
        self._cache, self._channel_id, self._current, self._notice = cache, channel_id, current, notice

    def _read(self, read: Callable[[], list[CachedMessage]]) -> list[CachedMessage]:
        if self._current() is not self._cache:
            return []
        try:
            return read()
        except CacheError as exc:
            self._notice(str(exc))
            return []

    def older(self, than: CachedMessage | None, limit: int) -> list[CachedMessage]:
        key = (than.created_at, than.id) if than is not None else None
        return self._read(lambda: self._cache.history_before(self._channel_id, key, limit))

    def newer(self, than: CachedMessage, limit: int) -> list[CachedMessage]:
        return self._read(lambda: self._cache.history_after(self._channel_id, (than.created_at, than.id), limit))


class Conversations(QObject):
    """Reads the current session's cache (it keeps none of its own) and fills the main window and the
    tray badge; sends, retries and deletes through the current controller. A failure is said in the status
    bar, never raised inside a Qt slot."""

    def __init__(self, window: MainWindow, tray: TrayIcon | None, session: CurrentSession,
                 spawn: Spawn | None = None) -> None:  # fmt: skip
        super().__init__()
        self._window, self._tray, self._session = window, tray, session
        if spawn is not None:  # the app's task supervisor: these wait on a dialog and on the server
            window.new_conversation_requested.connect(lambda: spawn("new-conversation", self.start_new()))
            window.message_user_requested.connect(lambda user_id: spawn("message-user", self.message(user_id)))
        window.conversation_selected.connect(self.open)
        window.send_requested.connect(self.send)
        window.resend_requested.connect(self.retry)
        window.discard_requested.connect(self.discard)
        window.older_requested.connect(self._load_older)
        window.link_activated.connect(self.open_link)
        session.changed.connect(self._follow)

    def _follow(self, controller: SessionController) -> None:
        """Follow a new controller's changes (each profile has its own)."""
        controller.message_received.connect(self._window.on_message)
        controller.message_received.connect(lambda *_: self.refresh())
        controller.conversations_changed.connect(self.refresh)
        controller.outbox_changed.connect(lambda _n: self.refresh_outbox())
        controller.history.older_loaded.connect(self._window.on_older_loaded)
        controller.history.older_failed.connect(self._older_failed)

    def _notice(self, text: str) -> None:
        self._window.connection_bar.showMessage(text, _NOTICE_MS)

    def _done(self, action: Callable[[], object]) -> bool:
        """Run what the person asked of the session; a refusal is said in the status bar, never raised here."""
        try:
            action()
        except ImError as exc:
            self._notice(exc.message)
            return False
        return True

    def send(self, channel_id: str, text: str) -> None:
        controller = self._session.controller
        if controller is not None and self._done(lambda: controller.send_message(channel_id, text)):
            self.open(channel_id)

    def retry(self, nonce: str) -> None:
        """A failed message's Retry."""
        controller = self._session.controller
        if controller is not None:
            self._done(lambda: controller.retry_message(nonce))

    def discard(self, nonce: str) -> None:
        """A failed message's Delete."""
        controller = self._session.controller
        if controller is not None:
            self._done(lambda: controller.delete_message(nonce))

    def open(self, channel_id: str) -> None:
        cache = self._session.cache
        if cache is None:
            return
        try:  # read marks are Attention's: a conversation opened in a hidden or unfocused window is not read
            unread = next((c.unread for c in cache.conversations() if c.channel_id == channel_id), 0)
            source = CachedHistory(cache, channel_id, lambda: self._session.cache, self._notice)
            self._window.open_history(channel_id, source, cache.outbox(), unread=unread)
        except CacheError as exc:
            self._notice(str(exc))
        self.refresh()

    async def start_new(self) -> None:
        """ "New conversation": a UserID from the person, then that direct conversation."""
        user_id = await ask_user_id(self._window)
        if user_id:
            await self.message(user_id)

    async def message(self, user_id: str) -> None:
        """Open the direct conversation with `user_id` (made on the server if need be), ready to write in."""
        controller = self._session.controller
        if controller is None:
            return
        try:
            channel_id = await controller.open_direct(user_id)
        except (ImError, CacheError) as exc:
            self._notice(exc.message if isinstance(exc, ImError) else str(exc))
            return
        if controller is self._session.controller:  # not another account by now
            self.open(channel_id)
            self._window.composer.setFocus()

    def _load_older(self, channel_id: str, before_id: str) -> None:
        """The open conversation was scrolled past the cache: the server's page before it, into the cache."""
        controller = self._session.controller
        if controller is None:
            self._window.on_older_failed(channel_id)
            return
        controller.history.request_older(channel_id, before_id)  # a load already under way answers instead

    def _older_failed(self, channel_id: str, _code: int, message: str) -> None:
        self._window.on_older_failed(channel_id)
        self._notice(message)

    def open_link(self, href: str) -> None:
        """A link in a message: the person sees the whole address and confirms before the browser opens it."""
        if ask_to_open(self._window, href) is None:
            self._notice(self.tr("Only web (http, https) and e-mail links can be opened."))

    def refresh_outbox(self) -> None:
        cache = self._session.cache
        try:
            if cache is not None:
                self._window.set_outbox(cache.outbox())
        except CacheError as exc:
            self._notice(str(exc))

    def refresh(self) -> None:
        cache = self._session.cache
        if cache is None:
            return
        try:
            conversations = cache.conversations()
        except CacheError as exc:
            self._notice(str(exc))
            return
        self._window.set_conversations(conversations)
        self._window.catch_up()  # a resync may have added to the open conversation too
        if self._tray is not None:
            self._tray.on_unread(sum(c.unread for c in conversations))
