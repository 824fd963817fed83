"""Command line of `im-desktop-server`."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

import platformdirs

from im_desktop.local.private_files import private_dir
from im_desktop.server.app import run_server
from im_desktop.server.broker import BROKER_SCHEMES
from im_desktop.server.config import ServerConfig, StartupError
from im_desktop.server.datalock import LOCK_FILE_NAME, DataDirBusy, lock_data_dir
from im_desktop.server.keyfile import KEYS_FILE_NAME, load_or_create_keys
from im_desktop.server.tls import is_loopback_host

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
    p.add_argument(
        "--database",
        metavar="URL",
        help="keep the data in this PostgreSQL database (postgresql://USER[:PASSWORD]@HOST[:PORT]/NAME), which "
        "several servers may share; needs the asyncpg package (the server-scale extra). A password is better kept in "
        "PGPASSWORD or ~/.pgpass: other users can read a command line. Default: SQLite in DATA_DIR",
    )
    p.add_argument(
        "--database-pool",
        type=int,
        default=10,
        metavar="N",
        help="connections to the PostgreSQL database at most (default: 10)",
    )
    p.add_argument("--broker", metavar="URL", help="carry live news between the servers sharing --database "
                   "through this Redis (redis://[:PASSWORD@]HOST[:PORT][/DB], rediss://, unix://); needs the redis "
                   "package (the server-scale extra). Default: none, for a single server")  # fmt: skip
    p.add_argument("--heartbeat-interval", type=float, default=10.0, metavar="SECONDS",
                   help="how often clients are told to ping (default: 10)")  # fmt: skip
    p.add_argument("--heartbeat-timeout", type=float, default=30.0, metavar="SECONDS",
                   help="drop a socket silent this long; with --broker, a dead server's sessions show offline after "
                   "it (default: 30)")  # fmt: skip
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
    p.add_argument("--tls-cert", type=Path, metavar="FILE", help="serve HTTPS and WSS with this PEM certificate "
                   "(chain); needs --tls-key. Without: plain HTTP, for loopback or behind a TLS proxy")  # fmt: skip
    p.add_argument("--tls-key", type=Path, metavar="FILE", help="the certificate's PEM private key, unencrypted")
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
    if args.database is not None and not args.database.startswith(("postgresql://", "postgres://")):
        print("--database must be a postgresql:// URL", file=sys.stderr)
        return 2
    if (args.tls_cert is None) != (args.tls_key is None):
        print("--tls-cert and --tls-key go together: give both, or neither for plain HTTP", file=sys.stderr)
        return 2
    if args.broker is not None and not args.broker.startswith(BROKER_SCHEMES):
        print("--broker must be a redis://, rediss:// or unix:// URL", file=sys.stderr)
        return 2
    if not 0.1 <= args.heartbeat_interval < args.heartbeat_timeout <= 3600:  # NaN fails this too
        print("--heartbeat-interval must be at least 0.1 and below --heartbeat-timeout, itself at most 3600",
              file=sys.stderr)  # fmt: skip
        return 2
    if not 1 <= args.database_pool <= 1000:
        print(f"--database-pool must be between 1 and 1000, not {args.database_pool}", file=sys.stderr)
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
        keys=keys, data_dir=data_dir, database=args.database, database_pool=args.database_pool, host=args.host,
        broker=args.broker, heartbeat_interval=args.heartbeat_interval, heartbeat_timeout=args.heartbeat_timeout,
        port=args.port, sandbox=args.sandbox,
        session_retention=args.session_retention_days * 86400, event_retention=args.event_retention_days * 86400,
        event_retention_max=args.event_retention_max, allowed_hosts=tuple(args.allow_host),
        allowed_origins=tuple(args.allow_origin), tls_cert=args.tls_cert, tls_key=args.tls_key,
    )  # fmt: skip
    if args.broker and not args.database:
        logging.getLogger(__name__).warning("--broker without --database: each server keeps its own SQLite data, so "
                                            "the others have nothing to read when told of it")  # fmt: skip
    if args.host not in ("127.0.0.1", "localhost", "::1") and args.sandbox:
        logging.getLogger(__name__).warning("sandbox mode hands out tickets to anyone who can reach %s", args.host)
    if args.tls_cert is None and not is_loopback_host(args.host):
        logging.getLogger(__name__).warning(
            "serving plain HTTP on %s: tickets, tokens and messages cross the network unencrypted; use --tls-cert and "
            "--tls-key, or a TLS-terminating proxy in front (and --host 127.0.0.1)", args.host)  # fmt: skip

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
