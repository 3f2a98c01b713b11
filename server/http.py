"""JSON in and out: bodies validated against the endpoint's published schema."""

from __future__ import annotations

import ipaddress
import uuid
from collections.abc import Mapping
from datetime import datetime
from functools import lru_cache
from typing import Any

import orjson
from aiohttp import web

from realtime import nul_error, nul_path
from server.errors import ApiError, validation_failed
from server.logs import request_id_var
from server.web.params import path_id as path_id
from storage.audit import AuditActor
from storage.json_check import SchemaCheck
from storage.jsonable import jsonable as jsonable
from storage.rfc3339 import format_instant
from storage.types import Principal


def client_ip(request: web.Request) -> str | None:
    try:
        return str(ipaddress.ip_address(request.remote)) if request.remote else None
    except ValueError:  # a unix socket path or a proxy's junk is not an address
        return None


def audit_actor(request: web.Request, who: Principal | None) -> AuditActor:
    """Who did it and from where, for the audit row of this request's mutation."""
    return AuditActor(
        user_id=who.user_id if who else None,
        role=who.role.value if who else None,
        request_id=request_id_var.get() or None,
        ip=client_ip(request),
    )


def iso(value: datetime | None) -> str | None:
    """RFC 3339 in UTC with `Z` (storage/rfc3339.py), or None."""
    return None if value is None else format_instant(value)


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
def _compiled(schema_json: bytes) -> SchemaCheck:
    return SchemaCheck(orjson.loads(schema_json), formats=True)


# Route schemas are module constants: found by identity, without serializing them per request.
# The entry keeps its schema alive, so its id cannot be reused by another object.
_BY_IDENTITY: dict[int, tuple[Mapping[str, Any], SchemaCheck]] = {}
_BY_IDENTITY_MAX = 512


def _validator(schema: Mapping[str, Any]) -> SchemaCheck:
    known = _BY_IDENTITY.get(id(schema))
    if known is not None and known[0] is schema:
        return known[1]
    validator = _compiled(orjson.dumps(schema, option=orjson.OPT_SORT_KEYS))
    if len(_BY_IDENTITY) < _BY_IDENTITY_MAX:
        _BY_IDENTITY[id(schema)] = (schema, validator)
    return validator


def validate(data: Any, schema: Mapping[str, Any]) -> None:
    """Raise 422 `validation_failed` with one message per offending field."""
    fields = _validator(schema).faults(data)
    if fields:
        raise validation_failed(fields)


_NUL_ESCAPE = b"\\u0000"


def reject_nul_body(raw: bytes) -> None:
    """422 for a JSON body with a NUL in any string or key. Bodies without the `\\u0000` escape
    (every ordinary one) cost one byte search; others are parsed to tell a NUL from an escaped
    backslash followed by `u0000`. A body that is not JSON is left for its handler (400)."""
    if _NUL_ESCAPE not in raw:
        return
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return
    where = nul_path(data)
    if where is not None:
        raise nul_error(where)


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
