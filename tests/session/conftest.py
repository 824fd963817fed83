"""Session tests run on the Qt event loop through qasync, as the app does."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import qasync
from PySide6.QtWidgets import QApplication

from im_desktop.local.credentials import CredentialStore
from im_desktop.session.backoff import Backoff
from im_desktop.session.controller import SessionController
from im_desktop.session.types import ServerProfile, Timing
from tests.server.support import RunningServer, running_server
from tests.session.keyrings import MemoryKeyring
from tests.session.proxy import FaultProxy


def _qasync_loop() -> qasync.QEventLoop:
    app = QApplication.instance() or QApplication([])
    assert isinstance(app, QApplication)
    return qasync.QEventLoop(app)


def pytest_asyncio_loop_factories(config: pytest.Config, item: pytest.Item) -> Mapping[str, Any]:
    return {"qasync": _qasync_loop}


FAST = Timing(ping_interval=0.2, dead_after=1.0, backoff=Backoff(initial=0.05, cap=0.4, jitter=0.1),
              wake_check_interval=0.05, wake_threshold=5.0, renew_margin=30.0, renew_check_interval=0.05,
              ready_wait=5.0)  # fmt: skip


def make_controller(url: str, tmp_path: Path, *, name: str = "sandbox", timing: Timing | None = None,
                    keyring: MemoryKeyring | None = None, **kw: Any) -> SessionController:  # fmt: skip
    timing = timing or Timing(**{f: getattr(FAST, f) for f in FAST.__dataclass_fields__ if f != "backoff"},
                              backoff=Backoff(initial=0.05, cap=0.4, jitter=0.1))  # fmt: skip
    return SessionController(
        ServerProfile(name, url), cache_dir=tmp_path / "cache",
        credentials=CredentialStore(keyring or MemoryKeyring()), platform=kw.pop("platform", "Linux"),
        device_id=kw.pop("device_id", "test-device"), device_name=kw.pop("device_name", "Test machine"),
        timing=timing, **kw,
    )  # fmt: skip


class Env:
    """A real server (restartable), a fault proxy in front of it, and controllers; all closed before the
    test returns."""

    def __init__(self, tmp_path: Path, server_overrides: dict[str, Any]) -> None:
        self._tmp_path = tmp_path
        self._overrides = server_overrides
        self._server_stack: AsyncExitStack | None = None
        self.server: RunningServer
        self.proxy: FaultProxy
        self.controllers: list[SessionController] = []

    async def start_server(self, port: int = 0) -> RunningServer:
        stack = AsyncExitStack()
        self.server = await stack.enter_async_context(
            running_server(self._tmp_path / "server", self._overrides.get("clock"), port=port,
                           **{k: v for k, v in self._overrides.items() if k != "clock"})
        )  # fmt: skip
        self._server_stack = stack
        return self.server

    async def stop_server(self) -> None:
        if self._server_stack is not None:
            await self._server_stack.aclose()
            self._server_stack = None

    def controller(self, name: str = "one", *, direct: bool = False, **kw: Any) -> SessionController:
        ctl = make_controller(self.server.url if direct else self.proxy.url, self._tmp_path / name, **kw)
        self.controllers.append(ctl)
        return ctl


@asynccontextmanager
async def session_env(tmp_path: Path, **server_overrides: Any) -> AsyncIterator[Env]:
    """Everything async lives inside the test body: pytest-qt pumps Qt events between a test and its
    fixture teardown, and a qasync timer firing then would run outside the event loop."""
    env = Env(tmp_path, server_overrides)
    server = await env.start_server()
    env.proxy = FaultProxy("127.0.0.1", int(server.url.rsplit(":", 1)[1]))
    await env.proxy.start()
    try:
        yield env
    finally:
        for ctl in env.controllers:
            await ctl.aclose()
        await env.proxy.close()
        await env.stop_server()
