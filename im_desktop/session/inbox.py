"""What the event stream brings, into the cache: whose READY it is, messages, login events, the resume point."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Signal

from im_desktop.local.cache import CacheError
from im_desktop.protocol.errors import ErrorCode, ImError
from im_desktop.protocol.events import Ready, event_sn
from im_desktop.session.sync import resync, store_event_message

if TYPE_CHECKING:
    from im_desktop.session.live import LiveSession

__all__ = ["Inbox", "ready_login"]

log = logging.getLogger(__name__)


def _user_id_of(login: dict[str, Any]) -> str | None:
    user = login.get("user")
    value = user.get("id") if isinstance(user, dict) else login.get("self_id")  # self_id: Satori before 1.1
    return value if isinstance(value, str) else None


def ready_login(logins: list[dict[str, Any]], user_id: str, *, own_server: bool) -> dict[str, Any] | None:
    """Our Login among READY's. On a third-party server the static token decides who we are: when none of
    the logins is the UserID typed at login, this raises instead of going online as nobody (every call would
    then get 403), naming the UserIDs the token does belong to."""
    mine = [login for login in logins if _user_id_of(login) == user_id]
    if mine or own_server:
        return mine[0] if mine else None
    ids = list(dict.fromkeys(i[:64] for login in logins if (i := _user_id_of(login))))
    if not ids:
        raise ImError(ErrorCode.INVALID_PARAMETERS, "The server lists no account for this token, so there is no "
                      "one to log in as. Check the token and the server address.")  # fmt: skip
    more = f" and {len(ids) - 3} more" if len(ids) > 3 else ""
    raise ImError(ErrorCode.INVALID_PARAMETERS, f"This token belongs to {', '.join(ids[:3])}{more}, not to "
                  f"{user_id}. Log in with UserID {ids[0]} instead.")  # fmt: skip


class Inbox(QObject):
    """The controller's side of the stream that is about data, not state: it writes the cache and says so.

    Signals (the controller forwards the first five as its own):
        message_received(str, object), conversations_changed(), login_added(object), login_removed(object),
        login_updated(object): as the controller's.
        ticket_expiry(object): `login-updated` says when the session's ticket now ends (unchecked).
        resynced(): a resync after READY is over; what waits in the outbox may go.
    """

    message_received = Signal(str, object)
    conversations_changed = Signal()
    login_added = Signal(object)
    login_removed = Signal(object)
    login_updated = Signal(object)
    ticket_expiry = Signal(object)
    resynced = Signal()

    def __init__(self, live: LiveSession, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._live = live

    def on_ready(self, ready: Ready) -> None:
        """READY's `sn` is where a fresh connection starts; after a re-sync (the server replayed nothing, the
        resync that follows every READY reads what was missed) it replaces ours, which is too old to resume."""
        cache = self._live.cache
        if ready.sn is not None and cache is not None and (ready.resync or cache.get_state("last_sn") is None):
            cache.set_state("last_sn", ready.sn)

    def resume_point(self) -> int | None:
        cache = self._live.cache
        value = cache.get_state("last_sn") if cache is not None else None
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    def on_event(self, body: dict[str, Any]) -> None:
        cache = self._live.cache
        sn = event_sn(body)
        if sn is not None and cache is not None:
            cache.set_state("last_sn", sn)
        kind = body.get("type")
        login = body.get("login") if isinstance(body.get("login"), dict) else {}
        if kind == "message-created":
            self._store_message(body)
        elif kind == "login-added":
            self.login_added.emit(login)
        elif kind == "login-removed":
            self.login_removed.emit(login)
        elif kind == "login-updated":
            self.login_updated.emit(login)
            session = body.get("session")
            if isinstance(session, dict):
                self.ticket_expiry.emit(session.get("sig_expires_at"))

    def _store_message(self, body: dict[str, Any]) -> None:
        cache = self._live.cache
        if cache is None:
            return
        stored = store_event_message(cache, body, self._live.login_user)
        if stored is not None:
            channel_id, message, new_conversation = stored
            self.message_received.emit(channel_id, message)
            if new_conversation:
                self.conversations_changed.emit()

    async def resync(self) -> None:
        """After every READY: the channel list and newest pages (resume is best effort elsewhere), then the
        outbox in its own task, so a second READY, which replaces this one, cannot cut a send off halfway
        (a server without nonces would then store it twice)."""
        live = self._live
        creds, cache = live.creds, live.cache
        if creds is None or cache is None:
            return
        try:
            await resync(live.client, creds, cache)
        except ImError as exc:
            log.info("resync stopped (%s); it runs again after the next reconnect", exc.code)
        except CacheError as exc:
            log.warning("resync could not write the cache (%s); it runs again after the next reconnect", exc)
        self.conversations_changed.emit()
        self.resynced.emit()
