"""Satori v1 resources over HTTP: `POST {base}/v1/{resource}.{method}` and `/v1/meta`."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from im_desktop.protocol.errors import ErrorCode, ImError
from im_desktop.server.http import (
    bearer_token,
    clean_text,
    json_response,
    optional_int,
    optional_str,
    read_json,
    required_str,
)
from im_desktop.server.hub import PLATFORM_NAME, Hub, login_object
from im_desktop.server.ratelimit import KeyedBuckets
from im_desktop.server.sessions import SessionService
from im_desktop.server.store import LOBBY_GUILD, ChannelRow, MessageRow, SessionRow, Store

__all__ = ["SatoriApi"]

_PAGE = 100
_MAX_SEQ = 2**63 - 1  # SQLite's INTEGER, PostgreSQL's BIGINT
Resource = Callable[[SessionRow, dict[str, Any]], Awaitable[Any]]


def _not_found(what: str) -> ImError:
    return ImError(ErrorCode.NOT_FOUND, f"{what} was not found.")


def _channel_to_wire(row: ChannelRow, viewer: str) -> dict[str, Any]:
    name = row.name
    if row.type == 1:  # a direct channel is named after the other person
        name = next((u for u in row.id.split(":")[1:] if u != viewer), viewer)
    return {"id": row.id, "type": row.type, "name": name}


class SatoriApi:
    """The resource methods a chat client needs; each checks that the caller may see what it asks for."""

    def __init__(self, service: SessionService, hub: Hub) -> None:
        self.service = service
        self.store: Store = service.store
        self.hub = hub
        config = service.config
        self._sends = KeyedBuckets[str](config.message_rate, config.message_burst, service.clock)
        # Held from a message's commit to its publish: live events reach the outboxes in `sn` order, since a
        # socket's writer skips any event not above the last `sn` it sent. Free at once with SQLite, whose
        # calls never wait; PostgreSQL's do, and two sends could otherwise publish out of order.
        self._publish_order = asyncio.Lock()
        self.methods: dict[str, Resource] = {
            "login.get": self.login_get,
            "user.get": self.user_get,
            "friend.list": self.friend_list,
            "guild.list": self.guild_list,
            "channel.list": self.channel_list,
            "channel.get": self.channel_get,
            "user.channel.create": self.user_channel_create,
            "message.list": self.message_list,
            "message.get": self.message_get,
            "message.create": self.message_create,
        }

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/meta", self.meta)
        app.router.add_post("/v1/{method:[a-z.]+}", self.dispatch)

    async def _session(self, request: web.Request) -> SessionRow:
        session = await self.service.authenticate(bearer_token(request))
        platform = request.headers.get("Satori-Platform") or request.headers.get("X-Platform")
        user_id = request.headers.get("Satori-User-ID") or request.headers.get("X-Self-ID")
        if platform is None or user_id is None:
            raise ImError(ErrorCode.NOT_LOGGED_IN, "Missing header Satori-Platform or Satori-User-ID.")
        if platform != PLATFORM_NAME or user_id != session.user_id:
            raise ImError(ErrorCode.ADMIN_REQUIRED, f"This token is not for login {platform}/{user_id}.")
        return session

    async def meta(self, request: web.Request) -> web.Response:
        session = await self.service.authenticate(bearer_token(request))
        return json_response({"logins": [login_object(session.user_id)], "proxy_urls": []})

    async def dispatch(self, request: web.Request) -> web.Response:
        method = self.methods.get(request.match_info["method"])
        if method is None:
            raise _not_found(f"The API {request.match_info['method']}")
        session = await self._session(request)
        body = await read_json(request)
        return json_response(await method(session, body))

    # -- resources ------------------------------------------------------------------------------
    async def login_get(self, session: SessionRow, body: dict[str, Any]) -> Any:
        return login_object(session.user_id)

    async def user_get(self, session: SessionRow, body: dict[str, Any]) -> Any:
        user_id = required_str(body, "user_id", 64)
        if not await self.store.user_exists(user_id):
            raise ImError(ErrorCode.ACCOUNT_NOT_FOUND, "No user with this UserID.")
        return {"id": user_id, "name": user_id}

    async def friend_list(self, session: SessionRow, body: dict[str, Any]) -> Any:
        # The sandbox is one small community: everybody who has signed up is a friend.
        after = optional_str(body, "next") or ""
        users = [u for u in await self.store.list_users(after, _PAGE + 1) if u != session.user_id]
        page = users[:_PAGE]
        data = [{"user": {"id": u, "name": u}} for u in page]
        return {"data": data, "next": page[-1] if len(users) > _PAGE else None}

    async def guild_list(self, session: SessionRow, body: dict[str, Any]) -> Any:
        return {"data": [{"id": LOBBY_GUILD, "name": "Lobby"}], "next": None}

    async def channel_list(self, session: SessionRow, body: dict[str, Any]) -> Any:
        guild_id = required_str(body, "guild_id")
        rows = await self.store.guild_channels(guild_id)
        if not rows:
            raise _not_found("The guild")
        return {"data": [_channel_to_wire(r, session.user_id) for r in rows], "next": None}

    async def _readable_channel(self, session: SessionRow, body: dict[str, Any]) -> ChannelRow:
        channel = await self.store.channel(required_str(body, "channel_id"))
        # A channel the caller may not read is reported as missing, so ids cannot be probed.
        if channel is None or not await self.store.can_read(session.user_id, channel):
            raise _not_found("The channel")
        return channel

    async def channel_get(self, session: SessionRow, body: dict[str, Any]) -> Any:
        return _channel_to_wire(await self._readable_channel(session, body), session.user_id)

    async def user_channel_create(self, session: SessionRow, body: dict[str, Any]) -> Any:
        other = required_str(body, "user_id", 64)
        if not await self.store.user_exists(other):
            raise ImError(ErrorCode.ACCOUNT_NOT_FOUND, "No user with this UserID.")
        channel_id = await self.store.ensure_direct_channel(session.user_id, other)
        channel = await self.store.channel(channel_id)
        assert channel is not None
        return _channel_to_wire(channel, session.user_id)

    async def message_list(self, session: SessionRow, body: dict[str, Any]) -> Any:
        channel = await self._readable_channel(session, body)
        token = optional_str(body, "next", 32)
        direction = optional_str(body, "direction", 16) or "before"
        order = optional_str(body, "order", 16) or "asc"
        limit = optional_int(body, "limit", 50, 1, _PAGE)
        if direction not in ("before", "after", "around") or order not in ("asc", "desc"):
            raise ImError(ErrorCode.ACCOUNT_INVALID_PARAMETERS, "direction or order has an unknown value.")
        anchor = _message_token(token)
        if anchor is None and direction != "before":
            raise ImError(ErrorCode.ACCOUNT_INVALID_PARAMETERS, "direction must be 'before' when next is empty.")
        cid = channel.id
        prev_tok = next_tok = None
        if direction == "around":
            assert anchor is not None
            older = await self.store.messages_page(cid, anchor, "before", limit // 2 + 1)
            middle = await self.store.message(cid, anchor)
            newer = await self.store.messages_page(cid, anchor, "after", limit // 2 + 1)
            more_before, more_after = len(older) > limit // 2, len(newer) > limit // 2
            older, newer = older[len(older) - limit // 2 :] if limit // 2 else [], newer[: limit // 2]
            page = [*older, *([middle] if middle else []), *newer]
            prev_tok = str(page[0].seq) if page and more_before else None
            next_tok = str(page[-1].seq) if page and more_after else None
        else:
            rows = await self.store.messages_page(cid, anchor, direction, limit + 1)
            more = len(rows) > limit
            page = rows[-limit:] if direction == "before" else rows[:limit]
            edge = (page[0] if direction == "before" else page[-1]) if page else None
            prev_tok = next_tok = str(edge.seq) if more and edge else None
        if order == "desc":
            page.reverse()
        return {"data": [m.to_wire() for m in page], "prev": prev_tok, "next": next_tok}

    async def message_get(self, session: SessionRow, body: dict[str, Any]) -> Any:
        channel = await self._readable_channel(session, body)
        seq = _message_token(required_str(body, "message_id", 32))
        message = await self.store.message(channel.id, seq) if seq is not None else None
        if message is None:
            raise _not_found("The message")
        return message.to_wire()

    async def message_create(self, session: SessionRow, body: dict[str, Any]) -> Any:
        channel = await self._readable_channel(session, body)
        content = clean_text(required_str(body, "content", self.service.config.max_content_bytes))
        if not content:
            raise ImError(ErrorCode.ACCOUNT_INVALID_PARAMETERS, "'content' has no text.")
        # `nonce` is this server's extension: a client retrying a send after a lost reply gets the
        # first message back instead of a duplicate.
        nonce = optional_str(body, "nonce", 64)
        if nonce is not None:
            existing = await self.store.find_by_nonce(session.user_id, nonce)
            if existing is not None:
                return [existing.to_wire()]
        # After the nonce lookup: a retry of a stored send is answered even when the sender is over its rate.
        self._sends.check(session.user_id, "messages")
        now = self.service.clock()
        # A direct channel's two members never change: read before the lock, which the publish order needs.
        members = set() if channel.guild_id is not None else set(await self.store.channel_members(channel.id))
        async with self._publish_order:
            posted = await self.store.post_message(channel, session.user_id, content, now, nonce, self._message_event)
            if posted.sn is not None:  # None: a retry with this nonce was stored first; its event went out then
                # To every user of a guild channel, else to the members; on every node with a shared broker.
                self.service.broker.deliver(posted.sn, posted.event, None if channel.guild_id is not None else members)
        return [posted.message.to_wire()]

    @staticmethod
    def _message_event(message: MessageRow, channel: ChannelRow) -> dict[str, Any]:
        event: dict[str, Any] = {
            "type": "message-created",
            "timestamp": int(message.created_at * 1000),
            "channel": {"id": channel.id, "type": channel.type},
            "user": {"id": message.user_id, "name": message.user_id},
            "message": {k: v for k, v in message.to_wire().items() if k not in ("user", "channel")},
        }
        if channel.guild_id is not None:
            event["guild"] = {"id": channel.guild_id}
        return event


def _message_token(token: str | None) -> int | None:
    if token is None:
        return None
    # isascii(): isdecimal() alone lets other scripts' digits through.
    if not (token.isascii() and token.isdecimal()) or int(token) > _MAX_SEQ:
        raise ImError(ErrorCode.ACCOUNT_INVALID_PARAMETERS, "That is not a message id of this server.")
    return int(token)
