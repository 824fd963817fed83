"""The broker seam: in-process unless asked; a Redis broker that is missing, unreachable or sent garbage."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from im_desktop.server.broker import LocalBroker, open_broker
from im_desktop.server.broker_redis import RedisBroker
from im_desktop.server.cli import main
from im_desktop.server.config import StartupError
from im_desktop.server.redis_channel import ALL_CHANNEL, USER_CHANNEL
from tests.server.redis_server import RedisServer
from tests.server.support import make_config, running_server
from tests.server.test_cluster_live import direct_channel, messages

# Opens the broker of a configuration without --broker, as the server does, and says which modules of redis it loaded.
_IMPORT_PROBE = """
import asyncio, pathlib, sys
from im_desktop.server import app, cli
from im_desktop.server.broker import open_broker
from tests.server.support import make_config
broker = asyncio.run(open_broker(make_config(pathlib.Path("unused"))))
print(type(broker).__name__, sorted(m for m in sys.modules if m.split(".")[0] == "redis"))
"""


@pytest.mark.sqlite_only
def test_without_a_broker_url_the_server_never_imports_redis() -> None:
    done = subprocess.run([sys.executable, "-c", _IMPORT_PROBE], capture_output=True, text=True, timeout=60,
                          check=False, cwd=Path(__file__).resolve().parents[2])  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["LocalBroker", "[]"]


@pytest.mark.asyncio
@pytest.mark.sqlite_only
async def test_a_broker_url_without_redis_installed_is_refused_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "redis", None)  # as if the server-scale extra were not installed
    for module in ("im_desktop.server.broker_redis", "im_desktop.server.redis_channel"):
        monkeypatch.delitem(sys.modules, module, raising=False)
    with pytest.raises(StartupError) as refused:
        await open_broker(make_config(tmp_path, broker="redis://127.0.0.1:1/0"))
    assert "needs the redis package" in str(refused.value) and "\n" not in str(refused.value)


@pytest.mark.asyncio
@pytest.mark.sqlite_only
async def test_an_unreachable_broker_stops_the_start_without_showing_its_password(
    tmp_path: Path, redis: RedisServer
) -> None:
    port = redis.port
    redis.stop()  # nothing listens there now
    with pytest.raises(StartupError) as refused:
        await open_broker(make_config(tmp_path, broker=f"redis://:hunter2-secret@127.0.0.1:{port}/0"))
    assert "cannot be reached" in str(refused.value) and "hunter2" not in str(refused.value)
    assert isinstance(await open_broker(make_config(tmp_path)), LocalBroker)


@pytest.mark.sqlite_only
@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--broker", "http://127.0.0.1:6379"], "--broker must be a redis://"),
        (["--heartbeat-interval", "30", "--heartbeat-timeout", "30"], "--heartbeat-interval must be"),
        (["--heartbeat-interval", "nan"], "--heartbeat-interval must be"),
        (["--heartbeat-interval", "0"], "--heartbeat-interval must be"),
    ],
)
def test_the_command_line_refuses_a_bad_broker_or_heartbeat(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], needle: str
) -> None:
    assert main(["--data-dir", str(tmp_path), *argv]) == 2
    assert needle in capsys.readouterr().err


@pytest.mark.asyncio
async def test_garbage_on_the_channels_changes_nothing_and_delivery_goes_on(tmp_path: Path, redis: RedisServer) -> None:
    async with running_server(tmp_path / "node", broker=redis.url) as node:
        broker = node.service.broker
        assert isinstance(broker, RedisBroker)
        alice = await node.login("alice")
        sock = await alice.connect()
        bob = await node.login("bob")
        outsider = aioredis.Redis.from_url(redis.url)
        try:
            for channel in (USER_CHANNEL + "alice", ALL_CHANNEL):
                for junk in (b"\xff\xfe", b"[]", b'{"t": "w", "sn": "9"}', b'{"t": "e", "s": 5}', b"{" * 100_000,
                             b'{"t": "x"}', b'{"t": "e", "s": "' + b"s" * 1000 + b'"}'):  # fmt: skip
                    assert await outsider.publish(channel, junk) == 1  # heard by the node
            # A well-formed end of a session that is not over: the store says it is active, so it stays.
            await outsider.publish(USER_CHANNEL + "alice", f'{{"t": "e", "s": "{alice.session_id}"}}'.encode())
        finally:
            await outsider.aclose()
        await bob.ok("message.create", {"channel_id": await direct_channel(bob, "alice"), "content": "still here"})
        assert [text for _, text in await messages(sock, 1)] == ["still here"]
        await sock.no_event()
        assert (await alice.api("login.get")).status == 200
        health = await broker.health()
        assert (health["kind"], health["ok"], health["subscribed"]) == ("redis", True, True)


@pytest.mark.asyncio
async def test_health_says_when_the_broker_is_gone_and_back(tmp_path: Path, redis: RedisServer) -> None:
    async with running_server(tmp_path / "node", broker=redis.url) as node:
        broker = node.service.broker
        assert (await broker.health())["ok"] is True
        redis.stop()
        assert (await broker.health())["ok"] is False
        redis.restart()
        deadline = time.monotonic() + 10
        while not (await broker.health())["ok"]:
            assert time.monotonic() < deadline, "the broker did not recover"
            await asyncio.sleep(0.05)
