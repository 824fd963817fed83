"""TLS for the client: the system's trust store, a profile's own CA file, and certificate errors by name."""

from __future__ import annotations

import ssl
import sys

from im_desktop.local.private_files import read_regular_file
from im_desktop.protocol.errors import ErrorCode, ImError
from im_desktop.protocol.transport import address_of

__all__ = ["MAX_CA_FILE_BYTES", "certificate_error", "client_context", "read_ca_file"]

MAX_CA_FILE_BYTES = 1024 * 1024  # a bundle of a few hundred certificates; anything bigger is not a CA file
_PEM_CERT = "-----BEGIN CERTIFICATE-----"

# OpenSSL's X509_V_ERR_* numbers, as ssl.SSLCertVerificationError.verify_code carries them.
_EXPIRED = {9, 10}  # not yet valid, expired (a wrong clock on either side looks the same)
_WRONG_HOST = {62, 63, 64}  # host name, e-mail, IP address mismatch
_UNTRUSTED = {2, 18, 19, 20, 21}  # no issuer, self-signed (alone or in the chain), issuer not known here


def read_ca_file(path: str) -> str:
    """The PEM text of a CA certificate file; ValueError with a short reason a person can act on. Read once,
    bounded, and only from a regular file (a FIFO or a device would block or never end)."""
    try:
        data = read_regular_file(path, MAX_CA_FILE_BYTES)
    except OSError as exc:
        verb = "opened" if exc.filename is not None else "read"  # os.open names the file; a failed read does not
        raise ValueError(f"cannot be {verb} ({exc.strerror or type(exc).__name__})") from None
    if len(data) > MAX_CA_FILE_BYTES:
        raise ValueError(f"is larger than {MAX_CA_FILE_BYTES // 1024} KiB")
    text = data.decode("ascii", errors="replace")
    if _PEM_CERT not in text:
        raise ValueError("is not a PEM certificate (-----BEGIN CERTIFICATE-----)")
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(cadata=text)  # no system store: cheaper
    except (ssl.SSLError, ValueError) as exc:
        raise ValueError(f"holds no certificate OpenSSL can read ({getattr(exc, 'reason', None) or exc})") from None
    return text


def client_context(ca_pem: str | None = None) -> ssl.SSLContext:
    """Verification as httpx would do it (host name and chain, TLS 1.2 at least), against the system's trust
    store rather than httpx's bundled copy, plus the profile's own CA certificates when it names a file."""
    context = ssl.create_default_context()  # the system's store; SSL_CERT_FILE and SSL_CERT_DIR are honoured
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    paths = ssl.get_default_verify_paths()
    if sys.platform != "win32" and paths.cafile is None and paths.capath is None:
        # No store this Python can find (python.org's macOS build before "Install Certificates"): the bundle
        # httpx ships rather than trusting nothing at all.
        import certifi

        context.load_verify_locations(cafile=certifi.where())
    if ca_pem is not None:
        context.load_verify_locations(cadata=ca_pem)
    return context


def _causes(exc: BaseException) -> list[BaseException]:
    """`exc` and what it wraps (httpx wraps httpcore, which wraps ssl; httpx-ws may add an ExceptionGroup)."""
    found: list[BaseException] = []
    todo = [exc]
    while todo and len(found) < 20:
        current = todo.pop()
        if any(current is seen for seen in found):
            continue
        found.append(current)
        if isinstance(current, BaseExceptionGroup):
            todo.extend(current.exceptions)
        todo.extend(e for e in (current.__cause__, current.__context__) if e is not None)
    return found


def certificate_error(exc: BaseException, url: str) -> ImError | None:
    """The ImError naming what is wrong with the server's certificate, if a verification failure is behind
    `exc`; None otherwise (a refused or reset connection stays a network error)."""
    for cause in _causes(exc):
        if isinstance(cause, ssl.SSLCertVerificationError):
            code = cause.verify_code
            kind = (ErrorCode.CERT_EXPIRED if code in _EXPIRED else ErrorCode.CERT_WRONG_HOST if code in _WRONG_HOST
                    else ErrorCode.CERT_UNTRUSTED if code in _UNTRUSTED else ErrorCode.CERT_INVALID)  # fmt: skip
            detail = address_of(url) if url else ""
            if kind is ErrorCode.CERT_INVALID:  # OpenSSL's words for the rarer failures (revoked, wrong purpose)
                why = str(cause.verify_message or cause.reason or "unknown reason")[:120]
                detail = f"{detail}: {why}" if detail else why
            return ImError.with_detail(kind, detail) if detail else ImError(kind)
    return None
