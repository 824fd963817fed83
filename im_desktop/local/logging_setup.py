"""Logging to a rotating file, through a filter that blanks anything shaped like a ticket or token."""

from __future__ import annotations

import io
import logging
import logging.handlers
import os
import re
from pathlib import Path

from im_desktop.local.private_files import PRIVATE_FILE_MODE, private_dir

__all__ = ["RedactingFilter", "setup_logging"]

# A UserSig is long base64 with Tencent's '*-_' alphabet; session tokens are long urlsafe base64;
# "Bearer x", "password=x", "user_sig": "x" are the shapes they travel in.
_PATTERNS = [
    re.compile(r"eJ[A-Za-z0-9*_\-]{40,}"),
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=\-]{8,}"),
    re.compile(r"(?i)((?:password|user_?sig|token|secret)[\"']?\s*[:=]\s*[\"']?)[^\s\"',}]{3,}"),
]


class RedactingFilter(logging.Filter):
    """Last line of defence: code never logs secrets on purpose, this catches accidents."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = message
        for pattern in _PATTERNS:
            cleaned = pattern.sub(lambda m: (m.group(1) if m.groups() else "") + "<redacted>", cleaned)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


class _PrivateRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """Creates each log file (the first and every one after a rotation) readable by this user only."""

    def _open(self) -> io.TextIOWrapper:
        fd = os.open(self.baseFilename, os.O_WRONLY | os.O_APPEND | os.O_CREAT, PRIVATE_FILE_MODE)
        return os.fdopen(fd, "a", encoding=self.encoding, errors=self.errors)


def setup_logging(log_dir: Path, level: int = logging.INFO) -> Path:
    private_dir(log_dir)  # user IDs, server names and message metadata pass through the log
    path = log_dir / "im-desktop.log"
    handler = _PrivateRotatingFileHandler(path, maxBytes=2_000_000, backupCount=3, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    root.setLevel(level)
    root.addHandler(handler)
    # httpx logs every request line at INFO; URLs carry no secrets, but one line per request is noise.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    return path
