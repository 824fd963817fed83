"""A stock satori-python-server (PyPI) with a small in-memory provider: the third-party peer of the interop tests.

Run as a subprocess: `python tests/session/satori_peer.py --port P --token T`. It prints its base URL on stdout
once it listens, and stops on SIGINT or SIGTERM. Everything lives in memory, so a restart starts empty.

One login (platform "peer", user "bot1"), one guild with two text channels, and these routes:

- login.get, guild.list, channel.list, message.list (the newest page, oldest first), message.create
  (stored, then published to every WebSocket client as a `message-created` event);
- internal/peer.inject {channel_id, content, user_id}: a message "from someone else", published the same way;
- internal/peer.stats: how many WebSocket connections were opened and how many got READY.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import socket
import sys
import threading
import time
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from loguru import logger
from satori import Api, EventType
from satori.exception import BadRequestException, NotFoundException
from satori.model import (
    Channel,
    ChannelType,
    Event,
    Guild,
    Login,
    LoginStatus,
    MessageObject,
    PageDequeResult,
    PageResult,
    User,
)
from satori.server import Server
from starlette.websockets import WebSocket

PLATFORM = "peer"
SELF_ID = "bot1"
GUILD = Guild(id="peer-guild", name="Peer guild")
CHANNELS = {
    "lobby": Channel(id="lobby", type=ChannelType.TEXT, name="Lobby"),
    "random": Channel(id="random", type=ChannelType.TEXT, name="Random"),
}


class PeerProvider:
    """The provider protocol satori-python-server expects, plus the in-memory chat state behind the routes."""

    def __init__(self) -> None:
        self.messages: dict[str, list[MessageObject]] = {channel_id: [] for channel_id in CHANNELS}
        self.events: asyncio.Queue[Event] = asyncio.Queue()
        self.connections = 0  # WebSocket connections opened (IDENTIFY accepted or not)
        self.ready = 0  # of those, how many got READY

    @staticmethod
    def login() -> Login:
        return Login(platform=PLATFORM, user=User(id=SELF_ID, name="Peer bot", is_bot=True),
                     status=LoginStatus.ONLINE, adapter="peer")  # fmt: skip

    # -- the Provider protocol --------------------------------------------------------------------
    async def get_logins(self) -> list[Login]:
        self.ready += 1  # asked only once the token matched, right before READY (and by /v1/meta, unused here)
        return [self.login()]

    @staticmethod
    def proxy_urls() -> list[str]:
        return []

    def ensure(self, platform: str, self_id: str) -> bool:
        return platform == PLATFORM and self_id == SELF_ID

    async def handle_internal(self, request: Any, path: str) -> Any:
        raise NotImplementedError(path)

    async def handle_proxied(self, prefix: str, url: str) -> Any:
        return None

    async def publisher(self) -> AsyncIterator[Event]:
        """The server pushes every event yielded here to its WebSocket clients."""
        while True:
            yield await self.events.get()

    # -- chat state -------------------------------------------------------------------------------
    def post(self, channel_id: Any, content: Any, user: User) -> MessageObject:
        if not isinstance(channel_id, str) or channel_id not in CHANNELS:
            raise NotFoundException(f"no channel {channel_id!r}")
        if not isinstance(content, str) or not content:
            raise BadRequestException("content must be a non-empty string")
        channel = CHANNELS[channel_id]
        now = datetime.now()
        message = MessageObject(id=uuid.uuid4().hex, content=content, channel=channel, guild=GUILD, user=user,
                                created_at=now)  # fmt: skip
        self.messages[channel_id].append(message)
        self.events.put_nowait(Event(type=EventType.MESSAGE_CREATED, timestamp=now, login=self.login(),
                                     channel=channel, guild=GUILD, user=user, message=message))  # fmt: skip
        return message


def _params(request: Any) -> dict[str, Any]:
    return request.params if isinstance(request.params, dict) else {}


class PeerServer(Server):
    """The stock server, counting every WebSocket connection (refused ones included) for the provider."""

    def __init__(self, provider: PeerProvider, port: int, token: str) -> None:
        super().__init__(host="127.0.0.1", port=port, path="", token=token,
                         uvicorn_options={"log_level": "warning", "access_log": False})  # fmt: skip
        self.peer = provider

    async def websocket_server_handler(self, ws: WebSocket) -> None:
        self.peer.connections += 1
        await super().websocket_server_handler(ws)


def build_server(port: int, token: str) -> tuple[PeerServer, PeerProvider]:
    provider = PeerProvider()
    server = PeerServer(provider, port, token)
    server.apply(provider)

    @server.route(Api.LOGIN_GET)
    async def login_get(request: Any) -> Any:
        return provider.login()

    @server.route(Api.GUILD_LIST)
    async def guild_list(request: Any) -> Any:
        return PageResult(data=[GUILD])

    @server.route(Api.CHANNEL_LIST)
    async def channel_list(request: Any) -> Any:
        if _params(request).get("guild_id") != GUILD.id:
            raise NotFoundException("no such guild")
        return PageResult(data=list(CHANNELS.values()))

    @server.route(Api.MESSAGE_LIST)
    async def message_list(request: Any) -> Any:
        params = _params(request)
        channel_id = params.get("channel_id")
        if channel_id not in CHANNELS:
            raise NotFoundException(f"no channel {channel_id!r}")
        limit = params.get("limit")
        limit = limit if isinstance(limit, int) and 0 < limit <= 100 else 50
        return PageDequeResult(data=provider.messages[channel_id][-limit:])

    @server.route(Api.MESSAGE_CREATE)
    async def message_create(request: Any) -> Any:
        params = _params(request)
        author = User(id=request.self_id, name="Peer bot", is_bot=True)
        return [provider.post(params.get("channel_id"), params.get("content"), author)]

    @server.route("peer.inject")
    async def inject(request: Any) -> Any:
        params = _params(request)
        user_id = params.get("user_id")
        if not isinstance(user_id, str) or not user_id:
            raise BadRequestException("user_id must be a non-empty string")
        return provider.post(params.get("channel_id"), params.get("content"), User(id=user_id, name=user_id))

    @server.route("peer.stats")
    async def stats(request: Any) -> Any:
        return {"connections": provider.connections, "ready": provider.ready}

    return server, provider


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def announce(port: int, timeout: float = 30.0) -> None:
    """Print the base URL once the port accepts connections; the parent waits for this line."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                print(f"http://127.0.0.1:{port}", flush=True)
                return
        except OSError:
            time.sleep(0.02)
    print(f"the satori peer did not listen on port {port} within {timeout:.0f} s", file=sys.stderr, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description="In-memory satori-python-server peer for the interop tests.")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free loopback port")
    parser.add_argument("--token", required=True, help="the static token IDENTIFY must carry")
    args = parser.parse_args()
    logger.remove()
    logger.add(sys.stderr, level="WARNING")
    port = args.port or free_port()
    server, _ = build_server(port, args.token)
    threading.Thread(target=announce, args=(port,), daemon=True).start()
    server.run(stop_signal=(signal.SIGINT, signal.SIGTERM))


if __name__ == "__main__":
    main()
