"""JSON in and out: bodies validated against the endpoint's published schema."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

import orjson
from aiohttp import web
from jsonschema import Draft202012Validator, FormatChecker

from server.errors import ApiError


def _default(value: Any) -> Any:
    # asyncpg returns its own UUID subclass, which orjson does not serialize natively.
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def dumps(data: Any) -> bytes:
    return orjson.dumps(data, default=_default)


def json_response(data: Any, status: int = 200) -> web.Response:
    return web.Response(body=dumps(data), status=status, content_type="application/json")


@lru_cache(maxsize=512)
def _validator(schema_json: bytes) -> Draft202012Validator:
    return Draft202012Validator(orjson.loads(schema_json), format_checker=FormatChecker())


def validate(data: Any, schema: Mapping[str, Any]) -> None:
    """Raise 422 `validation_failed` with one message per offending field."""
    validator = _validator(orjson.dumps(schema, option=orjson.OPT_SORT_KEYS))
    fields: dict[str, str] = {}
    for error in validator.iter_errors(data):
        path = ".".join(str(p) for p in error.absolute_path) or "$"
        if error.validator == "required" and isinstance(error.instance, dict):
            missing = [k for k in error.validator_value if k not in error.instance]
            for name in missing:
                key = f"{path}.{name}" if path != "$" else name
                fields.setdefault(key, "is required")
            continue
        if error.validator == "additionalProperties":
            fields.setdefault(path, "has unknown fields")
            continue
        fields.setdefault(path, error.message[:200])
    if fields:
        raise ApiError(422, "validation_failed", "request failed validation", {"fields": fields})


async def read_json(request: web.Request, schema: Mapping[str, Any] | None = None) -> Any:
    """The request's JSON body; 400 when it is not JSON, 422 when it breaks `schema`."""
    raw = await request.read()
    if not raw:
        raise ApiError(400, "bad_request", "request body must be JSON")
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise ApiError(400, "bad_request", "request body is not valid JSON") from None
    if schema is not None:
        validate(data, schema)
    return data
