"""Which connection endings stop, which get a new ticket, and which just reconnect."""

from __future__ import annotations

import pytest

from im_desktop.protocol.errors import ErrorCode, ImError
from im_desktop.protocol.events import StreamEnd
from im_desktop.protocol.models import CloseCode
from im_desktop.session.outcomes import Next, classify_error, classify_stream_end


@pytest.mark.parametrize(
    ("end", "own", "expected"),
    [
        (StreamEnd(CloseCode.KICKED, "", {"reason": "multi_device", "code": 6208}), True, Next.KICKED),
        (StreamEnd(None, "", {"reason": "admin"}), True, Next.KICKED),
        (StreamEnd(CloseCode.USER_SIG_EXPIRED, ""), True, Next.NEW_TICKET),
        (StreamEnd(CloseCode.LOGGED_OUT, ""), True, Next.LOGGED_OUT),
        (StreamEnd(CloseCode.INVALID_TOKEN, ""), True, Next.RELOGIN),
        (StreamEnd(CloseCode.INVALID_TOKEN, ""), False, Next.REJECTED),  # Koishi's bad token
        (StreamEnd(3000, "Unauthorized"), False, Next.REJECTED),  # satori-python's bad token
        (StreamEnd(1012, "restart"), True, Next.RECONNECT),
        (StreamEnd(1000, ""), False, Next.RECONNECT),
        (StreamEnd(None, "reset", dead=True), True, Next.RECONNECT),
        (StreamEnd(4003, ""), False, Next.RECONNECT),  # someone else's 4003 means nothing to us
    ],
)
def test_stream_endings(end: StreamEnd, own: bool, expected: Next) -> None:
    assert classify_stream_end(end, own_server=own).next is expected


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (ErrorCode.USERSIG_EXPIRED, Next.NEW_TICKET),
        (ErrorCode.USER_SIG_EXPIRED_CLIENT, Next.NEW_TICKET),
        (ErrorCode.ACCOUNT_INVALID_USERSIG, Next.NEW_TICKET),
        (ErrorCode.USERSIG_MISMATCH_PUBLICKEY, Next.REJECTED),
        (ErrorCode.ACCOUNT_FREQ_LIMIT, Next.REJECTED),
        (ErrorCode.NET_DISCONNECT, Next.RECONNECT),
        (ErrorCode.INTERNAL_ERROR, Next.RECONNECT),
        (ErrorCode.KICKED_OFF_BY_OTHER, Next.KICKED),
    ],
)
def test_only_the_sig_codes_lead_to_a_new_ticket(code: ErrorCode, expected: Next) -> None:
    assert classify_error(ImError(code)) is expected
