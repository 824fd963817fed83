"""The login lifecycle against the real server, on the Qt loop: Tencent's rules, one by one."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from keyring.errors import KeyringLocked

from im_desktop.protocol.client import ProtocolClient
from im_desktop.protocol.errors import ErrorCode, ImError
from im_desktop.protocol.models import LoginStatus
from im_desktop.session.tickets import PastedTicket, SandboxTickets
from im_desktop.session.types import SdkLoginStatus
from tests.session.conftest import session_env
from tests.session.keyrings import MemoryKeyring
from tests.session.signals import next_emission, reach_status, record

pytestmark = pytest.mark.asyncio


class ExpiredThenFresh:
    """A renewable provider whose first ticket has already expired (a business server with a stale cache)."""

    can_renew = True
    kind = "password"

    def __init__(self, stale: str, fresh: str) -> None:
        self.tickets = [stale, fresh]
        self.asked = 0

    async def ticket(self, client: ProtocolClient, user_id: str) -> str:
        self.asked += 1
        return self.tickets[min(self.asked - 1, 1)]


async def test_login_goes_online_and_reports_a_satori_login(tmp_path: Path) -> None:
    async with session_env(tmp_path) as env:
        controller = env.controller()
        statuses = record(controller.status_changed)
        sdk = record(controller.login_status_changed)
        await controller.login("alice", SandboxTickets())
        assert controller.login_status is SdkLoginStatus.LOGINED
        assert controller.login_user == "alice"
        login = controller.current_login
        assert (login["status"], login["platform"], login["user"]["id"]) == (1, "im-desktop", "alice")
        assert set(login) >= {"sn", "platform", "user", "status", "adapter", "features"}
        assert statuses == [(LoginStatus.CONNECT,), (LoginStatus.ONLINE,)]
        assert sdk == [(SdkLoginStatus.LOGINING,), (SdkLoginStatus.LOGINED,)]
        assert controller.login_requests == 1


async def test_bad_user_id_is_refused_before_any_request(tmp_path: Path) -> None:
    async with session_env(tmp_path) as env:
        controller = env.controller()
        for bad in ("not valid!", "x" * 33, ""):
            with pytest.raises(ImError) as exc:
                await controller.login(bad, SandboxTickets())
            assert exc.value.code is ErrorCode.INVALID_IDENTIFIER
        assert env.proxy.connections == 0
        assert (controller.login_user, controller.login_status) == ("", SdkLoginStatus.LOGOUT)


async def test_login_while_logging_in_is_refused_not_queued(tmp_path: Path) -> None:
    async with session_env(tmp_path) as env:
        controller = env.controller()
        first = asyncio.ensure_future(controller.login("alice", SandboxTickets()))
        await asyncio.sleep(0)
        with pytest.raises(ImError) as exc:
            await controller.login("alice", SandboxTickets())
        assert exc.value.code is ErrorCode.LOGIN_IN_PROCESS
        await first
        assert controller.login_requests == 1


async def test_login_as_the_user_already_online_is_a_no_op(tmp_path: Path) -> None:
    async with session_env(tmp_path) as env:
        controller = env.controller()
        await controller.login("alice", SandboxTickets())
        await controller.login("alice", SandboxTickets())
        assert controller.login_requests == 1
        assert len(await env.server.instances("alice")) == 1


async def test_login_as_another_user_switches_accounts(tmp_path: Path) -> None:
    async with session_env(tmp_path) as env:
        controller = env.controller()
        await controller.login("alice", SandboxTickets())
        await controller.login("bob", SandboxTickets())
        assert controller.login_user == "bob"
        assert controller.current_login["user"]["id"] == "bob"
        assert await env.server.instances("alice") == []  # alice was logged out first
        assert len(await env.server.instances("bob")) == 1


async def test_only_sig_errors_get_one_new_ticket(tmp_path: Path) -> None:
    async with session_env(tmp_path) as env:
        controller = env.controller()
        stale = env.server.sig("alice", 60, issued_at=int(env.server.clock()) - 120)
        provider = ExpiredThenFresh(stale, env.server.sig("alice"))
        await controller.login("alice", provider)
        assert (controller.login_requests, provider.asked) == (2, 2)
        assert controller.login_user == "alice"


@pytest.mark.parametrize(
    ("make_ticket", "code"),
    [
        (lambda s: s.sig("alice", 60, issued_at=int(s.clock()) - 120), ErrorCode.USERSIG_EXPIRED),
        (lambda s: s.sig("alice", key="0" * 64), ErrorCode.USERSIG_MISMATCH_PUBLICKEY),
        (lambda s: s.sig("mallory"), ErrorCode.USERSIG_MISMATCH_ID),
        (lambda s: s.sig("alice")[:30], ErrorCode.USERSIG_CHECK_FAILED),
    ],
    ids=["expired-pasted", "forged", "other-user", "truncated"],
)
async def test_other_failures_stop_with_the_code_and_never_loop(tmp_path: Path, make_ticket, code: ErrorCode) -> None:
    async with session_env(tmp_path) as env:
        controller = env.controller()
        failed = next_emission(controller.login_failed)
        with pytest.raises(ImError) as exc:
            await controller.login("alice", PastedTicket(make_ticket(env.server)))
        assert exc.value.code is code
        assert (await failed)[0] == code
        await asyncio.sleep(0.3)  # long enough for a retry loop to show itself
        assert controller.login_requests == 1
        assert (controller.login_user, controller.login_status) == ("", SdkLoginStatus.LOGOUT)


async def test_unreachable_server_fails_login_with_a_network_code(tmp_path: Path) -> None:
    async with session_env(tmp_path) as env:
        controller = env.controller()
        env.proxy.cut()
        with pytest.raises(ImError) as exc:
            await controller.login("alice", SandboxTickets())
        assert exc.value.code is ErrorCode.NET_DISCONNECT
        assert controller.login_status is SdkLoginStatus.LOGOUT


async def test_logout_tells_the_server_and_keeps_the_cache(tmp_path: Path) -> None:
    async with session_env(tmp_path) as env:
        controller = env.controller()
        await controller.login("alice", SandboxTickets())
        controller.send_message("general", "before logout")
        await reach_status(controller, LoginStatus.ONLINE)
        await asyncio.wait_for(next_emission(controller.outbox_changed), 5)
        await controller.logout()
        assert (controller.login_user, controller.login_status) == ("", SdkLoginStatus.LOGOUT)
        assert controller.current_login["status"] == LoginStatus.OFFLINE
        assert await env.server.instances("alice") == []
        cache = controller.open_offline("alice")
        assert [m.content for m in cache.history("general")] == ["before logout"]


async def test_remember_me_keeps_the_ticket_for_the_next_start(tmp_path: Path) -> None:
    keyring = MemoryKeyring()
    async with session_env(tmp_path) as env:
        first = env.controller("first-run", keyring=keyring)
        await first.login("alice", SandboxTickets(), remember=True)
        await first.aclose()  # waits for the keyring write
        restarted = env.controller("second-run", keyring=keyring)
        assert await restarted.login_remembered("alice") is True
        assert restarted.current_login["status"] == LoginStatus.ONLINE
        await restarted.logout()  # an explicit logout forgets the ticket
        assert await env.controller("third-run", keyring=keyring).login_remembered("alice") is False


async def test_a_locked_keyring_never_logs_anyone_out(tmp_path: Path) -> None:
    keyring = MemoryKeyring()
    keyring.fail_with = KeyringLocked("locked")
    async with session_env(tmp_path) as env:
        controller = env.controller(keyring=keyring)
        complaint = next_emission(controller.credential_store_unavailable)
        await controller.login("alice", SandboxTickets(), remember=True)
        assert "locked" in (await asyncio.wait_for(complaint, 5))[0]
        assert controller.current_login["status"] == LoginStatus.ONLINE
        later = env.controller("later", keyring=keyring)
        complaint = next_emission(later.credential_store_unavailable)
        assert await later.login_remembered("alice") is False
        await asyncio.wait_for(complaint, 5)
        keyring.fail_with = None
        assert keyring.secrets == {}  # nothing was written half-way, nothing was deleted


async def test_no_ticket_or_token_lands_in_the_cache_or_the_log(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    async with session_env(tmp_path) as env:
        controller = env.controller()
        ticket = env.server.sig("alice")
        await controller.login("alice", PastedTicket(ticket))
        controller.send_message("general", "hello")
        await asyncio.wait_for(next_emission(controller.message_received), 5)
        assert controller.creds is not None and controller.creds.token
        token = controller.creds.token
        assert controller.cache is not None
        cache_path = controller.cache.path
        await controller.logout(forget=False)
        stored = b"".join(p.read_bytes() for p in cache_path.parent.iterdir())
        for secret in (ticket, token):
            assert secret.encode() not in stored
            assert secret not in caplog.text
        assert ticket not in repr(PastedTicket(ticket))


async def test_cached_history_is_readable_when_login_fails(tmp_path: Path) -> None:
    async with session_env(tmp_path) as env:
        controller = env.controller()
        await controller.login("alice", SandboxTickets())
        controller.send_message("general", "kept locally")
        await asyncio.wait_for(next_emission(controller.outbox_changed), 5)
        await controller.aclose()
        offline = env.controller()  # same cache folder, next start, server unreachable
        env.proxy.cut()
        with pytest.raises(ImError):
            await offline.login("alice", SandboxTickets())
        cache = offline.open_offline("alice")
        assert [c.channel_id for c in cache.conversations()] == ["general"]
        assert [m.content for m in cache.history("general")] == ["kept locally"]


async def test_business_server_tickets_log_in_and_a_wrong_password_stops(tmp_path: Path) -> None:
    """The app's own business server: checks the password, then signs a UserSig with the IM server's key."""
    from aiohttp import web

    from im_desktop.protocol import usersig
    from im_desktop.session.tickets import BusinessServerTickets
    from tests.server.support import serve_app

    async with session_env(tmp_path) as env:
        keys = env.server.config.keys
        asked: list[str] = []

        async def issue(request: web.Request) -> web.Response:
            body = await request.json()
            asked.append(body["user_id"])
            if body.get("password") != "correct horse":
                return web.json_response({"code": 90401, "message": "wrong password"}, status=401)
            sig = usersig.generate(keys.sdkappid, keys.secret_key, body["user_id"], 3600)
            return web.json_response({"user_sig": sig})

        app = web.Application()
        app.router.add_post("/usersig", issue)
        async with serve_app(app) as ticket_server:
            controller = env.controller()
            with pytest.raises(ImError) as exc:
                await controller.login("alice", BusinessServerTickets(f"{ticket_server}/usersig", "guess"))
            assert exc.value.code is ErrorCode.AUTH_REJECTED
            assert controller.login_requests == 0  # no ticket, no login attempt
            await controller.login("alice", BusinessServerTickets(f"{ticket_server}/usersig", "correct horse"))
            assert controller.current_login["status"] == LoginStatus.ONLINE
            assert asked == ["alice", "alice"]
            assert controller.can_renew
