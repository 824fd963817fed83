"""Bringing the cache up to date after a (re)connect, and sending the outbox exactly once."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from im_desktop.cache import LocalCache, OutboxItem
from im_desktop.protocol.client import Credentials, ProtocolClient
from im_desktop.protocol.errors import ErrorClass, ImError

__all__ = ["SendFailure", "flush_outbox", "resync", "store_event_message"]

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
    return channel["id"], message, channel["id"] not in known


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


async def flush_outbox(
    client: ProtocolClient,
    creds: Credentials,
    cache: LocalCache,
    on_sent: Callable[[OutboxItem, list[dict[str, Any]]], None],
) -> list[SendFailure]:
    """Send queued messages in order. A network error stops the flush (the rest waits for the next
    connection); a refusal drops that one message and reports it, so one bad message blocks nobody."""
    failures: list[SendFailure] = []
    for item in cache.pending():
        body = {"channel_id": item.channel_id, "content": item.content, "nonce": item.nonce}
        try:
            reply = await client.call(creds, "message.create", body)
        except ImError as exc:
            if exc.code.error_class is ErrorClass.TRANSIENT:
                break
            cache.drop(item)
            failures.append(SendFailure(item, exc))
            continue
        messages = [m for m in reply if isinstance(m, dict)] if isinstance(reply, list) else []
        on_sent(item, cache.sent(item, messages))  # only what the live event has not shown already
    return failures
