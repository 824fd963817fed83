"""Wire vocabulary shared by server and client: login status, platforms, UserID rule, close codes."""

from __future__ import annotations

import enum
import re

from im_desktop.protocol.errors import ErrorCode, ImError

__all__ = [
    "MAX_USER_ID_BYTES",
    "CloseCode",
    "KickReason",
    "LoginStatus",
    "Opcode",
    "Platform",
    "check_user_id",
]

MAX_USER_ID_BYTES = 32
_USER_ID_RE = re.compile(r"[A-Za-z0-9_-]{1,32}")


class LoginStatus(enum.IntEnum):
    """Satori's LoginStatus."""

    OFFLINE = 0
    ONLINE = 1
    CONNECT = 2
    DISCONNECT = 3
    RECONNECT = 4


class Opcode(enum.IntEnum):
    """Satori WebSocket opcodes."""

    EVENT = 0
    PING = 1
    PONG = 2
    IDENTIFY = 3
    READY = 4
    META = 5


class Platform(enum.StrEnum):
    """The client platforms of Tencent's multi-client policies (Linux counts as a desktop)."""

    WINDOWS = "Windows"
    MAC = "Mac"
    LINUX = "Linux"
    ANDROID = "Android"
    IPHONE = "iPhone"
    IPAD = "iPad"
    WEB = "Web"

    @property
    def group(self) -> str:
        if self in (Platform.WINDOWS, Platform.MAC, Platform.LINUX):
            return "desktop"
        if self is Platform.WEB:
            return "web"
        return "mobile"


class KickReason(enum.StrEnum):
    """Why a session was ended by somebody else, as sent in `login-removed`."""

    MULTI_DEVICE = "multi_device"  # another platform, under the multi-client policy
    MULTI_INSTANCE = "multi_instance"  # another instance on the same platform, over the limit
    ADMIN = "admin"  # the operator's kick API
    USER_SIG_EXPIRED = "user_sig_expired"  # the ticket ran out while online


class CloseCode(enum.IntEnum):
    """WebSocket close codes of this server; the reason is always in an event sent just before."""

    INVALID_MESSAGE = 4000
    KICKED = 4001
    USER_SIG_EXPIRED = 4002
    LOGGED_OUT = 4003
    INVALID_TOKEN = 4004
    IDENTIFY_TIMEOUT = 4008
    HEARTBEAT_TIMEOUT = 4009
    RATE_LIMITED = 4029  # frames faster than the server allows: reconnect after a pause


def check_user_id(user_id: object) -> str:
    """Return the UserID if it follows Tencent's rule (1-32 bytes of a-z A-Z 0-9 _ -), else raise."""
    if not isinstance(user_id, str) or not user_id:
        raise ImError(ErrorCode.ACCOUNT_INVALID_PARAMETERS, "A UserID is required.")
    if len(user_id.encode()) > MAX_USER_ID_BYTES:
        raise ImError(
            ErrorCode.ACCOUNT_INVALID_PARAMETERS,
            f"The UserID is longer than {MAX_USER_ID_BYTES} bytes.",
        )
    if not _USER_ID_RE.fullmatch(user_id):
        raise ImError(
            ErrorCode.ACCOUNT_INVALID_PARAMETERS,
            "The UserID may only contain letters a-z and A-Z, digits, '_' and '-'.",
        )
    return user_id
