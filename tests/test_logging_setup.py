"""The log file's last line of defence: anything shaped like a ticket or token is blanked."""

from __future__ import annotations

import logging
from pathlib import Path

from im_desktop import usersig
from im_desktop.logging_setup import setup_logging


def test_secrets_are_redacted_in_the_log_file(tmp_path: Path) -> None:
    path = setup_logging(tmp_path / "logs")
    ticket = usersig.generate(1400000000, "k" * 64, "alice", 3600)
    token = "Fz4eesSmvYqsEQeexwZKW0fgEIKoC64yowdz1mtY0XU"
    logger = logging.getLogger("tests.redaction")
    logger.warning("oops %s", ticket)
    logger.warning("header Authorization: Bearer %s", token)
    logger.warning('body {"user_sig": "%s", "password": "hunter22"}', ticket[:20])
    logger.warning("alice logged in")
    for handler in logging.getLogger().handlers:
        handler.flush()
    text = path.read_text()
    for secret in (ticket, token, "hunter22", ticket[:20]):
        assert secret not in text
    assert "<redacted>" in text and "alice logged in" in text
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "baseFilename", "") == str(path):
            root.removeHandler(handler)
            handler.close()
