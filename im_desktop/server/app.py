"""Assembles the server (store, rules, HTTP and WebSocket routes) and runs it until told to stop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import threading
import time
from collections.abc import AsyncIterator, Callable

from aiohttp import web

from im_desktop.server.broker import Broker, LocalBroker, open_broker
from im_desktop.server.config import ServerConfig
from im_desktop.server.guards import request_guard
from im_desktop.server.health import HEALTH_PATH, Health, outage_middleware
from im_desktop.server.http import ProtocolLog, error_middleware
from im_desktop.server.hub import Hub
from im_desktop.server.im_api import ImApi
from im_desktop.server.limits import (
    ConnectionGuard,
    GuardedSite,
    descriptor_limit,
    plan_limits,
    quiet_accept_errors,
    raise_descriptor_limit,
)
from im_desktop.server.satori_api import SatoriApi
from im_desktop.server.sessions import SessionService
from im_desktop.server.store import Store, open_store, redact_url
from im_desktop.server.tls import tls_context
from im_desktop.server.websocket import EventStream

__all__ = ["create_app", "run_server", "serve"]

log = logging.getLogger(__name__)

SERVICE_KEY = web.AppKey("service", SessionService)
HEALTH_KEY = web.AppKey("health", Health)


def create_app(config: ServerConfig, store: Store, clock: Callable[[], float] = time.time,
               broker: Broker | None = None) -> web.Application:  # fmt: skip
    """The aiohttp application on an open store (open_store()) and broker (open_broker(); default in-process),
    which stay the caller's to close."""
    broker = broker or LocalBroker()
    health = Health(store, broker if broker.shared else None)
    app = web.Application(middlewares=[error_middleware, request_guard(config), outage_middleware(health)],
                          client_max_size=config.max_body_bytes, handler_args={"logger": ProtocolLog()})  # fmt: skip
    hub = Hub()
    service = SessionService(config, store, hub, clock, broker)
    events = EventStream(service, hub)
    app[SERVICE_KEY] = service
    app[HEALTH_KEY] = health
    app.router.add_get(HEALTH_PATH, health.handle)
    ImApi(service, hub, health).add_routes(app)
    app.router.add_get("/v1/events", events.handle)
    SatoriApi(service, hub).add_routes(app)

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        loop = asyncio.get_running_loop()
        await broker.start()
        watchers = [loop.create_task(service.watch_expiry(), name="watch-expiry"),
                    loop.create_task(events.watch_deadlines(), name="watch-deadlines"),
                    loop.create_task(service.housekeeping(), name="housekeeping")]  # fmt: skip
        yield
        for watcher in watchers:
            watcher.cancel()
        await asyncio.gather(*watchers, return_exceptions=True)
        await broker.stop()  # no more news from other nodes: what drain() waits for is all there is
        await service.drain()
        await health.close()

    async def on_shutdown(app: web.Application) -> None:
        await events.close_all()

    app.cleanup_ctx.append(lifecycle)
    app.on_shutdown.append(on_shutdown)
    return app


@contextlib.asynccontextmanager
async def serve(config: ServerConfig, clock: Callable[[], float] = time.time) -> AsyncIterator[web.AppRunner]:
    """Run the server on (config.host, config.port) for the duration of the block."""
    limits = plan_limits(config.max_connections, config.listen_backlog, descriptor_limit())
    tls = tls_context(config.tls_cert, config.tls_key)  # StartupError for unusable files, before anything opens
    store = await open_store(config)  # StartupError if it cannot be used
    try:
        broker = await open_broker(config)  # StartupError if it cannot be reached
    except BaseException:
        await store.close()
        raise
    try:
        runner = web.AppRunner(create_app(config, store, clock, broker), access_log=None, shutdown_timeout=5.0,
                               keepalive_timeout=config.idle_timeout)  # fmt: skip
        await runner.setup()
        assert runner.server is not None  # setup() made it
        guard = ConnectionGuard(runner.server, cap=limits.connections, header_timeout=config.header_timeout,
                                body_timeout=config.body_timeout)  # fmt: skip
        try:
            with quiet_accept_errors(asyncio.get_running_loop(), guard.out_of_descriptors):
                site = GuardedSite(runner, guard, config.host, config.port, backlog=limits.backlog, ssl_context=tls)
                await site.start()
                log.info("up to %d connections (descriptor limit %s), listen backlog %d",
                         limits.connections, limits.descriptors or "none", limits.backlog)  # fmt: skip
                yield runner
        finally:
            await runner.cleanup()
            guard.close()
    finally:
        await broker.close()  # after the cleanup: sessions that went offline are said so
        await store.close()  # after the cleanup: the last notifications and requests may still need it


async def run_server(config: ServerConfig, ready: Callable[[str], None] | None = None, *,
                     stop_on_eof: int | None = None) -> None:  # fmt: skip
    """Serve until SIGINT or SIGTERM (or until the file descriptor `stop_on_eof` reaches its end), then close
    every connection with 1012 and exit."""
    raised = raise_descriptor_limit()
    if raised is not None and raised[0] != raised[1]:
        log.info("descriptor limit raised from %d to %d", *raised)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):  # Windows has no add_signal_handler
            loop.add_signal_handler(sig, stop.set)
    if stop_on_eof is not None:
        _stop_at_eof(stop_on_eof, loop, stop)
    async with serve(config) as runner:
        addresses = runner.addresses
        host, port = addresses[0][:2] if addresses else (config.host, config.port)
        url = f"{'https' if config.tls_cert else 'http'}://{host}:{port}"
        data = redact_url(config.database) if config.database else config.data_dir
        log.info("im-desktop server listening on %s (data in %s)", url, data)
        if ready is not None:
            ready(url)
        await stop.wait()
        log.info("stopping")


def _stop_at_eof(fd: int, loop: asyncio.AbstractEventLoop, stop: asyncio.Event) -> None:
    """The app's sandbox server reads its stdin, a pipe whose other end only the app holds: the pipe ends when
    the app closes it or dies however it dies (SIGKILL, a crash), and the server then stops instead of living
    on as an orphan on the app's data folder. Works the same on every platform."""

    def wait_for_eof() -> None:
        with contextlib.suppress(OSError):
            while os.read(fd, 4096):
                pass  # nobody should write here; whatever comes is ignored
        log.info("standard input closed (the app quit or is gone): stopping")
        with contextlib.suppress(RuntimeError):  # the loop already closed: the server is stopping anyway
            loop.call_soon_threadsafe(stop.set)

    # A daemon thread: a blocking read cannot be interrupted, and it must not hold up the exit after a SIGTERM.
    threading.Thread(target=wait_for_eof, name="stdin-eof", daemon=True).start()
