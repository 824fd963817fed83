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


@pytest.mark.parametrize("code", ["abc", "6208", [1], {"a": 1}, 10**30, True, 1.5, -1, 0, None])
def test_a_kick_with_a_code_that_is_no_plain_int_gets_the_kick_code(code: object) -> None:
    outcome = classify_stream_end(StreamEnd(None, "", {"reason": "multi_device", "code": code}), own_server=False)
    assert (outcome.next, outcome.code) == (Next.KICKED, 6208)
    assert outcome.message == "This account was logged in elsewhere."


@pytest.mark.parametrize(
    "ended",
    [{"reason": ["multi_device"]}, {"reason": {"a": 1}}, {"reason": "elsewhere", "code": "abc"}, {"code": [1]},
     {"message": ["x"], "code": {"a": 1}}, {"reason": None, "code": 10**400}],
)  # fmt: skip
def test_an_end_account_of_the_wrong_shape_means_reconnect(ended: dict[str, object]) -> None:
    outcome = classify_stream_end(StreamEnd(1000, "closed", ended), own_server=False)
    assert (outcome.next, outcome.code, outcome.message) == (Next.RECONNECT, 9508, "closed")


def test_a_servers_message_is_kept_as_text_and_bounded() -> None:
    kicked = classify_stream_end(StreamEnd(None, "", {"reason": "admin", "code": 6208, "message": "m" * 10_000}),
                                 own_server=True)  # fmt: skip
    assert (kicked.code, kicked.message) == (6208, "m" * 500)
    not_text = classify_stream_end(
        StreamEnd(None, "", {"reason": "admin", "message": {"html": "<b>"}}), own_server=True
    )
    assert not_text.message == "This account was logged in elsewhere."


@pytest.mark.parametrize("code", [ErrorCode.CERT_EXPIRED, ErrorCode.CERT_UNTRUSTED, ErrorCode.INSECURE_TRANSPORT])
def test_a_refusal_on_this_side_stops_with_its_own_code(code: ErrorCode) -> None:
    # Before: a certificate failure was a StreamEnd(unreachable=True), reconnected for ever with backoff.
    refused = ImError.with_detail(code, "chat.example.com")
    outcome = classify_stream_end(StreamEnd(None, refused.message, fatal=refused), own_server=True)
    assert (outcome.next, outcome.code, outcome.message) == (Next.REJECTED, int(code), refused.message)
    assert classify_error(refused) is Next.REJECTED  # a failed login or relogin is not retried either
