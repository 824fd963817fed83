"""What is wrong with a UserID as typed, in words: shared by the login window and "New conversation"."""

from __future__ import annotations

from PySide6.QtCore import QCoreApplication

from im_desktop.protocol.errors import ImError
from im_desktop.protocol.models import MAX_USER_ID_BYTES, check_user_id

__all__ = ["is_valid_user_id", "user_id_problem"]

_CONTEXT = "UserIdHint"


def _tr(text: str) -> str:
    return QCoreApplication.translate(_CONTEXT, text)


def is_valid_user_id(text: str) -> bool:
    try:
        check_user_id(text)
    except ImError:
        return False
    return True


def user_id_problem(text: str, *, tried: bool) -> str:
    """ "" when `text` is a UserID (or empty and nobody tried to use it yet), else what to change."""
    if not text:
        return _tr("Enter a UserID.") if tried else ""
    if is_valid_user_id(text):
        return ""
    # The shared rule decides; checking one character at a time only names the culprit.
    bad = next((ch for ch in text if not is_valid_user_id(ch)), None)
    if bad is not None:
        shown = _tr("space") if bad.isspace() else f"\u201c{bad}\u201d"
        return _tr("Only letters, digits, _ and - (not {char}).").format(char=shown)
    used = len(text.encode())
    return _tr("At most {limit} bytes ({used} now).").format(limit=MAX_USER_ID_BYTES, used=used)
