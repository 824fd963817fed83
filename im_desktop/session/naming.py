"""Conversations named for people: a direct channel after the other person, others after their own name."""

from __future__ import annotations

import logging
from typing import Any

from im_desktop.local.cache import LocalCache
from im_desktop.protocol.client import Credentials, ProtocolClient
from im_desktop.protocol.errors import ErrorClass, ErrorCode, ImError
from im_desktop.protocol.models import check_user_id

__all__ = ["DIRECT", "MAX_NAME_CHARS", "event_conversation", "name_unnamed", "open_direct"]

log = logging.getLogger(__name__)

DIRECT = 1  # Satori's Channel.Type.DIRECT
MAX_NAME_CHARS = 128  # a name is for a list row: longer ones are cut here, before they reach the cache
_MAX_LOOKUPS = 50  # channel.get calls per resync: a cache full of unnamed channels must not flood the server


def _text(value: object) -> str:
    return value.strip()[:MAX_NAME_CHARS] if isinstance(value, str) else ""


def _type(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 3 else 0


def event_conversation(channel: dict[str, Any], user: object, own_user: str) -> tuple[str, int]:
    """Name and type for a conversation first seen in a `message-created` event. The event's channel often
    carries no name; in a direct channel the other person is then the sender, unless the sender is us."""
    kind = _type(channel.get("type"))
    name = _text(channel.get("name"))
    if kind == DIRECT and not name and isinstance(user, dict) and user.get("id") != own_user:
        name = _text(user.get("name")) or _text(user.get("id"))
    return name or str(channel.get("id")), kind


async def name_unnamed(client: ProtocolClient, creds: Credentials, cache: LocalCache) -> int:
    """Ask the server for the names of conversations still known only by their channel id (a direct channel
    met through one of our own messages, say). Returns how many got a name."""
    named = 0
    for conversation in [c for c in cache.conversations() if c.name == c.channel_id][:_MAX_LOOKUPS]:
        try:
            channel = await client.call(creds, "channel.get", {"channel_id": conversation.channel_id})
        except ImError as exc:
            if exc.code.error_class is ErrorClass.TRANSIENT:
                raise
            log.info("no name for conversation %s (%s)", conversation.channel_id, exc.code)
            continue
        name = _text(channel.get("name")) if isinstance(channel, dict) else ""
        if name and name != conversation.channel_id:
            cache.upsert_conversation(conversation.channel_id, name, _type(channel.get("type")) or conversation.type)
            named += 1
    return named


async def open_direct(client: ProtocolClient, creds: Credentials, cache: LocalCache, user_id: str) -> str:
    """The direct channel with `user_id` (made if need be: `user.channel.create`), in the conversation list
    under that person's name; returns its channel id."""
    check_user_id(user_id)
    channel = await client.call(creds, "user.channel.create", {"user_id": user_id})
    if not isinstance(channel, dict) or not isinstance(channel.get("id"), str) or not channel["id"]:
        raise ImError(ErrorCode.INVALID_REPLY, "The server did not open a conversation with this person.")
    name = _text(channel.get("name")) or user_id
    cache.upsert_conversation(channel["id"], name, DIRECT)
    return str(channel["id"])
