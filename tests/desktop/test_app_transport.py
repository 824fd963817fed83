"""DesktopApp in-process: a profile the user allowed to go unencrypted says so in the status bar, and the app
sends nothing for it until asked; an encrypted one says nothing."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from im_desktop.local.settings import SANDBOX, ServerProfileSettings, Settings
from tests.desktop.test_app import desktop_app
from tests.qt_loop import run, until
from tests.session.keyrings import MemoryKeyring
from tests.tls_support import Recorder

pytestmark = pytest.mark.slow


@pytest.mark.parametrize(
    ("url", "allow", "words"),
    [("http://192.0.2.10:5140", True, "Not encrypted"), ("https://chat.example.test", False, "")],
    ids=["allowed-plain-http", "https"],
)
def test_the_status_bar_says_when_the_profile_is_not_encrypted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                               url: str, allow: bool, words: str) -> None:  # fmt: skip
    recorder = Recorder()  # nothing may leave this computer: the app must not contact the server by itself
    monkeypatch.setattr(httpx.AsyncHTTPTransport, "handle_async_request", recorder.method())
    far = ServerProfileSettings("far", "Far away", "im", url, allow_insecure=allow)
    settings = Settings(profiles=[ServerProfileSettings(SANDBOX, "Built-in sandbox", SANDBOX), far],
                        current_profile="far")  # fmt: skip

    async def body() -> None:
        async with desktop_app(tmp_path / "home", settings, MemoryKeyring()) as desktop:
            controller = await until("a controller", lambda: desktop.controller)
            assert controller.client.unencrypted is allow
            assert desktop.main_window.connection_bar.security_text == words
        assert recorder.requests == []

    run(body)
