"""/healthz: each part's state, 200 while this node can take logins, and one probe however many ask."""

from __future__ import annotations

import asyncio
import json

import pytest

from tests.server.support import RunningServer

pytestmark = pytest.mark.asyncio


async def _healthz(server: RunningServer) -> tuple[int, dict[str, str], bytes]:
    async with server.http.get(f"{server.url}/healthz") as resp:
        return resp.status, dict(resp.headers), await resp.read()


async def test_healthz_reports_the_database_and_broker(server: RunningServer, store: str) -> None:
    status, headers, body = await _healthz(server)
    assert status == 200, body
    assert json.loads(body) == {"status": "ok", "database": {"kind": store, "state": "ok"},
                                "broker": {"kind": "in-process", "state": "ok"}}  # fmt: skip
    assert headers["Content-Type"].startswith("application/json")
    assert headers["Cache-Control"] == "no-store"  # a proxy must not answer a health check from its cache
    assert "Retry-After" not in headers


async def test_a_storm_of_health_checks_costs_one_probe(server: RunningServer) -> None:
    probes = 0
    original = server.store.get_setting

    async def counted(name: str) -> str | None:
        nonlocal probes
        probes += 1
        await asyncio.sleep(0.05)  # a slow database: the storm arrives while the one probe is out
        return await original(name)

    server.store.get_setting = counted  # type: ignore[method-assign]
    replies = await asyncio.gather(*(_healthz(server) for _ in range(200)))
    assert {status for status, _, _ in replies} == {200}
    assert probes == 1
