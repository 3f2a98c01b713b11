"""Request pipeline: request id and access log, metrics, security headers and CORS, the error
envelope, and authorization — the one place that decides who may call which route."""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Protocol

from aiohttp import web

from realtime import nul_error
from server import metrics
from server.errors import DEFAULT_CODES, ApiError, envelope, render
from server.http import reject_nul_body
from server.logs import request_id_var
from server.routing import PUBLIC_RATE, Access, RateLimit, endpoint_of
from storage.errors import DomainError
from storage.outage import RETRY_AFTER_S, outage
from storage.types import Principal

log = logging.getLogger("cadence.http")
_RID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
PRINCIPAL_KEY = web.RequestKey[Principal | None]("principal")

Next = Callable[[web.Request], Awaitable[web.StreamResponse]]

SECURITY_HEADERS: Mapping[str, str] = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'; object-src 'none'",
    "Cache-Control": "no-store",
}


class Authenticator(Protocol):
    async def authenticate(self, request: web.Request) -> Principal | None:
        """The caller's principal from its credentials; None when it sent none.

        Raises ApiError(401) for credentials that are present but invalid.
        """


class RoutePolicy(Protocol):
    def check_route(self, access: Access, principal: Principal | None) -> None:
        """Raise ApiError(401/403) unless `principal` may call an endpoint declaring `access`."""


class RateLimiter(Protocol):
    async def hit(self, bucket: str, who: str, rule: RateLimit) -> None:
        """Count one call of `who` in `bucket`; raise ApiError(429) past the rule's limit."""


AUTHENTICATOR_KEY = web.AppKey("authenticator", Authenticator)
POLICY_KEY = web.AppKey("policy", RoutePolicy)
RATE_LIMITER_KEY = web.AppKey("rate_limiter", RateLimiter)
CORS_ORIGINS_KEY = web.AppKey("cors_origins", frozenset[str])


def principal(request: web.Request) -> Principal:
    """The authenticated principal of a non-public endpoint (set by the auth middleware)."""
    found: Principal | None = request.get(PRINCIPAL_KEY)
    if found is None:
        raise ApiError(401, "unauthorized", "authentication required")
    return found


def optional_principal(request: web.Request) -> Principal | None:
    return request.get(PRINCIPAL_KEY)


@web.middleware
async def observe(request: web.Request, handler: Next) -> web.StreamResponse:
    supplied = request.headers.get("X-Request-ID", "")
    rid = supplied if _RID.match(supplied) else uuid.uuid4().hex
    token = request_id_var.set(rid)
    started = time.perf_counter()
    status = 500
    route = request.match_info.route.resource
    route_name = route.canonical if route is not None else "unmatched"
    try:
        response = await handler(request)
        status = response.status
        response.headers["X-Request-ID"] = rid
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        _cors(request, response)
        return response
    finally:
        elapsed = time.perf_counter() - started
        metrics.http_observed(request.method, route_name, status, elapsed)
        if log.isEnabledFor(logging.INFO):
            # The path pattern, never the query string (it may carry access_token).
            log.info(
                "request",
                extra={
                    "method": request.method,
                    "route": route_name,
                    "status": status,
                    "ms": round(elapsed * 1000, 2),
                    "peer": request.remote,
                },
            )
        request_id_var.reset(token)


def _cors(request: web.Request, response: web.StreamResponse) -> None:
    origin = request.headers.get("Origin")
    allowed = request.app.get(CORS_ORIGINS_KEY, frozenset())
    if origin and origin in allowed and not response.prepared:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Vary"] = "Origin"
        response.headers["Access-Control-Allow-Headers"] = (
            "Authorization, Content-Type, Idempotency-Key, X-Request-ID"
        )
        response.headers["Access-Control-Allow-Methods"] = "GET, POST, PUT, PATCH, DELETE"
        response.headers["Access-Control-Max-Age"] = "600"


@web.middleware
async def errors(request: web.Request, handler: Next) -> web.StreamResponse:
    try:
        return await handler(request)
    except DomainError as exc:  # ApiError and every domain's typed failure: mapped here only
        return render(exc)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = DEFAULT_CODES.get(exc.status, "error")
        message = {404: "no such route", 405: "method not allowed for this route"}.get(
            exc.status, exc.reason
        )
        headers = {k: v for k, v in exc.headers.items() if k in ("Allow", "Retry-After")}
        return envelope(exc.status, code, message, headers=headers)
    except Exception as exc:
        away = outage(exc)
        if away is not None:  # Postgres or Redis restarting: retry, as for a restarting actor
            log.warning("service unavailable", extra={"error": type(exc).__name__})
            return envelope(503, away.code, away.message, away.details,
                            {"Retry-After": str(RETRY_AFTER_S)})  # fmt: skip
        log.exception("unhandled error")
        return envelope(500, "internal", "internal error")


@web.middleware
async def authorize(request: web.Request, handler: Next) -> web.StreamResponse:
    """Rate limit, authenticate, then let the policy decide, from the endpoint's declaration."""
    if request.method == "OPTIONS":
        return web.Response(status=204)
    endpoint = endpoint_of(request)
    if endpoint is None:  # unknown route or method: the router answers 404/405
        return await handler(request)
    access = endpoint.access
    rule = access.rate or (PUBLIC_RATE if access.public else None)
    limiter = request.app.get(RATE_LIMITER_KEY)
    if rule is not None and limiter is not None:
        await limiter.hit(f"{endpoint.method} {endpoint.path}", request.remote or "-", rule)
    try:
        found = await request.app[AUTHENTICATOR_KEY].authenticate(request)
    except ApiError as exc:
        # A public route serves anyone: a stale or broken token (a booking page left open past
        # its sign-in) is read as no token, never a 401 the visitor cannot act on.
        if not access.public or exc.status != 401:
            raise
        found = None
    request.app[POLICY_KEY].check_route(access, found)
    request[PRINCIPAL_KEY] = found
    await _refuse_nul(request, body=not endpoint.raw_body)
    return await handler(request)


async def _refuse_nul(request: web.Request, *, body: bool = True) -> None:
    """Text with NUL characters never reaches a handler: PostgreSQL cannot store it, so it would
    fail late (as a 500) wherever the value is written or compared. One check here covers every
    JSON body (handlers read the same cached bytes) and every query parameter."""
    if "\x00" in request.query_string:
        name = next((k for k, v in request.query.items() if "\x00" in k + v), "query")
        raise nul_error(name.replace("\x00", "\\u0000"))
    if body and request.body_exists and request.can_read_body:
        reject_nul_body(await request.read())
