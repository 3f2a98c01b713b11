"""storage/identity against the migrated database, where REST alone would not show a difference:
what counts as a revoked session, and paging through the audit log."""

from __future__ import annotations

import secrets
import uuid
from datetime import UTC, datetime, timedelta

from aiohttp import web
from aiohttp.test_utils import TestClient

from server.resources import DB_KEY
from storage import identity
from storage.types import Role
from tests.integration.identity._world import World

Client = TestClient[web.Request, web.Application]


async def test_a_session_is_revoked_only_when_it_has_tokens_and_every_one_is_revoked(
    client: Client, world: World
) -> None:
    db = client.app[DB_KEY]
    member = world.a.members[Role.ADMIN]
    session = uuid.uuid4()
    expires_at = datetime.now(UTC) + timedelta(hours=1)
    async with db.tenant(world.a.id):
        assert not await identity.session_revoked(session)  # unknown: nothing to refuse
        for _ in range(2):
            await identity.store_refresh_token(
                org_id=world.a.id,
                user_id=member.user_id,
                family_id=session,
                parent_id=None,
                token_hash=secrets.token_bytes(32),
                expires_at=expires_at,
            )
        assert not await identity.session_revoked(session)
        assert await identity.revoke_family(session) == 2
        assert await identity.session_revoked(session)
        assert await identity.revoke_family(session) == 0  # nothing live is left
    async with db.tenant(world.b.id):  # another organization does not see the session at all
        assert not await identity.session_revoked(session)


async def test_the_audit_log_pages_newest_first_without_gaps_or_repeats(
    client: Client, world: World
) -> None:
    headers = world.headers(world.a.members[Role.ADMIN])
    target = world.a.members[Role.OWNER].user_id
    for action in ("disable", "enable", "disable", "enable"):
        response = await client.post(f"/v1/users/{target}/{action}", headers=headers)
        assert response.status == 200
    where = {"entity": "user", "entity_id": str(target)}

    whole = await (await client.get("/v1/audit", params=where, headers=headers)).json()
    paged: list[dict[str, object]] = []
    cursor = None
    while True:
        query = {**where, "limit": "1", **({"cursor": cursor} if cursor else {})}
        page = await (await client.get("/v1/audit", params=query, headers=headers)).json()
        paged.extend(page["data"])
        cursor = page["next_cursor"]
        if cursor is None:
            break

    assert [e["action"] for e in whole["data"]] == [
        "user.enable", "user.disable", "user.enable", "user.disable"
    ]  # fmt: skip
    assert paged == whole["data"]
    # The address as text, without the inet's mask.
    assert all(e["ip"] and "/" not in str(e["ip"]) for e in paged)


async def test_adding_a_member_twice_is_a_conflict_that_changes_nothing(
    client: Client, world: World
) -> None:
    headers = world.headers(world.a.members[Role.ADMIN])
    member = world.a.members[Role.RECEPTIONIST]
    before = await (await client.get(f"/v1/users/{member.user_id}", headers=headers)).json()

    again = await client.post(
        "/v1/users", json={"email": member.email.upper(), "role": "owner"}, headers=headers
    )
    body = await again.json()
    assert again.status == 409
    assert body["error"]["code"] == "conflict"
    assert body["error"]["message"] == "this person is already a member of the organization"
    after = await (await client.get(f"/v1/users/{member.user_id}", headers=headers)).json()
    assert after == before
