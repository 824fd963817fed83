"""Server settings, and the keys (SDKAppID, signing key, operator key) that keyfile.py reads from disk."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Keys", "ServerConfig", "StartupError"]


class StartupError(Exception):
    """The server cannot start; the message is one sentence for the operator, naming the file at fault."""


@dataclass(frozen=True, slots=True)
class Keys:
    """The server's secrets. `repr` hides them so they cannot leak into a log or traceback."""

    sdkappid: int
    secret_key: str = field(repr=False)
    admin_key: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """Everything the server needs besides its clock; defaults suit the built-in sandbox."""

    keys: Keys
    data_dir: Path
    # A PostgreSQL URL (postgresql://user@host:port/name) to keep the data in, shared by every server process
    # that names it; None keeps it in SQLite in data_dir, for one process.
    database: str | None = field(default=None, repr=False)  # repr: the URL may hold a password
    database_pool: int = 10  # connections to PostgreSQL at most, per process
    # A Redis URL (redis://host:port/0) that carries news between the server processes sharing the database (live
    # delivery, kicks, presence, lock-out counts); None: one process, news stays in it.
    broker: str | None = field(default=None, repr=False)  # repr: the URL may hold a password
    host: str = "127.0.0.1"
    port: int = 5140
    sandbox: bool = False
    heartbeat_interval: float = 10.0  # what clients are told to use
    heartbeat_timeout: float = 30.0  # silence after which the server drops a connection
    identify_timeout: float = 10.0
    expiry_check_interval: float = 1.0
    lockout_failures: int = 5
    lockout_window: float = 60.0
    lockout_duration: float = 60.0
    lockout_max_entries: int = 10_000  # (UserID, address) pairs remembered at most; the oldest go first
    ticket_future_skew: float = 60.0  # a ticket dated further ahead of the server clock is refused (70003)
    housekeeping_interval: float = 60.0  # how often the lock-out table is swept and retention considered
    retention_interval: float = 3600.0  # how often retention prunes ended sessions and old events
    session_retention: float = 30 * 86400  # an ended session (or a dead ticket's) is deleted this long after
    event_retention: float = 7 * 86400  # events older than this leave the resume log (clients then re-sync)
    event_retention_max: int = 1_000_000  # and at most this many of the newest events are kept
    demo_ticket_lifetime: int = 7 * 86400
    max_frame_bytes: int = 64 * 1024
    max_body_bytes: int = 1024 * 1024
    max_content_bytes: int = 12 * 1024
    # Connections (limits.py): a new one must deliver its first request line and headers within header_timeout,
    # and a request body must be all in within body_timeout of its headers; a keep-alive connection waiting for
    # its next request closes after idle_timeout (WebSockets are not affected).
    header_timeout: float = 10.0
    body_timeout: float = 30.0
    idle_timeout: float = 60.0
    max_connections: int = 50_000  # lowered at start to fit the descriptor limit
    listen_backlog: int = 1024  # likewise
    # message.create per user: a steady rate, with bursts for an outbox flushed after a reconnect.
    message_rate: float = 10.0  # messages a second
    message_burst: int = 50
    # Host names (besides loopback names and literal addresses) and browser Origins (besides loopback
    # pages) this server answers; "*" in allowed_hosts turns the Host check off (behind a proxy).
    allowed_hosts: tuple[str, ...] = ()
    allowed_origins: tuple[str, ...] = ()
    # HTTPS and WSS with this PEM certificate chain and its key (tls.py), both or neither; else plain HTTP.
    tls_cert: Path | None = None
    tls_key: Path | None = None
