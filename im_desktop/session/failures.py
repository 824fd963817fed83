"""Any exception as an ImError a person can read: the last stop before the UI, so no failure wedges a login."""

from __future__ import annotations

import logging

from im_desktop.local.cache import CacheError
from im_desktop.protocol.errors import ErrorCode, ImError
from im_desktop.protocol.tls import certificate_error

__all__ = ["as_im_error"]

log = logging.getLogger(__name__)


def as_im_error(exc: BaseException) -> ImError | None:
    """The ImError to show for `exc`, or None for what must propagate as it is (a cancellation, an exit)."""
    if isinstance(exc, ImError):
        return exc
    if isinstance(exc, CacheError):
        return ImError(ErrorCode.IO_OPERATION_FAILED, str(exc))
    # TimeoutError and ConnectionError are OSErrors too, but no file is to blame (an asyncio.timeout in a ticket
    # source, a socket that httpx did not wrap): the network codes, which the UI words as such.
    # An SSL verification error is an OSError (and a ValueError) too, but no file is to blame either.
    if isinstance(exc, Exception) and (refused := certificate_error(exc, "")) is not None:
        return refused
    if isinstance(exc, TimeoutError):
        return ImError(ErrorCode.NET_TIMEOUT)
    if isinstance(exc, ConnectionError):
        return ImError(ErrorCode.NET_DISCONNECT, f"The connection failed ({type(exc).__name__}).")
    if isinstance(exc, OSError):
        reason = exc.strerror or type(exc).__name__
        return ImError(ErrorCode.IO_OPERATION_FAILED, f"This computer could not read or write a file ({reason}).")
    if isinstance(exc, Exception):
        # A bug or a reply nobody foresaw: the traceback goes to the log, the person gets a sentence.
        log.error("unexpected error, handled as a failed operation", exc_info=exc)
        what = type(exc).__name__
        return ImError(ErrorCode.UNEXPECTED, f"Something unexpected went wrong ({what}). The details are in the log.")
    return None
