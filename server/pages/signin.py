"""Sign-in for the browser pages: the access token lives in the page's memory only, the refresh
token in a cookie that scripts cannot read.

The cookie is `HttpOnly; Secure; SameSite=Strict; Path=/pages/auth`: sent only to these three
endpoints, never with a cross-site request, never over plain HTTP except to localhost (which
browsers count as a secure context). Cookies are sent by the browser on its own, so refresh and
sign-out also need two proofs that a page of this server sent them: the `Origin` header (which
browsers set on every POST and scripts cannot forge) must name this host, and the body must
repeat the `cadence_csrf` cookie (double submit: a random value, readable by the pages'
scripts, that another site can neither read nor set). The JSON endpoints of /v1/auth keep taking
the refresh token in the body for other clients.
"""

from __future__ import annotations

import secrets
import uuid
from typing import Any

from aiohttp import web
from yarl import URL

from server.errors import ApiError
from server.http import audit_actor, json_response, read_json
from server.identity import IDENTITY_KEY
from server.identity import schemas as identity_schemas
from server.resources import SETTINGS_KEY

__all__ = [
    "COOKIE", "COOKIE_PATH", "CSRF_BODY", "CSRF_COOKIE", "SESSION_RESPONSE", "login", "logout",
    "refresh",
]  # fmt: skip

COOKIE = "cadence_refresh"
COOKIE_PATH = "/pages/auth"
CSRF_COOKIE = "cadence_csrf"
CSRF_BODY: dict[str, Any] = {
    "type": "object",
    "required": ["csrf"],
    "additionalProperties": False,
    "properties": {
        "csrf": {
            "type": "string",
            "minLength": 16,
            "maxLength": 128,
            "description": "the value of the cadence_csrf cookie (double submit)",
        }
    },
}

SESSION_RESPONSE: dict[str, Any] = {
    "type": "object",
    "required": ["access_token", "token_type", "expires_in"],
    "properties": {
        "access_token": {"type": "string", "description": "keep in memory only"},
        "token_type": {"const": "Bearer"},
        "expires_in": {"type": "integer", "description": "seconds"},
        "refresh_expires_at": {"type": "string", "format": "date-time"},
        "user_id": {"type": "string", "format": "uuid"},
        "organization_id": {"type": ["string", "null"], "format": "uuid"},
        "role": {"type": "string"},
    },
}


def same_origin(request: web.Request) -> None:
    """Refuse a request whose `Origin` is missing or another site's (CSRF)."""
    origin = request.headers.get("Origin")
    try:
        ok = origin is not None and URL(origin).authority == request.host
    except ValueError:
        ok = False
    if not ok:
        raise ApiError(403, "forbidden", "this endpoint answers pages of this server only")


def _answer(request: web.Request, pair: dict[str, Any]) -> web.Response:
    refresh_token = pair.pop("refresh_token")
    response = json_response(pair)
    max_age = request.app[SETTINGS_KEY].refresh_token_ttl_s
    response.set_cookie(
        COOKIE,
        refresh_token,
        max_age=max_age,
        path=COOKIE_PATH,
        secure=True,
        httponly=True,
        samesite="Strict",
    )
    # Readable by the pages' scripts (it guards, it does not authenticate); kept for a session.
    response.set_cookie(
        CSRF_COOKIE, secrets.token_urlsafe(24), path="/", secure=True, samesite="Strict"
    )
    return response


def _csrf(request: web.Request, body: dict[str, Any]) -> None:
    cookie = request.cookies.get(CSRF_COOKIE, "")
    if not cookie or not secrets.compare_digest(cookie, body["csrf"]):
        raise ApiError(403, "forbidden", "the csrf value does not match its cookie")


def _cookie(request: web.Request) -> str:
    value = request.cookies.get(COOKIE)
    if not value:
        raise ApiError(401, "unauthorized", "not signed in")
    return value


async def login(request: web.Request) -> web.Response:
    body = await read_json(request, identity_schemas.LOGIN)
    same_origin(request)
    org = body.get("organization_id")
    pair = await request.app[IDENTITY_KEY].sessions.login(
        body["email"], body["password"], None if org is None else uuid.UUID(org),
        audit_actor(request, None),
    )  # fmt: skip
    return _answer(request, pair)


async def refresh(request: web.Request) -> web.Response:
    body = await read_json(request, CSRF_BODY)
    same_origin(request)
    _csrf(request, body)
    pair = await request.app[IDENTITY_KEY].sessions.refresh(
        _cookie(request), audit_actor(request, None)
    )
    return _answer(request, pair)


async def logout(request: web.Request) -> web.Response:
    body = await read_json(request, CSRF_BODY)
    same_origin(request)
    _csrf(request, body)
    value = request.cookies.get(COOKIE)
    if value:
        await request.app[IDENTITY_KEY].sessions.logout(value, audit_actor(request, None))
    response = web.Response(status=204)
    response.del_cookie(COOKIE, path=COOKIE_PATH, secure=True, httponly=True, samesite="Strict")
    response.del_cookie(CSRF_COOKIE, path="/", secure=True, samesite="Strict")
    return response
