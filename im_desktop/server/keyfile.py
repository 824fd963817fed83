"""The keys file (SDKAppID, signing key, operator key): made private on first start, checked strictly after."""

from __future__ import annotations

import json
import os
import re
import secrets
from pathlib import Path

from im_desktop.local.private_files import PRIVATE_FILE_MODE, private_dir, read_regular_file, warn_if_open
from im_desktop.server.config import Keys, StartupError

__all__ = ["KEYS_FILE_NAME", "StartupError", "load_or_create_keys"]

KEYS_FILE_NAME = "server-keys.json"
_MAX_FILE_BYTES = 64 * 1024  # a real one is about 150 bytes
_FIELDS = ("sdkappid", "secret_key", "admin_key")
_MAX_KEY_CHARS = 512
# The signing key is hex, as Tencent's console shows it; 32 digits (128 bits) at least, so it cannot be guessed.
_SECRET_KEY = re.compile(r"[0-9a-fA-F]{32,512}")
# The operator key travels as `Authorization: Bearer <key>`: the characters of a bearer token, 24 at least.
_ADMIN_KEY = re.compile(r"[A-Za-z0-9._~+/=-]{24,512}")
_SDKAPPID_MAX = 2**32 - 1  # Tencent's SDKAppIDs are unsigned 32-bit numbers


def load_or_create_keys(path: Path) -> Keys:
    """Read the keys file, or create one readable only by this user on first start. A file that does not hold
    exactly the three fields with usable values is refused: an empty or short key would sign anyone in."""
    if not path.exists():
        return _create(path)
    warn_if_open(path, "keys file", PRIVATE_FILE_MODE)
    try:
        raw = read_regular_file(path, _MAX_FILE_BYTES)  # a FIFO or device in its place would block the start
    except OSError as exc:
        raise StartupError(f"The keys file {path} cannot be read ({exc.strerror or exc}).") from None
    except ValueError as exc:
        raise StartupError(f"The keys file {path} {exc}; fix or remove it.") from None
    if len(raw) > _MAX_FILE_BYTES:
        raise StartupError(f"The keys file {path} is damaged (larger than {_MAX_FILE_BYTES} bytes); fix or remove it.")
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise StartupError(f"The keys file {path} is damaged (not JSON); fix or remove it.") from None
    problem = _problem(doc)
    if problem:
        raise StartupError(f"The keys file {path} is invalid: {problem}; fix it, or remove it to have a new one made "
                           "(tickets signed with the old key then stop working).")  # fmt: skip
    return Keys(doc["sdkappid"], doc["secret_key"], doc["admin_key"])


def _problem(doc: object) -> str | None:
    """What is wrong with the file's content, in a few words (never quoting a key), or None."""
    if not isinstance(doc, dict):
        return "it must be a JSON object"
    missing = [name for name in _FIELDS if name not in doc]
    if missing:
        return f"the field {missing[0]!r} is missing"
    extra = sorted(str(name) for name in doc if name not in _FIELDS)
    if extra:
        return f"the field {extra[0][:40]!r} is unknown (only {', '.join(_FIELDS)} belong there)"
    sdkappid, secret_key, admin_key = (doc[name] for name in _FIELDS)
    if not isinstance(sdkappid, int) or isinstance(sdkappid, bool) or not 0 < sdkappid <= _SDKAPPID_MAX:
        return f"'sdkappid' must be a whole number from 1 to {_SDKAPPID_MAX}"
    if not isinstance(secret_key, str) or not _SECRET_KEY.fullmatch(secret_key):
        return f"'secret_key' must be a string of 32 to {_MAX_KEY_CHARS} hexadecimal digits"
    if not isinstance(admin_key, str) or not _ADMIN_KEY.fullmatch(admin_key):
        return f"'admin_key' must be a string of 24 to {_MAX_KEY_CHARS} characters from A-Z a-z 0-9 . _ ~ + / = -"
    return None


def _create(path: Path) -> Keys:
    keys = Keys(
        sdkappid=1_400_000_000 + secrets.randbelow(100_000_000),
        secret_key=secrets.token_hex(32),
        admin_key=secrets.token_urlsafe(24),
    )
    created = False
    try:
        private_dir(path.parent, warn=False)  # the data folder's mode was already checked
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
        created = True
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump({"sdkappid": keys.sdkappid, "secret_key": keys.secret_key, "admin_key": keys.admin_key}, fh)
    except OSError as exc:
        if created:  # half written (a full disk): the next start would refuse it as damaged
            path.unlink(missing_ok=True)
        raise StartupError(f"The keys file {path} cannot be created ({exc.strerror or exc}).") from None
    return keys
