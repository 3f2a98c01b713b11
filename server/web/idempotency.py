"""Idempotency keys (PROTOCOL.md: `POST /v1/holds` takes `Idempotency-Key`): a retried request
with the same key gets the first answer. The key is the client's; the command facade scopes it
to the caller, so two callers' keys never meet."""

from __future__ import annotations

from aiohttp import web

from server.errors import validation_failed

IDEMPOTENCY_HEADER = "Idempotency-Key"
MAX_KEY_LEN = 200


def key_of(value: object, name: str) -> str | None:
    """A key from a header or a frame field; None when absent, 422 when not 1..200 characters."""
    if value is None:
        return None
    if not isinstance(value, str) or not 1 <= len(value) <= MAX_KEY_LEN:
        raise validation_failed({name: f"must be 1..{MAX_KEY_LEN} characters"})
    return value


def idempotency_key(request: web.Request) -> str | None:
    return key_of(request.headers.get(IDEMPOTENCY_HEADER), IDEMPOTENCY_HEADER)
