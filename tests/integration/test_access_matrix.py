"""Every route x every role x own and foreign organization, with the status each cell must get.

The routes are enumerated from the running app, so a route added later by any domain is covered
without editing this file; a route registered outside `mount` (with no Access declaration) fails
`test_every_route_declares_who_may_call_it`. Expected statuses derive from each Endpoint's
Access: no token -> 401 (non-public); a role not allowed -> 403; an allowed role naming another
organization's ids -> 404 or 422, never data. The foreign organization is a demo clinic made by
every domain's seeder, so its ids are real rows of each domain's tables.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient

from server.resources import DB_KEY
from server.routing import ENDPOINTS_KEY, ROUTE_ACCESS_KEY, Endpoint
from server.seed import seed_demo
from storage.types import Role
from tests.integration.identity._world import Member, World, build_world

Client = TestClient[web.Request, web.Application]
_PARAM = re.compile(r"\{(\w+)(?::[^}]*)?\}")
NOT_LEAKED = {404, 422}
# Routes whose handler is a protocol upgrade, not a JSON answer.
NO_JSON = {("GET", "/v1/ws")}


def test_every_route_declares_who_may_call_it(app: web.Application) -> None:
    declared = app[ROUTE_ACCESS_KEY]
    undeclared = [
        f"{route.method} {route.resource.canonical if route.resource else route}"
        for route in app.router.routes()
        if route not in declared and route.method != "HEAD"
    ]
    assert undeclared == [], "routes without an Endpoint (and so without a policy)"
    # Public endpoints are rate limited: the middleware applies PUBLIC_RATE when none is set.
    for ep in app[ENDPOINTS_KEY]:
        assert ep.access.rate is None or ep.access.rate.limit > 0, ep.path


def _table_for(path: str) -> str | None:
    """The table behind `/v1/<resource>/{id}` (its rows carry organization_id)."""
    match = re.match(r"^/v1/([a-z-]+)/\{", path)
    return match.group(1).replace("-", "_") if match else None


async def _foreign_ids(client: Client) -> dict[str, uuid.UUID]:
    """One id per resource table from a freshly seeded (foreign) demo clinic."""
    db = client.app[DB_KEY]
    demo = await seed_demo(db)
    org_id = uuid.UUID(demo["organization_id"])
    ids: dict[str, uuid.UUID] = {"organizations": org_id}
    async with db.platform() as conn:
        tables = await conn.fetch(
            """SELECT c.table_name FROM information_schema.columns c
               JOIN information_schema.columns i
                 ON i.table_name = c.table_name AND i.table_schema = c.table_schema
                AND i.column_name = 'id'
               WHERE c.table_schema = 'public' AND c.column_name = 'organization_id'"""
        )
        for row in tables:
            found = await conn.fetchval(
                f'SELECT id FROM "{row["table_name"]}" WHERE organization_id = $1 LIMIT 1', org_id
            )
            if found is not None:
                ids[row["table_name"]] = found
        ids["users"] = await conn.fetchval(
            "SELECT user_id FROM memberships WHERE organization_id = $1 LIMIT 1", org_id
        )
    return ids


def _fill(path: str, ids: dict[str, uuid.UUID]) -> str:
    table = _table_for(path)
    first = ids.get(table, uuid.uuid4()) if table else uuid.uuid4()
    names = _PARAM.findall(path)
    values = {name: str(first if i == 0 else uuid.uuid4()) for i, name in enumerate(names)}
    return _PARAM.sub(lambda m: values[m.group(1)], path)


async def _call(
    client: Client, ep: Endpoint, path: str, who: Member | None, world: World
) -> tuple[int, Any]:
    headers = world.headers(who) if who else {}
    kwargs: dict[str, Any] = {"headers": headers}
    if ep.method in ("POST", "PUT", "PATCH"):
        kwargs["json"] = {}
    response = await client.request(ep.method, path, **kwargs)
    body: Any = None
    if (ep.method, ep.path) not in NO_JSON and response.content_type == "application/json":
        body = await response.json()
    return response.status, body


async def test_access_matrix(client: Client) -> None:
    world = await build_world(client.app)
    foreign = await _foreign_ids(client)
    principals: dict[Role, Member] = {**world.a.members, Role.SUPERADMIN: world.superadmin}
    own_ids = {
        "organizations": world.a.id,
        "users": world.a.members[Role.RECEPTIONIST].user_id,
    }
    failures: list[str] = []
    cells = 0

    def expect(
        cell: str, status: int, allowed: set[int] | None, *, not_in: frozenset[int] = frozenset()
    ) -> None:
        nonlocal cells
        cells += 1
        bad = status >= 500 or (allowed is not None and status not in allowed) or status in not_in
        if bad:
            failures.append(f"{cell}: got {status}")

    for ep in client.app[ENDPOINTS_KEY]:
        has_ids = bool(_PARAM.search(ep.path))
        name = f"{ep.method} {ep.path}"
        # No token.
        status, _ = await _call(client, ep, _fill(ep.path, {}), None, world)
        if not ep.access.public:
            expect(f"{name} x anonymous", status, {401})
        else:
            expect(f"{name} x anonymous", status, None, not_in=frozenset({401, 403}))
        for role, member in principals.items():
            allowed = ep.access.public or ep.access.allows(role)
            if not allowed:
                status, _ = await _call(client, ep, _fill(ep.path, foreign), member, world)
                expect(f"{name} x {role.value}", status, {403})
                continue
            if not has_ids:
                status, _ = await _call(client, ep, ep.path, member, world)
                expect(f"{name} x {role.value}", status, None, not_in=frozenset({401, 403}))
                continue
            # Another organization's ids (superadmin belongs to none: random ids).
            ids = {} if role is Role.SUPERADMIN else foreign
            status, body = await _call(client, ep, _fill(ep.path, ids), member, world)
            expect(f"{name} x {role.value} x foreign ids", status, NOT_LEAKED)
            # Own ids, for reads whose resources this test knows (never mutations).
            table = _table_for(ep.path)
            if ep.method == "GET" and table in own_ids and _PARAM.findall(ep.path) == ["id"]:
                own_path = _fill(ep.path, {table: own_ids[table]})
                if role is not Role.SUPERADMIN:
                    status, body = await _call(client, ep, own_path, member, world)
                    expect(f"{name} x {role.value} x own ids", status, {200})
    assert failures == [], f"{len(failures)} of {cells} cells failed:\n" + "\n".join(failures)
    print(f"access matrix: {cells} cells, foreign ids for {sorted(foreign)}")
