"""UserSig: Tencent's test vector, byte-compatibility with tls-sig-api-v2, and every way a sig can be bad."""

from __future__ import annotations

import base64
import json
import time
import zlib

import pytest
import TLSSigAPIv2

from im_desktop.protocol import usersig
from im_desktop.protocol.errors import ErrorCode, ImError

KEY = "5bd2850fff3ecb11d7c805251c51ee463a25727bddc2385f3fa8bfee1bb93b5e"
APPID = 1400000000
VECTOR = (
    "eJyrVgrxCdYrSy1SslJQMtIzUNJRAItkpqTmlWSmZUIkEnMyk1NhUsUp2YkFBZkpQAlDEwMogMqlVhRkFqUCZSzMTOCCJZm5ICFDczTFx"
    "ZnpIMPN3HOzsrxyPA2i0spSspwNCr0q3bI8svN8Cj3DUos8zYoKvPzTwyvS0g2zbZVqAQj3Msk_"
)
VECTOR_TIME = 1700000000


def _code(exc: pytest.ExceptionInfo[ImError]) -> ErrorCode:
    return exc.value.code


def test_research_vector_decodes_without_the_key() -> None:
    info = usersig.decode(VECTOR)
    assert (info.identifier, info.sdkappid, info.issued_at, info.lifetime) == ("alice", APPID, VECTOR_TIME, 86400)
    assert info.sig == "6GmjjJlI0ZfvdjC0qJyFjHknLqIVerI6rpJOgWxfg1k="
    assert info.expires_at == 1700086400


def test_research_vector_verifies_up_to_its_last_second() -> None:
    usersig.verify(VECTOR, sdkappid=APPID, key=KEY, identifier="alice", now=1700086400)
    with pytest.raises(ImError) as exc:
        usersig.verify(VECTOR, sdkappid=APPID, key=KEY, identifier="alice", now=1700086401)
    assert _code(exc) is ErrorCode.USERSIG_EXPIRED


def test_generated_sig_carries_the_vector_hmac() -> None:
    ours = usersig.generate(APPID, KEY, "alice", 86400, now=VECTOR_TIME)
    assert usersig.decode(ours).sig == usersig.decode(VECTOR).sig


def test_userbuf_vector_hmac() -> None:
    ours = usersig.generate(APPID, KEY, "alice", 86400, now=VECTOR_TIME, userbuf=b"abc")
    info = usersig.verify(ours, sdkappid=APPID, key=KEY, identifier="alice", now=VECTOR_TIME, userbuf=b"abc")
    assert info.sig == "qdRjhuPJHvIaC5PbM2v8ZXrLRR6FaRWhETxgL9NraPM="


def test_sig_from_tencents_pypi_package_decodes_and_verifies() -> None:
    before = int(time.time())
    theirs = TLSSigAPIv2.TLSSigAPIv2(APPID, KEY).gen_sig("bob_42", 3600)
    info = usersig.verify(theirs, sdkappid=APPID, key=KEY, identifier="bob_42")
    assert info.identifier == "bob_42" and info.lifetime == 3600
    assert before <= info.issued_at <= int(time.time())


def test_sig_with_userbuf_from_tencents_package_verifies() -> None:
    theirs = TLSSigAPIv2.TLSSigAPIv2(APPID, KEY).gen_sig_with_userbuf("carol", 600, b"room-7")
    info = usersig.verify(theirs, sdkappid=APPID, key=KEY, identifier="carol", userbuf=b"room-7")
    assert info.userbuf == b"room-7"


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"identifier": "mallory"}, ErrorCode.USERSIG_MISMATCH_ID),
        ({"sdkappid": APPID + 1}, ErrorCode.USERSIG_MISMATCH_SDKAPPID),
        ({"key": "0" * 64}, ErrorCode.USERSIG_MISMATCH_PUBLICKEY),
        ({"userbuf": b"x"}, ErrorCode.USERSIG_CHECK_FAILED),
    ],
)
def test_verify_rejects_mismatches(kwargs: dict[str, object], expected: ErrorCode) -> None:
    args: dict[str, object] = {"sdkappid": APPID, "key": KEY, "identifier": "alice", "now": VECTOR_TIME}
    args.update(kwargs)
    with pytest.raises(ImError) as exc:
        usersig.verify(VECTOR, **args)  # type: ignore[arg-type]
    assert _code(exc) is expected


def _pack(doc: object) -> str:
    return base64.b64encode(zlib.compress(json.dumps(doc).encode())).decode().translate(str.maketrans("+/=", "*-_"))


@pytest.mark.parametrize(
    ("sig", "expected"),
    [
        ("", ErrorCode.USERSIG_EMPTY),
        (VECTOR[:60], ErrorCode.USERSIG_CHECK_FAILED),
        (VECTOR[:-8], ErrorCode.USERSIG_CHECK_FAILED),
        ("not a ticket at all!", ErrorCode.USERSIG_CHECK_FAILED),
        ("é" * 10, ErrorCode.USERSIG_CHECK_FAILED),
        ("A" * 5000, ErrorCode.USERSIG_CHECK_FAILED),
        (_pack([1, 2, 3]), ErrorCode.USERSIG_CHECK_FAILED),
        (_pack({"TLS.identifier": "alice"}), ErrorCode.USERSIG_CHECK_FAILED),
        (
            _pack({"TLS.identifier": "a", "TLS.sdkappid": "1", "TLS.time": 1, "TLS.expire": 1, "TLS.sig": "x"}),
            ErrorCode.USERSIG_CHECK_FAILED,
        ),
        (
            _pack({"TLS.identifier": "a", "TLS.sdkappid": 1, "TLS.time": True, "TLS.expire": 1, "TLS.sig": "x"}),
            ErrorCode.USERSIG_CHECK_FAILED,
        ),
        (_pack({"pad": "x" * 100_000}), ErrorCode.USERSIG_CHECK_FAILED),
    ],
    ids=[
        "empty",
        "truncated-half",
        "truncated-tail",
        "garbage",
        "non-ascii",
        "oversized",
        "json-list",
        "missing-fields",
        "string-appid",
        "bool-time",
        "zip-bomb",
    ],
)
def test_decode_rejects_broken_sigs_with_a_clear_code(sig: str, expected: ErrorCode) -> None:
    with pytest.raises(ImError) as exc:
        usersig.decode(sig)
    assert _code(exc) is expected
    assert KEY not in str(exc.value)
