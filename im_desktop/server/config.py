"""Server settings, and the keys file that holds the SDKAppID, signing key and operator key."""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Keys", "ServerConfig", "load_or_create_keys"]

KEYS_FILE_NAME = "server-keys.json"


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
    demo_ticket_lifetime: int = 7 * 86400
    max_frame_bytes: int = 64 * 1024
    max_body_bytes: int = 1024 * 1024
    max_content_bytes: int = 12 * 1024


def load_or_create_keys(path: Path) -> Keys:
    """Read the keys file, or create one readable only by this user on first start."""
    if path.exists():
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
            return Keys(int(doc["sdkappid"]), str(doc["secret_key"]), str(doc["admin_key"]))
        except (ValueError, KeyError, TypeError) as exc:
            raise SystemExit(f"The keys file {path} is damaged ({type(exc).__name__}); fix or remove it.") from None
    keys = Keys(
        sdkappid=1_400_000_000 + secrets.randbelow(100_000_000),
        secret_key=secrets.token_hex(32),
        admin_key=secrets.token_urlsafe(24),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump({"sdkappid": keys.sdkappid, "secret_key": keys.secret_key, "admin_key": keys.admin_key}, fh)
    return keys
