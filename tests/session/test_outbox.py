"""The outbox against real servers: each message is sent exactly once or stays visible as failed, a broken
session keeps it queued, one bad message blocks nobody, and a message queued during a flush goes with it."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from im_desktop.protocol.client import Credentials
from im_desktop.protocol.errors import ErrorCode, ImError
from im_desktop.protocol.models import LoginStatus
from im_desktop.session.backoff import Backoff
from im_desktop.session.controller import SessionController
from im_desktop.session.tickets import SandboxTickets, StaticToken, TicketProvider
from im_desktop.session.types import SdkLoginStatus, Timing
from tests.clocks import FakeClock
from tests.session.conftest import FAST, Env, make_controller, session_env
from tests.session.signals import next_emission, reach_status, record, until
from tests.session.strict_satori import BOT, TOKEN, Gate, StrictSatori, running_strict

pytestmark = pytest.mark.asyncio

RETRY_DELAYS = (0.05, 0.1)  # a 5xx is tried 1 + 2 times


def _timing(**changes: Any) -> Timing:
    return dataclasses.replace(FAST, backoff=Backoff(initial=0.05, cap=0.4, jitter=0.1),
                               send_retry_delays=RETRY_DELAYS, **changes)  # fmt: skip


async def _flush_ended(controller: SessionController) -> None:
    """The flush a send started has ended (sent, failed or stopped): nothing more is attempted by it."""
    try:
        await asyncio.wait_for(controller.tasks.join("outbox"), 5)
    except TimeoutError:
        pytest.fail("the flush did not end within 5 s")


def _outbox(controller: SessionController) -> list[tuple[str, str, str, int]]:
    """(nonce, text, state, error code) of everything not on the server yet, oldest first."""
    assert controller.cache is not None
    return [(i.nonce, i.content, i.state, i.error_code) for i in controller.cache.outbox()]


def _spy_sends(controller: SessionController) -> list[int | None]:
    """The outcome of every message.create the controller makes: None when accepted, else the error code."""
    outcomes: list[int | None] = []
    call = controller.client.call

    async def recording(creds: Credentials, method: str, body: dict[str, Any] | None = None) -> Any:
        try:
            reply = await call(creds, method, body)
        except ImError as exc:
            if method == "message.create":
                outcomes.append(int(exc.code))
            raise
        if method == "message.create":
            outcomes.append(None)
        return reply

    controller.client.call = recording  # type: ignore[method-assign]
    return outcomes


# -- a strict third-party Satori server -------------------------------------------------------------


async def _log_in_and_sync(controller: SessionController, user_id: str, provider: TicketProvider) -> None:
    """Log in and wait until the resync after READY has ended, and with it its flush of the (empty) outbox:
    from here on, only what a test does starts a flush."""
    synced: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def resynced() -> None:  # the resync's last step; the flush of an empty outbox that follows never waits
        if controller.current_login["status"] == LoginStatus.ONLINE and not synced.done():
            synced.set_result(None)

    controller.conversations_changed.connect(resynced)
    try:
        await controller.login(user_id, provider)
        await asyncio.wait_for(synced, 5)
    finally:
        controller.conversations_changed.disconnect(resynced)


@asynccontextmanager
async def strict_online(tmp_path: Path) -> AsyncIterator[tuple[StrictSatori, SessionController]]:
    """The strict server and a controller logged in to it, closed before the server stops."""
    async with running_strict() as server:
        controller = make_controller(server.url, tmp_path, name="strict", timing=_timing())
        try:
            await _log_in_and_sync(controller, BOT, StaticToken(TOKEN))
            yield server, controller
        finally:
            await controller.aclose()


def _texts(server: StrictSatori) -> list[str]:
    return [text for _, text in server.texts("general")]


async def test_a_server_error_on_one_message_blocks_nobody_and_it_stays_failed_until_retried(tmp_path: Path) -> None:
    async with strict_online(tmp_path) as (server, controller):
        server.fail_content["boom"] = 500  # every time, until the test says otherwise
        failed = record(controller.send_failed)
        boom = controller.send_message("general", "boom")
        controller.send_message("general", "fine")
        await until("'fine' on the server", lambda: _texts(server) == ["fine"],
                     controller.message_received, controller.outbox_changed)  # fmt: skip
        await _flush_ended(controller)
        assert server.attempts == ["boom"] * (1 + len(RETRY_DELAYS)) + ["fine"]  # a few tries, then the next one
        assert _outbox(controller) == [(boom.nonce, "boom", "failed", int(ErrorCode.INTERNAL_ERROR))]
        assert [(c, n, code) for c, n, code, _ in failed] == [("general", boom.nonce, int(ErrorCode.INTERNAL_ERROR))]
        assert failed[0][3]  # a reason to show next to Retry and Delete

        del server.fail_content["boom"]
        controller.retry_message(boom.nonce)
        await until("'boom' on the server after Retry", lambda: _texts(server) == ["fine", "boom"],
                     controller.message_received, controller.outbox_changed)  # fmt: skip
        await _flush_ended(controller)
        assert server.attempts[1 + len(RETRY_DELAYS) + 1 :] == ["boom"]  # sent once more, exactly once
        assert _texts(server) == ["fine", "boom"]
        assert _outbox(controller) == []
        assert len(failed) == 1
        assert controller.cache is not None
        assert [m.content for m in controller.cache.history("general")] == ["fine", "boom"]


async def test_a_send_that_loses_its_connection_is_tried_again_by_itself(tmp_path: Path) -> None:
    # The event stream stays up (a proxy dropped only this request): no READY or send would come to flush again.
    async with strict_online(tmp_path) as (server, controller):
        server.cut_content["lost once"] = 1
        started = asyncio.get_running_loop().time()
        controller.send_message("general", "lost once")
        await until("'lost once' on the server", lambda: _texts(server) == ["lost once"],
                     controller.message_received, controller.outbox_changed, timeout=10)  # fmt: skip
        assert server.attempts == ["lost once", "lost once"]
        assert asyncio.get_running_loop().time() - started >= 1.5  # after a 2 s pause (Qt timers may fire early)
        assert _outbox(controller) == []
        assert controller.current_login["status"] == LoginStatus.ONLINE


async def test_a_refused_message_is_marked_failed_not_deleted_and_the_next_one_goes(tmp_path: Path) -> None:
    async with strict_online(tmp_path) as (server, controller):
        server.fail_content["bad"] = 400
        failed = record(controller.send_failed)
        waiting = record(controller.outbox_changed)
        bad = controller.send_message("general", "bad")
        controller.send_message("general", "good")
        await until("'good' on the server", lambda: _texts(server) == ["good"],
                     controller.message_received, controller.outbox_changed)  # fmt: skip
        await _flush_ended(controller)
        assert server.attempts == ["bad", "good"]  # a refusal is not retried by itself
        assert _outbox(controller) == [(bad.nonce, "bad", "failed", int(ErrorCode.INVALID_PARAMETERS))]
        assert [(c, n, code) for c, n, code, _ in failed] == [("general", bad.nonce, int(ErrorCode.INVALID_PARAMETERS))]
        assert waiting[-1] == (0,)  # nothing waits to be sent: the failed one waits for the user

        # "Delete": gone from the outbox, and a later Retry of it or a later flush sends nothing of it.
        changes = len(waiting)
        controller.delete_message(bad.nonce)
        assert _outbox(controller) == []
        assert len(waiting) == changes + 1
        controller.retry_message(bad.nonce)
        controller.send_message("general", "later")
        await until("'later' on the server", lambda: _texts(server) == ["good", "later"],
                     controller.message_received, controller.outbox_changed)  # fmt: skip
        await _flush_ended(controller)
        assert server.attempts == ["bad", "good", "later"]
        assert _outbox(controller) == []
        assert len(failed) == 1


@pytest.mark.parametrize("status", [401, 403])  # Koishi says 403 to a bad token, the spec 401
async def test_a_refused_token_keeps_the_message_queued_for_the_next_session(tmp_path: Path, status: int) -> None:
    async with strict_online(tmp_path) as (server, controller):
        server.token_refused = status  # the server no longer takes the login's token: the session is at fault
        failed = record(controller.send_failed)
        first = controller.send_message("general", "first")
        second = controller.send_message("general", "second")  # queued before that flush started
        await _flush_ended(controller)
        # One try, one look at the login (refused too), and the rest of the outbox is left for the next session.
        assert server.rejected == ["message.create: invalid token", "login.get: invalid token"]
        assert _outbox(controller) == [(first.nonce, "first", "pending", 0), (second.nonce, "second", "pending", 0)]
        assert failed == []
        assert controller.cache is not None and len(controller.cache.pending()) == 2

        server.token_refused = None
        back = next_emission(controller.connect_success)
        assert await server.drop() == 1  # the next session: reconnect, READY, resync, flush
        await asyncio.wait_for(back, 5)
        await until("both on the server", lambda: _texts(server) == ["first", "second"] and not _outbox(controller),
                     controller.message_received, controller.outbox_changed)  # fmt: skip
        assert server.attempts == ["first", "second"]  # each delivered exactly once
        assert failed == []
        assert [m.content for m in controller.cache.history("general")] == ["first", "second"]


@pytest.mark.parametrize("status", [401, 403])
async def test_a_message_refused_as_forbidden_while_the_login_works_is_failed_not_blocking(
    tmp_path: Path, status: int
) -> None:
    """403 also means "you may not post this here" (the spec's "insufficient permissions"): that message
    fails, visibly, instead of waiting first in line forever and holding back every later message."""
    async with strict_online(tmp_path) as (server, controller):
        server.fail_content["not here"] = status
        failed = record(controller.send_failed)
        refused = controller.send_message("general", "not here")
        controller.send_message("general", "fine")
        await until("'fine' on the server", lambda: _texts(server) == ["fine"],
                     controller.message_received, controller.outbox_changed)  # fmt: skip
        await _flush_ended(controller)
        assert server.attempts == ["not here", "fine"]
        assert _outbox(controller) == [(refused.nonce, "not here", "failed", int(ErrorCode.AUTH_REJECTED))]
        assert [(c, n, code) for c, n, code, _ in failed] == [("general", refused.nonce, int(ErrorCode.AUTH_REJECTED))]
        assert "login itself works" in failed[0][3]  # not "the credentials were refused": they were not


async def test_a_message_queued_while_a_flush_runs_is_sent_by_that_flush(tmp_path: Path) -> None:
    async with strict_online(tmp_path) as (server, controller):
        gate = server.gates["first"] = Gate()
        controller.send_message("general", "first")
        await asyncio.wait_for(gate.reached.wait(), 5)  # "first" is in flight, held by the server
        controller.send_message("general", "second")
        gate.opened.set()
        # No further send, no reconnect: the running flush must pick "second" up by itself.
        await until("both on the server", lambda: _texts(server) == ["first", "second"] and not _outbox(controller),
                     controller.message_received, controller.outbox_changed)  # fmt: skip
        assert server.attempts == ["first", "second"]
        assert len(server.identifies) == 1


async def test_a_failure_shows_while_the_flush_goes_on_and_a_retry_then_goes_with_it(tmp_path: Path) -> None:
    async with strict_online(tmp_path) as (server, controller):
        server.fail_content["boom"] = 500
        gate = server.gates["fine"] = Gate()
        failed = record(controller.send_failed)
        waiting = record(controller.outbox_changed)
        boom = controller.send_message("general", "boom")
        controller.send_message("general", "fine")
        await asyncio.wait_for(gate.reached.wait(), 5)  # "boom" was given up, "fine" is out and held
        # Already reported, with Retry and Delete, though the flush has not ended.
        assert [(c, n, code) for c, n, code, _ in failed] == [("general", boom.nonce, int(ErrorCode.INTERNAL_ERROR))]
        assert waiting[-1] == (1,)
        assert _outbox(controller)[0] == (boom.nonce, "boom", "failed", int(ErrorCode.INTERNAL_ERROR))

        del server.fail_content["boom"]
        controller.retry_message(boom.nonce)  # pressed while that flush still runs
        gate.opened.set()
        # Nothing else happens: the running flush must take the retried message too.
        await until("both on the server", lambda: _texts(server) == ["fine", "boom"] and not _outbox(controller),
                     controller.message_received, controller.outbox_changed)  # fmt: skip
        assert server.attempts == ["boom"] * (1 + len(RETRY_DELAYS)) + ["fine", "boom"]
        assert len(failed) == 1 and len(server.identifies) == 1


async def test_a_message_deleted_during_its_retries_is_not_tried_again(tmp_path: Path) -> None:
    async with strict_online(tmp_path) as (server, controller):
        server.fail_content["boom"] = 500
        gate = server.gates["boom"] = Gate()
        failed = record(controller.send_failed)
        boom = controller.send_message("general", "boom")
        await asyncio.wait_for(gate.reached.wait(), 5)  # the first try is out
        controller.delete_message(boom.nonce)
        gate.opened.set()  # ...and is answered 500, which would earn it more tries
        controller.send_message("general", "after")
        await until("'after' on the server", lambda: _texts(server) == ["after"] and not _outbox(controller),
                     controller.message_received, controller.outbox_changed)  # fmt: skip
        await _flush_ended(controller)
        assert server.attempts == ["boom", "after"]
        assert failed == []  # nothing to show for a message the user deleted


# -- this project's server ------------------------------------------------------------------------------


async def _server_texts(env: Env) -> list[str]:
    bob = await env.server.login("bob", platform="Web")
    return [m["content"] for m in (await bob.ok("message.list", {"channel_id": "general"}))["data"]]


async def test_a_message_queued_offline_survives_a_kick_and_goes_with_the_next_login(tmp_path: Path) -> None:
    async with session_env(tmp_path) as env:
        controller = env.controller(timing=_timing())
        await _log_in_and_sync(controller, "alice", SandboxTickets())
        sends = _spy_sends(controller)
        failed = record(controller.send_failed)
        env.proxy.cut()
        await reach_status(controller, LoginStatus.RECONNECT)
        item = controller.send_message("general", "written offline")
        kicked = next_emission(controller.kicked_offline)
        reply = await env.server.admin("POST", "kick", {"user_id": "alice"})
        assert (reply.status, reply.body) == (200, {"kicked": 1})
        env.proxy.restore()
        [info] = await asyncio.wait_for(kicked, 5)  # told on the first reconnect
        assert info["reason"] == "admin"
        assert controller.login_status is SdkLoginStatus.LOGOUT
        assert _outbox(controller) == [(item.nonce, "written offline", "pending", 0)]  # kept for the next session
        assert sends == [] and failed == []

        await controller.login_again()
        await until("the message on the server", lambda: not _outbox(controller),
                     controller.message_received, controller.outbox_changed)  # fmt: skip
        assert sends == [None]
        assert await _server_texts(env) == ["written offline"]  # exactly once
        assert failed == []
        assert controller.login_requests == 2


async def test_a_ticket_that_expires_under_a_flush_keeps_the_message_for_the_new_login(tmp_path: Path) -> None:
    clock = FakeClock()
    async with session_env(tmp_path, clock=clock, demo_ticket_lifetime=60) as env:
        # No early renewal: the expiry must hit the send itself.
        controller = env.controller(wall_clock=clock, timing=_timing(renew_margin=-3600.0))
        await _log_in_and_sync(controller, "alice", SandboxTickets())
        sends = _spy_sends(controller)
        failed = record(controller.send_failed)
        clock.advance(61)
        item = controller.send_message("general", "sent as the ticket ran out")  # still ONLINE: flushed at once
        await until("the message on the server", lambda: not _outbox(controller),
                     controller.message_received, controller.outbox_changed)  # fmt: skip
        # The first try met the expired session and was kept; the session's new login sent it.
        assert sends == [int(ErrorCode.USERSIG_EXPIRED), None]
        assert failed == []
        assert await _server_texts(env) == ["sent as the ticket ran out"]  # exactly once
        assert controller.cache is not None
        assert [m.content for m in controller.cache.history("general")] == [item.content]
        assert controller.login_requests == 2  # one fresh ticket, one login
        assert controller.login_status is SdkLoginStatus.LOGINED
