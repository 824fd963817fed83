"""What the event stream brings, into the cache: whose READY it is, messages, login events, the resume point."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from im_desktop.cache import CacheError
from im_desktop.protocol.errors import ErrorCode, ImError
from im_desktop.protocol.events import Ready, event_sn
from im_desktop.session.sync import resync, store_event_message

if TYPE_CHECKING:
    from im_desktop.session.controller import SessionController

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


class Inbox:
    """The controller's side of the stream that is about data, not state: it writes the cache and says so."""

    def __init__(self, controller: SessionController) -> None:
        self._c = controller

    def on_ready(self, ready: Ready) -> None:
        """READY's `sn` is where a fresh connection starts; after a re-sync (the server replayed nothing, the
        resync that follows every READY reads what was missed) it replaces ours, which is too old to resume."""
        cache = self._c.cache
        if ready.sn is not None and cache is not None and (ready.resync or cache.get_state("last_sn") is None):
            cache.set_state("last_sn", ready.sn)

    def resume_point(self) -> int | None:
        value = self._c.cache.get_state("last_sn") if self._c.cache is not None else None
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    def on_event(self, body: dict[str, Any]) -> None:
        c = self._c
        sn = event_sn(body)
        if sn is not None and c.cache is not None:
            c.cache.set_state("last_sn", sn)
        kind = body.get("type")
        if kind == "message-created":
            self._store_message(body)
        elif kind in ("login-added", "login-removed", "login-updated"):
            login = body.get("login") if isinstance(body.get("login"), dict) else {}
            {"login-added": c.login_added, "login-removed": c.login_removed,
             "login-updated": c.login_updated}[kind].emit(login)  # fmt: skip
            session = body.get("session")
            if kind == "login-updated" and isinstance(session, dict):
                c.renewal.note_expiry(session.get("sig_expires_at"))

    def _store_message(self, body: dict[str, Any]) -> None:
        c = self._c
        if c.cache is None:
            return
        stored = store_event_message(c.cache, body, c.login_user)
        if stored is not None:
            channel_id, message, new_conversation = stored
            c.message_received.emit(channel_id, message)
            if new_conversation:
                c.conversations_changed.emit()

    async def resync(self) -> None:
        """After every READY: the channel list and newest pages (resume is best effort elsewhere), then the
        outbox in its own task, so a second READY, which replaces this one, cannot cut a send off halfway
        (a server without nonces would then store it twice)."""
        c = self._c
        if c.creds is None or c.cache is None:
            return
        try:
            await resync(c.client, c.creds, c.cache)
        except ImError as exc:
            log.info("resync stopped (%s); it runs again after the next reconnect", exc.code)
        except CacheError as exc:
            log.warning("resync could not write the cache (%s); it runs again after the next reconnect", exc)
        c.conversations_changed.emit()
        c.outbox.flush_soon()
