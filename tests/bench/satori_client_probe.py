"""A satori-python-client (PyPI) account on one server, printing `STATUS <time.time()>` at each status change."""

# Run as a subprocess: `python tests/bench/satori_client_probe.py --url http://127.0.0.1:P --token T`.
# It prints `STARTED <t>` once its client runs, then one line per lifecycle change of its account (`ONLINE <t>`,
# `OFFLINE <t>`, ...) in wall-clock seconds, so the parent can compare them with its own `time.time()`.
# It stops on SIGTERM or SIGINT the way the client's own Ctrl-C handler does, and exits 0.

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import time
import warnings
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import satori
from graia.amnesia.builtins.aiohttp import AiohttpClientService  # type: ignore[import-untyped]
from launart import Launart  # type: ignore[import-untyped]
from loguru import logger
from satori.client import Account, App, WebsocketsInfo
from satori.model import LoginStatus

_SATORI_DIR = str(Path(satori.__file__).parent)


def say(word: str) -> None:
    print(f"{word} {time.time():.6f}", flush=True)


def _started_by_satori(task: asyncio.Task[Any]) -> bool:
    code = getattr(task.get_coro(), "cr_code", None)
    return code is not None and code.co_filename.startswith(_SATORI_DIR)


async def run_client(url: str, token: str) -> None:
    parts = urlsplit(url)
    assert parts.hostname is not None and parts.port is not None
    app = App(WebsocketsInfo(host=parts.hostname, port=parts.port, path="", token=token), main_app=False)

    async def on_status(account: Account, status: LoginStatus) -> None:
        say(LoginStatus(status).name)

    app.lifecycle(on_status)
    manager = Launart()
    manager.add_component(AiohttpClientService())
    manager.add_component(app)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    before = asyncio.all_tasks()
    launch = asyncio.create_task(manager.launch())
    say("STARTED")
    stopping = asyncio.create_task(stop.wait())
    await asyncio.wait([launch, stopping], return_when=asyncio.FIRST_COMPLETED)
    stopping.cancel()
    # The stop hook App.run() binds to SIGINT; calling it needs no real signal.
    manager._on_sys_signal(signal.SIGINT, None, main_task=launch)
    await asyncio.wait([launch], timeout=10)
    # WsNetwork.daemon leaves its `_heartbeat` task running on exit; end whatever the package left behind.
    leftovers = [t for t in asyncio.all_tasks() - before if _started_by_satori(t)]
    for task in leftovers:
        task.cancel()
    await asyncio.gather(*leftovers, return_exceptions=True)


def main() -> None:
    parser = argparse.ArgumentParser(description="Print the status changes of a satori-python-client account.")
    parser.add_argument("--url", required=True, help="the server's base URL, http://host:port")
    parser.add_argument("--token", required=True, help="the token IDENTIFY carries")
    args = parser.parse_args()
    # satori-python-client 1.3.11 calls `ws_connect(..., timeout=300)`, which aiohttp >= 3.10 deprecates.
    warnings.filterwarnings("ignore", "parameter 'timeout' of type 'float' is deprecated", DeprecationWarning)
    logger.remove()
    logger.add(sys.stderr, level="INFO", format="{time:HH:mm:ss.SSS} {level} {message}")
    asyncio.run(run_client(args.url, args.token))


if __name__ == "__main__":
    main()
