"""What to do after a connection ends: reconnect, renew the ticket, or stop and tell the user why."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from im_desktop.protocol.errors import ErrorClass, ErrorCode, ImError
from im_desktop.protocol.events import StreamEnd
from im_desktop.protocol.models import CloseCode

__all__ = ["Next", "Outcome", "classify_error", "classify_stream_end"]

_KICK_REASONS = {"multi_device", "multi_instance", "admin"}
# Close codes that mean "these credentials are refused": Koishi's 4004, satori-python's 3000, ours.
_TOKEN_REFUSED = {int(CloseCode.INVALID_TOKEN), 3000}


class Next(enum.Enum):
    RECONNECT = "reconnect"  # transient: back off and try again, no new login
    NEW_TICKET = "new_ticket"  # the ticket expired or was invalidated: one fresh ticket, one login
    RELOGIN = "relogin"  # the server forgot our session: one login with the ticket we have
    KICKED = "kicked"  # terminal until the user decides
    LOGGED_OUT = "logged_out"  # terminal
    REJECTED = "rejected"  # terminal: credentials refused, show the code


@dataclass(frozen=True, slots=True)
class Outcome:
    next: Next
    code: int = 0
    message: str = ""
    ended: dict[str, Any] | None = None


_MAX_MESSAGE = 500  # characters of a server's own explanation that are worth showing


def _code(value: object) -> int:
    """A server's error code, or 0: only a plain positive int that fits a Qt int signal counts."""
    return value if isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**31 else 0


def _text(value: object) -> str:
    return value[:_MAX_MESSAGE] if isinstance(value, str) else ""


def classify_stream_end(end: StreamEnd, *, own_server: bool) -> Outcome:
    """Map a StreamEnd to the next step. Only an explicit signal from the server stops reconnecting.
    `ended` comes from the server as it is: anything in it of the wrong type counts as absent. A refusal on this
    side (a bad certificate, plain http:// to another computer) stops too: no retry could change it."""
    if end.fatal is not None:
        return Outcome(Next.REJECTED, int(end.fatal.code), end.fatal.message)
    ended = end.ended if isinstance(end.ended, dict) else {}
    reason = ended.get("reason") if isinstance(ended.get("reason"), str) else None
    code = _code(ended.get("code"))
    message = _text(ended.get("message"))
    if reason in _KICK_REASONS or end.code == CloseCode.KICKED:
        return Outcome(Next.KICKED, code or int(ErrorCode.KICKED_OFF_BY_OTHER),
                       message or ErrorCode.KICKED_OFF_BY_OTHER.default_message, end.ended)  # fmt: skip
    if reason == "user_sig_expired" or end.code == CloseCode.USER_SIG_EXPIRED:
        return Outcome(Next.NEW_TICKET, int(ErrorCode.USERSIG_EXPIRED),
                       message or ErrorCode.USERSIG_EXPIRED.default_message, end.ended)  # fmt: skip
    if reason == "logout" or (own_server and end.code == CloseCode.LOGGED_OUT):
        return Outcome(Next.LOGGED_OUT, 0, message or "This session was logged out.", end.ended)
    if end.code in _TOKEN_REFUSED:
        if own_server:
            return Outcome(Next.RELOGIN, int(ErrorCode.NOT_LOGGED_IN), "The server no longer knows this session.")
        return Outcome(Next.REJECTED, int(ErrorCode.AUTH_REJECTED), ErrorCode.AUTH_REJECTED.default_message)
    return Outcome(Next.RECONNECT, int(ErrorCode.NET_DISCONNECT), end.reason)


def classify_error(error: ImError) -> Next:
    """For a failed login or request: only 6206/70001/70052 lead to a new ticket (Tencent's rule)."""
    if error.code.error_class is ErrorClass.SIG:
        return Next.NEW_TICKET
    if error.code.error_class is ErrorClass.TRANSIENT:
        return Next.RECONNECT
    if error.code is ErrorCode.KICKED_OFF_BY_OTHER:
        return Next.KICKED
    return Next.REJECTED
