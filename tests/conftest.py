"""Shared fixtures: a real server on loopback per test."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before anything imports Qt

from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio

from tests.server.support import RunningServer, running_server


@pytest_asyncio.fixture
async def server(tmp_path: Path) -> AsyncIterator[RunningServer]:
    async with running_server(tmp_path / "server") as srv:
        yield srv
