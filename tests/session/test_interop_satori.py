"""The controller against a third-party Satori server: satori-python-server from PyPI, run as a subprocess
(tests/session/satori_peer.py) with a static token, restarted on the same port, and with a wrong token."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import IO, Any

import httpx
import pytest
from PySide6.QtCore import SignalInstance

from im_desktop.protocol.errors import ErrorCode, ImError
from im_desktop.protocol.models import LoginStatus
from im_desktop.session.controller import SessionController
from im_desktop.session.tickets import StaticToken
from im_desktop.session.types import SdkLoginStatus
from tests.session.conftest import make_controller
from tests.session.signals import reach_status, record

pytestmark = [pytest.mark.asyncio, pytest.mark.slow]

PEER_SCRIPT = Path(__file__).with_name("satori_peer.py")
TOKEN = "interop-static-token"
BOT = "bot1"
PEER_CHANNELS = {"lobby", "random"}


class Peer:
    """The peer subprocess and an HTTP client that talks to it as the bot (the token is only checked on the
    WebSocket by satori-python-server 1.3.11, but it is sent anyway)."""

    def __init__(self, log_path: Path, token: str) -> None:
        self._log_path = log_path
        self._token = token
        self._log: IO[bytes] | None = None
        self.proc: asyncio.subprocess.Process | None = None
        self.url = ""
        self.port = 0
        self.http: httpx.AsyncClient | None = None

    async def start(self, port: int = 0) -> None:
        self._log = self._log_path.open("ab")
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, str(PEER_SCRIPT), "--port", str(port), "--token", self._token,
            stdout=asyncio.subprocess.PIPE, stderr=self._log,
        )  # fmt: skip
        assert self.proc.stdout is not None
        line = (await asyncio.wait_for(self.proc.stdout.readline(), 30)).decode().strip()
        if not line.startswith("http://127.0.0.1:"):
            await self.stop()
            pytest.fail(f"the satori peer did not start: {line!r}\n{self._log_path.read_text(errors='replace')}")
        self.url, self.port = line, int(line.rsplit(":", 1)[1])
        assert port in (0, self.port)
        if self.http is None:
            headers = {"Authorization": f"Bearer {self._token}", "Satori-Platform": "peer", "Satori-User-ID": BOT}
            self.http = httpx.AsyncClient(base_url=self.url, headers=headers, timeout=5.0)

    async def stop(self) -> int | None:
        """SIGINT (graceful), SIGKILL if it lingers; returns the exit code."""
        proc, self.proc = self.proc, None
        if proc is not None:
            if proc.returncode is None:
                proc.send_signal(signal.SIGINT)
            try:
                await asyncio.wait_for(proc.communicate(), 10)
            except TimeoutError:
                proc.kill()
                await proc.communicate()
        if self._log is not None:
            self._log.close()
            self._log = None
        return None if proc is None else proc.returncode

    async def aclose(self) -> None:
        await self.stop()
        if self.http is not None:
            await self.http.aclose()
            self.http = None

    async def call(self, method: str, body: dict[str, Any]) -> Any:
        assert self.http is not None
        response = await self.http.post(f"/v1/{method}", json=body)
        response.raise_for_status()
        return response.json()

    async def inject(self, channel_id: str, content: str, user_id: str) -> dict[str, Any]:
        """A message from someone else; the server publishes it as `message-created`."""
        message: dict[str, Any] = await self.call(
            "internal/peer.inject", {"channel_id": channel_id, "content": content, "user_id": user_id}
        )
        return message

    async def stats(self) -> dict[str, int]:
        stats: dict[str, int] = await self.call("internal/peer.stats", {})
        return stats


@asynccontextmanager
async def running_peer(tmp_path: Path, token: str = TOKEN) -> AsyncIterator[Peer]:
    peer = Peer(tmp_path / "satori-peer.log", token)
    await peer.start()
    try:
        yield peer
    finally:
        await peer.aclose()


@asynccontextmanager
async def controller_for(peer: Peer, tmp_path: Path) -> AsyncIterator[SessionController]:
    """Closed inside the test body, before the peer stops (see tests/session/conftest.py on why)."""
    controller = make_controller(peer.url, tmp_path, name="satori-peer")
    try:
        yield controller
    finally:
        await controller.aclose()


def when(signal_: SignalInstance, predicate: Callable[..., bool]) -> asyncio.Future[tuple[Any, ...]]:
    """Resolves with the arguments of the first emission for which `predicate(*args)` holds."""
    future: asyncio.Future[tuple[Any, ...]] = asyncio.get_running_loop().create_future()

    def check(*args: Any) -> None:
        if not future.done() and predicate(*args):
            future.set_result(args)

    signal_.connect(check)
    return future


def _channels(controller: SessionController) -> set[str]:
    return {c.channel_id for c in controller.cache.conversations()} if controller.cache is not None else set()


def _contents(controller: SessionController, channel_id: str) -> list[str]:
    assert controller.cache is not None
    return [m.content for m in controller.cache.history(channel_id)]


async def test_controller_logs_in_to_satori_python_server_with_a_static_token(tmp_path: Path) -> None:
    async with running_peer(tmp_path) as peer, controller_for(peer, tmp_path) as controller:
        synced = when(controller.conversations_changed, lambda: _channels(controller) >= PEER_CHANNELS)
        await controller.login(BOT, StaticToken(TOKEN))
        assert controller.current_login["status"] == LoginStatus.ONLINE
        assert controller.login_status is SdkLoginStatus.LOGINED
        assert controller.login_user == BOT
        assert controller.own_server is False  # no /im/v1/discovery there
        assert controller.login_requests == 0  # and so no HTTP login
        assert controller.current_login["platform"] == "peer"
        assert controller.current_login["user"]["id"] == BOT
        await asyncio.wait_for(synced, 5)  # resync: guild.list -> channel.list -> the conversation list
        assert _channels(controller) == PEER_CHANNELS

        received = when(controller.message_received, lambda channel_id, message: message.get("content") == "hi bot")
        await peer.inject("lobby", "hi bot", "alice")
        channel_id, message = await asyncio.wait_for(received, 5)
        assert channel_id == "lobby"
        assert message["user"]["id"] == "alice"
        assert "hi bot" in _contents(controller, "lobby")

        sent = when(controller.message_received, lambda channel_id, message: message.get("content") == "hello")
        controller.send_message("lobby", "hello")
        channel_id, message = await asyncio.wait_for(sent, 5)
        assert channel_id == "lobby"
        assert controller.cache is not None and controller.cache.pending() == []
        page = await peer.call("message.list", {"channel_id": "lobby", "limit": 50})
        on_server = [(m["user"]["id"], m["content"]) for m in page["data"]]
        assert on_server == [("alice", "hi bot"), (BOT, "hello")]
        assert message["id"] == page["data"][-1]["id"]
        assert _contents(controller, "lobby") == ["hi bot", "hello"]  # the echoed event did not add a second copy
        assert await peer.stats() == {"connections": 1, "ready": 1}


async def test_controller_comes_back_online_after_satori_python_server_restarts(tmp_path: Path) -> None:
    async with running_peer(tmp_path) as peer, controller_for(peer, tmp_path) as controller:
        await controller.login(BOT, StaticToken(TOKEN))
        assert controller.current_login["status"] == LoginStatus.ONLINE
        received = when(controller.message_received, lambda channel_id, message: message.get("content") == "before")
        await peer.inject("lobby", "before", "alice")  # so the controller has a resume point (sn) from the old run
        await asyncio.wait_for(received, 5)

        statuses = record(controller.status_changed)
        assert await peer.stop() == 0  # SIGINT: a clean exit
        await reach_status(controller, LoginStatus.RECONNECT, timeout=5)
        await asyncio.sleep(1.0)  # a few failed attempts (backoff 0.05 -> 0.4 s) while nobody listens
        assert controller.current_login["status"] == LoginStatus.RECONNECT
        assert controller.login_status is SdkLoginStatus.LOGINED  # still logged in: only the link is down

        await peer.start(port=peer.port)  # same port: the controller keeps its base URL
        started = asyncio.get_running_loop().time()
        await reach_status(controller, LoginStatus.ONLINE, timeout=5)
        assert asyncio.get_running_loop().time() - started < 3.0
        assert controller.login_requests == 0
        assert controller.login_status is SdkLoginStatus.LOGINED
        assert controller.current_login["platform"] == "peer"
        assert (LoginStatus.DISCONNECT,) in statuses and (LoginStatus.RECONNECT,) in statuses

        # The new process knows nothing of the old events; new ones still arrive.
        received = when(controller.message_received, lambda channel_id, message: message.get("content") == "after")
        await peer.inject("random", "after", "carol")
        channel_id, message = await asyncio.wait_for(received, 5)
        assert (channel_id, message["user"]["id"]) == ("random", "carol")
        assert await peer.stats() == {"connections": 1, "ready": 1}


async def test_controller_stops_on_a_refused_static_token(tmp_path: Path) -> None:
    async with running_peer(tmp_path) as peer, controller_for(peer, tmp_path) as controller:
        failures = record(controller.login_failed)
        with pytest.raises(ImError) as refused:
            await controller.login(BOT, StaticToken("not-the-token"))
        # Already logged out when login() raises, so an immediate retry is not taken for "already online".
        assert controller.login_status is SdkLoginStatus.LOGOUT
        assert controller.current_login["status"] == LoginStatus.OFFLINE
        assert controller.login_user == ""
        assert refused.value.code is ErrorCode.AUTH_REJECTED  # satori-python closed the socket with 3000
        assert failures == [(int(ErrorCode.AUTH_REJECTED), refused.value.message)]
        assert controller.login_requests == 0

        statuses = record(controller.status_changed)
        await asyncio.sleep(1.0)  # with a 0.05 s backoff a reconnect loop would have tried many times by now
        assert statuses == []
        assert controller.current_login["status"] == LoginStatus.OFFLINE
        assert await peer.stats() == {"connections": 1, "ready": 0}  # one IDENTIFY, refused, never retried


async def test_a_token_of_another_user_id_fails_the_login_and_names_the_tokens_user(tmp_path: Path) -> None:
    """satori-python-server's READY lists bot1 only; logging in as alice with its token must not end up ONLINE
    as nobody (with every later call refused), but fail at once, saying which UserID the token is for."""
    async with running_peer(tmp_path) as peer, controller_for(peer, tmp_path) as controller:
        statuses = record(controller.status_changed)
        failures = record(controller.login_failed)
        with pytest.raises(ImError) as refused:
            await controller.login("alice", StaticToken(TOKEN))
        expected = "This token belongs to bot1, not to alice. Log in with UserID bot1 instead."
        assert (refused.value.code, refused.value.message) == (ErrorCode.INVALID_PARAMETERS, expected)
        assert failures == [(int(ErrorCode.INVALID_PARAMETERS), expected)]
        assert (LoginStatus.ONLINE,) not in statuses
        assert controller.login_status is SdkLoginStatus.LOGOUT
        assert controller.current_login["status"] == LoginStatus.OFFLINE
        assert controller.current_login["user"] is None
        assert controller.login_user == ""
        assert not controller.tasks.running("connection")  # over, not retrying
        assert await peer.stats() == {"connections": 1, "ready": 1}

        await controller.login(BOT, StaticToken(TOKEN))  # the UserID it names works
        now = controller.current_login
        assert (now["user"]["id"], now["status"]) == (BOT, LoginStatus.ONLINE)
