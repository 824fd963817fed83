"""Assembles the server (store, rules, HTTP and WebSocket routes) and runs it until told to stop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import AsyncIterator, Callable

from aiohttp import web

from im_desktop.server.config import ServerConfig
from im_desktop.server.http import error_middleware
from im_desktop.server.hub import Hub
from im_desktop.server.im_api import ImApi
from im_desktop.server.satori_api import SatoriApi
from im_desktop.server.sessions import SessionService
from im_desktop.server.store import Store
from im_desktop.server.websocket import EventStream

__all__ = ["create_app", "run_server", "serve"]

log = logging.getLogger(__name__)

SERVICE_KEY = web.AppKey("service", SessionService)


def create_app(config: ServerConfig, clock: Callable[[], float] = time.time) -> web.Application:
    """The aiohttp application; the store opens on startup and closes on cleanup."""
    app = web.Application(middlewares=[error_middleware], client_max_size=config.max_body_bytes)
    store = Store(config.data_dir / "server.sqlite3")
    hub = Hub()
    service = SessionService(config, store, hub, clock)
    events = EventStream(service, hub)
    app[SERVICE_KEY] = service
    ImApi(service, hub).add_routes(app)
    app.router.add_get("/v1/events", events.handle)
    SatoriApi(service, hub).add_routes(app)

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        loop = asyncio.get_running_loop()
        watchers = [loop.create_task(service.watch_expiry(), name="watch-expiry"),
                    loop.create_task(events.watch_deadlines(), name="watch-deadlines")]  # fmt: skip
        yield
        for watcher in watchers:
            watcher.cancel()
        await asyncio.gather(*watchers, return_exceptions=True)
        await service.drain()
        store.close()

    async def on_shutdown(app: web.Application) -> None:
        await events.close_all()

    app.cleanup_ctx.append(lifecycle)
    app.on_shutdown.append(on_shutdown)
    return app


@contextlib.asynccontextmanager
async def serve(config: ServerConfig, clock: Callable[[], float] = time.time) -> AsyncIterator[web.AppRunner]:
    """Run the server on (config.host, config.port) for the duration of the block."""
    runner = web.AppRunner(create_app(config, clock), access_log=None, shutdown_timeout=5.0)
    await runner.setup()
    site = web.TCPSite(runner, config.host, config.port, backlog=4096)
    await site.start()
    try:
        yield runner
    finally:
        await runner.cleanup()


async def run_server(config: ServerConfig, ready: Callable[[str], None] | None = None) -> None:
    """Serve until SIGINT or SIGTERM, then close every connection with 1012 and exit."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):  # Windows has no add_signal_handler
            loop.add_signal_handler(sig, stop.set)
    async with serve(config) as runner:
        addresses = runner.addresses
        host, port = addresses[0][:2] if addresses else (config.host, config.port)
        url = f"http://{host}:{port}"
        log.info("im-desktop server listening on %s (data in %s)", url, config.data_dir)
        if ready is not None:
            ready(url)
        await stop.wait()
        log.info("stopping")
