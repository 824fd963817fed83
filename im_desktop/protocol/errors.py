"""Error codes shared by the server and the client, with Tencent's numbers, names and retry classes."""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = ["LOCAL_CODES", "ErrorClass", "ErrorCode", "ImError", "detail_of"]


class ErrorClass(enum.Enum):
    """What a client should do about an error (the classes of Tencent's error table)."""

    SIG = "sig"  # get a new UserSig, then log in once more
    STOP = "stop"  # do not retry; the input or configuration is wrong
    TRANSIENT = "transient"  # back off and retry by itself
    USER = "user"  # the user decides (kicked offline, logged out)


@dataclass(frozen=True, slots=True)
class _Spec:
    name: str
    http_status: int
    error_class: ErrorClass
    message: str


class ErrorCode(enum.IntEnum):
    """Numeric codes on the wire. Tencent's where Tencent has one; 9xxxx are im-desktop's own."""

    NOT_LOGGED_IN = 6014
    INVALID_PARAMETERS = 6017
    IO_OPERATION_FAILED = 6022
    INVALID_REPLY = 6023
    USER_SIG_EXPIRED_CLIENT = 6206
    KICKED_OFF_BY_OTHER = 6208
    INVALID_IDENTIFIER = 7003
    LOGIN_IN_PROCESS = 7501
    LOGOUT_IN_PROCESS = 7502
    NET_DISCONNECT = 9508
    NET_TIMEOUT = 9520
    USERSIG_EXPIRED = 70001
    USERSIG_EMPTY = 70002
    USERSIG_CHECK_FAILED = 70003
    USERSIG_MISMATCH_PUBLICKEY = 70009
    USERSIG_MISMATCH_ID = 70013
    USERSIG_MISMATCH_SDKAPPID = 70014
    ACCOUNT_FREQ_LIMIT = 70050
    ACCOUNT_INVALID_USERSIG = 70052
    ACCOUNT_NOT_FOUND = 70107
    ACCOUNT_INVALID_PARAMETERS = 70402
    ADMIN_REQUIRED = 70403
    INTERNAL_ERROR = 70500
    AUTH_REJECTED = 90401
    NOT_FOUND = 90404
    METHOD_NOT_ALLOWED = 90405
    PAYLOAD_TOO_LARGE = 90413
    FEATURE_DISABLED = 90503
    UNEXPECTED = 90500
    FORBIDDEN_ORIGIN = 90403
    UNSUPPORTED_MEDIA_TYPE = 90415
    REQUEST_FREQ_LIMIT = 90429
    SERVER_BUSY = 90502
    SERVICE_UNAVAILABLE = 90504
    # The client's own, never on the wire: what this computer refused about the connection itself.
    CERT_EXPIRED = 90601
    CERT_WRONG_HOST = 90602
    CERT_UNTRUSTED = 90603
    CERT_INVALID = 90604
    INSECURE_TRANSPORT = 90605
    CA_FILE_UNUSABLE = 90606

    @property
    def spec(self) -> _Spec:
        return _SPECS[self]

    @property
    def http_status(self) -> int:
        return _SPECS[self].http_status

    @property
    def error_class(self) -> ErrorClass:
        return _SPECS[self].error_class

    @property
    def default_message(self) -> str:
        return _SPECS[self].message


_S, _T, _U, _G = ErrorClass.STOP, ErrorClass.TRANSIENT, ErrorClass.USER, ErrorClass.SIG
_SPECS: dict[ErrorCode, _Spec] = {
    ErrorCode.NOT_LOGGED_IN: _Spec("ERR_SDK_NOT_LOGGED_IN", 401, _U, "You are not logged in."),
    ErrorCode.INVALID_PARAMETERS: _Spec("ERR_INVALID_PARAMETERS", 400, _S, "A parameter is invalid."),
    ErrorCode.IO_OPERATION_FAILED: _Spec(
        "ERR_IO_OPERATION_FAILED", 500, _S, "This computer could not read or write the app's files."
    ),
    ErrorCode.INVALID_REPLY: _Spec("ERR_INVALID_JSON", 502, _S, "The server's reply could not be understood."),
    ErrorCode.USER_SIG_EXPIRED_CLIENT: _Spec("ERR_USER_SIG_EXPIRED", 401, _G, "Your login ticket has expired."),
    ErrorCode.KICKED_OFF_BY_OTHER: _Spec(
        "ERR_LOGIN_KICKED_OFF_BY_OTHER", 401, _U, "This account was logged in elsewhere."
    ),
    ErrorCode.INVALID_IDENTIFIER: _Spec(
        "ERR_SDK_COMM_INVALID_IDENTIFIER", 400, _S, "The UserID may be at most 32 bytes of a-z A-Z 0-9 _ -."
    ),
    ErrorCode.LOGIN_IN_PROCESS: _Spec("ERR_SDK_ACCOUNT_LOGIN_IN_PROCESS", 409, _T, "A login is already running."),
    ErrorCode.LOGOUT_IN_PROCESS: _Spec("ERR_SDK_ACCOUNT_LOGOUT_IN_PROCESS", 409, _T, "A logout is already running."),
    ErrorCode.NET_DISCONNECT: _Spec("ERR_SDK_NET_DISCONNECT", 503, _T, "The server cannot be reached."),
    ErrorCode.NET_TIMEOUT: _Spec("ERR_SDK_NET_WAIT_ACK_TIMEOUT", 504, _T, "The server did not answer in time."),
    ErrorCode.USERSIG_EXPIRED: _Spec(
        "ERR_SVR_ACCOUNT_USERSIG_EXPIRED", 401, _G, "The UserSig has expired; get a new one."
    ),
    ErrorCode.USERSIG_EMPTY: _Spec("ERR_SVR_ACCOUNT_USERSIG_EMPTY", 400, _S, "The UserSig is empty."),
    ErrorCode.USERSIG_CHECK_FAILED: _Spec(
        "ERR_SVR_ACCOUNT_USERSIG_CHECK_FAILED", 401, _S, "The UserSig could not be verified; is it truncated?"
    ),
    ErrorCode.USERSIG_MISMATCH_PUBLICKEY: _Spec(
        "ERR_SVR_ACCOUNT_USERSIG_MISMATCH_PUBLICKEY", 401, _S, "The UserSig was not signed with this server's key."
    ),
    ErrorCode.USERSIG_MISMATCH_ID: _Spec(
        "ERR_SVR_ACCOUNT_USERSIG_MISMATCH_ID", 401, _S, "The UserSig was made for another UserID."
    ),
    ErrorCode.USERSIG_MISMATCH_SDKAPPID: _Spec(
        "ERR_SVR_ACCOUNT_USERSIG_MISMATCH_SDKAPPID", 401, _S, "The UserSig was made for another SDKAppID."
    ),
    ErrorCode.ACCOUNT_FREQ_LIMIT: _Spec(
        "ERR_SVR_ACCOUNT_FREQ_LIMIT",
        429,
        _S,
        "Login is locked after too many failures; check the UserSig and try again in a minute.",
    ),
    ErrorCode.ACCOUNT_INVALID_USERSIG: _Spec(
        "ERR_SVR_ACCOUNT_INVALID_USERSIG", 401, _G, "The UserSig was invalidated; get a new one."
    ),
    ErrorCode.ACCOUNT_NOT_FOUND: _Spec("ERR_SVR_ACCOUNT_NOT_FOUND", 404, _S, "No such account."),
    ErrorCode.ACCOUNT_INVALID_PARAMETERS: _Spec(
        "ERR_SVR_ACCOUNT_INVALID_PARAMETERS", 400, _S, "The request is malformed."
    ),
    ErrorCode.ADMIN_REQUIRED: _Spec("ERR_SVR_ACCOUNT_ADMIN_REQUIRED", 403, _S, "This needs the operator key."),
    ErrorCode.INTERNAL_ERROR: _Spec("ERR_SVR_ACCOUNT_INTERNAL_ERROR", 500, _T, "The server had an internal error."),
    ErrorCode.AUTH_REJECTED: _Spec("IM_AUTH_REJECTED", 401, _S, "The server refused the credentials."),
    ErrorCode.NOT_FOUND: _Spec("IM_NOT_FOUND", 404, _S, "Not found."),
    ErrorCode.METHOD_NOT_ALLOWED: _Spec("IM_METHOD_NOT_ALLOWED", 405, _S, "Use POST."),
    ErrorCode.PAYLOAD_TOO_LARGE: _Spec("IM_PAYLOAD_TOO_LARGE", 413, _S, "The request is too large."),
    ErrorCode.FORBIDDEN_ORIGIN: _Spec(
        "IM_FORBIDDEN_ORIGIN", 403, _S, "Requests from web pages or unknown host names are not accepted."
    ),
    ErrorCode.UNSUPPORTED_MEDIA_TYPE: _Spec(
        "IM_UNSUPPORTED_MEDIA_TYPE", 415, _S, "Send the request body as Content-Type: application/json."
    ),
    ErrorCode.REQUEST_FREQ_LIMIT: _Spec("IM_REQUEST_FREQ_LIMIT", 429, _T, "Too many requests; slow down and retry."),
    ErrorCode.SERVER_BUSY: _Spec("IM_SERVER_BUSY", 503, _T, "The server has too many connections; retrying."),
    # A node that cannot reach its database or message broker: it keeps live sockets but takes no new logins.
    ErrorCode.SERVICE_UNAVAILABLE: _Spec(
        "IM_SERVICE_UNAVAILABLE", 503, _T, "The service is temporarily unavailable; try again in a moment."
    ),
    ErrorCode.UNEXPECTED: _Spec("IM_UNEXPECTED_ERROR", 500, _S, "Something unexpected went wrong on this computer."),
    ErrorCode.FEATURE_DISABLED: _Spec("IM_FEATURE_DISABLED", 404, _S, "This endpoint is off on this server."),
    # A certificate problem does not go away by retrying: only a person (or the server's operator) can fix it.
    ErrorCode.CERT_EXPIRED: _Spec(
        "IM_CERT_EXPIRED", 495, _S, "The server's certificate has expired or is not valid yet."
    ),
    ErrorCode.CERT_WRONG_HOST: _Spec(
        "IM_CERT_WRONG_HOST", 495, _S, "The server's certificate was made for another host name."
    ),
    ErrorCode.CERT_UNTRUSTED: _Spec(
        "IM_CERT_UNTRUSTED", 495, _S, "The server's certificate is self-signed or from an unknown issuer."
    ),
    ErrorCode.CERT_INVALID: _Spec("IM_CERT_INVALID", 495, _S, "The server's certificate was refused."),
    ErrorCode.INSECURE_TRANSPORT: _Spec(
        "IM_INSECURE_TRANSPORT", 400, _S, "An unencrypted connection to another computer was refused."
    ),
    ErrorCode.CA_FILE_UNUSABLE: _Spec("IM_CA_FILE_UNUSABLE", 400, _S, "The CA certificate file cannot be used."),
}

# Codes only this client raises: a server that sends one is not believed (its reply counts as an unknown code).
LOCAL_CODES = frozenset({ErrorCode.CERT_EXPIRED, ErrorCode.CERT_WRONG_HOST, ErrorCode.CERT_UNTRUSTED,
                         ErrorCode.CERT_INVALID, ErrorCode.INSECURE_TRANSPORT, ErrorCode.CA_FILE_UNUSABLE})  # fmt: skip


class ImError(Exception):
    """An error with a wire code. The message is for people and never contains a secret."""

    def __init__(self, code: ErrorCode, message: str | None = None) -> None:
        self.code = code
        self.message = message or code.default_message
        super().__init__(f"{self.message} ({code.value} {code.spec.name})")

    @classmethod
    def with_detail(cls, code: ErrorCode, detail: str) -> ImError:
        """The code's own sentence plus what it is about (a server's address, a file), so the UI can put the
        detail into its translated sentence: see `detail_of`."""
        return cls(code, f"{code.default_message.removesuffix('.')} ({detail}).")

    def to_wire(self) -> dict[str, object]:
        return {"code": int(self.code), "name": self.code.spec.name, "message": self.message}


def detail_of(code: int, message: str) -> str:
    """The detail of an error made by `ImError.with_detail`, or "" for any other message."""
    try:
        prefix = ErrorCode(code).default_message.removesuffix(".") + " ("
    except ValueError:
        return ""
    return message[len(prefix) : -2] if message.startswith(prefix) and message.endswith(").") else ""
