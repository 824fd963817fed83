"""The protocol client against the real server: discovery, login, Satori calls, and the event stream."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from im_desktop.protocol.client import Credentials, ProtocolClient
from im_desktop.protocol.errors import ErrorCode, ImError
from im_desktop.protocol.events import Ready, StreamEnd
from im_desktop.protocol.models import CloseCode
from tests.server.support import RunningServer

pytestmark = pytest.mark.asyncio


async def _client_login(server: RunningServer, user_id: str = "alice", platform: str = "Linux"):
    client = ProtocolClient(server.url)
    result = await client.login(user_id, server.sig(user_id), platform, f"{platform}-dev", "Test box")
    return client, result, Credentials(result.token, "im-desktop", user_id)


async def test_discovery_recognises_our_server(server: RunningServer) -> None:
    client = ProtocolClient(server.url)
    found = await client.discover()
    assert found is not None
    assert (found.sandbox, found.platform) == (True, "im-desktop")
    assert found.demo_usersig == "/im/v1/demo/usersig"
    ticket = await client.demo_usersig(found.demo_usersig, "zed")
    assert (await client.login("zed", ticket, "Mac", "m1", "Mac")).login["user"]["id"] == "zed"
    await client.aclose()


async def test_server_errors_arrive_as_im_errors_with_tencents_codes(server: RunningServer) -> None:
    client = ProtocolClient(server.url)
    with pytest.raises(ImError) as exc:
        await client.login("alice", server.sig("alice", key="0" * 64), "Linux", "d", "d")
    assert exc.value.code is ErrorCode.USERSIG_MISMATCH_PUBLICKEY
    with pytest.raises(ImError) as exc:
        await client.call(Credentials("bogus", "im-desktop", "alice"), "login.get")
    assert exc.value.code is ErrorCode.NOT_LOGGED_IN
    await client.aclose()


async def test_unreachable_server_is_a_transient_network_error() -> None:
    client = ProtocolClient("http://127.0.0.1:9")
    with pytest.raises(ImError) as exc:
        await client.discover()
    assert exc.value.code is ErrorCode.NET_DISCONNECT
    assert exc.value.code.error_class.value == "transient"
    await client.aclose()


async def test_satori_calls_and_a_connection_pool_reset(server: RunningServer) -> None:
    client, _, creds = await _client_login(server)
    assert (await client.call(creds, "login.get"))["user"]["id"] == "alice"
    await client.reset()
    [sent] = await client.call(creds, "message.create", {"channel_id": "general", "content": "hi"})
    page = await client.call(creds, "message.list", {"channel_id": "general"})
    assert [m["id"] for m in page["data"]] == [sent["id"]]
    assert [login["user"]["id"] for login in await client.meta_logins(creds.token)] == ["alice"]
    await client.aclose()


async def test_event_stream_gets_ready_events_and_the_reason_it_ended(server: RunningServer) -> None:
    client, _, creds = await _client_login(server)
    ready: asyncio.Future[Ready] = asyncio.get_running_loop().create_future()
    events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    stream = client.events(creds.token, None)
    runner = asyncio.create_task(stream.run(ready.set_result, events.put_nowait))
    assert (await asyncio.wait_for(ready, 5)).logins[0]["user"]["id"] == "alice"
    await client.call(creds, "message.create", {"channel_id": "general", "content": "ping"})
    assert (await asyncio.wait_for(events.get(), 5))["message"]["content"] == "ping"
    await server.login("alice", platform="Android", device_name="Phone")
    end: StreamEnd = await asyncio.wait_for(runner, 5)
    assert end.code == CloseCode.KICKED
    assert end.ended is not None and end.ended["by"]["device_name"] == "Phone"
    await client.aclose()


async def test_event_stream_for_a_refused_token_ends_without_ready(server: RunningServer) -> None:
    client = ProtocolClient(server.url)
    end = await client.events("forged", None).run(lambda r: None, lambda e: None)
    assert (end.code, end.ready) == (CloseCode.INVALID_TOKEN, False)
    await client.aclose()


async def test_event_stream_to_nowhere_ends_with_a_reason() -> None:
    client = ProtocolClient("http://127.0.0.1:9")
    end = await client.events("t", None).run(lambda r: None, lambda e: None)
    assert end.code is None and "cannot connect" in end.reason
    await client.aclose()
