"""The error envelope of PROTOCOL.md, for every 4xx and 5xx."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import orjson
from aiohttp import web

from server.logs import request_id_var

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


class ApiError(Exception):
    """Raise from any handler or helper; the error middleware renders it as the envelope."""

    def __init__(
        self,
        status: int,
        code: str | None = None,
        message: str = "",
        details: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message or code or str(status))
        self.status = status
        self.code = code or DEFAULT_CODES.get(status, "error")
        self.message = message or self.code.replace("_", " ")
        self.details = dict(details or {})
        self.headers = dict(headers or {})


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


def render(error: ApiError) -> web.Response:
    return envelope(error.status, error.code, error.message, error.details, error.headers)
