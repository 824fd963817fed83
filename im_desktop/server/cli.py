"""Command line of `im-desktop-server`."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

import platformdirs

from im_desktop.private_files import private_dir
from im_desktop.server.app import run_server
from im_desktop.server.config import ServerConfig, StartupError
from im_desktop.server.datalock import LOCK_FILE_NAME, DataDirBusy, lock_data_dir
from im_desktop.server.keyfile import KEYS_FILE_NAME, load_or_create_keys

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="im-desktop-server", description="The im-desktop IM server (Satori v1).")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1, loopback only)")
    p.add_argument("--port", type=int, default=5140, help="port to listen on; 0 picks a free one (default: 5140)")
    p.add_argument(
        "--data-dir",
        type=Path,
        default=Path(platformdirs.user_data_dir("im-desktop")) / "server",
        help=f"where the database and keys file live (locked through {LOCK_FILE_NAME} while the server runs)",
    )
    p.add_argument("--sandbox", action="store_true", help="issue demo tickets to anyone (local testing only)")
    p.add_argument("--keys-file", type=Path, help=f"keys file (default: DATA_DIR/{KEYS_FILE_NAME})")
    p.add_argument("--print-url", action="store_true", help="print the server's URL on stdout once listening")
    p.add_argument(
        "--session-retention-days",
        type=float,
        default=30.0,
        metavar="DAYS",
        help="delete ended sessions (and sessions whose ticket ran out) after DAYS (default: 30)",
    )
    p.add_argument(
        "--event-retention-days",
        type=float,
        default=7.0,
        metavar="DAYS",
        help="keep events for resuming clients DAYS (default: 7); one resuming from further back must re-sync",
    )
    p.add_argument(
        "--event-retention-max",
        type=int,
        default=1_000_000,
        metavar="N",
        help="keep at most the newest N events for resuming clients (default: 1000000)",
    )
    p.add_argument(
        "--allow-host",
        action="append",
        default=[],
        metavar="NAME",
        help="also answer for this host name (repeatable; '*' = any, e.g. behind a reverse proxy); "
        "loopback names and literal addresses are always answered",
    )
    p.add_argument(
        "--allow-origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="accept browser requests from this origin, e.g. https://chat.example.com (repeatable)",
    )
    p.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    p.add_argument(
        "--stop-on-stdin-eof",
        action="store_true",
        help="stop when standard input closes (the app runs its sandbox server so, to end with the app)",
    )
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not 0 <= args.port <= 65535:
        print(f"--port must be between 0 and 65535, not {args.port}", file=sys.stderr)
        return 2
    for name in ("session_retention_days", "event_retention_days", "event_retention_max"):
        value = getattr(args, name)
        if not 0 < value < 100_000_000:  # NaN and infinity fail this too
            print(f"--{name.replace('_', '-')} must be a positive number, not {value}", file=sys.stderr)
            return 2
    data_dir: Path = args.data_dir.expanduser()
    try:
        private_dir(data_dir, warn=False)  # 0700 before the lock file and keys go in; the store warns if not
        with lock_data_dir(data_dir):
            return _serve(args, data_dir)
    except (DataDirBusy, StartupError) as exc:
        print(f"im-desktop-server: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"im-desktop-server: cannot use the data folder {data_dir} ({exc.strerror or exc})", file=sys.stderr)
        return 1


def _serve(args: argparse.Namespace, data_dir: Path) -> int:
    """Runs with the data folder locked, so no second server opens the same database."""
    keys = load_or_create_keys(args.keys_file or data_dir / KEYS_FILE_NAME)
    config = ServerConfig(
        keys=keys, data_dir=data_dir, host=args.host, port=args.port, sandbox=args.sandbox,
        session_retention=args.session_retention_days * 86400, event_retention=args.event_retention_days * 86400,
        event_retention_max=args.event_retention_max, allowed_hosts=tuple(args.allow_host),
        allowed_origins=tuple(args.allow_origin),
    )  # fmt: skip
    if args.host not in ("127.0.0.1", "localhost", "::1") and args.sandbox:
        logging.getLogger(__name__).warning("sandbox mode hands out tickets to anyone who can reach %s", args.host)

    def announce(url: str) -> None:
        if args.print_url:
            print(url, flush=True)

    try:
        stdin = sys.stdin.fileno() if args.stop_on_stdin_eof and sys.stdin is not None else None
        asyncio.run(run_server(config, announce, stop_on_eof=stdin))
    except OSError as exc:
        print(f"im-desktop-server: cannot listen on {args.host}:{args.port}: {exc.strerror}", file=sys.stderr)
        return 1
    return 0
