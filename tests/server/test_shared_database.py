"""Several server processes on one PostgreSQL database: the login rules, nonces and the event log hold across them."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from im_desktop.protocol.errors import ErrorCode
from tests.clocks import FakeClock
from tests.server.support import SDKAPPID, SECRET_KEY, RunningServer, Session, database_for, running_server

pytestmark = [pytest.mark.asyncio, pytest.mark.postgresql_only]

ROUNDS = 50  # simultaneous login pairs: without the lock, one in a few lets both through here
OPERATOR_KEY = "operator-key-of-the-two-processes"  # a keys file needs 24 characters at least


@asynccontextmanager
async def _two_servers(tmp_path: Path, clock: FakeClock | None = None) -> AsyncIterator[list[RunningServer]]:
    """Two servers in this process, each with its own data folder, on one database."""
    url = database_for(tmp_path / "shared")
    clock = clock or FakeClock()
    async with AsyncExitStack() as stack:
        yield [await stack.enter_async_context(running_server(tmp_path / name, clock, database=url))
               for name in ("a", "b")]  # fmt: skip


@asynccontextmanager
async def _server_process(data_dir: Path, keys: Path, url: str) -> AsyncIterator[str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "im_desktop.server", "--port", "0", "--data-dir", str(data_dir), "--keys-file",
        str(keys), "--database", url, "--sandbox", "--print-url", "--log-level", "WARNING",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdout is not None
    try:
        line = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode().strip()
        if not line.startswith("http://127.0.0.1:"):
            raise AssertionError(f"the server did not start: {(await proc.communicate())[1].decode()[-2000:]}")
        yield line
    finally:
        if proc.returncode is None:
            proc.terminate()
        _, err = await proc.communicate()
        assert b"Traceback" not in err, err.decode()


async def _post(http: aiohttp.ClientSession, url: str, body: Any, **headers: str) -> tuple[int, Any]:
    async with http.post(url, json=body, headers=headers) as resp:
        return resp.status, await resp.json()


async def test_two_processes_never_both_pass_a_one_instance_limit(tmp_path: Path) -> None:
    keys = tmp_path / "keys" / "server-keys.json"
    keys.parent.mkdir(mode=0o700)
    keys.write_text(json.dumps({"sdkappid": SDKAPPID, "secret_key": SECRET_KEY, "admin_key": OPERATOR_KEY}))
    keys.chmod(0o600)
    url = database_for(tmp_path / "shared")
    assert url is not None
    async with AsyncExitStack() as stack:
        a = await stack.enter_async_context(_server_process(tmp_path / "a", keys, url))
        b = await stack.enter_async_context(_server_process(tmp_path / "b", keys, url))
        http = await stack.enter_async_context(aiohttp.ClientSession())
        admin = {"Authorization": f"Bearer {OPERATOR_KEY}"}
        both_online: list[str] = []
        for n in range(ROUNDS):
            user = f"racer{n}"
            _, ticket = await _post(http, f"{a}/im/v1/demo/usersig", {"user_id": user})
            # The default policy: one Linux instance. Two devices log in at once, one through each process, as a
            # user who has an account already (a new one's sign-up would order them by the users key anyway).
            logins = [{"user_id": user, "user_sig": ticket["user_sig"], "platform": "Linux", "device_id": device}
                      for device in ("device-0", "device-a", "device-b")]  # fmt: skip
            assert (await _post(http, f"{b}/im/v1/login", logins.pop(0)))[0] == 200
            replies = await asyncio.gather(*(_post(http, f"{base}/im/v1/login", body)
                                             for base, body in zip((a, b), logins, strict=True)))  # fmt: skip
            assert [status for status, _ in replies] == [200, 200], replies  # a login is never refused: it kicks
            async with http.get(f"{b}/im/v1/admin/instances?user_id={user}", headers=admin) as resp:
                live = [i["device_id"] for i in (await resp.json())["data"]]
            if len(live) != 1:
                both_online.append(f"{user}: {live}")
                continue
            loser = next(r for _, r in replies if r["session"]["device_id"] != live[0])
            headers = {"Authorization": f"Bearer {loser['token']}", "Satori-Platform": "im-desktop",
                       "Satori-User-ID": user}  # fmt: skip
            status, refused = await _post(http, f"{a}/v1/login.get", {}, **headers)
            assert refused["code"] == ErrorCode.KICKED_OFF_BY_OTHER, (status, refused)
    assert not both_online, f"{len(both_online)} of {ROUNDS} pairs both stayed online: {both_online[:5]}"


async def test_a_send_retried_through_another_server_is_stored_once(tmp_path: Path) -> None:
    async with _two_servers(tmp_path) as (a, b):
        alice = await a.login("alice")
        on_b = Session(b, "alice", alice.token, alice.session_id, alice.reply)  # one token, valid on every node
        for n in range(20):
            body = {"channel_id": "general", "content": f"once {n}", "nonce": f"n-{n}"}
            replies = await asyncio.gather(alice.ok("message.create", body), on_b.ok("message.create", body))
            assert replies[0] == replies[1], replies  # the same message, whichever node stored it first
        texts = [m["content"] for m in (await alice.ok("message.list", {"channel_id": "general"}))["data"]]
        assert texts == [f"once {n}" for n in range(20)]
        # Live delivery across nodes is the broker's (phase 2); the shared log has one event per message.
        watcher = await (await b.login("watcher", platform="Web")).connect(sn=0)
        assert [(await watcher.event())["message"]["content"] for _ in range(20)] == texts
        await watcher.no_event()


async def test_the_policy_and_an_operator_kick_on_one_server_hold_on_the_other(tmp_path: Path) -> None:
    clock = FakeClock()
    async with _two_servers(tmp_path, clock) as (a, b):
        assert (await a.admin("PUT", "policy", {"policy": "multi"})).status == 200
        linux = await b.login("alice", platform="Linux")
        await b.login("alice", platform="Windows")  # multi, set on a: both stay
        assert len(await b.instances("alice")) == 2
        old_ticket = b.sig("alice", issued_at=int(clock()) - 10)
        clock.advance(1)
        assert (await a.admin("POST", "kick", {"user_id": "alice"})).body == {"kicked": 2}
        assert (await linux.api("login.get")).code == ErrorCode.KICKED_OFF_BY_OTHER
        refused = await b.try_login("alice", sig=old_ticket)  # issued before the kick, refused on b too
        assert refused.code == ErrorCode.ACCOUNT_INVALID_USERSIG
        assert (await b.try_login("alice")).status == 200  # a ticket issued after it is fine


async def test_messages_sent_through_two_servers_form_one_log_without_gaps(tmp_path: Path) -> None:
    async with _two_servers(tmp_path) as (a, b):
        senders = [await a.login("alice"), await b.login("bob", platform="Web")]
        await asyncio.gather(*(senders[n % 2].ok("message.create", {"channel_id": "general", "content": f"m{n}"})
                               for n in range(40)))  # fmt: skip
        reader = await (await b.login("carol", platform="Web")).connect(sn=0)  # a resume from the very start
        events = [await reader.event() for _ in range(40)]
        assert [e["sn"] for e in events] == list(range(1, 41))
        assert sorted(e["message"]["content"] for e in events) == sorted(f"m{n}" for n in range(40))
        await reader.no_event()
