"""Bringing the cache up to date after a (re)connect, and sending the outbox exactly once."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from im_desktop.local.cache import LocalCache, OutboxItem
from im_desktop.protocol.client import Credentials, ProtocolClient
from im_desktop.protocol.elements import escape
from im_desktop.protocol.errors import ErrorClass, ErrorCode, ImError
from im_desktop.session.naming import event_conversation, name_unnamed

__all__ = ["FlushResult", "SendFailure", "flush_outbox", "resync", "store_event_message"]

log = logging.getLogger(__name__)

_RESYNC_PAGE = 50


@dataclass(frozen=True, slots=True)
class SendFailure:
    item: OutboxItem
    error: ImError


def store_event_message(
    cache: LocalCache, body: dict[str, Any], own_user: str
) -> tuple[str, dict[str, Any], bool] | None:
    """Store the message of a `message-created` event: (channel id, message, whether the conversation
    is new), or None if it was malformed or already known."""
    channel = body.get("channel")
    message = body.get("message")
    if not isinstance(channel, dict) or not isinstance(channel.get("id"), str) or not isinstance(message, dict):
        return None
    message = dict(message)
    user = body.get("user")
    message.setdefault("user", user)  # Satori lifts `user` to the event; keep it with the message
    mine = isinstance(user, dict) and user.get("id") == own_user
    known = {c.channel_id for c in cache.conversations()}
    if not cache.add_messages(channel["id"], [message], unread=not mine):
        return None
    new = channel["id"] not in known
    if new:  # named for a person, not "private:alice:bob"
        cache.upsert_conversation(channel["id"], *event_conversation(channel, user, own_user))
    return channel["id"], message, new


async def _list_all(client: ProtocolClient, creds: Credentials, method: str, body: dict[str, Any]) -> list[Any]:
    items: list[Any] = []
    page: dict[str, Any] = dict(body)
    for _ in range(20):  # a server that never stops paging must not keep us here forever
        reply = await client.call(creds, method, page)
        data = reply.get("data") if isinstance(reply, dict) else None
        items.extend(x for x in (data or []) if isinstance(x, dict))
        nxt = reply.get("next") if isinstance(reply, dict) else None
        if not isinstance(nxt, str) or not nxt:
            break
        page = {**body, "next": nxt}
    return items


async def resync(client: ProtocolClient, creds: Credentials, cache: LocalCache) -> int:
    """Refresh the channel list and the newest page of every known conversation, de-duplicated by id.

    Resume by `sn` is best effort on third-party servers, so this runs after every reconnect.
    Returns how many messages were new.
    """
    for guild in await _list_all(client, creds, "guild.list", {}):
        guild_id = guild.get("id")
        if not isinstance(guild_id, str):
            continue
        for channel in await _list_all(client, creds, "channel.list", {"guild_id": guild_id}):
            if isinstance(channel.get("id"), str) and channel.get("type", 0) == 0:
                cache.upsert_conversation(channel["id"], str(channel.get("name") or channel["id"]), 0)
    await name_unnamed(client, creds, cache)
    new = 0
    for conversation in cache.conversations():
        try:
            reply = await client.call(creds, "message.list", {"channel_id": conversation.channel_id,
                                                              "limit": _RESYNC_PAGE})  # fmt: skip
        except ImError as exc:
            if exc.code.error_class is ErrorClass.TRANSIENT:
                raise
            log.info("conversation %s could not be re-read (%s)", conversation.channel_id, exc.code)
            continue
        data = reply.get("data") if isinstance(reply, dict) else None
        new += cache.add_messages(conversation.channel_id, [m for m in data or [] if isinstance(m, dict)])
    return new


# Errors that say the session, not the message, is the problem: the message waits for the next session.
_SESSION_CODES = {ErrorCode.NOT_LOGGED_IN, ErrorCode.KICKED_OFF_BY_OTHER, ErrorCode.AUTH_REJECTED}
# 90504: the server is up but its database or broker is not; like a lost link, it passes by itself.
_LINK_CODES = {ErrorCode.NET_DISCONNECT, ErrorCode.NET_TIMEOUT, ErrorCode.SERVICE_UNAVAILABLE}


@dataclass(frozen=True, slots=True)
class FlushResult:
    failures: list[SendFailure]  # refused for good this time: marked failed, visible, Retry or Delete
    stopped: ImError | None = None  # the link or the session broke: the rest waits, nothing was dropped


def _keeps_waiting(error: ImError) -> bool:
    return error.code in _LINK_CODES or error.code in _SESSION_CODES or error.code.error_class is ErrorClass.SIG


async def _login_still_accepted(client: ProtocolClient, creds: Credentials, error: ImError) -> bool:
    """Whether a plain 401/403 refused only this message: third-party servers answer 403 both to a bad token
    and to a channel the login may not post in. Taken for the login's fault, such a message would wait first
    in line forever and hold back every later one, so the server is asked once (login.get). Any answer but a
    refused login or a broken link (404 from a server without login.get, say) means the token passed."""
    if error.code is not ErrorCode.AUTH_REJECTED:
        return False
    try:
        await client.call(creds, "login.get")
    except ImError as probe:
        return not _keeps_waiting(probe)
    return True


class _Stopped(Exception):
    """The link or the login failed, not the message: the flush ends and everything waits, untouched."""

    def __init__(self, error: ImError) -> None:
        self.error = error


async def _send_one(
    client: ProtocolClient, creds: Credentials, cache: LocalCache, item: OutboxItem, retry_delays: tuple[float, ...]
) -> list[dict[str, Any]] | ImError | None:
    """Send one message: the server's messages when it took it, the error when it refused it for good, None
    when it was deleted meanwhile. Raises _Stopped when the link or the login, not the message, is at fault."""
    body = {"channel_id": item.channel_id, "content": escape(item.content), "nonce": item.nonce}
    for delay in (*retry_delays, None):
        try:
            reply = await client.call(creds, "message.create", body)
        except ImError as exc:
            if _keeps_waiting(exc):
                if not await _login_still_accepted(client, creds, exc):
                    raise _Stopped(exc) from None
                return ImError(exc.code, "The server does not accept this message here; the login itself works.")
            if exc.code not in (ErrorCode.INTERNAL_ERROR, ErrorCode.REQUEST_FREQ_LIMIT) or delay is None:
                return exc
            await asyncio.sleep(delay)
            if all(waiting.nonce != item.nonce for waiting in cache.pending()):
                return None  # deleted while we waited: the user no longer wants it sent
            continue
        return [m for m in reply if isinstance(m, dict)] if isinstance(reply, list) else []
    raise AssertionError("unreachable: the last try returns")


async def flush_outbox(
    client: ProtocolClient,
    creds: Credentials,
    cache: LocalCache,
    on_sent: Callable[[OutboxItem, list[dict[str, Any]]], None],
    retry_delays: tuple[float, ...] = (1.0, 3.0),
    on_failed: Callable[[SendFailure], None] | None = None,
) -> FlushResult:
    """Send waiting messages, oldest first, each exactly once (its nonce lets a retried send land once).

    A broken link or session stops the flush and keeps everything queued for the next session. A server in
    trouble (5xx) gets a few tries per message; a refusal marks that message failed. Either way the next
    message still goes: one bad message never blocks the others. Messages queued meanwhile are picked up.
    `on_sent` and `on_failed` hear of each message as it is settled, not when the whole flush ends."""
    failures: list[SendFailure] = []
    tried: set[str] = set()
    while (item := cache.next_pending(tried)) is not None:
        tried.add(item.nonce)
        try:
            outcome = await _send_one(client, creds, cache, item, retry_delays)
        except _Stopped as stop:
            return FlushResult(failures, stop.error)
        if isinstance(outcome, list):
            on_sent(item, cache.sent(item, outcome))  # only what the live event has not shown already
        # Not marked (deleted while its request was out): nothing to show, nothing to report.
        elif isinstance(outcome, ImError) and cache.mark_failed(item, int(outcome.code), outcome.message):
            failures.append(SendFailure(item, outcome))
            if on_failed is not None:
                on_failed(failures[-1])
    return FlushResult(failures)
