"""The REST edge of the error vocabulary (storage/errors.py): the envelope of PROTOCOL.md for
every 4xx and 5xx, and the status each kind of `DomainError` answers with."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import orjson
from aiohttp import web

from server.logs import request_id_var
from storage.errors import Conflict, DomainError, Forbidden, Invalid, NotFound, Unavailable

DEFAULT_CODES: Mapping[int, str] = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    410: "gone",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_failed",
    429: "rate_limited",
    500: "internal",
    503: "unavailable",
}
_STATUS_OF_CODE = {code: status for status, code in DEFAULT_CODES.items()}
# Checked in order: a domain's own kind (e.g. SlotUnavailable, a Conflict) answers as its kind.
_STATUS_OF_KIND: tuple[tuple[type[DomainError], int], ...] = (
    (NotFound, 404),
    (Invalid, 422),
    (Forbidden, 403),
    (Conflict, 409),
    (Unavailable, 503),
)


class ApiError(DomainError):
    """A failure the HTTP layer itself decides, with its status (and headers, e.g. Retry-After).
    Raise from any handler or helper; it is a `DomainError`, so a WebSocket op raising it answers
    an `error` frame with the same code, message and details."""

    def __init__(
        self,
        status: int,
        code: str | None = None,
        message: str = "",
        details: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        code = code or DEFAULT_CODES.get(status, "error")
        super().__init__(code, message or code.replace("_", " "), details)
        self.status = status
        self.headers = dict(headers or {})


def status_of(error: DomainError) -> int:
    """The HTTP status of a domain failure: by kind, else by its code, else 400."""
    if isinstance(error, ApiError):
        return error.status
    for kind, status in _STATUS_OF_KIND:
        if isinstance(error, kind):
            return status
    return _STATUS_OF_CODE.get(error.code, 400)


def not_found(what: str = "resource") -> ApiError:
    return ApiError(404, "not_found", f"{what} not found")


def rate_limited(message: str, retry_after_ms: float) -> ApiError:
    """429 `rate_limited` with `Retry-After` (whole seconds, at least 1) and the same wait in
    the details, in seconds and milliseconds, for REST and WebSocket clients alike."""
    seconds = max(1, math.ceil(retry_after_ms / 1000))
    return ApiError(
        429,
        "rate_limited",
        message,
        {"retry_after_s": seconds, "retry_after_ms": seconds * 1000},
        headers={"Retry-After": str(seconds)},
    )


def validation_failed(fields: Mapping[str, str]) -> ApiError:
    return ApiError(422, "validation_failed", "request failed validation", {"fields": fields})


def envelope(
    status: int,
    code: str,
    message: str,
    details: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> web.Response:
    body = {
        "error": {
            "code": code,
            "message": message,
            "details": dict(details or {}),
            "request_id": request_id_var.get() or None,
        }
    }
    return web.Response(
        status=status,
        body=orjson.dumps(body),
        content_type="application/json",
        headers=headers,
    )


def render(error: DomainError) -> web.Response:
    headers = error.headers if isinstance(error, ApiError) else None
    return envelope(status_of(error), error.code, error.message, error.details, headers)
