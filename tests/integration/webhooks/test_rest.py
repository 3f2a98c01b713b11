"""REST of webhooks: admins only, refusals as 4xx (bad input, private addresses, unknown and
foreign ids), the secret shown once, rotation, replay, deletion, and the audit rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from standardwebhooks.webhooks import Webhook

from actors.consumers import Context
from actors.webhooks import WebhookOptions, WebhookSender, webhook_handler, webhook_sender
from server.resources import DB_KEY
from storage.types import Role
from tests.integration.identity._world import World, audit_rows
from tests.integration.webhooks._receiver import Receiver, Route
from tests.integration.webhooks.conftest import make_event
from tests.support.consumers import ManualClock

Client = TestClient[web.Request, web.Application]
LOCAL = WebhookOptions(allow_loopback=True, require_https=False)
BASE = "/v1/webhooks"
MISSING = "00000000-0000-4000-8000-000000000000"


@pytest.fixture
def sender(ctx: Context) -> WebhookSender:
    return webhook_sender(ctx, LOCAL)


def admin(world: World) -> dict[str, str]:
    return world.headers(world.a.members[Role.ADMIN])


async def create(
    client: Client, world: World, url: str, types: list[str] | None = None
) -> dict[str, Any]:
    response = await client.post(
        f"{BASE}/endpoints",
        json={"url": url, "event_types": types or ["*"], "description": "crm"},
        headers=admin(world),
    )
    assert response.status == 201, await response.text()
    found: dict[str, Any] = await response.json()
    return found


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.1/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://192.168.1.20:8080/hook",
        "http://172.16.0.5/hook",
        "http://[::ffff:10.0.0.1]/hook",
        "http://[fd00::1]/hook",
        "http://0.0.0.0/hook",
        "http://100.64.0.1/hook",
    ],
)
async def test_private_addresses_are_refused_at_creation(
    client: Client, world: World, url: str
) -> None:
    response = await client.post(
        f"{BASE}/endpoints", json={"url": url, "event_types": ["*"]}, headers=admin(world)
    )
    assert response.status == 422, await response.text()
    assert "url" in (await response.json())["error"]["details"]["fields"]


@pytest.mark.parametrize(
    "body",
    [
        {"url": "not a url", "event_types": ["*"]},
        {"url": "ftp://example.com/hook", "event_types": ["*"]},
        {"url": "https://user:pw@example.com/hook", "event_types": ["*"]},
        {"url": "https://example.com/hook", "event_types": []},
        {"url": "https://example.com/hook", "event_types": ["Appointment Booked"]},
        {"url": "https://example.com/hook"},
        {"url": "https://example.com/hook", "event_types": ["*"], "secret": "mine"},
    ],
)
async def test_bad_bodies_are_refused(client: Client, world: World, body: dict[str, Any]) -> None:
    response = await client.post(f"{BASE}/endpoints", json=body, headers=admin(world))
    assert response.status == 422, await response.text()
    assert (await response.json())["error"]["code"] == "validation_failed"


async def test_only_admins_manage_webhooks(client: Client, world: World) -> None:
    for role in (Role.RECEPTIONIST, Role.SPECIALIST, Role.OWNER, Role.PATIENT):
        headers = world.headers(world.a.members[role])
        response = await client.get(f"{BASE}/endpoints", headers=headers)
        assert response.status == 403, role
    assert (await client.get(f"{BASE}/endpoints")).status == 401


async def test_the_secret_is_shown_once_and_changes_are_audited(
    client: Client, world: World
) -> None:
    created = await create(client, world, "https://hooks.example.com/cadence", ["appointment.*"])
    assert created["secret"].startswith("whsec_")
    assert (created["enabled"], created["event_types"]) == (True, ["appointment.*"])
    url = f"{BASE}/endpoints/{created['id']}"
    shown = await (await client.get(url, headers=admin(world))).json()
    assert "secret" not in shown
    page = await (await client.get(f"{BASE}/endpoints", headers=admin(world))).json()
    assert [e["id"] for e in page["data"]] == [created["id"]]
    assert all("secret" not in e for e in page["data"])

    patched = await client.patch(
        url, json={"event_types": ["*"], "enabled": False}, headers=admin(world)
    )
    assert patched.status == 200, await patched.text()
    body = await patched.json()
    assert (body["event_types"], body["enabled"], body["disabled_reason"]) == (
        ["*"],
        False,
        "admin",
    )
    rotated = await client.post(f"{url}/rotate-secret", headers=admin(world))
    assert rotated.status == 200
    assert (await rotated.json())["secret"] not in (created["secret"], None)
    assert (await client.delete(url, headers=admin(world))).status == 204
    assert (await client.get(url, headers=admin(world))).status == 404

    rows = await audit_rows(client.app[DB_KEY], entity="webhook_endpoint")
    mine = [r for r in rows if r["entity_id"] == created["id"]]
    assert [r["action"] for r in mine] == [
        "webhook_endpoint.create",
        "webhook_endpoint.update",
        "webhook_endpoint.rotate_secret",
        "webhook_endpoint.delete",
    ]
    assert all(created["secret"] not in str(r["diff"]) for r in mine)


async def test_unknown_and_foreign_ids_are_not_found(client: Client, world: World) -> None:
    created = await create(client, world, "https://hooks.example.com/a")
    other = world.headers(world.b.members[Role.ADMIN])
    for path in (f"{BASE}/endpoints/{created['id']}", f"{BASE}/endpoints/{MISSING}"):
        assert (await client.get(path, headers=other)).status == 404
        patch = await client.patch(path, json={"description": "x"}, headers=other)
        assert patch.status == 404
        assert (await client.delete(path, headers=other)).status == 404
        assert (await client.post(f"{path}/rotate-secret", headers=other)).status == 404
        assert (await client.get(f"{path}/deliveries", headers=other)).status == 404
    assert (await client.get(f"{BASE}/endpoints/nope", headers=admin(world))).status == 404
    for path in (f"{BASE}/deliveries/{MISSING}", f"{BASE}/deliveries/{MISSING}/replay"):
        method = client.post if path.endswith("replay") else client.get
        assert (await method(path, headers=admin(world))).status == 404
    bad_status = await client.get(
        f"{BASE}/endpoints/{created['id']}/deliveries?status=lost", headers=admin(world)
    )
    assert bad_status.status == 422


async def test_replay_and_rotation(
    client: Client,
    world: World,
    receiver: Receiver,
    ctx: Context,
    clock: ManualClock,
    sender: WebhookSender,
) -> None:
    created = await create(client, world, receiver.url("replay"))
    route = receiver.route("replay")
    route.secret = created["secret"]
    event = make_event(world.a.id)
    await webhook_handler(ctx, LOCAL).handle(event)
    await sender.run_once()
    listing = f"{BASE}/endpoints/{created['id']}/deliveries"
    [row] = (await (await client.get(listing, headers=admin(world))).json())["data"]
    assert row["status"] == "delivered"

    # Another clinic's admin cannot see or replay it.
    other = world.headers(world.b.members[Role.ADMIN])
    assert (await client.get(f"{BASE}/deliveries/{row['id']}", headers=other)).status == 404
    replay_url = f"{BASE}/deliveries/{row['id']}/replay"
    assert (await client.post(replay_url, headers=other)).status == 404

    # A replay after a rotation: same webhook-id, signed by the new and the previous secret.
    rotated = await client.post(f"{BASE}/endpoints/{created['id']}/rotate-secret",
                                headers=admin(world))  # fmt: skip
    new_secret = (await rotated.json())["secret"]
    route.secret = new_secret
    replayed = await client.post(replay_url, headers=admin(world))
    assert replayed.status == 202, await replayed.text()
    assert (await replayed.json())["status"] == "pending"
    await _run_until_received(sender, clock, route, 2)
    assert [r.webhook_id for r in route.received] == [event.id, event.id]
    resent = route.received[1]
    assert len(resent.headers["webhook-signature"].split(" ")) == 2
    Webhook(created["secret"]).verify(resent.body, resent.headers)  # the previous one verifies
    Webhook(new_secret).verify(resent.body, resent.headers)

    detail = await (await client.get(f"{BASE}/deliveries/{row['id']}", headers=admin(world))).json()
    assert [a["attempt"] for a in detail["attempts_log"]] == [1, 2]
    assert detail["status"] == "delivered"

    # A disabled endpoint's delivery is not replayed; a deleted endpoint's is not found.
    endpoint_url = f"{BASE}/endpoints/{created['id']}"
    await client.patch(endpoint_url, json={"enabled": False}, headers=admin(world))
    refused = await client.post(replay_url, headers=admin(world))
    assert refused.status == 409
    assert (await refused.json())["error"]["code"] == "endpoint_disabled"
    await client.delete(endpoint_url, headers=admin(world))
    assert (await client.post(replay_url, headers=admin(world))).status == 404


async def _run_until_received(
    sender: WebhookSender, clock: ManualClock, route: Route, count: int
) -> None:
    """The replay is due at the wall clock's now; the test clock may be behind it."""
    clock.set(max(clock.now(), datetime.now(UTC)) + timedelta(seconds=1))
    await sender.run_once()
    assert len(route.received) == count
