"""Failures nobody planned for end a login cleanly: LOGOUT, a sentence the person can read, and the next login works."""

from __future__ import annotations

import asyncio
import errno
import functools
import json
import logging
import tracemalloc
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from im_desktop.local.cache import CacheError
from im_desktop.protocol.client import MAX_REPLY_BYTES, ProtocolClient
from im_desktop.protocol.errors import ErrorCode, ImError
from im_desktop.protocol.models import LoginStatus
from im_desktop.session.controller import SessionController
from im_desktop.session.failures import as_im_error
from im_desktop.session.tickets import PastedTicket, SandboxTickets
from im_desktop.session.types import SdkLoginStatus
from tests.server.support import serve_app
from tests.session.conftest import make_controller, session_env
from tests.session.signals import next_emission, reach_status, record

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

INFLATED = 8 * MAX_REPLY_BYTES  # what the oversized replies would take in memory if read whole
OURS = {"server": "im-desktop", "sdkappid": 1400000000, "sandbox": False}


def _readable(message: str, *words: str) -> None:
    """A sentence for a person: short, one line, no traceback, and about the right thing."""
    assert message and message[0].isupper() and message.endswith("."), message
    assert len(message) < 300 and "\n" not in message and "Traceback" not in message, message
    for word in words:
        assert word in message, (word, message)


def _logged_out(controller: SessionController) -> None:
    assert controller.login_status is SdkLoginStatus.LOGOUT
    assert controller.current_login["status"] == LoginStatus.OFFLINE
    assert controller.login_user == ""
    assert not controller.tasks.running("connection")


async def _until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    """Wait until `condition()` holds; TimeoutError (a failed test) at the deadline."""
    async with asyncio.timeout(timeout):
        while not condition():  # noqa: ASYNC110 - what it waits for (a socket in the proxy, a task's end) has no event
            await asyncio.sleep(0.01)


# -- a server that claims to be ours and answers with something broken ------------------------------------------


def _json(doc: Any) -> Handler:
    async def reply(request: web.Request) -> web.StreamResponse:
        return web.json_response(doc)

    return reply


def _text(body: str, **headers: str) -> Handler:
    async def reply(request: web.Request) -> web.StreamResponse:
        return web.Response(body=body.encode(), headers={"Content-Type": "application/json", **headers})

    return reply


async def _streamed_huge(request: web.Request) -> web.StreamResponse:
    """A JSON reply of INFLATED bytes, chunked (no Content-Length to refuse it by), written from one reused chunk
    so this side allocates next to nothing while the client reads."""
    response = web.StreamResponse(headers={"Content-Type": "application/json"})
    response.enable_chunked_encoding()
    await response.prepare(request)
    chunk = b"x" * 65536
    try:
        await response.write(b'{"token": "t", "pad": "')
        for _ in range(INFLATED // len(chunk)):
            await response.write(chunk)
        await response.write(b'"}')
    except ConnectionError:
        pass  # the client hung up, as it should
    return response


@functools.cache
def _gzip_bomb() -> bytes:
    """About 64 KiB of gzip that inflate to INFLATED bytes."""
    packer = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    chunk = b" " * (1 << 20)
    return b"".join([*(packer.compress(chunk) for _ in range(INFLATED // len(chunk))), packer.flush()])


async def _bomb(request: web.Request) -> web.StreamResponse:
    return web.Response(body=_gzip_bomb(), headers={"Content-Type": "application/json", "Content-Encoding": "gzip"})


@asynccontextmanager
async def _claims_to_be_ours(discovery: Handler, login: Handler) -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_get("/im/v1/discovery", discovery)
    app.router.add_post("/im/v1/login", login)
    async with serve_app(app) as url:
        yield url


HOSTILE = [
    pytest.param(_json({"server": "im-desktop", "sdkappid": "abc"}), _json({}), "self-description", False,
                 id="discovery-sdkappid-text"),
    pytest.param(_text(json.dumps(OURS), **{"Content-Encoding": "gzip"}), _json({}), "compression", False,
                 id="discovery-not-really-gzip"),
    pytest.param(_json(OURS), _json({"token": "t", "session": [1], "login": {}}), "login reply", False,
                 id="login-session-a-list"),
    pytest.param(_json(OURS), _text('{"token": "t", "session": ' + "[" * 100_000 + "]" * 100_000 + "}"),
                 "not JSON", False, id="login-nested-100k-deep"),
    pytest.param(_json(OURS), _streamed_huge, "too large", True, id="login-streamed-past-the-cap"),
    pytest.param(_json(OURS), _bomb, "too large", True, id="login-gzip-bomb"),
]  # fmt: skip


@pytest.mark.asyncio
@pytest.mark.parametrize(("discovery", "login", "words", "big"), HOSTILE)
async def test_a_broken_reply_fails_the_login_cleanly_every_time(
    tmp_path: Path, discovery: Handler, login: Handler, words: str, big: bool
) -> None:
    async with _claims_to_be_ours(discovery, login) as url:
        controller = make_controller(url, tmp_path)
        try:
            failed = record(controller.login_failed)
            for attempt in (1, 2):  # the second one must not be refused with 7501 "a login is already running"
                if big and attempt == 1:
                    tracemalloc.start()
                try:
                    with pytest.raises(ImError) as refused:
                        await controller.login("alice", PastedTicket("ticket"))
                finally:
                    peak = tracemalloc.get_traced_memory()[1] if tracemalloc.is_tracing() else 0
                    tracemalloc.stop()
                assert refused.value.code is ErrorCode.INVALID_REPLY, (attempt, refused.value)
                _readable(refused.value.message, words)
                assert failed[-1] == (int(ErrorCode.INVALID_REPLY), refused.value.message)
                _logged_out(controller)
                assert peak < 2 * MAX_REPLY_BYTES, f"{peak / 2**20:.0f} MiB held for a {INFLATED / 2**20:.0f} MiB reply"
            assert len(failed) == 2
        finally:
            await controller.aclose()


# -- a ticket source with a bug ----------------------------------------------------------------------------------


class Broken:
    """A ticket source that fails in a way nobody foresaw."""

    can_renew = False
    kind = "usersig"

    def __init__(self, exc: Exception) -> None:
        self.exc = exc

    async def ticket(self, client: ProtocolClient, user_id: str) -> str:
        raise self.exc


@pytest.mark.asyncio
@pytest.mark.parametrize("exc", [RuntimeError("a bug"), KeyError("user_sig")], ids=["RuntimeError", "KeyError"])
async def test_an_unexpected_exception_is_a_readable_failure_and_the_next_login_works(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, exc: Exception
) -> None:
    async with session_env(tmp_path) as env:
        controller = env.controller()
        failed = record(controller.login_failed)
        with pytest.raises(ImError) as refused:
            await controller.login("alice", Broken(exc))
        assert refused.value.code is ErrorCode.UNEXPECTED
        _readable(refused.value.message, type(exc).__name__, "log")
        assert failed == [(int(ErrorCode.UNEXPECTED), refused.value.message)]
        _logged_out(controller)
        [logged] = [r for r in caplog.records if r.exc_info and r.exc_info[1] is exc]
        assert logged.levelno == logging.ERROR
        assert "in ticket\n" in caplog.text  # the traceback, down to the provider's own frame
        await controller.login("alice", SandboxTickets())
        assert controller.current_login["status"] == LoginStatus.ONLINE
        assert controller.login_user == "alice"


@pytest.mark.parametrize(
    ("exc", "code", "words"),
    [
        (CacheError("The local cache could not be used (database or disk is full)."), ErrorCode.IO_OPERATION_FAILED,
         "full"),
        (OSError(errno.ENOSPC, "No space left on device"), ErrorCode.IO_OPERATION_FAILED, "No space left"),
        (PermissionError(errno.EACCES, "Permission denied"), ErrorCode.IO_OPERATION_FAILED, "Permission denied"),
        (TimeoutError(), ErrorCode.NET_TIMEOUT, "in time"),
        (ConnectionResetError(), ErrorCode.NET_DISCONNECT, "connection"),
        (ValueError("x"), ErrorCode.UNEXPECTED, "ValueError"),
    ],
    ids=["cache", "disk-full", "permission", "timeout", "connection", "bug"],
)  # fmt: skip
def test_every_exception_maps_to_a_code_and_a_sentence(exc: Exception, code: ErrorCode, words: str) -> None:
    error = as_im_error(exc)
    assert error is not None and error.code is code
    _readable(error.message, words)


@pytest.mark.parametrize("exc", [asyncio.CancelledError(), KeyboardInterrupt(), SystemExit(0)])
def test_a_cancellation_or_an_exit_is_never_turned_into_an_error(exc: BaseException) -> None:
    assert as_im_error(exc) is None
    error = ImError(ErrorCode.NET_TIMEOUT)
    assert as_im_error(error) is error


# -- cancellation ------------------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_a_login_cancelled_while_discovery_hangs_ends_in_logout(tmp_path: Path) -> None:
    async with session_env(tmp_path) as env:
        controller = env.controller()
        sdk = record(controller.login_status_changed)
        failed = record(controller.login_failed)
        env.proxy.blackhole()
        login = asyncio.ensure_future(controller.login("alice", SandboxTickets()))
        await _until(lambda: env.proxy.connections >= 1)  # the discovery request went into the hole
        assert controller.login_status is SdkLoginStatus.LOGINING and not login.done()
        login.cancel()
        with pytest.raises(asyncio.CancelledError):
            await login
        _logged_out(controller)
        assert sdk == [(SdkLoginStatus.LOGINING,), (SdkLoginStatus.LOGOUT,)]  # the login window is told
        assert failed == []  # nothing failed: the caller asked for this
        env.proxy.restore()
        await controller.login("alice", SandboxTickets())
        assert controller.current_login["status"] == LoginStatus.ONLINE


@pytest.mark.asyncio
async def test_a_login_cancelled_while_waiting_for_ready_ends_in_logout_with_no_task_left(tmp_path: Path) -> None:
    async with session_env(tmp_path) as env:
        controller = env.controller()
        logined: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def hole_after_http_login(status: int) -> None:
            # LOGINED comes after the HTTP login and before the event stream: from here on READY cannot arrive.
            if status == SdkLoginStatus.LOGINED and not logined.done():
                env.proxy.blackhole()
                logined.set_result(None)

        controller.login_status_changed.connect(hole_after_http_login)
        login = asyncio.ensure_future(controller.login("alice", SandboxTickets()))
        await asyncio.wait_for(logined, 5)
        assert controller.tasks.running("connection") and not login.done()  # it waits for READY (5 s at most)
        login.cancel()
        with pytest.raises(asyncio.CancelledError):
            await login
        assert controller.login_status is SdkLoginStatus.LOGOUT
        assert controller.current_login["status"] == LoginStatus.OFFLINE
        assert controller.creds is None
        # The cancelled login could not wait for the connection task (that would need an await), which is
        # cancelled and closing its socket: it ends at once and reports nothing more.
        statuses, sdk = record(controller.status_changed), record(controller.login_status_changed)
        await _until(lambda: not controller.tasks.running("connection"), timeout=1.0)
        await asyncio.sleep(0.2)  # anything it still had to say would come now
        assert (statuses, sdk) == ([], [])
        _logged_out(controller)
        controller.login_status_changed.disconnect(hole_after_http_login)
        env.proxy.restore()
        await controller.login("alice", SandboxTickets())
        assert controller.current_login["status"] == LoginStatus.ONLINE
        assert controller.tasks.running("connection")


# -- the local cache ---------------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_a_garbage_cache_file_is_moved_aside_and_rebuilt_at_login(tmp_path: Path) -> None:
    garbage = b"this was never a database\n" * 200
    cache_file = tmp_path / "one" / "cache" / "sandbox" / "alice.sqlite3"
    cache_file.parent.mkdir(parents=True)
    cache_file.write_bytes(garbage)
    async with session_env(tmp_path) as env:
        controller = env.controller("one")
        await controller.login("alice", SandboxTickets())
        assert controller.current_login["status"] == LoginStatus.ONLINE
        assert controller.cache is not None and controller.cache.path == cache_file
        aside = controller.cache.rebuilt_from
        assert aside is not None and aside.parent == cache_file.parent and aside.read_bytes() == garbage
        assert cache_file.read_bytes().startswith(b"SQLite format 3\x00")
        sent = next_emission(controller.message_received)
        controller.send_message("general", "into the rebuilt cache")
        assert (await asyncio.wait_for(sent, 5))[1]["content"] == "into the rebuilt cache"
        assert [m.content for m in controller.cache.history("general")][-1] == "into the rebuilt cache"


@pytest.mark.asyncio
async def test_a_cache_folder_that_cannot_be_made_fails_the_login_until_it_can(tmp_path: Path) -> None:
    obstacle = tmp_path / "one" / "cache" / "sandbox"  # a file where the profile's folder belongs
    obstacle.parent.mkdir(parents=True)
    obstacle.write_text("in the way")
    async with session_env(tmp_path) as env:
        controller = env.controller("one")
        failed = record(controller.login_failed)
        with pytest.raises(ImError) as refused:
            await controller.login("alice", SandboxTickets())
        assert refused.value.code is ErrorCode.IO_OPERATION_FAILED
        _readable(refused.value.message, "cache")
        assert failed == [(int(ErrorCode.IO_OPERATION_FAILED), refused.value.message)]
        _logged_out(controller)
        obstacle.unlink()
        await controller.login("alice", SandboxTickets())
        assert controller.current_login["status"] == LoginStatus.ONLINE


@pytest.mark.asyncio
async def test_a_healthy_cache_that_cannot_be_written_now_is_kept_not_rebuilt(tmp_path: Path) -> None:
    cache_file = tmp_path / "one" / "cache" / "sandbox" / "alice.sqlite3"
    async with session_env(tmp_path) as env:
        writer = env.controller("one")
        writer.open_offline("alice").enqueue("general", "written offline, not sent yet")
        await writer.aclose()
        # SQLite cannot make the shared-memory file next to it (a full disk or a lost permission does the same):
        # "attempt to write a readonly database". The file is fine and holds an unsent message.
        blocker = cache_file.with_name(cache_file.name + "-shm")
        blocker.mkdir()
        controller = env.controller("one")
        with pytest.raises(ImError) as refused:
            await controller.login("alice", SandboxTickets())
        assert refused.value.code is ErrorCode.IO_OPERATION_FAILED
        _readable(refused.value.message, "cache")
        _logged_out(controller)
        assert not [p.name for p in cache_file.parent.iterdir() if "damaged" in p.name]  # nothing moved aside
        blocker.rmdir()
        sent = next_emission(controller.message_received)
        await controller.login("alice", SandboxTickets())
        assert controller.cache is not None and controller.cache.rebuilt_from is None
        assert (await asyncio.wait_for(sent, 5))[1]["content"] == "written offline, not sent yet"


# -- a full disk while online ------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_a_full_disk_while_online_keeps_the_connection_and_refuses_sends_readably(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with session_env(tmp_path) as env:
        controller = env.controller()
        await controller.login("alice", SandboxTickets())
        await reach_status(controller, LoginStatus.ONLINE)
        cache = controller.cache
        assert cache is not None
        handled: asyncio.Queue[tuple[str, BaseException | None]] = asyncio.Queue()
        real_on_event = controller.inbox.on_event

        def watched(body: dict[str, Any]) -> None:
            """Reports each stored-or-not message after the controller handled it (the failure goes on up)."""
            message = body.get("message")
            text = message.get("content") if isinstance(message, dict) else None
            try:
                real_on_event(body)
            except BaseException as exc:
                handled.put_nowait((str(text), exc))
                raise
            handled.put_nowait((str(text), None))

        monkeypatch.setattr(controller.inbox, "on_event", watched)
        pages = cache._db.execute("PRAGMA page_count").fetchone()[0]
        cache._db.execute(f"PRAGMA max_page_count = {pages}")  # SQLite's own "database or disk is full"
        bob = await env.server.login("bob")
        await bob.ok("message.create", {"channel_id": "general", "content": "b" * 10_000})
        text, failure = await asyncio.wait_for(handled.get(), 5)
        assert text == "b" * 10_000 and isinstance(failure, CacheError), failure
        assert controller.tasks.running("connection")
        assert controller.current_login["status"] == LoginStatus.ONLINE
        assert controller.login_status is SdkLoginStatus.LOGINED
        with pytest.raises(ImError) as refused:
            controller.send_message("general", "y" * 400_000)
        assert refused.value.code is ErrorCode.IO_OPERATION_FAILED
        _readable(refused.value.message, "full")
        cache._db.execute("PRAGMA max_page_count = 1073741823")  # room again: the same connection stores it
        await bob.ok("message.create", {"channel_id": "general", "content": "after the disk was cleared"})
        assert await asyncio.wait_for(handled.get(), 5) == ("after the disk was cleared", None)
        assert [m.content for m in cache.history("general")][-1] == "after the disk was cleared"


def test_a_bare_certificate_error_is_not_mistaken_for_a_file_error() -> None:
    # ssl.SSLCertVerificationError is an OSError: without the check it read "could not read or write a file".
    import ssl

    exc = ssl.SSLCertVerificationError(1, "certificate verify failed: certificate has expired")
    exc.verify_code, exc.verify_message = 10, "certificate has expired"
    error = as_im_error(exc)
    assert error is not None and error.code is ErrorCode.CERT_EXPIRED
    _readable(error.message, "expired")
