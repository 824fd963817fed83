"""The log file's last line of defence: anything shaped like a ticket or token is blanked."""

from __future__ import annotations

import logging
import logging.handlers
import os
import stat
from pathlib import Path

import pytest

from im_desktop.local.logging_setup import setup_logging
from im_desktop.protocol import usersig


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


@pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX permission bits")
def test_the_log_folder_and_files_are_private_after_a_rotation_too(tmp_path: Path) -> None:
    old_umask = os.umask(0o022)  # the usual one: the log must not depend on a strict one
    try:
        path = setup_logging(tmp_path / "logs")
    finally:
        os.umask(old_umask)
    root = logging.getLogger()
    handler = next(h for h in root.handlers if getattr(h, "baseFilename", "") == str(path))
    try:
        logging.getLogger("tests.modes").warning("alice logged in")
        assert isinstance(handler, logging.handlers.RotatingFileHandler)
        handler.doRollover()
        logging.getLogger("tests.modes").warning("after the rotation")
        handler.flush()
        files = {p.name: stat.S_IMODE(p.stat().st_mode) for p in path.parent.iterdir()}
        assert files == {"im-desktop.log": 0o600, "im-desktop.log.1": 0o600}
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
        assert "after the rotation" in path.read_text()
    finally:
        root.removeHandler(handler)
        handler.close()
