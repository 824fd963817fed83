"""Our server driven by a third-party Satori client, satori-python-client from PyPI."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import satori
import satori.client.network.websocket as satori_websocket
from graia.amnesia.builtins.aiohttp import AiohttpClientService  # type: ignore[import-untyped]
from launart import Launart  # type: ignore[import-untyped]
from satori.client import Account, App, WebsocketsInfo
from satori.const import EventType
from satori.event import LoginEvent, MessageEvent
from satori.exception import NotFoundException
from satori.model import Event, LoginStatus
from satori.reconnect import ReconnectPolicy

from im_desktop.protocol.models import CloseCode
from tests.server.support import RunningServer

pytestmark = [
    pytest.mark.asyncio,
    # satori-python-client 1.3.11 opens its socket with `session.ws_connect(..., timeout=300)`
    # (satori/client/network/websocket.py, WsNetwork.daemon), which aiohttp >= 3.10 deprecates.
    # Under `filterwarnings = error` that warning would abort every connection attempt.
    pytest.mark.filterwarnings("ignore:parameter 'timeout' of type 'float' is deprecated:DeprecationWarning"),
]

_SATORI_DIR = str(Path(satori.__file__).parent)


def _client_app(server: RunningServer, token: str) -> App:
    url = urlsplit(server.url)
    assert url.hostname is not None and url.port is not None
    # The package keeps one "main" App in a module global and refuses a second; every test builds its own.
    return App(WebsocketsInfo(host=url.hostname, port=url.port, path="", token=token), main_app=False)


def _online_future(app: App) -> asyncio.Future[Account]:
    """Resolves with the account the client creates from the logins in our READY."""
    online: asyncio.Future[Account] = asyncio.get_running_loop().create_future()

    async def on_status(account: Account, status: LoginStatus) -> None:
        if status == LoginStatus.ONLINE and not online.done():
            online.set_result(account)

    app.lifecycle(on_status)
    return online


def _started_by_satori(task: asyncio.Task[Any]) -> bool:
    code = getattr(task.get_coro(), "cr_code", None)
    return code is not None and code.co_filename.startswith(_SATORI_DIR)


@asynccontextmanager
async def _running(app: App) -> AsyncIterator[None]:
    """Run the client's launart lifecycle in this event loop, and stop it the way Ctrl-C does."""
    manager = Launart()
    manager.add_component(AiohttpClientService())
    manager.add_component(app)
    before = asyncio.all_tasks()
    launch = asyncio.create_task(manager.launch())
    try:
        yield
    finally:
        # The stop hook that App.run()/App.run_async() bind to SIGINT; calling it needs no real signal.
        manager._on_sys_signal(signal.SIGINT, None, main_task=launch)
        await asyncio.wait_for(launch, timeout=10)
        # On exit WsNetwork.daemon returns without cancelling its own `_heartbeat` task (it would
        # otherwise ping a dead socket every 9 s forever), so end whatever the package left behind.
        leftovers = [t for t in asyncio.all_tasks() - before if _started_by_satori(t)]
        for task in leftovers:
            task.cancel()
        await asyncio.gather(*leftovers, return_exceptions=True)


class _GiveUpAtOnce(ReconnectPolicy):
    """A reconnect policy that never retries.

    The client only treats close codes 1000/1001/1012/3000 as final (satori/reconnect.py), so after our
    4001 (kicked) or 4004 (invalid token) it would retry the dead token for ~11 minutes, 5 s after the close
    at the earliest; tests that end a connection this way use this policy instead.
    """

    async def sleep(self) -> bool:
        return False


@pytest.fixture
def client_never_reconnects(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(satori_websocket, "ReconnectPolicy", _GiveUpAtOnce)


async def test_satori_python_client_gets_ready_and_message_created_from_our_server(server: RunningServer) -> None:
    alice = await server.login("alice")
    bob = await server.login("bob")
    app = _client_app(server, alice.token)
    online = _online_future(app)
    created: asyncio.Future[MessageEvent] = asyncio.get_running_loop().create_future()

    @app.register_on(EventType.MESSAGE_CREATED)
    async def on_message(account: Account, event: MessageEvent) -> None:
        if not created.done():
            created.set_result(event)

    async with _running(app):
        account = await asyncio.wait_for(online, timeout=10)
        assert (account.platform, account.self_id) == ("im-desktop", "alice")
        assert account.self_info.status == LoginStatus.ONLINE
        sent = await bob.ok("message.create", {"channel_id": "general", "content": "hello, alice"})
        event = await asyncio.wait_for(created, timeout=10)

    assert event.sn >= 1
    assert (event.login.platform, event.login.user.id) == ("im-desktop", "alice")
    assert event.user.id == "bob"
    assert event.guild is not None
    assert (event.channel.id, event.guild.id) == ("general", "lobby")
    assert (event.message.id, event.message.content) == (sent[0]["id"], "hello, alice")
    # Our timestamps are milliseconds, which is what the client divides by 1000.
    assert event.timestamp.timestamp() == server.clock()
    assert event.message.created_at is not None
    assert event.message.created_at.timestamp() == server.clock()


async def test_satori_python_client_api_calls_work_against_our_server(server: RunningServer) -> None:
    """Every call carries Satori-Platform/Satori-User-ID and X-Platform/X-Self-ID, as this client sends them."""
    alice = await server.login("alice")
    bob = await server.login("bob")
    bob_events = await bob.connect()
    app = _client_app(server, alice.token)
    online = _online_future(app)

    async with _running(app):
        account = await asyncio.wait_for(online, timeout=10)
        login = await account.login_get()
        guilds = await account.guild_list()
        channels = await account.channel_list("lobby")
        general = await account.channel_get("general")
        bob_user = await account.user_get("bob")
        sent = await account.send_message("general", "hi, bob")
        fetched = await account.message_get("general", sent[0].id)
        history = await account.message_list("general")
        with pytest.raises(NotFoundException):
            await account.channel_get("no-such-channel")

    assert (login.platform, login.user.id, login.status) == ("im-desktop", "alice", LoginStatus.ONLINE)
    assert [g.id for g in guilds.data] == ["lobby"]
    assert "general" in [c.id for c in channels.data]
    assert general.id == "general"
    assert bob_user.id == "bob"
    assert len(sent) == 1
    assert sent[0].user is not None
    assert (sent[0].content, sent[0].user.id) == ("hi, bob", "alice")
    assert (fetched.id, fetched.content) == (sent[0].id, "hi, bob")
    assert [m.id for m in history.data] == [sent[0].id]
    heard = await bob_events.until("message-created")
    assert heard["user"]["id"] == "alice"
    assert (heard["message"]["id"], heard["message"]["content"]) == (sent[0].id, "hi, bob")


@pytest.mark.usefixtures("client_never_reconnects")
async def test_satori_python_client_gets_login_removed_when_our_operator_kicks_it(server: RunningServer) -> None:
    alice = await server.login("alice")
    app = _client_app(server, alice.token)
    online = _online_future(app)
    removed: asyncio.Future[LoginEvent] = asyncio.get_running_loop().create_future()

    @app.register_on(EventType.LOGIN_REMOVED)
    async def on_removed(account: Account, event: LoginEvent) -> None:
        if not removed.done():
            removed.set_result(event)

    async with _running(app):
        await asyncio.wait_for(online, timeout=10)
        assert (await server.admin("POST", "kick", {"user_id": "alice"})).body == {"kicked": 1}
        event = await asyncio.wait_for(removed, timeout=10)

    assert event.login.user is not None
    assert (event.login.platform, event.login.user.id) == ("im-desktop", "alice")
    assert event.login.status == LoginStatus.OFFLINE


@pytest.mark.usefixtures("client_never_reconnects")
async def test_satori_python_client_gets_no_login_with_a_token_our_server_refuses(server: RunningServer) -> None:
    app = _client_app(server, "not-a-token")
    seen: list[Event] = []

    async def on_any(account: Account, event: Event) -> None:
        seen.append(event)

    app.register(on_any)
    (network,) = app.connections

    async with _running(app):
        # The client's connection service ends its blocking stage once it stops trying.
        await asyncio.wait_for(network.status.wait_for("blocking-completed"), timeout=10)
        assert network.connection.close_code == CloseCode.INVALID_TOKEN

    assert (seen, app.accounts) == ([], {})
