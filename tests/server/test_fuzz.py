"""Property-based fuzzing (Hypothesis) of every HTTP endpoint and the IDENTIFY frame: no 5xx, no traceback."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import json
import logging
import os
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote_from_bytes

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir

from im_desktop.protocol import usersig
from tests.clocks import FakeClock
from tests.server.rawhttp import raw_request
from tests.server.support import ADMIN_KEY, SDKAPPID, SECRET_KEY, RunningServer, running_server

# Per endpoint: about 20 endpoints, the whole file in well under a minute. FUZZ_EXAMPLES=2000 digs deeper.
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "60"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None, print_blob=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])  # fmt: skip
NOW = 1_800_000_000  # the server's (fake) clock, so that forged tickets can be dated right
ME = "fuzzer"  # the session most requests use; nothing generated names it, so it is never kicked
TOKEN = "<the session token>"  # stands for the live token in generated IDENTIFY bodies


# -- values ----------------------------------------------------------------------------------------------------
def _nest(depth: int) -> Any:
    value: Any = "general"
    for _ in range(depth):
        value = [value]
    return value


def _ticket(raw: bytes) -> str:
    return base64.b64encode(zlib.compress(raw)).translate(bytes.maketrans(b"+/=", b"*-_")).decode()


TEXT = st.text(st.characters(exclude_categories=()), max_size=12)  # lone surrogates and controls included
WORDS = st.sampled_from(["", " ", "general", "lobby", "bob", "ghost", "0", "1", "-1", "9223372036854775807",
                         "9223372036854775808", "99999999999999999999999", "1e5", "\u0663", "before", "after",
                         "around", "asc", "desc", "Linux", "Web", "single", "multi", "x" * 300])  # fmt: skip
NUMBERS = st.one_of(st.integers(), st.sampled_from([2**63 - 1, 2**63, -(2**63) - 1, 2**64, 10**40]), st.floats())
LEAF = st.one_of(WORDS, TEXT, NUMBERS, st.booleans(), st.none())
VALUE = st.one_of(
    st.recursive(LEAF, lambda kids: st.lists(kids, max_size=3) | st.dictionaries(TEXT, kids, max_size=3), max_leaves=6),
    st.integers(1, 40).map(_nest),
)
TICKET_FIELDS = {
    "TLS.ver": st.just("2.0") | VALUE,
    "TLS.identifier": st.just("bob") | VALUE,
    "TLS.sdkappid": st.just(SDKAPPID) | VALUE,
    "TLS.time": st.sampled_from([NOW, NOW + 10**12, 2**63, -1]) | VALUE,
    "TLS.expire": st.sampled_from([86400, 2**64, -(10**9)]) | VALUE,
    "TLS.sig": TEXT | VALUE,
    "TLS.userbuf": TEXT | VALUE,
}
USER_SIG = st.one_of(
    st.just(usersig.generate(SDKAPPID, SECRET_KEY, "bob", 86400, now=NOW)),
    st.fixed_dictionaries({}, optional=TICKET_FIELDS).map(lambda doc: _ticket(json.dumps(doc).encode())),
    st.integers(1, 8000).map(lambda n: _ticket(b"[" * n + b"]" * n)),
    VALUE,
)
PLAIN = st.text(max_size=20)  # any character but a lone surrogate: controls, bidi, emoji
SEQ = st.integers(0, 2**70).map(str)
GOOD_SIG = usersig.generate(SDKAPPID, SECRET_KEY, "bob", 86400, now=NOW)
# Per field: values a handler accepts (so that a request gets past it to the next check) ...
VALID: dict[str, st.SearchStrategy[Any]] = {
    "user_id": st.sampled_from(["bob", "ghost", "victim"]),
    "user_sig": st.just(GOOD_SIG),
    "platform": st.sampled_from(["Windows", "Mac", "Linux", "Android", "iPhone", "iPad", "Web"]),
    "device_id": st.sampled_from(["d-1", "d-2"]) | PLAIN,
    "device_name": PLAIN,
    "policy": st.sampled_from(["single", "dual", "triple", "multi"]),
    "max_instances": st.dictionaries(st.sampled_from(["Web", "Linux", "iPad"]), st.integers(1, 3)),
    "guild_id": st.just("lobby"),
    "channel_id": st.sampled_from(["general", "private:bob:fuzzer"]),
    "message_id": SEQ,
    "next": SEQ,
    "direction": st.sampled_from(["before", "after", "around"]),
    "order": st.sampled_from(["asc", "desc"]),
    "limit": st.integers(),
    "content": st.text(max_size=200),
    "nonce": PLAIN,
}
# ... and values meant to break it.
HOSTILE: dict[str, st.SearchStrategy[Any]] = {
    **dict.fromkeys(VALID, WORDS | VALUE),
    "user_sig": USER_SIG,
    "max_instances": st.dictionaries(st.sampled_from(["Web", "Linux", "iPad", "x"]), NUMBERS | VALUE) | VALUE,
    "limit": NUMBERS | VALUE,
}
HEADER_BYTES = st.binary(max_size=24).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b""))  # keep framing
ODD_HEADERS = {
    b"Content-Type": [b"application/json; charset=utf-8", b"text/plain", b"application/json; charset=\xff",
                      b"\xff\xfe", b";;=", b""],
    b"Authorization": [b"Bearer \xff\xfe", b"Bearer " + b"x" * 600, b"Basic YWxhZGRpbjpvcGVuc2VzYW1l", b"Bearer"],
    b"Origin": [b"https://evil.example", b"null", b"http://localhost:1"],
}  # fmt: skip


# -- endpoints ---------------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    fields: tuple[str, ...] = ()
    auth: str = "none"  # none, session, victim (a session the fuzzing may end), admin
    query: bool = False  # fields go into the query string


SATORI = {
    "login.get": (), "user.get": ("user_id",), "friend.list": ("next",), "guild.list": ("next",),
    "channel.list": ("guild_id", "next"), "channel.get": ("channel_id",), "user.channel.create": ("user_id",),
    "message.list": ("channel_id", "next", "direction", "order", "limit"),
    "message.get": ("channel_id", "message_id"), "message.create": ("channel_id", "content", "nonce"),
}  # fmt: skip
ENDPOINTS = [
    Endpoint("GET", "/im/v1/discovery"),
    Endpoint("POST", "/im/v1/login", ("user_id", "user_sig", "platform", "device_id", "device_name")),
    Endpoint("POST", "/im/v1/session/renew", ("user_sig",), "victim"),
    Endpoint("POST", "/im/v1/logout", (), "victim"),
    Endpoint("POST", "/im/v1/demo/usersig", ("user_id",)),
    Endpoint("POST", "/im/v1/admin/kick", ("user_id",), "admin"),
    Endpoint("GET", "/im/v1/admin/instances", ("user_id",), "admin", query=True),
    Endpoint("GET", "/im/v1/admin/policy", (), "admin"),
    Endpoint("PUT", "/im/v1/admin/policy", ("policy", "max_instances"), "admin"),
    Endpoint("POST", "/v1/meta", (), "session"),
    *(Endpoint("POST", f"/v1/{name}", fields, "session") for name, fields in SATORI.items()),
]


@dataclasses.dataclass(frozen=True)
class Request:
    method: bytes
    path: bytes
    headers: list[tuple[bytes, bytes]]
    body: bytes
    host: bytes | None


@st.composite
def requests(draw: st.DrawFn, endpoint: Endpoint, tokens: dict[str, str]) -> Request:
    """A request with at most one hostile part: a field, the body as a whole, or a header. The other parts are
    right, so that the request reaches the check (or the bug) that part is for."""
    hostile_field = draw(st.sampled_from([None] * len(endpoint.fields) + [*endpoint.fields] or [None]))
    document: Any = {}
    for name in endpoint.fields:
        if draw(st.sampled_from([True] * 11 + [False])):  # fields are usually there
            document[name] = draw(HOSTILE[name] if name == hostile_field else VALID[name])
    shape = draw(st.sampled_from(["json"] * 6 + ["value", "binary", "deep list", "deep object"]))
    body = json.dumps(draw(VALUE) if shape == "value" else document).encode()  # lone surrogates as \ud800
    if shape == "binary":
        body = draw(st.binary(max_size=40))
    elif shape == "deep list":
        body = b"[" * draw(st.integers(1, 200_000))
    elif shape == "deep object":
        depth = draw(st.integers(1, 50_000))
        body = b'{"a":' * depth + b"1" + b"}" * depth
    path = endpoint.path.encode()
    if endpoint.query:
        value = document.get("user_id", "")
        raw = value.encode("utf-8", "surrogatepass") if isinstance(value, str) else json.dumps(value).encode()
        path += b"?user_id=" + quote_from_bytes(raw).encode()
        body = b""
    headers: dict[bytes, bytes] = {}
    if endpoint.method != "GET":
        headers[b"Content-Type"] = b"application/json"
    if endpoint.auth != "none":
        key = ADMIN_KEY if endpoint.auth == "admin" else tokens[endpoint.auth]
        headers[b"Authorization"] = b"Bearer " + key.encode()
    if endpoint.auth == "session":
        headers[b"Satori-Platform"], headers[b"Satori-User-ID"] = b"im-desktop", ME.encode()
    host = None
    odd = draw(st.sampled_from([None] * 12 + [b"Content-Type", b"Authorization", b"Satori-Platform",
                                             b"Satori-User-ID", b"Origin", b"Host"]))  # fmt: skip
    if odd is not None:
        value = draw(st.sampled_from(ODD_HEADERS.get(odd, [b""])) | HEADER_BYTES)
        if odd == b"Host":
            host = value
        else:
            headers[odd] = value
    return Request(endpoint.method.encode(), path, list(headers.items()), body, host)


# -- the server, in a loop of its own that the (synchronous) Hypothesis tests drive ---------------------------------
@pytest.fixture(autouse=True)
def hypothesis_home(tmp_path_factory: pytest.TempPathFactory) -> None:
    # Hypothesis caches its Unicode tables in ./.hypothesis: not in the working tree.
    set_hypothesis_home_dir(tmp_path_factory.getbasetemp() / "hypothesis")


@contextmanager
def live_server(data_dir: Path) -> Iterator[tuple[asyncio.Runner, RunningServer, dict[str, str]]]:
    with asyncio.Runner() as runner:
        context = running_server(data_dir, FakeClock(float(NOW)))
        server = runner.run(context.__aenter__())
        try:
            me = runner.run(server.login(ME))
            tokens = {"session": me.token, "victim": runner.run(server.login("victim")).token}
            runner.run(server.login("bob"))  # so that user.get and user.channel.create can find someone
            runner.run(me.ok("user.channel.create", {"user_id": "bob"}))  # private:bob:fuzzer
            yield runner, server, tokens
        finally:
            runner.run(context.__aexit__(None, None, None))


class LogWatch:
    """Asserts, example by example, that nothing logged an error or a traceback, and a refusal at most a line."""

    def __init__(self, caplog: pytest.LogCaptureFixture) -> None:
        caplog.set_level(logging.INFO)
        self.caplog = caplog
        self.seen = 0

    def start(self) -> None:
        self.seen = len(self.caplog.records)  # a failed example's lines are not the next one's

    def check(self, what: object) -> None:
        records = self.caplog.records[self.seen :]
        bad = [r.getMessage() for r in records if r.levelno >= logging.ERROR or r.exc_info]
        assert not bad, (what, bad)
        assert len([r for r in records if r.name == "im_desktop.server.http"]) <= 1, what


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: f"{e.method} {e.path}")
def test_no_request_gets_a_5xx_or_a_traceback(
    endpoint: Endpoint, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    watch = LogWatch(caplog)
    with live_server(tmp_path) as (runner, server, tokens):

        @FUZZ
        @given(requests(endpoint, tokens))
        def send(request: Request) -> None:
            watch.start()
            reply = runner.run(raw_request(server.url, request.method, request.path, request.headers, request.body,
                                           host=request.host))  # fmt: skip
            assert reply.status < 500, (request, reply)
            watch.check(request)

        send()


@pytest.mark.parametrize("path", [b"/v1/", b"/v1/message.creat", b"/v1/%ff", b"/im/v1/../v1/meta", b"/v1/events"])
def test_unknown_paths_and_methods_get_no_5xx(path: bytes, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    watch = LogWatch(caplog)
    with live_server(tmp_path) as (runner, server, _):

        @FUZZ
        @given(st.sampled_from([b"GET", b"POST", b"PUT", b"DELETE", b"OPTIONS", b"PATCH", b"HEAD"]),
               st.binary(max_size=8).map(lambda b: quote_from_bytes(b).encode()), st.binary(max_size=40))  # fmt: skip
        def send(method: bytes, tail: bytes, body: bytes) -> None:
            watch.start()
            reply = runner.run(raw_request(server.url, method, path + tail, [(b"Content-Type", b"application/json")],
                                           body))  # fmt: skip
            assert reply.status < 500, (method, path + tail, reply)
            watch.check((method, path + tail))

        send()


# -- the IDENTIFY frame ----------------------------------------------------------------------------------------------
IDENTIFY_BODY = st.fixed_dictionaries({}, optional={
    "token": st.sampled_from([TOKEN] * 4) | VALUE,
    "sn": st.sampled_from([0, 1, 2**63 - 1, 2**63, 2**64, -1, 10**40]) | VALUE,
    "sequence": NUMBERS | VALUE,
})  # fmt: skip
FRAMES = st.one_of(
    IDENTIFY_BODY.map(lambda body: {"op": 3, "body": body}),
    IDENTIFY_BODY.map(lambda body: {"op": 3, "body": body}),
    VALUE.map(lambda body: {"op": 3, "body": body}),
    VALUE.map(lambda op: {"op": op, "body": {"token": TOKEN}}),
    st.integers(1, 60_000).map(lambda n: "[" * n),  # under the 64 KiB frame limit
    st.integers(1, 10_000).map(lambda n: '{"op": 3, "body": ' * n),
    TEXT,
)
# Documented: 1009 frame too large, 4000-4999 this server's codes (invalid message, invalid token, ...).
_CLOSE_OK = {1000, 1009, *range(4000, 5000)}


def _frame_text(frame: Any, token: str) -> tuple[str, bool]:
    """The frame as sent, and whether it carries the live token (then the session must not stay online)."""
    if isinstance(frame, str):  # a text frame is UTF-8: a lone surrogate only goes as a JSON escape
        return frame.encode("utf-8", "surrogatepass").decode("utf-8", "replace"), False
    body = frame.get("body")
    if not (isinstance(body, dict) and body.get("token") == TOKEN):
        return json.dumps(frame), False
    return json.dumps({**frame, "body": {**body, "token": token}}), True


async def _identify(server: RunningServer, text: str) -> None:
    url = server.url.replace("http", "ws", 1) + "/v1/events"
    async with server.http.ws_connect(url, autoping=False) as ws:
        await ws.send_str(text)
        try:
            msg = await ws.receive(timeout=0.5)  # a frame the server ignores (op 0, 2, 4, 5) gets no answer
        except TimeoutError:
            return
        if msg.type is aiohttp.WSMsgType.TEXT:
            assert json.loads(msg.data)["op"] in (0, 2, 4), msg.data  # READY, PONG, or login-removed
            return
        assert msg.type is aiohttp.WSMsgType.CLOSE and msg.data in _CLOSE_OK, (msg.type, msg.data, msg.extra)


async def _offline(server: RunningServer) -> None:
    """The session is listed offline once its socket is gone (a ghost would stay online)."""
    deadline = time.monotonic() + 3.0
    while any(s["online"] for s in await server.instances(ME)):
        assert time.monotonic() < deadline, "the session stays online with no socket"
        await asyncio.sleep(0.01)


def test_no_identify_frame_gets_a_500_a_traceback_or_a_ghost(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    watch = LogWatch(caplog)
    with live_server(tmp_path) as (runner, server, tokens):

        @settings(FUZZ, max_examples=3 * EXAMPLES)
        @given(FRAMES)
        def send(frame: Any) -> None:
            watch.start()
            text, live = _frame_text(frame, tokens["session"])
            runner.run(_identify(server, text))
            if live:
                runner.run(_offline(server))
            watch.check(text[:200])

        send()
