"""A strict Satori v1 server of our own for tests: it reads a body only when it is declared JSON (as koa's
body parser does), checks the token and the login headers, and parses message content as elements.

One login (platform "strict", user "bot1"), one guild with two text channels, users bot1 and alice, and:

- POST /v1/meta, /v1/{login.get, guild.list, channel.list, channel.get, user.get, message.list,
  message.create, user.channel.create};
- WebSocket /v1/events: IDENTIFY {token, sn} -> READY {logins}, then the events after `sn` (resume);
  PING -> PONG; every new message as a `message-created` event with the next `sn`.

Refusals, each recorded in `rejected`: a request without `Content-Type: application/json` (400, plain text),
a bad or missing token (401/403), missing or foreign Satori-Platform/Satori-User-ID (401/403), content that
is not well-formed Satori (a bare `<`, a bare `&`, unbalanced tags) (400). The content parser here is written
independently of the client's, so the two cannot agree on a mistake.

Hooks for outbox tests, keyed by the decoded text of a message.create that passed the checks above (each such
request is recorded in `attempts`): `fail_content` answers it with a chosen HTTP status and stores nothing;
`gates` holds it until the test opens the gate. `token_refused`, while set, is the status every HTTP request
gets for the token (a token revoked on the server; open event sockets stay open).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from tests.server.support import serve_app

__all__ = ["BOT", "CHANNELS", "PLATFORM", "TOKEN", "ContentError", "Gate", "StrictSatori", "decode_content",
           "running_strict"]  # fmt: skip

TOKEN = "strict-static-token"
PLATFORM = "strict"
BOT = "bot1"
GUILD = {"id": "strict-guild", "name": "Strict guild"}
CHANNELS: dict[str, dict[str, Any]] = {
    "general": {"id": "general", "type": 0, "name": "General"},
    "random": {"id": "random", "type": 0, "name": "Random"},
}
USERS: dict[str, dict[str, Any]] = {
    BOT: {"id": BOT, "name": "Strict bot", "is_bot": True},
    "alice": {"id": "alice", "name": "Alice"},
}
MAX_CONTENT = 4096

_ENTITY = r"&(?:amp|lt|gt|quot|apos|#[0-9]{1,7}|#x[0-9a-fA-F]{1,6});"
_TOKEN = re.compile(
    r"(?P<text>[^<&]+)"
    rf"|(?P<entity>{_ENTITY})"
    r"|<(?P<close>/)?(?P<name>[a-z][a-z0-9-]*(?::[a-z0-9-]+)?)"
    rf'(?P<attrs>(?:\s+[a-z][a-z0-9-]*(?:="(?:[^"<&]|{_ENTITY})*")?)*)\s*(?P<empty>/)?>'
)
_NAMED = {"&amp;": "&", "&lt;": "<", "&gt;": ">", "&quot;": '"', "&apos;": "'"}


class ContentError(ValueError):
    """The content is not a well-formed Satori element string."""


def _decode_entity(entity: str) -> str:
    if entity in _NAMED:
        return _NAMED[entity]
    point = int(entity[3:-1], 16) if entity.startswith("&#x") else int(entity[2:-1])
    if point == 0 or 0xD800 <= point <= 0xDFFF or point > 0x10FFFF:
        raise ContentError(f"no such character: {entity}")
    return chr(point)


def decode_content(content: str) -> str:
    """The text of well-formed content (entities decoded, tags left out, `<br/>` as a newline);
    ContentError for anything else."""
    out: list[str] = []
    open_tags: list[str] = []
    pos = 0
    while pos < len(content):
        match = _TOKEN.match(content, pos)
        if match is None:
            raise ContentError(f"ill-formed content at {pos}: {content[pos : pos + 20]!r}")
        pos = match.end()
        if match["text"] is not None:
            out.append(match["text"])
        elif match["entity"] is not None:
            out.append(_decode_entity(match["entity"]))
        elif match["close"]:
            if match["empty"] or match["attrs"] or not open_tags or open_tags.pop() != match["name"]:
                raise ContentError(f"unbalanced </{match['name']}>")
        elif match["empty"]:
            out.append("\n" if match["name"] == "br" else "")
        else:
            open_tags.append(match["name"])
    if open_tags:
        raise ContentError(f"<{open_tags[-1]}> is never closed")
    return "".join(out)


@dataclass
class Gate:
    """Holds message.create of one text: `reached` is set when such a request waits here, `opened` lets it on."""

    reached: asyncio.Event = field(default_factory=asyncio.Event)
    opened: asyncio.Event = field(default_factory=asyncio.Event)


def _refuse(status: int, text: str) -> web.Response:
    return web.Response(status=status, text=text, content_type="text/plain")


class StrictSatori:
    """The server's state and its aiohttp app. Everything lives in memory."""

    def __init__(self) -> None:
        self.url = ""
        self.messages: dict[str, list[dict[str, Any]]] = {channel_id: [] for channel_id in CHANNELS}
        self.events: list[dict[str, Any]] = []
        self.identifies: list[dict[str, Any]] = []  # every IDENTIFY body, accepted or not
        self.replays: list[list[int]] = []  # per accepted IDENTIFY, the sn of the events it replayed
        self.rejected: list[str] = []  # why each refused request was refused
        self.attempts: list[str] = []  # decoded text of every message.create that passed the checks
        self.fail_content: dict[str, int] = {}  # decoded text -> HTTP status message.create answers instead
        self.gates: dict[str, Gate] = {}  # decoded text -> message.create waits until the gate opens
        self.token_refused: int | None = None  # while set, every HTTP request is refused with this status
        self.cut_content: dict[str, int] = {}  # decoded text -> how many more times to drop the TCP connection
        self._queues: dict[web.WebSocketResponse, asyncio.Queue[str | None]] = {}
        self._closed: dict[web.WebSocketResponse, asyncio.Event] = {}
        self._message_id = 0
        self._handlers: dict[str, Callable[[dict[str, Any]], Any]] = {
            "login.get": lambda body: self.login(), "guild.list": lambda body: {"data": [GUILD]},
            "channel.list": self._channel_list, "channel.get": lambda body: self._channel(body.get("channel_id")),
            "user.get": self._user_get, "message.list": self._message_list, "message.create": self._message_create,
            "user.channel.create": self._dm_create,
        }  # fmt: skip

    @staticmethod
    def login() -> dict[str, Any]:
        return {"sn": 1, "platform": PLATFORM, "user": USERS[BOT], "status": 1, "adapter": "strict",
                "features": ["message.list", "message.create"]}  # fmt: skip

    def app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024)
        app.router.add_get("/v1/events", self._events)
        app.router.add_post("/v1/{method}", self._api)
        return app

    # -- what tests do to it ---------------------------------------------------------------------
    def push(self, channel_id: str, content: str, user_id: str = "alice") -> dict[str, Any]:
        """A message from someone else, stored and published like any other."""
        decode_content(content)  # tests push well-formed content only
        return self._store(channel_id, content, USERS[user_id])

    def texts(self, channel_id: str) -> list[tuple[str, str]]:
        """(user id, decoded text) of every stored message, oldest first."""
        return [(m["user"]["id"], decode_content(m["content"])) for m in self.messages[channel_id]]

    async def drop(self) -> int:
        """Close every event socket (1012, service restart); returns how many there were. Events stored
        from now on reach a client only by resume or by message.list."""
        queues, self._queues = self._queues, {}
        for queue in queues.values():
            queue.put_nowait(None)
        for ws in queues:
            await ws.close(code=1012, message=b"service restart")
        return len(queues)

    async def kick(self, device_name: str = "Other phone", platform: str = "Android") -> int:
        """Another login took the token's place: every socket gets `login-removed` (multi_device) and close 4001,
        as this project's server does; returns how many there were."""
        queues, self._queues = self._queues, {}
        now = int(time.time() * 1000)
        ended = {"reason": "multi_device", "code": 6208, "message": "logged in elsewhere", "at": now,
                 "by": {"platform": platform, "device_name": device_name, "device_id": "other"}}  # fmt: skip
        event = {"sn": len(self.events) + 1, "type": "login-removed", "timestamp": now, "login": self.login(),
                 "ended": ended}  # fmt: skip
        for queue in queues.values():
            queue.put_nowait(json.dumps({"op": 0, "body": event}))
            queue.put_nowait(None)
        for ws in queues:
            await self._closed[ws].wait()  # the writer has sent the event
            await ws.close(code=4001, message=b"kicked")
        return len(queues)

    # -- HTTP ------------------------------------------------------------------------------------
    def _reject(self, status: int, reason: str) -> web.Response:
        self.rejected.append(reason)
        return _refuse(status, reason)

    async def _api(self, request: web.Request) -> web.Response:
        name = request.match_info["method"]
        if request.content_type != "application/json":
            # koa's bodyParser leaves the body empty here; refusing says so instead of storing "undefined".
            return self._reject(400, f"{name}: the body is not declared as application/json")
        try:
            body = json.loads((await request.read()).decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            return self._reject(400, f"{name}: the body is not UTF-8 JSON")
        if not isinstance(body, dict):
            return self._reject(400, f"{name}: the body is not a JSON object")
        auth = request.headers.get("Authorization")
        if auth != f"Bearer {TOKEN}" or self.token_refused is not None:
            return self._reject(self.token_refused or (401 if auth is None else 403), f"{name}: invalid token")
        if name == "meta":
            return web.json_response({"logins": [self.login()], "proxy_urls": []})
        platform, user_id = request.headers.get("Satori-Platform"), request.headers.get("Satori-User-ID")
        if platform is None or user_id is None:
            return self._reject(401, f"{name}: missing Satori-Platform or Satori-User-ID")
        if (platform, user_id) != (PLATFORM, BOT):
            return self._reject(403, f"{name}: login not found: {platform}/{user_id}")
        handler = self._handlers.get(name)
        if handler is None:
            return self._reject(404, f"{name}: method not found")
        if name == "message.create" and (scripted := await self._script(body, request)) is not None:
            return scripted
        try:
            return web.json_response(handler(body))
        except web.HTTPException as exc:
            return self._reject(exc.status, f"{name}: {exc.text}")

    async def _script(self, body: dict[str, Any], request: web.Request) -> web.Response | None:
        """The test's hooks for one message.create: wait at its gate, then answer its scripted status."""
        content = body.get("content")
        try:
            text = decode_content(content) if isinstance(content, str) else None
        except ContentError:
            text = None  # the handler refuses it as usual
        if text is None:
            return None
        self.attempts.append(text)
        gate = self.gates.get(text)
        if gate is not None:
            gate.reached.set()
            await gate.opened.wait()
        if self.cut_content.get(text, 0) > 0:
            self.cut_content[text] -= 1
            if request.transport is not None:
                request.transport.abort()  # the request is lost on the way: no reply at all
            raise web.HTTPServiceUnavailable  # never reaches the client: the connection is gone
        status = self.fail_content.get(text)
        return None if status is None else self._reject(status, f"message.create: scripted {status} for {text!r}")

    @staticmethod
    def _channel(channel_id: Any) -> dict[str, Any]:
        if isinstance(channel_id, str) and channel_id in CHANNELS:
            return CHANNELS[channel_id]
        if isinstance(channel_id, str) and channel_id.removeprefix("private:") in USERS:
            return {"id": channel_id, "type": 1}
        raise web.HTTPNotFound(text="channel not found")

    def _channel_list(self, body: dict[str, Any]) -> Any:
        if body.get("guild_id") != GUILD["id"]:
            raise web.HTTPNotFound(text="guild not found")
        return {"data": list(CHANNELS.values())}

    def _user_get(self, body: dict[str, Any]) -> Any:
        user_id = body.get("user_id")
        if not isinstance(user_id, str) or user_id not in USERS:
            raise web.HTTPNotFound(text="user not found")
        return USERS[user_id]

    def _dm_create(self, body: dict[str, Any]) -> Any:
        user_id = body.get("user_id")
        if not isinstance(user_id, str) or user_id not in USERS:
            raise web.HTTPNotFound(text="user not found")
        return self._channel(f"private:{user_id}")

    def _message_list(self, body: dict[str, Any]) -> Any:
        channel = self._channel(body.get("channel_id"))
        limit = body.get("limit", 50)
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
            raise web.HTTPBadRequest(text="limit must be a positive integer")
        if body.get("next") is not None or body.get("direction", "before") != "before":
            raise web.HTTPBadRequest(text="only the newest page is served")
        return {"data": self.messages.get(channel["id"], [])[-min(limit, 100) :]}

    def _message_create(self, body: dict[str, Any]) -> Any:
        channel = self._channel(body.get("channel_id"))
        content = body.get("content")
        if not isinstance(content, str) or not content or len(content) > MAX_CONTENT:
            raise web.HTTPBadRequest(text="content must be a non-empty string")
        try:
            decode_content(content)
        except ContentError as exc:
            raise web.HTTPBadRequest(text=str(exc)) from None
        return [self._store(channel["id"], content, USERS[BOT])]

    def _store(self, channel_id: str, content: str, user: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(channel_id)
        self._message_id += 1
        now = int(time.time() * 1000)
        message = {"id": f"m{self._message_id}", "content": content, "channel": channel, "user": user,
                   "created_at": now}  # fmt: skip
        self.messages.setdefault(channel["id"], []).append(message)
        login = {"sn": 1, "platform": PLATFORM, "user": USERS[BOT]}
        event = {"sn": len(self.events) + 1, "type": "message-created", "timestamp": now, "login": login,
                 "channel": channel, "user": user,
                 "message": {"id": message["id"], "content": content, "created_at": now}}  # fmt: skip
        self.events.append(event)
        frame = json.dumps({"op": 0, "body": event})
        for queue in self._queues.values():
            queue.put_nowait(frame)
        return message

    # -- WebSocket -------------------------------------------------------------------------------
    async def _events(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=64 * 1024)
        await ws.prepare(request)
        try:
            msg = await ws.receive(timeout=10)
            frame = json.loads(msg.data) if msg.type is WSMsgType.TEXT else None
        except (TimeoutError, ValueError):
            frame = None
        body = frame.get("body") if isinstance(frame, dict) and frame.get("op") == 3 else None
        if isinstance(body, dict):
            self.identifies.append(body)
        if not isinstance(body, dict) or body.get("token") != TOKEN:
            await ws.close(code=4004, message=b"invalid token")
            return ws
        queue: asyncio.Queue[str | None] = asyncio.Queue()
        # READY, the replay and registration happen with no await in between, so no event is missed or
        # sent twice, and the writer keeps their order.
        queue.put_nowait(json.dumps({"op": 4, "body": {"logins": [self.login()], "proxy_urls": []}}))
        resume = body.get("sn")
        valid = isinstance(resume, int) and not isinstance(resume, bool) and resume >= 0
        replay = self.events[resume:] if valid else []
        for event in replay:
            queue.put_nowait(json.dumps({"op": 0, "body": event}))
        self.replays.append([event["sn"] for event in replay])
        self._queues[ws] = queue
        written = self._closed[ws] = asyncio.Event()
        writer = asyncio.create_task(_write(ws, queue.get, written))
        try:
            async for msg in ws:
                if msg.type is not WSMsgType.TEXT:
                    continue
                with contextlib.suppress(ValueError):
                    signal = json.loads(msg.data)
                    if isinstance(signal, dict) and signal.get("op") == 1:
                        queue.put_nowait(json.dumps({"op": 2, "body": {}}))
        finally:
            self._queues.pop(ws, None)
            queue.put_nowait(None)
            await writer
        return ws


async def _write(ws: web.WebSocketResponse, next_frame: Callable[[], Awaitable[str | None]],
                 done: asyncio.Event) -> None:  # fmt: skip
    try:
        while (frame := await next_frame()) is not None:
            try:
                await ws.send_str(frame)
            except ConnectionError:
                return
    finally:
        done.set()


@asynccontextmanager
async def running_strict() -> AsyncIterator[StrictSatori]:
    """The strict server on a free loopback port for the duration of the block."""
    server = StrictSatori()
    async with serve_app(server.app()) as url:
        server.url = url
        try:
            yield server
        finally:
            for gate in server.gates.values():  # a test that failed mid-way must not leave a request held
                gate.opened.set()
