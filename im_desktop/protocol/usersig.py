"""UserSig tickets (Tencent TLSSigAPIv2): generate, decode without the key, verify with it."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
import zlib
from dataclasses import dataclass

from im_desktop.protocol.errors import ErrorCode, ImError

__all__ = ["UserSigInfo", "decode", "generate", "verify"]

# Tencent's URL-safe alphabet differs from RFC 4648's: '*' '-' '_' stand for '+' '/' '='.
_TO_TENCENT = bytes.maketrans(b"+/=", b"*-_")
_FROM_TENCENT = bytes.maketrans(b"*-_", b"+/=")
# A real ticket is about 200 characters; anything far beyond is garbage, and inflating it
# without a bound would let a forged ticket blow up memory.
_MAX_SIG_CHARS = 4096
_MAX_JSON_BYTES = 16384


@dataclass(frozen=True, slots=True)
class UserSigInfo:
    """What a UserSig says about itself; readable by anyone, since only `sig` needs the key."""

    identifier: str
    sdkappid: int
    issued_at: int
    lifetime: int
    sig: str
    userbuf: bytes | None = None

    @property
    def expires_at(self) -> int:
        """The last second at which the ticket is still valid (inclusive, as Tencent checks it)."""
        return self.issued_at + self.lifetime

    def is_expired(self, now: float) -> bool:
        return now > self.expires_at


def _content(identifier: str, sdkappid: int, issued_at: int, lifetime: int, userbuf_b64: str | None) -> str:
    text = f"TLS.identifier:{identifier}\nTLS.sdkappid:{sdkappid}\nTLS.time:{issued_at}\nTLS.expire:{lifetime}\n"
    if userbuf_b64 is not None:
        text += f"TLS.userbuf:{userbuf_b64}\n"
    return text


def _hmac_b64(key: str, content: str) -> str:
    digest = hmac.new(key.encode(), content.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def generate(
    sdkappid: int,
    key: str,
    identifier: str,
    lifetime: int = 180 * 86400,
    *,
    now: int | None = None,
    userbuf: bytes | None = None,
) -> str:
    """Make a UserSig the way Tencent's business-server libraries do."""
    issued_at = int(time.time()) if now is None else now
    userbuf_b64 = base64.b64encode(userbuf).decode() if userbuf is not None else None
    doc: dict[str, object] = {
        "TLS.ver": "2.0",
        "TLS.identifier": identifier,
        "TLS.sdkappid": sdkappid,
        "TLS.expire": lifetime,
        "TLS.time": issued_at,
    }
    if userbuf_b64 is not None:
        doc["TLS.userbuf"] = userbuf_b64
    doc["TLS.sig"] = _hmac_b64(key, _content(identifier, sdkappid, issued_at, lifetime, userbuf_b64))
    packed = zlib.compress(json.dumps(doc).encode())
    return base64.b64encode(packed).translate(_TO_TENCENT).decode()


def _check_failed(reason: str) -> ImError:
    return ImError(ErrorCode.USERSIG_CHECK_FAILED, f"The UserSig could not be read: {reason}.")


def decode(user_sig: str) -> UserSigInfo:
    """Read a UserSig's fields without the key. Raises ImError 70002/70003 for empty or broken input."""
    if not user_sig:
        raise ImError(ErrorCode.USERSIG_EMPTY, "The UserSig is empty.")
    if len(user_sig) > _MAX_SIG_CHARS:
        raise _check_failed("it is far longer than any real ticket")
    try:
        packed = base64.b64decode(user_sig.encode("ascii").translate(_FROM_TENCENT), validate=True)
        inflater = zlib.decompressobj()
        raw = inflater.decompress(packed, _MAX_JSON_BYTES)
        if inflater.unconsumed_tail or not inflater.eof:
            raise _check_failed("it is truncated or too large")
        doc = json.loads(raw)
    except (UnicodeError, binascii.Error, zlib.error, ValueError, RecursionError):  # RecursionError: nested JSON
        raise _check_failed("it is truncated or not a ticket") from None
    if not isinstance(doc, dict):
        raise _check_failed("its content is not a ticket")
    identifier, sig, userbuf_b64 = doc.get("TLS.identifier"), doc.get("TLS.sig"), doc.get("TLS.userbuf")
    sdkappid, issued_at, lifetime = doc.get("TLS.sdkappid"), doc.get("TLS.time"), doc.get("TLS.expire")
    if not (
        isinstance(identifier, str)
        and isinstance(sig, str)
        and sig.isascii()  # hmac.compare_digest refuses to compare other strings
        and (userbuf_b64 is None or isinstance(userbuf_b64, str))
        and isinstance(sdkappid, int)
        and isinstance(issued_at, int)
        and isinstance(lifetime, int)
        and not any(isinstance(v, bool) for v in (sdkappid, issued_at, lifetime))
    ):
        raise _check_failed("a field is missing or has the wrong type")
    userbuf = None
    if userbuf_b64 is not None:
        try:
            userbuf = base64.b64decode(userbuf_b64, validate=True)
        except binascii.Error:
            raise _check_failed("its user buffer is not base64") from None
    return UserSigInfo(identifier, sdkappid, issued_at, lifetime, sig, userbuf)


def verify(
    user_sig: str,
    *,
    sdkappid: int,
    key: str,
    identifier: str,
    now: float | None = None,
    userbuf: bytes | None = None,
) -> UserSigInfo:
    """Check a UserSig in the order of Tencent's reference verifier; raise ImError with its code."""
    info = decode(user_sig)
    if info.sdkappid != sdkappid:
        raise ImError(ErrorCode.USERSIG_MISMATCH_SDKAPPID, "The UserSig was made for another SDKAppID.")
    if info.identifier != identifier:
        raise ImError(ErrorCode.USERSIG_MISMATCH_ID, "The UserSig was made for another UserID.")
    if info.is_expired(time.time() if now is None else now):
        raise ImError(ErrorCode.USERSIG_EXPIRED, "The UserSig has expired; get a new one.")
    if info.userbuf != userbuf:
        raise ImError(ErrorCode.USERSIG_CHECK_FAILED, "The UserSig carries an unexpected user buffer.")
    userbuf_b64 = base64.b64encode(info.userbuf).decode() if info.userbuf is not None else None
    expected = _hmac_b64(key, _content(info.identifier, info.sdkappid, info.issued_at, info.lifetime, userbuf_b64))
    if not hmac.compare_digest(expected, info.sig):
        raise ImError(
            ErrorCode.USERSIG_MISMATCH_PUBLICKEY,
            "The UserSig was not signed with this server's key; check the key and SDKAppID.",
        )
    return info
