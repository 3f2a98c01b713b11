"""REST endpoints of identity, tenancy and audit. Who may call each one is declared here and
decided by the policy (server/identity/policy.py); handlers hold no authorization checks."""

from __future__ import annotations

import uuid
import zoneinfo
from functools import cache
from typing import Any

from aiohttp import web

from server.errors import ApiError, not_found, validation_failed
from server.http import audit_actor, iso, json_response, path_id, read_json
from server.identity import members, organizations, schemas
from server.identity._services import IDENTITY_KEY, Identity
from server.identity._web import page_of, page_response, query_instant, query_uuid
from server.identity.external import ExternalSubjects
from server.middleware import principal
from server.routing import EVERYONE, Endpoint, RateLimit, public, roles
from storage import identity
from storage.types import Role

# Per client address; the login also limits each account identifier (see sessions.py).
LOGIN_RATE = RateLimit(limit=20, window_s=60, fail_closed=True)
REFRESH_RATE = RateLimit(limit=60, window_s=60, fail_closed=True)
LOGOUT_RATE = RateLimit(limit=60, window_s=60)
PASSWORD_RATE = RateLimit(limit=10, window_s=60, fail_closed=True)
# Per client address; asking for a reset also limits each account identifier (accounts.py).
RESET_RATE = RateLimit(limit=10, window_s=600, fail_closed=True)

ADMIN = roles(Role.ADMIN)
SUPERADMIN = roles(Role.SUPERADMIN)
PAGING = {"limit": "page size, 1..200 (default 50)", "cursor": "next_cursor of the previous page"}


def _identity(request: web.Request) -> Identity:
    return request.app[IDENTITY_KEY]


def _own_org(request: web.Request) -> uuid.UUID:
    org_id = principal(request).org_id
    assert org_id is not None, "every member role carries an organization"
    return org_id


@cache
def _zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def _check_timezone(body: dict[str, Any]) -> None:
    if "timezone" in body and body["timezone"] not in _zones():
        raise validation_failed({"timezone": "is not an IANA time zone"})


# --- sessions ----------------------------------------------------------------------------------


async def login(request: web.Request) -> web.Response:
    body = await read_json(request, schemas.LOGIN)
    org_id = uuid.UUID(body["organization_id"]) if body.get("organization_id") else None
    pair = await _identity(request).sessions.login(
        body["email"], body["password"], org_id, audit_actor(request, None)
    )
    return json_response(pair)


async def refresh(request: web.Request) -> web.Response:
    body = await read_json(request, schemas.REFRESH)
    pair = await _identity(request).sessions.refresh(
        body["refresh_token"], audit_actor(request, None)
    )
    return json_response(pair)


async def logout(request: web.Request) -> web.Response:
    body = await read_json(request, schemas.REFRESH)
    await _identity(request).sessions.logout(body["refresh_token"], audit_actor(request, None))
    return web.Response(status=204)


async def change_password(request: web.Request) -> web.Response:
    body = await read_json(request, schemas.PASSWORD_CHANGE)
    who = principal(request)
    await _identity(request).accounts.change_password(
        who, body["current_password"], body["new_password"], audit_actor(request, who)
    )
    return web.Response(status=204)


async def request_password_reset(request: web.Request) -> web.Response:
    body = await read_json(request, schemas.PASSWORD_RESET_REQUEST)
    await _identity(request).accounts.start_reset(body["email"])
    return web.Response(status=202)


async def confirm_password_reset(request: web.Request) -> web.Response:
    body = await read_json(request, schemas.PASSWORD_RESET_CONFIRM)
    await _identity(request).accounts.finish_reset(
        body["token"], body["new_password"], audit_actor(request, None)
    )
    return web.Response(status=204)


async def me(request: web.Request) -> web.Response:
    return json_response(await _identity(request).members.profile(principal(request)))


# --- organizations ---------------------------------------------------------------------------


async def create_organization(request: web.Request) -> web.Response:
    body = await read_json(request, schemas.ORGANIZATION_CREATE)
    _check_timezone(body)
    actor = audit_actor(request, principal(request))
    org = await _identity(request).organizations.create(actor, body)
    return json_response(organizations.render(org), status=201)


async def list_organizations(request: web.Request) -> web.Response:
    page = page_of(request)
    rows = await _identity(request).organizations.list(page)
    return json_response(
        page_response(rows, page, organizations.render, lambda r: (r["created_at"], r["id"]))
    )


async def get_organization(request: web.Request) -> web.Response:
    org_id = path_id(request, what="organization")
    org = await _identity(request).organizations.get(principal(request), org_id)
    return json_response(organizations.render(org))


async def update_organization(request: web.Request) -> web.Response:
    org_id = path_id(request, what="organization")
    body = await read_json(request, schemas.ORGANIZATION_UPDATE)
    _check_timezone(body)
    who = principal(request)
    org = await _identity(request).organizations.update(
        who, audit_actor(request, who), org_id, body
    )
    return json_response(organizations.render(org))


async def add_organization_user(request: web.Request) -> web.Response:
    """Superadmin: the first admin of a new organization (and any member after)."""
    org_id = path_id(request, what="organization")
    body = await read_json(request, schemas.USER_CREATE)
    identity = _identity(request)
    if not await identity.organizations.exists(org_id):
        raise not_found("organization")
    member = await identity.members.add(org_id, audit_actor(request, principal(request)), body)
    return json_response(members.render(member), status=201)


# --- users of the caller's organization --------------------------------------------------------


async def list_users(request: web.Request) -> web.Response:
    page = page_of(request)
    rows = await _identity(request).members.list(_own_org(request), page)
    return json_response(
        page_response(rows, page, members.render, lambda r: (r["created_at"], r["id"]))
    )


async def get_user(request: web.Request) -> web.Response:
    user_id = path_id(request, what="user")
    member = await _identity(request).members.get(_own_org(request), user_id)
    return json_response(members.render(member))


async def create_user(request: web.Request) -> web.Response:
    body = await read_json(request, schemas.USER_CREATE)
    actor = audit_actor(request, principal(request))
    member = await _identity(request).members.add(_own_org(request), actor, body)
    return json_response(members.render(member), status=201)


async def update_user(request: web.Request) -> web.Response:
    user_id = path_id(request, what="user")
    body = await read_json(request, schemas.USER_UPDATE)
    actor = audit_actor(request, principal(request))
    member = await _identity(request).members.update(_own_org(request), actor, user_id, body)
    return json_response(members.render(member))


async def _set_enabled(request: web.Request, enabled: bool) -> web.Response:
    user_id = path_id(request, what="user")
    actor = audit_actor(request, principal(request))
    member = await _identity(request).members.set_enabled(
        _own_org(request), actor, user_id, enabled
    )
    return json_response(members.render(member))


async def remove_user(request: web.Request) -> web.Response:
    user_id = path_id(request, what="user")
    actor = audit_actor(request, principal(request))
    await _identity(request).members.remove(_own_org(request), actor, user_id)
    return web.Response(status=204)


async def disable_user(request: web.Request) -> web.Response:
    return await _set_enabled(request, False)


async def enable_user(request: web.Request) -> web.Response:
    return await _set_enabled(request, True)


# --- identity-provider links (platform) ------------------------------------------------------


def _subjects(request: web.Request) -> ExternalSubjects:
    subjects = _identity(request).subjects
    if subjects is None:
        raise ApiError(409, "conflict", "no identity provider is configured (CADENCE_JWKS_URL)")
    return subjects


async def link_external_identity(request: web.Request) -> web.Response:
    user_id = path_id(request, what="account")
    body = await read_json(request, schemas.EXTERNAL_LINK)
    actor = audit_actor(request, principal(request))
    row = await _subjects(request).link(actor, user_id, body["subject"])
    return json_response(
        {
            "user_id": str(row["user_id"]),
            "issuer": row["issuer"],
            "subject": row["subject"],
            "created_at": iso(row["created_at"]),
        }
    )


async def unlink_external_identity(request: web.Request) -> web.Response:
    user_id = path_id(request, what="account")
    subjects = _identity(request).subjects
    if subjects is None:  # without a provider there is no link to remove
        raise not_found("link")
    await subjects.unlink(audit_actor(request, principal(request)), user_id)
    return web.Response(status=204)


# --- audit log ---------------------------------------------------------------------------------

AUDIT_QUERY = {
    "entity": "entity kind, e.g. user, organization, session",
    "entity_id": "id of the entity",
    "action": "e.g. user.disable",
    "actor": "user id of whoever acted",
    "from": "RFC 3339 instant, inclusive",
    "to": "RFC 3339 instant, exclusive",
    "organization_id": "superadmin only: one organization (default: all)",
    **PAGING,
}


def _render_audit(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": str(row["id"]),
        "organization_id": str(row["organization_id"]) if row["organization_id"] else None,
        "actor": {
            "user_id": str(row["actor_user_id"]) if row["actor_user_id"] else None,
            "role": row["actor_role"],
        },
        "action": row["action"],
        "entity": row["entity"],
        "entity_id": row["entity_id"],
        "diff": row["diff"],
        "request_id": row["request_id"],
        "ip": row["ip"],
        "created_at": iso(row["created_at"]),
    }


async def list_audit(request: web.Request) -> web.Response:
    """Admins read their organization's log (row-level security scopes it); superadmin reads
    across organizations on the platform path."""
    who = principal(request)
    where = identity.AuditFilter(
        entity=request.query.get("entity") or None,
        entity_id=request.query.get("entity_id") or None,
        action=request.query.get("action") or None,
        actor=query_uuid(request, "actor"),
        since=query_instant(request, "from"),
        until=query_instant(request, "to"),
        organization_id=query_uuid(request, "organization_id"),
    )
    page = page_of(request)
    db = _identity(request).backends.db()
    async with db.platform() if who.role is Role.SUPERADMIN else db.tenant(_own_org(request)):
        rows = await identity.list_audit(where, page.limit + 1, page.after)
    return json_response(
        page_response(rows, page, _render_audit, lambda r: (r["created_at"], r["id"]))
    )


ENDPOINTS: list[Endpoint] = [
    Endpoint(
        "POST", "/v1/auth/login", login, public(LOGIN_RATE),
        "Sign in with e-mail and password: access and refresh tokens", "auth",
        request_schema=schemas.LOGIN, response_schema=schemas.TOKENS, errors=(401, 429, 503),
    ),
    Endpoint(
        "POST", "/v1/auth/refresh", refresh, public(REFRESH_RATE),
        "Rotate a refresh token; reusing a rotated one revokes its whole family", "auth",
        request_schema=schemas.REFRESH, response_schema=schemas.TOKENS, errors=(401, 429, 503),
    ),
    Endpoint(
        "POST", "/v1/auth/logout", logout, public(LOGOUT_RATE),
        "Sign out: revoke the sign-in (its refresh and access tokens; its WebSockets close "
        "with 4003). Always 204", "auth",
        request_schema=schemas.REFRESH, status=204, errors=(429,),
    ),
    Endpoint(
        "POST", "/v1/auth/password", change_password, roles(*Role, rate=PASSWORD_RATE),
        "Change your password (the current one required); your other sign-ins end", "auth",
        request_schema=schemas.PASSWORD_CHANGE, status=204, errors=(403, 409, 422, 429),
    ),
    Endpoint(
        "POST", "/v1/auth/password-reset", request_password_reset, public(RESET_RATE),
        "Mail a single-use reset code (valid 30 min) if the e-mail has an account; the answer "
        "is the same either way", "auth",
        request_schema=schemas.PASSWORD_RESET_REQUEST, status=202, empty=True, errors=(429, 503),
    ),
    Endpoint(
        "POST", "/v1/auth/password-reset/confirm", confirm_password_reset, public(RESET_RATE),
        "Set a new password with the mailed code; every sign-in of the account ends", "auth",
        request_schema=schemas.PASSWORD_RESET_CONFIRM, status=204, errors=(400, 429, 503),
    ),
    Endpoint(
        "GET", "/v1/me", me, EVERYONE,
        "The caller: token claims, account and organization", "auth", response_schema=schemas.ME,
    ),
    Endpoint(
        "POST", "/v1/organizations", create_organization, SUPERADMIN,
        "Create an organization (superadmin)", "organizations",
        request_schema=schemas.ORGANIZATION_CREATE, response_schema=schemas.ORGANIZATION,
        status=201, errors=(409,),
    ),
    Endpoint(
        "GET", "/v1/organizations", list_organizations, SUPERADMIN,
        "List organizations (superadmin)", "organizations",
        response_schema=schemas.page_of(schemas.ORGANIZATION), query=PAGING,
    ),
    Endpoint(
        "GET", "/v1/organizations/{id}", get_organization, EVERYONE,
        "One organization: your own, or any for superadmin", "organizations",
        response_schema=schemas.ORGANIZATION, errors=(404,),
    ),
    Endpoint(
        "PATCH", "/v1/organizations/{id}", update_organization,
        roles(Role.SUPERADMIN, Role.ADMIN),
        "Edit an organization (its admin, or superadmin)", "organizations",
        request_schema=schemas.ORGANIZATION_UPDATE, response_schema=schemas.ORGANIZATION,
        errors=(404, 409),
    ),
    Endpoint(
        "POST", "/v1/organizations/{id}/users", add_organization_user, SUPERADMIN,
        "Add a person to an organization, e.g. its first admin (superadmin)", "organizations",
        request_schema=schemas.USER_CREATE, response_schema=schemas.USER, status=201,
        errors=(404, 409),
    ),
    Endpoint(
        "GET", "/v1/users", list_users, ADMIN, "People of your organization", "users",
        response_schema=schemas.page_of(schemas.USER), query=PAGING,
    ),
    Endpoint(
        "POST", "/v1/users", create_user, ADMIN,
        "Add a person with a role (new account, or an existing one invited)", "users",
        request_schema=schemas.USER_CREATE, response_schema=schemas.USER, status=201,
        errors=(409,),
    ),
    Endpoint(
        "GET", "/v1/users/{id}", get_user, ADMIN, "One person of your organization", "users",
        response_schema=schemas.USER, errors=(404,),
    ),
    Endpoint(
        "PATCH", "/v1/users/{id}", update_user, ADMIN,
        "Change a person's role or patient/specialist link (their older tokens stop working)",
        "users", request_schema=schemas.USER_UPDATE, response_schema=schemas.USER,
        errors=(404, 409),
    ),
    Endpoint(
        "DELETE", "/v1/users/{id}", remove_user, ADMIN,
        "Remove a person from your organization: their sign-ins here end at once", "users",
        status=204, errors=(404, 409),
    ),
    Endpoint(
        "POST", "/v1/users/{id}/disable", disable_user, ADMIN,
        "Disable a person: their tokens are refused from now on", "users",
        response_schema=schemas.USER, errors=(404, 409),
    ),
    Endpoint(
        "POST", "/v1/users/{id}/enable", enable_user, ADMIN,
        "Enable a disabled person (they sign in again)", "users",
        response_schema=schemas.USER, errors=(404,),
    ),
    Endpoint(
        "PUT", "/v1/accounts/{id}/external-identity", link_external_identity, SUPERADMIN,
        "Link the identity provider's subject to an account (superadmin): its provider tokens "
        "then sign in with the account's memberships", "organizations",
        request_schema=schemas.EXTERNAL_LINK, response_schema=schemas.EXTERNAL_IDENTITY,
        errors=(404, 409),
    ),
    Endpoint(
        "DELETE", "/v1/accounts/{id}/external-identity", unlink_external_identity, SUPERADMIN,
        "Unlink the account's provider subject (superadmin); its live connections end",
        "organizations", status=204, errors=(404,),
    ),
    Endpoint(
        "GET", "/v1/audit", list_audit, roles(Role.ADMIN, Role.SUPERADMIN),
        "The audit log, newest first", "audit",
        response_schema=schemas.page_of(schemas.AUDIT_ENTRY), query=AUDIT_QUERY,
    ),
]  # fmt: skip
