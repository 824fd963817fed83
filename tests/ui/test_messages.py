"""Error sentences for transport security: what is wrong with the certificate, and which server, in our words."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QApplication

from im_desktop.protocol.errors import ErrorCode, ImError
from im_desktop.ui.messages import describe_error

ADDRESS = "chat.example.com:8443"


def _fenced(text: str) -> str:
    return f"\u2068{text}\u2069"  # a detail is isolated, so an RTL character in it cannot reorder the sentence


@pytest.mark.parametrize(
    ("code", "words"),
    [(ErrorCode.CERT_EXPIRED, "has expired or is not valid yet"), (ErrorCode.CERT_WRONG_HOST, "for another name"),
     (ErrorCode.CERT_UNTRUSTED, "self-signed or from an issuer"), (ErrorCode.INSECURE_TRANSPORT, "unencrypted")],
)  # fmt: skip
def test_each_refusal_names_its_problem_and_the_server(qapp: QApplication, code: ErrorCode, words: str) -> None:
    error = ImError.with_detail(code, ADDRESS)
    text = describe_error(int(error.code), error.message)
    assert words in text and _fenced(ADDRESS) in text
    assert text.endswith(f"(code {int(code)})")
    assert "cannot be reached" not in text


def test_a_rarer_certificate_failure_and_a_bad_ca_file_keep_their_detail(qapp: QApplication) -> None:
    error = ImError.with_detail(ErrorCode.CERT_INVALID, f"{ADDRESS}: certificate revoked")
    assert _fenced(f"{ADDRESS}: certificate revoked") in describe_error(int(error.code), error.message)
    error = ImError.with_detail(ErrorCode.CA_FILE_UNUSABLE, "/etc/ca.pem cannot be opened (No such file)")
    assert "CA certificate file" in describe_error(int(error.code), error.message)


def test_without_a_detail_the_sentence_still_stands(qapp: QApplication) -> None:
    text = describe_error(int(ErrorCode.CERT_UNTRUSTED), "")
    assert text.startswith("The security certificate of the server is self-signed")
    # Words from elsewhere are not taken as a detail: only what ImError.with_detail made.
    assert "evil" not in describe_error(int(ErrorCode.CERT_UNTRUSTED), "evil words")
