"""Endpoints declare who may call them; the app registers them, the authorization middleware
enforces the declaration, and the OpenAPI document is generated from the same list."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from storage.types import Role

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True, slots=True)
class RateLimit:
    """At most `limit` calls per `window_s` seconds from one client address to one endpoint.

    `fail_closed`: when the limiter's store (Redis) cannot be reached, refuse with 503 rather than
    let the call through; for endpoints where an unlimited caller is the threat (login, refresh).
    """

    limit: int
    window_s: int
    fail_closed: bool = False


# Every public endpoint is limited; an endpoint declares a tighter or looser rule where needed.
PUBLIC_RATE = RateLimit(limit=300, window_s=10)


@dataclass(frozen=True, slots=True)
class Access:
    """Who may call an endpoint, and how often.

    `public`: no token needed. Otherwise a valid token whose role is in `roles`. An empty set
    means any role of an organization; `superadmin` has no organization, so it is allowed only
    where named (`EVERYONE` names every role). Tenant scoping is not declared here: every
    repository call runs in the caller's organization context, so foreign ids are simply not
    found. `rate`: the per-client limit the middleware enforces (public endpoints always have one).
    """

    public: bool = False
    roles: frozenset[Role] = frozenset()
    rate: RateLimit | None = None

    def allows(self, role: Role) -> bool:
        if not self.roles:
            return role is not Role.SUPERADMIN
        return role in self.roles


PUBLIC = Access(public=True, rate=PUBLIC_RATE)
AUTHENTICATED = Access()
EVERYONE = Access(roles=frozenset(Role))


def public(rate: RateLimit = PUBLIC_RATE) -> Access:
    return Access(public=True, rate=rate)


def roles(*allowed: Role, rate: RateLimit | None = None) -> Access:
    return Access(roles=frozenset(allowed), rate=rate)


@dataclass(frozen=True, slots=True)
class Endpoint:
    method: str
    path: str
    handler: Handler
    access: Access
    summary: str
    tag: str
    request_schema: Mapping[str, Any] | None = None
    response_schema: Mapping[str, Any] | None = None
    status: int = 200
    # A second success status answering the same body: 200 when a create finds its result
    # already there (publishing an unchanged draft, granting an active grant again).
    existing_status: int | None = None
    query: Mapping[str, str] = field(default_factory=dict)  # name -> description
    errors: tuple[int, ...] = ()
    # The handler reads the body itself, bounded by its own limit (file uploads): the NUL check
    # that reads every other body whole under client_max_size is not applied to it.
    raw_body: bool = False
    # The success body's media type; `response_schema` describes it (a string for text or
    # bytes, the shape of one line for JSON lines).
    media_type: str = "application/json"
    # The handler honours an `Idempotency-Key` header (server/web/idempotency.py): a retry with
    # the same key answers as the first call did. Published as a header parameter.
    idempotent: bool = False
    # The success response has no body although its status is not 204 (202 Accepted, say).
    empty: bool = False
    # The request body may be left out (the handler reads `request_schema` only when one is sent).
    body_optional: bool = False


# --- response schema kit: the shapes every domain's responses share ---------------------------

Schema = dict[str, Any]
ID: Schema = {"type": "string", "format": "uuid"}
STAMP: Schema = {"type": "string", "format": "date-time"}


def nullable(schema: Mapping[str, Any]) -> Schema:
    """`schema` or JSON null (OpenAPI 3.1 spells it as a union)."""
    return {"anyOf": [dict(schema), {"type": "null"}]}


def shape(properties: Mapping[str, Any], *optional: str, **extra: Any) -> Schema:
    """A response object: every property is always present except those named `optional`.
    Unlisted properties stay allowed, so adding a field to a response is not a breaking change."""
    return {
        "type": "object",
        "required": [name for name in properties if name not in optional],
        "properties": dict(properties),
        **extra,
    }


def page(item: Mapping[str, Any], **more: Any) -> Schema:
    """A page of a list (server/web/paging.py): `data`, and `next_cursor` when more remain."""
    return shape(
        {
            "data": {"type": "array", "items": dict(item)},
            "next_cursor": nullable({"type": "string"}),
            **more,
        }
    )


def listing(item: Mapping[str, Any], key: str = "data") -> Schema:
    """An unpaged list wrapped in an object under `key`."""
    return shape({key: {"type": "array", "items": dict(item)}})


ENDPOINTS_KEY = web.AppKey("endpoints", list[Endpoint])
ROUTE_ACCESS_KEY = web.AppKey("route_access", dict[web.AbstractRoute, Endpoint])


def mount(app: web.Application, endpoints: Iterable[Endpoint]) -> None:
    registered = app.setdefault(ENDPOINTS_KEY, [])
    by_route = app.setdefault(ROUTE_ACCESS_KEY, {})
    for ep in endpoints:
        route = app.router.add_route(ep.method, ep.path, ep.handler)
        registered.append(ep)
        by_route[route] = ep


def endpoint_of(request: web.Request) -> Endpoint | None:
    route = request.match_info.route
    table = request.app.get(ROUTE_ACCESS_KEY, {})
    return table.get(route)
