"""Older history on demand: a page of `message.list` before the oldest cached message, into the cache."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Signal

from im_desktop.local.cache import LocalCache
from im_desktop.protocol.client import Credentials, ProtocolClient
from im_desktop.protocol.errors import ErrorCode
from im_desktop.session.failures import as_im_error

if TYPE_CHECKING:
    from im_desktop.session.live import LiveSession

__all__ = ["PAGE", "HistoryPager", "OlderPage", "fetch_older"]

log = logging.getLogger(__name__)

PAGE = 100  # the most `message.list` gives per call (Satori servers clamp larger limits)
_MAX_TOKEN = 256  # a paging token longer than this is not one we pass back


@dataclass(frozen=True, slots=True)
class OlderPage:
    new: int  # messages the cache did not have
    oldest_id: str  # the oldest message of the page ("" when it was empty)
    token: str  # where the server continues backwards ("" when it says there is nothing older)


def _token(reply: dict[str, Any]) -> str:
    # With direction=before, `prev` and `next` both name the previous page (Satori BidiList); either will do.
    for key in ("prev", "next"):
        value = reply.get(key)
        if isinstance(value, str) and 0 < len(value) <= _MAX_TOKEN:
            return value
    return ""


def _created(message: dict[str, Any]) -> int:
    value = message.get("created_at")
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


async def fetch_older(client: ProtocolClient, creds: Credentials, cache: LocalCache, channel_id: str,
                      before: str, limit: int = PAGE) -> OlderPage:  # fmt: skip
    """One page of messages older than the token `before` (a message id on servers with `message.list.from`,
    or a token an earlier page gave), stored in the cache; the newest page when `before` is empty."""
    body: dict[str, Any] = {"channel_id": channel_id, "direction": "before", "limit": limit}
    if before:
        body["next"] = before
    reply = await client.call(creds, "message.list", body)
    reply = reply if isinstance(reply, dict) else {}
    data = reply.get("data")
    messages = [m for m in data if isinstance(m, dict)][-limit:] if isinstance(data, list) else []
    new = cache.add_messages(channel_id, messages)
    with_ids = [m for m in messages if isinstance(m.get("id"), str) and m["id"]]
    oldest = min(with_ids, key=_created)["id"] if with_ids else ""  # pages come oldest first, but need not
    return OlderPage(new, oldest, _token(reply))


class HistoryPager(QObject):
    """Pages a conversation's older messages into the cache when the view has shown all the cache holds.

    One request per conversation at a time (a second ask while one is out is ignored); a page that brings
    nothing new ends the paging for that conversation, so a server that repeats itself cannot make a loop.

    Signals:
        older_loaded(str, int, bool): channel id, how many messages were new in the cache, and whether the
            server has more before them.
        older_failed(str, int, str): channel id, code and message; the view may ask again later.
    """

    older_loaded = Signal(str, int, bool)
    older_failed = Signal(str, int, str)

    def __init__(self, live: LiveSession, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._live = live
        # The server's token for "before this message", kept from the page that ended there: servers without
        # `message.list.from` accept only their own tokens, not message ids.
        self._tokens: dict[str, tuple[str, str]] = {}

    def request_older(self, channel_id: str, before_id: str) -> bool:
        """Start loading the page before the message `before_id` (the newest page when empty); False if a
        load for this conversation is already running."""
        name = f"older:{channel_id}"
        if self._live.tasks.running(name):
            return False
        self._live.tasks.spawn(name, self.load_older(channel_id, before_id))
        return True

    async def load_older(self, channel_id: str, before_id: str) -> int:
        """Load the page and say how it went (older_loaded / older_failed); returns how many were new."""
        live = self._live
        cache, creds = live.cache, live.creds
        if cache is None or creds is None or not live.login_user:
            self.older_failed.emit(channel_id, int(ErrorCode.NOT_LOGGED_IN), "Older messages load once online.")
            return 0
        known = self._tokens.get(channel_id)
        token = known[1] if known is not None and known[0] == before_id and before_id else before_id
        try:
            page = await fetch_older(live.client, creds, cache, channel_id, token)
        except Exception as exc:  # whatever it was, the view is told, so it stops waiting for this page
            error = as_im_error(exc)
            assert error is not None
            log.info("older messages of %s could not be loaded (%s)", channel_id, error.code)
            self.older_failed.emit(channel_id, int(error.code), error.message)
            return 0
        more = bool(page.token) and page.new > 0
        if more:
            self._tokens[channel_id] = (page.oldest_id, page.token)
        self.older_loaded.emit(channel_id, page.new, more)
        return page.new
