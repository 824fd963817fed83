"""Launch a stock satori-python-server with one static login, as the peer that bench_server.py compares against."""

from __future__ import annotations

import argparse
import sys
import threading
from pathlib import Path
from typing import Any

from loguru import logger
from satori import Login, LoginStatus, User
from satori.server import Server

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run as a script: make `tests` importable
from tests.session.satori_peer import announce, free_port

PEER_PLATFORM = "bench"
PEER_SELF_ID = "peer-bot"


class StaticLoginProvider:
    """The smallest provider the server accepts: one online login, no proxied resources, no events."""

    @property
    def id(self) -> str:
        return "bench-static-login"

    async def get_logins(self) -> list[Any]:
        return [Login(platform=PEER_PLATFORM, user=User(id=PEER_SELF_ID, name=PEER_SELF_ID), status=LoginStatus.ONLINE)]

    @staticmethod
    def proxy_urls() -> list[str]:
        return []

    def ensure(self, platform: str, self_id: str) -> bool:
        return platform == PEER_PLATFORM and self_id == PEER_SELF_ID

    async def handle_internal(self, request: Any, path: str) -> Any:
        raise NotImplementedError(path)

    async def handle_proxied(self, prefix: str, url: str) -> Any:
        return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0, help="0 picks a free loopback port")
    parser.add_argument("--token", required=True, help="the static token every IDENTIFY must carry")
    args = parser.parse_args()
    port = args.port or free_port()
    # The same log level as the im-desktop server under test (WARNING), so neither pays for per-connection logs.
    logger.remove()
    logger.add(sys.stderr, level="WARNING")
    server = Server(
        host="127.0.0.1", port=port, path="", token=args.token,
        uvicorn_options={"log_level": "warning", "access_log": False},
    )  # fmt: skip
    server.apply(StaticLoginProvider())
    threading.Thread(target=announce, args=(port,), daemon=True).start()
    server.run()  # blocks until SIGINT


if __name__ == "__main__":
    main()
