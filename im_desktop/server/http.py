"""HTTP plumbing: JSON bodies, typed field access, error responses and the bearer token."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from aiohttp import web

from im_desktop.protocol.errors import ErrorCode, ImError

__all__ = ["bearer_token", "error_middleware", "json_response", "optional_str", "read_json", "required_str"]

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
T = TypeVar("T")


def json_response(data: Any, status: int = 200) -> web.Response:
    return web.Response(text=json.dumps(data), status=status, content_type="application/json")


def error_response(error: ImError) -> web.Response:
    return json_response(error.to_wire(), status=error.code.http_status)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every failure leaves as `{"code", "name", "message"}` with the code's HTTP status."""
    try:
        return await handler(request)
    except ImError as exc:
        return error_response(exc)
    except web.HTTPRequestEntityTooLarge:
        return error_response(ImError(ErrorCode.PAYLOAD_TOO_LARGE))
    except web.HTTPNotFound:
        return error_response(ImError(ErrorCode.NOT_FOUND, f"There is no endpoint {request.path}."))
    except web.HTTPMethodNotAllowed:
        return error_response(ImError(ErrorCode.METHOD_NOT_ALLOWED))
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
    except (UnicodeDecodeError, ValueError):
        raise ImError(ErrorCode.ACCOUNT_INVALID_PARAMETERS, "The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise ImError(ErrorCode.ACCOUNT_INVALID_PARAMETERS, "The request body must be a JSON object.")
    return body


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


def optional_int(body: dict[str, Any], name: str, default: int, lo: int, hi: int) -> int:
    value = body.get(name, default)
    if value is None:
        return default
    if not isinstance(value, int) or isinstance(value, bool):
        raise ImError(ErrorCode.ACCOUNT_INVALID_PARAMETERS, f"'{name}' must be a whole number.")
    return min(max(value, lo), hi)


def bearer_token(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None
