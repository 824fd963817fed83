"""HTTP plumbing: JSON bodies, typed field access, error responses and the bearer token."""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from im_desktop.protocol.errors import ErrorCode, ImError
from im_desktop.server.ratelimit import RateLimited, TokenBucket

__all__ = [
    "MAX_JSON_DEPTH",
    "ProtocolLog",
    "bearer_token",
    "check_json",
    "clean_line",
    "clean_text",
    "display_str",
    "error_middleware",
    "json_response",
    "optional_str",
    "read_json",
    "required_label",
    "required_str",
]

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
T = TypeVar("T")

# No request of this API nests deeper than 3; the bound keeps a hostile body from costing recursion.
MAX_JSON_DEPTH = 16
# One line per refused request, but a flood of them must not flood the log: 20 lines a second, bursts of 100.
_LOG_RATE, _LOG_BURST = 20.0, 100.0
# C0 and C1 controls and DEL; text keeps tab, line feed and carriage return.
_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f]")
_TEXT_CONTROLS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
# Bidi embeddings, overrides and isolates: a one-line label has no use for them, and they can reorder what
# is shown around it.
_BIDI_CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069]")


def json_response(data: Any, status: int = 200) -> web.Response:
    return web.Response(text=json.dumps(data), status=status, content_type="application/json")


def error_response(error: ImError) -> web.Response:
    response = json_response(error.to_wire(), status=error.code.http_status)
    if isinstance(error, RateLimited):
        response.headers["Retry-After"] = str(error.retry_after)
    return response


class _ThrottledLog:
    """Logs one INFO line per refused request, and counts the lines a flood would have written instead."""

    def __init__(self) -> None:
        self._bucket = TokenBucket(_LOG_RATE, _LOG_BURST, time.monotonic())
        self._dropped = 0

    def __call__(self, fmt: str, *args: object) -> None:
        if self._bucket.take(time.monotonic()) > 0:
            self._dropped += 1
            return
        dropped, self._dropped = self._dropped, 0
        log.info(fmt + "%s", *args, f" ({dropped} more not logged)" if dropped else "")


_log_refusal = _ThrottledLog()


def _refuse(request: web.Request, error: ImError) -> web.Response:
    # %r: the path is the client's text; repr keeps a control character from forging a log line.
    _log_refusal("refused %s %r from %s: %d %s", request.method, request.rel_url.raw_path, request.remote,
                 int(error.code), error.code.spec.name)  # fmt: skip
    return error_response(error)


class ProtocolLog(logging.LoggerAdapter[logging.Logger]):
    """The logger of aiohttp's request handler (`handler_args={"logger": ...}`). aiohttp logs a request that
    does not even parse as HTTP with a traceback, at ERROR: that is the client's fault, so it becomes one
    throttled line like any refusal. Everything else goes through as aiohttp logs it."""

    def __init__(self) -> None:
        super().__init__(logging.getLogger("aiohttp.server"), {})

    def exception(self, msg: object, *args: object, exc_info: Any = True, **kwargs: Any) -> None:
        if isinstance(exc_info, HttpProcessingError):
            first_line = str(exc_info.message).partition("\n")[0][:120]
            _log_refusal("refused a malformed request (%s) from %s: %d %r", type(exc_info).__name__,
                         args[0] if args else "?", exc_info.code, first_line)  # fmt: skip
            return
        super().exception(msg, *args, exc_info=exc_info, **kwargs)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every failure leaves as `{"code", "name", "message"}` with the code's HTTP status, and one log line."""
    try:
        return await handler(request)
    except ImError as exc:
        return _refuse(request, exc)
    except web.HTTPRequestEntityTooLarge:
        return _refuse(request, ImError(ErrorCode.PAYLOAD_TOO_LARGE))
    except web.HTTPNotFound:
        return _refuse(request, ImError(ErrorCode.NOT_FOUND, f"There is no endpoint {request.path}."))
    except web.HTTPMethodNotAllowed:
        return _refuse(request, ImError(ErrorCode.METHOD_NOT_ALLOWED))
    except web.HTTPException:
        raise
    except ConnectionResetError:
        # The client went away mid-request (it was closed, or its network dropped): nothing to report.
        return error_response(ImError(ErrorCode.NET_DISCONNECT, "The client disconnected."))
    except Exception:
        # The traceback goes to the server log; the client gets no internals.
        log.exception("internal error in %s %s", request.method, request.path)
        return error_response(ImError(ErrorCode.INTERNAL_ERROR))


async def read_json(request: web.Request) -> dict[str, Any]:
    """The request body as a JSON object; an empty body counts as `{}`."""
    raw = await request.read()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise ImError(ErrorCode.ACCOUNT_INVALID_PARAMETERS, "The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise ImError(ErrorCode.ACCOUNT_INVALID_PARAMETERS, "The request body must be a JSON object.")
    check_json(body)
    return body


def check_json(body: dict[str, Any], max_depth: int = MAX_JSON_DEPTH) -> None:
    """Refuse nesting deeper than `max_depth` and strings that are not Unicode text: json.loads lets lone
    surrogates through (`"\\ud800"`), and they fail later, wherever the text is encoded (SQLite, a log).
    Iterative, so that the check itself cannot run out of stack; the error names the top-level field."""
    stack: list[tuple[object, int, str]] = []
    for key, child in body.items():
        field = key if _is_text(key) and len(key) <= 64 else "a field name"
        stack += [(key, 1, field), (child, 2, field)]
    while stack:
        item, depth, field = stack.pop()
        if isinstance(item, str):
            if not _is_text(item):
                raise ImError(ErrorCode.ACCOUNT_INVALID_PARAMETERS, f"'{field}' is not valid Unicode text.")
        elif isinstance(item, dict | list):
            if depth > max_depth:
                raise ImError(ErrorCode.ACCOUNT_INVALID_PARAMETERS, f"'{field}' nests deeper than {max_depth}.")
            children = [*item, *item.values()] if isinstance(item, dict) else item
            stack.extend((child, depth + 1, field) for child in children)


def _is_text(text: str) -> bool:
    if text.isascii():
        return True
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def clean_line(text: str) -> str:
    """A one-line display string (a device name): whitespace runs become one space, control characters and
    bidi overrides go."""
    return _BIDI_CONTROLS.sub("", _CONTROLS.sub("", " ".join(text.split())))


def clean_text(text: str) -> str:
    """Display text that may span lines (message content): keeps tab, CR and LF, drops other controls."""
    return _TEXT_CONTROLS.sub("", text)


def optional_str(body: dict[str, Any], name: str, max_bytes: int = 256) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ImError(ErrorCode.ACCOUNT_INVALID_PARAMETERS, f"'{name}' must be a string.")
    if len(value.encode()) > max_bytes:
        raise ImError(ErrorCode.ACCOUNT_INVALID_PARAMETERS, f"'{name}' is longer than {max_bytes} bytes.")
    return value


def required_str(body: dict[str, Any], name: str, max_bytes: int = 256) -> str:
    value = optional_str(body, name, max_bytes)
    if not value:
        raise ImError(ErrorCode.ACCOUNT_INVALID_PARAMETERS, f"'{name}' is required.")
    return value


def required_label(body: dict[str, Any], name: str, max_bytes: int = 256) -> str:
    """An identifier that other clients get to see (a device id): refused when it has control characters."""
    value = required_str(body, name, max_bytes)
    if _CONTROLS.search(value) or _BIDI_CONTROLS.search(value):
        raise ImError(ErrorCode.ACCOUNT_INVALID_PARAMETERS, f"'{name}' may not contain control characters.")
    return value


def display_str(body: dict[str, Any], name: str, max_bytes: int = 256) -> str:
    """A one-line display string, cleaned at the door ("" when absent or nothing is left)."""
    return clean_line(optional_str(body, name, max_bytes) or "")


def optional_int(body: dict[str, Any], name: str, default: int, lo: int, hi: int) -> int:
    value = body.get(name, default)
    if value is None:
        return default
    if not isinstance(value, int) or isinstance(value, bool):
        raise ImError(ErrorCode.ACCOUNT_INVALID_PARAMETERS, f"'{name}' must be a whole number.")
    return min(max(value, lo), hi)


def bearer_token(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    # Tokens and keys are printable ASCII; other bytes arrive as surrogate escapes that no lookup can encode.
    if not (header.isascii() and header.isprintable()):
        return None
    scheme, _, token = header.partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None
