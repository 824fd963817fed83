"""The controller against our strict Satori server (tests/session/strict_satori.py): bodies declared as JSON,
plain text escaped on the way out and decoded on the way in, and resume by sn after a dropped socket."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from PySide6.QtCore import SignalInstance

from im_desktop.protocol.elements import to_plain_text
from im_desktop.protocol.errors import ErrorCode
from im_desktop.protocol.models import LoginStatus
from im_desktop.session.controller import SessionController
from im_desktop.session.tickets import StaticToken
from im_desktop.session.types import SdkLoginStatus
from tests.session.conftest import make_controller
from tests.session.signals import record
from tests.session.strict_satori import BOT, PLATFORM, TOKEN, StrictSatori, running_strict

pytestmark = pytest.mark.asyncio


def when(signal: SignalInstance, predicate: Callable[..., bool]) -> asyncio.Future[tuple[Any, ...]]:
    """Resolves with the arguments of the first emission for which `predicate(*args)` holds."""
    future: asyncio.Future[tuple[Any, ...]] = asyncio.get_running_loop().create_future()

    def check(*args: Any) -> None:
        if not future.done() and predicate(*args):
            future.set_result(args)

    signal.connect(check)
    return future


def _channels(controller: SessionController) -> set[str]:
    return {c.channel_id for c in controller.cache.conversations()} if controller.cache is not None else set()


def _history(controller: SessionController, channel_id: str) -> list[tuple[str, str, str]]:
    assert controller.cache is not None
    return [(m.id, m.user_id, m.content) for m in controller.cache.history(channel_id)]


@asynccontextmanager
async def strict_session(tmp_path: Path) -> AsyncIterator[tuple[StrictSatori, SessionController]]:
    """The server, and a controller closed inside the block (before the server stops)."""
    async with running_strict() as server:
        controller = make_controller(server.url, tmp_path, name="strict")
        try:
            yield server, controller
        finally:
            await controller.aclose()


async def _log_in(controller: SessionController) -> None:
    """Log in with the static token: the controller returns once READY made it ONLINE."""
    await controller.login(BOT, StaticToken(TOKEN))
    assert controller.current_login["status"] == LoginStatus.ONLINE


async def test_the_strict_server_refuses_what_a_koa_server_would_not_read(tmp_path: Path) -> None:
    """The double itself: without these refusals the tests below could not fail."""
    headers = {"Authorization": f"Bearer {TOKEN}", "Satori-Platform": PLATFORM, "Satori-User-ID": BOT}
    async with running_strict() as server, httpx.AsyncClient(base_url=server.url, headers=headers) as http:
        undeclared = await http.post("/v1/login.get", content=b"{}")
        assert (undeclared.status_code, undeclared.headers["content-type"]) == (400, "text/plain; charset=utf-8")
        assert (await http.post("/v1/login.get", json={})).json()["user"]["id"] == BOT
        for content in ("a < b", "a & b", "<b>open", "</b>", "&#0;", '<b x="<">y</b>'):
            refused = await http.post("/v1/message.create", json={"channel_id": "general", "content": content})
            assert refused.status_code == 400, content
        accepted = await http.post("/v1/message.create", json={"channel_id": "general",
                                                                "content": "a &lt; b &amp; <b>c</b><br/>"})  # fmt: skip
        assert accepted.status_code == 200
        assert server.texts("general") == [(BOT, "a < b & c\n")]
        wrong_token = await http.post("/v1/login.get", json={}, headers={"Authorization": "Bearer nope"})
        no_login = await http.post("/v1/login.get", json={}, headers={"Satori-User-ID": "someone"})
        assert (wrong_token.status_code, no_login.status_code) == (403, 403)


async def test_login_and_conversation_list(tmp_path: Path) -> None:
    async with strict_session(tmp_path) as (server, controller):
        seeded = server.push("general", "Tom &amp; Jerry")
        synced = when(controller.conversations_changed, lambda: _channels(controller) >= {"general", "random"})
        await _log_in(controller)
        try:  # the resync after READY: guild.list, channel.list, message.list
            await asyncio.wait_for(synced, 5)
        except TimeoutError:
            pytest.fail(f"no conversation list; the server refused: {server.rejected}")
        assert controller.login_status is SdkLoginStatus.LOGINED
        login = controller.current_login
        assert (login["status"], login["platform"], login["user"]["id"]) == (LoginStatus.ONLINE, PLATFORM, BOT)
        assert controller.own_server is False and controller.login_requests == 0
        assert controller.cache is not None
        assert {(c.channel_id, c.name) for c in controller.cache.conversations()} == {("general", "General"),
                                                                                    ("random", "Random")}  # fmt: skip
        assert _history(controller, "general") == [(seeded["id"], "alice", "Tom &amp; Jerry")]  # message.list
        assert to_plain_text(_history(controller, "general")[0][2]) == "Tom & Jerry"
        assert server.rejected == []


async def test_send_reaches_the_server_as_the_text_the_user_typed(tmp_path: Path) -> None:
    typed = 'a < b & "c" > d'
    async with strict_session(tmp_path) as (server, controller):
        await _log_in(controller)
        failed = when(controller.send_failed, lambda *args: True)
        shown = when(controller.message_received, lambda channel_id, message: channel_id == "general")
        controller.send_message("general", typed)
        done, _ = await asyncio.wait({failed, shown}, timeout=5, return_when=asyncio.FIRST_COMPLETED)
        assert failed not in done, f"the send failed: {failed.result()}; the server refused {server.rejected}"
        assert shown in done, "the send was neither reported as sent nor as failed"
        assert server.texts("general") == [(BOT, typed)]  # decoded by the server's own parser
        stored = server.messages["general"][0]
        assert stored["content"] == "a &lt; b &amp; &quot;c&quot; &gt; d"
        _, message = shown.result()
        assert message["id"] == stored["id"]
        assert _history(controller, "general") == [(stored["id"], BOT, stored["content"])]
        assert to_plain_text(message["content"]) == typed  # what the user sees of their own message
        assert controller.cache is not None and controller.cache.pending() == []
        assert server.rejected == []


async def test_a_refused_send_is_reported_as_failed_not_as_sent(tmp_path: Path) -> None:
    async with strict_session(tmp_path) as (server, controller):
        await _log_in(controller)
        shown = record(controller.message_received)
        failed = when(controller.send_failed, lambda *args: True)
        controller.send_message("general", "x" * 5000)  # over the server's content limit: 400
        channel_id, _, code, _ = await asyncio.wait_for(failed, 5)
        assert (channel_id, code) == ("general", int(ErrorCode.INVALID_PARAMETERS))
        assert shown == []
        assert server.messages["general"] == []
        assert server.rejected == ["message.create: content must be a non-empty string"]


async def test_received_content_is_decoded_for_reading(tmp_path: Path) -> None:
    async with strict_session(tmp_path) as (server, controller):
        await _log_in(controller)
        content = ('Tom &amp; Jerry &lt;3 <b>bold</b> <x-sticker id="7">a sticker</x-sticker> '
                   '<at id="bot1" name="Strict bot"/> &#x1F600;<br/><script>alert(1)</script>')  # fmt: skip
        pushed = server.push("random", content)
        received = when(controller.message_received, lambda channel_id, message: message.get("id") == pushed["id"])
        channel_id, message = await asyncio.wait_for(received, 5)
        assert (channel_id, message["user"]["id"], message["content"]) == ("random", "alice", content)
        expected = "Tom & Jerry <3 bold a sticker @Strict bot \U0001f600\nalert(1)"
        assert to_plain_text(message["content"]) == expected
        assert [to_plain_text(c) for _, _, c in _history(controller, "random")] == [expected]


async def test_reconnect_after_the_server_drops_the_socket_resumes_by_sn(tmp_path: Path) -> None:
    async with strict_session(tmp_path) as (server, controller):
        await _log_in(controller)
        before = server.push("general", "before the drop")
        heard = when(controller.message_received, lambda channel_id, message: message.get("id") == before["id"])
        await asyncio.wait_for(heard, 5)
        assert server.events[-1]["sn"] == 1

        statuses = record(controller.status_changed)
        sdk = record(controller.login_status_changed)
        received = record(controller.message_received)
        back_online = when(controller.status_changed, lambda status: status == LoginStatus.ONLINE)
        assert await server.drop() == 1
        # Stored while no socket is open, in a conversation the client does not know yet (so the resync's
        # message.list cannot bring it first): only the resumed event stream can deliver it.
        missed = server.push("private:alice", "while you were &amp; away")
        replayed = when(controller.message_received, lambda channel_id, message: message.get("id") == missed["id"])
        await asyncio.wait_for(back_online, 5)
        await asyncio.wait_for(replayed, 5)
        after = server.push("private:alice", "back again")
        live = when(controller.message_received, lambda channel_id, message: message.get("id") == after["id"])
        await asyncio.wait_for(live, 5)

        assert statuses[0] == (LoginStatus.DISCONNECT,) and statuses[-1] == (LoginStatus.ONLINE,)
        assert sdk == [] and controller.login_status is SdkLoginStatus.LOGINED  # no new login
        assert [body.get("sn") for body in server.identifies] == [None, 1]  # the last event it had seen
        assert server.replays == [[], [2]]
        assert [(c, m["id"]) for c, m in received] == [("private:alice", missed["id"]), ("private:alice", after["id"])]
        assert _history(controller, "private:alice") == [(missed["id"], "alice", "while you were &amp; away"),
                                                         (after["id"], "alice", "back again")]  # fmt: skip
        assert [m[0] for m in _history(controller, "general")] == [before["id"]]
        assert server.rejected == []
