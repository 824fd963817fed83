"""The server's own HTTPS and WSS: --tls-cert/--tls-key, files checked at start with one sentence each, a warning
for plain HTTP off loopback, and failed handshakes that do not use up the connection cap."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from im_desktop.protocol.client import ProtocolClient
from im_desktop.protocol.errors import ErrorCode, ImError
from im_desktop.server.cli import main
from im_desktop.server.config import StartupError
from im_desktop.server.tls import is_loopback_host, tls_context
from tests.server.support import running_server
from tests.tls_support import Pki, https

pytestmark = pytest.mark.sqlite_only  # about the listener, not the store


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return Pki(tmp_path / "pki")


def _server(tmp_path: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "im_desktop.server", "--port", "0", "--data-dir", str(tmp_path / "data"), "--sandbox",
         "--print-url", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def _failed_start(tmp_path: Path, *args: str) -> tuple[int, str]:
    proc = _server(tmp_path, *args)
    try:
        _, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    return proc.returncode, err


def test_both_files_or_neither(tmp_path: Path, pki: Pki, capsys: pytest.CaptureFixture[str]) -> None:
    issued = pki.issue("server")
    assert tls_context(None, None) is None
    assert tls_context(issued.cert, issued.key) is not None
    with pytest.raises(StartupError, match="go together"):
        tls_context(issued.cert, None)
    assert main(["--data-dir", str(tmp_path / "data"), "--tls-key", str(issued.key)]) == 2
    assert "--tls-cert and --tls-key go together" in capsys.readouterr().err


def _encrypted(pki: Pki) -> tuple[Path, Path]:
    issued = pki.issue("locked")
    key = serialization.load_pem_private_key(issued.key.read_bytes(), None)
    issued.key.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                             serialization.BestAvailableEncryption(b"secret")))  # fmt: skip
    return issued.cert, issued.key


@pytest.mark.parametrize(
    ("case", "words"),
    [("missing", "cannot read the TLS certificate"), ("folder", "is not a file"), ("not-pem", "is not in PEM form"),
     ("key-as-cert", "is not in PEM form"), ("mismatch", "does not belong to the certificate"),
     ("encrypted", "encrypted with a passphrase"), ("huge", "larger than")],
)  # fmt: skip
def test_unusable_files_are_refused_with_a_sentence_naming_them(tmp_path: Path, pki: Pki, case: str,
                                                                words: str) -> None:  # fmt: skip
    good, other = pki.issue("server"), pki.issue("other")
    cert, key = good.cert, good.key
    if case == "missing":
        cert = tmp_path / "nope.crt"
    elif case == "folder":
        cert = tmp_path
    elif case == "not-pem":
        cert.write_text("hello")
    elif case == "key-as-cert":
        cert = good.key
    elif case == "mismatch":
        key = other.key
    elif case == "encrypted":
        cert, key = _encrypted(pki)
    elif case == "huge":
        cert.write_bytes(b"-----BEGIN CERTIFICATE-----" + b"A" * 2_000_000)
    with pytest.raises(StartupError) as caught:
        tls_context(cert, key)  # never prompts for a passphrase: the test would hang on the terminal
    assert words in str(caught.value)
    assert str(cert) in str(caught.value) or str(key) in str(caught.value)


@pytest.mark.slow
def test_the_command_line_names_a_mismatched_key_and_exits(tmp_path: Path, pki: Pki) -> None:
    code, err = _failed_start(tmp_path, "--tls-cert", str(pki.issue("a").cert), "--tls-key", str(pki.issue("b").key))
    assert code == 1
    assert "does not belong to the certificate" in err and "Traceback" not in err


@pytest.mark.slow
def test_plain_http_off_loopback_is_warned_about(tmp_path: Path) -> None:
    # 192.0.2.1 (TEST-NET-1) is no address of this machine: the bind fails after the warning, nothing is sent.
    code, err = _failed_start(tmp_path, "--host", "192.0.2.1")
    assert code == 1
    assert "serving plain HTTP on 192.0.2.1" in err and "--tls-cert" in err
    assert all(is_loopback_host(h) for h in ("127.0.0.1", "127.9.9.9", "::1", "localhost"))
    assert not any(is_loopback_host(h) for h in ("0.0.0.0", "", "::", "192.0.2.1", "chat.example.com"))


@pytest.mark.slow
@pytest.mark.asyncio
async def test_the_command_line_serves_https_and_wss(tmp_path: Path, pki: Pki) -> None:
    issued = pki.issue("server")
    proc = _server(tmp_path, "--tls-cert", str(issued.cert), "--tls-key", str(issued.key))
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), 30)
        assert line.startswith("https://127.0.0.1:"), line
        client = ProtocolClient(line.strip(), ca_file=str(pki.ca_file))
        ticket = await client.demo_usersig("/im/v1/demo/usersig", "alice")
        token = (await client.login("alice", ticket, "Linux", "dev", "box")).token
        ready: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        runner = asyncio.create_task(client.events(token, None).run(ready.set_result, lambda _: None))
        await asyncio.wait_for(ready, 10)  # READY over WSS
        await client.logout(token)
        assert (await asyncio.wait_for(runner, 10)).ready
        await client.aclose()
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    assert "plain HTTP" not in err


@pytest.mark.asyncio
async def test_failed_handshakes_do_not_use_up_the_connection_cap(tmp_path: Path, pki: Pki) -> None:
    # asyncio tells a protocol nothing about a handshake that fails, so the guard would count each such
    # connection for ever: 8 of them (a scanner, a client without the CA) would lock everyone out with 503s.
    issued = pki.issue("server")
    async with running_server(tmp_path / "server", max_connections=8, header_timeout=0.2,
                              **issued.overrides()) as server:  # fmt: skip
        url = https(server.url)
        for _ in range(12):
            stranger = ProtocolClient(url)  # trusts only the system's CAs: aborts every handshake
            with pytest.raises(ImError) as caught:
                await stranger.discover()
            await stranger.aclose()
            assert caught.value.code is ErrorCode.CERT_UNTRUSTED
        await asyncio.sleep(0.2 + 1.0 + 0.3)  # the handshake deadline, then the watch's second, then some slack
        client = ProtocolClient(url, ca_file=str(pki.ca_file))
        assert await client.discover() is not None  # not refused with 90502 SERVER_BUSY
        await client.aclose()
