"""The webhooks consumer and sender against a real receiver: signatures, retries under one
webhook-id, filters, idempotency, the lease, disabling after failures, and the SSRF guard at
send time. The test drives the handler and `run_once` itself and moves the sender's clock."""

from __future__ import annotations

import asyncio
import ipaddress
import uuid
from datetime import timedelta
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from actors.consumers import Context
from actors.webhooks import WebhookOptions, WebhookSender, webhook_handler, webhook_sender
from server.resources import DB_KEY
from storage import webhooks as store
from storage.types import Role
from tests.integration.identity._world import World
from tests.integration.webhooks._receiver import Receiver
from tests.integration.webhooks.conftest import make_event
from tests.support.consumers import ManualClock

Client = TestClient[web.Request, web.Application]
LOCAL = WebhookOptions(allow_loopback=True, require_https=False)
# Disables an endpoint after three failed attempts in a row, however recent the first.
TOUCHY = WebhookOptions(
    allow_loopback=True, require_https=False, failure_threshold=3, failure_min_age_s=0
)


@pytest.fixture
def sender(ctx: Context) -> WebhookSender:
    return webhook_sender(ctx, LOCAL)


async def add_endpoint(
    client: Client, world: World, receiver: Receiver, name: str, types: list[str], **extra: Any
) -> dict[str, Any]:
    admin = world.a.members[Role.ADMIN]
    response = await client.post(
        "/v1/webhooks/endpoints",
        json={"url": extra.pop("url", receiver.url(name)), "event_types": types, **extra},
        headers=world.headers(admin),
    )
    assert response.status == 201, await response.text()
    created: dict[str, Any] = await response.json()
    receiver.route(name).secret = created["secret"]
    return created


async def deliveries(client: Client, world: World, endpoint_id: str) -> list[dict[str, Any]]:
    response = await client.get(
        f"/v1/webhooks/endpoints/{endpoint_id}/deliveries",
        headers=world.headers(world.a.members[Role.ADMIN]),
    )
    assert response.status == 200, await response.text()
    data: list[dict[str, Any]] = (await response.json())["data"]
    return data


async def delivery(client: Client, world: World, delivery_id: str) -> dict[str, Any]:
    response = await client.get(
        f"/v1/webhooks/deliveries/{delivery_id}",
        headers=world.headers(world.a.members[Role.ADMIN]),
    )
    assert response.status == 200, await response.text()
    found: dict[str, Any] = await response.json()
    return found


async def test_retries_carry_one_webhook_id_and_every_attempt_is_signed(
    client: Client,
    world: World,
    receiver: Receiver,
    ctx: Context,
    clock: ManualClock,
    sender: WebhookSender,
) -> None:
    endpoint = await add_endpoint(client, world, receiver, "hook", ["appointment.*"])
    route = receiver.route("hook")
    route.answers.extend([500, 500, 500])
    event = make_event(world.a.id, "appointment.booked", status="booked")
    await webhook_handler(ctx, LOCAL).handle(event)

    assert await sender.run_once() >= 1
    assert len(route.received) == 1
    assert await sender.run_once() == 0  # the retry is not due yet
    for step in LOCAL.backoff_s[:3]:
        clock.advance(timedelta(seconds=step * (1 + LOCAL.jitter) + 1))
        await sender.run_once()

    assert route.unverified == 0
    assert [r.webhook_id for r in route.received] == [event.id] * 4
    first = route.received[0].payload
    assert first["type"] == "appointment.booked"
    assert first["data"]["status"] == "booked"
    assert first["timestamp"].endswith("Z")
    assert all(r.payload == first for r in route.received)
    assert all(r.headers["webhook-timestamp"].isdigit() for r in route.received)

    [row] = await deliveries(client, world, endpoint["id"])
    assert (row["status"], row["attempts"], row["event_id"]) == ("delivered", 4, event.id)
    detail = await delivery(client, world, row["id"])
    assert [a["status_code"] for a in detail["attempts_log"]] == [500, 500, 500, 200]
    assert [a["error"] for a in detail["attempts_log"]] == ["http_500"] * 3 + [None]
    assert all(a["latency_ms"] >= 0 for a in detail["attempts_log"])
    assert detail["payload"] == first
    # A success ends the failure run.
    response = await client.get(
        f"/v1/webhooks/endpoints/{endpoint['id']}",
        headers=world.headers(world.a.members[Role.ADMIN]),
    )
    assert (await response.json())["consecutive_failures"] == 0


async def test_a_delivery_fails_after_its_last_retry(
    client: Client, world: World, receiver: Receiver, ctx: Context, clock: ManualClock
) -> None:
    options = WebhookOptions(
        allow_loopback=True, require_https=False, backoff_s=(5, 5), failure_threshold=100
    )
    sender = webhook_sender(ctx, options)
    endpoint = await add_endpoint(client, world, receiver, "down", ["*"])
    receiver.route("down").answers.extend([503] * 10)
    await webhook_handler(ctx, options).handle(make_event(world.a.id))
    for _ in range(4):
        await sender.run_once()
        clock.advance(timedelta(seconds=60))
    [row] = await deliveries(client, world, endpoint["id"])
    assert (row["status"], row["attempts"], row["next_attempt_at"]) == ("failed", 3, None)
    assert len(receiver.route("down").received) == 3


async def test_the_filter_chooses_the_endpoints(
    client: Client, world: World, receiver: Receiver, ctx: Context, sender: WebhookSender
) -> None:
    names = {
        "exact": ["appointment.booked"],
        "family": ["appointment.*"],
        "all": ["*"],
        "other": ["service.updated"],
    }
    for name, types in names.items():
        await add_endpoint(client, world, receiver, name, types)
    handler = webhook_handler(ctx, LOCAL)
    await handler.handle(make_event(world.a.id, "appointment.cancelled"))
    await handler.handle(make_event(world.a.id, "service.updated"))
    await handler.handle(make_event(world.b.id, "appointment.booked"))  # another organization
    await sender.run_once()

    def got(name: str) -> list[str]:
        return [r.payload["type"] for r in receiver.route(name).received]

    assert got("exact") == []
    assert got("family") == ["appointment.cancelled"]
    assert sorted(got("all")) == ["appointment.cancelled", "service.updated"]
    assert got("other") == ["service.updated"]


async def test_the_handler_is_idempotent_and_skips_endpoints_created_after_the_event(
    client: Client, world: World, receiver: Receiver, ctx: Context, sender: WebhookSender
) -> None:
    before = make_event(world.a.id)
    endpoint = await add_endpoint(client, world, receiver, "once", ["*"])
    rings: list[None] = []
    handler = webhook_handler(ctx, LOCAL, on_queued=lambda: rings.append(None))
    event = make_event(world.a.id)
    await handler.handle(event)
    await handler.handle(event)  # read again after a crash: nothing new
    await handler.handle(before)  # the endpoint did not exist yet
    assert len(await deliveries(client, world, endpoint["id"])) == 1
    assert len(rings) == 1  # the sender is woken for new deliveries only
    await sender.run_once()
    assert [r.webhook_id for r in receiver.route("once").received] == [event.id]


async def test_a_sender_killed_mid_send_is_followed_by_a_resend_under_the_same_id(
    client: Client,
    world: World,
    receiver: Receiver,
    ctx: Context,
    clock: ManualClock,
    sender: WebhookSender,
) -> None:
    endpoint = await add_endpoint(client, world, receiver, "lease", ["*"])
    event = make_event(world.a.id)
    await webhook_handler(ctx, LOCAL).handle(event)
    db = client.app[DB_KEY]
    now = clock.now()
    async with db.platform() as conn:  # a sender claims it and dies before it answers
        [dead] = await store.claim_due(
            conn, ctx.keyring, now, now + timedelta(seconds=LOCAL.lease_s), 10
        )
    assert dead.event_id == event.id
    assert await sender.run_once() == 0  # leased: nobody else sends it
    clock.advance(timedelta(seconds=LOCAL.lease_s + 1))
    assert await sender.run_once() >= 1
    assert [r.webhook_id for r in receiver.route("lease").received] == [event.id]
    # The dead sender's late answer changes nothing.
    late = store.Outcome(store.FAILED, None, 500, 1, "http_500")
    policy = store.FailurePolicy(1, timedelta(0))
    async with db.platform() as conn:
        finished = await store.finish(conn, dead, late, clock.now(), policy)
    assert not finished.recorded
    [row] = await deliveries(client, world, endpoint["id"])
    assert (row["status"], row["attempts"]) == ("delivered", 2)


async def test_a_run_of_failures_disables_the_endpoint_until_an_admin_enables_it(
    client: Client, world: World, receiver: Receiver, ctx: Context, clock: ManualClock
) -> None:
    endpoint = await add_endpoint(client, world, receiver, "flaky", ["*"])
    route, threshold = receiver.route("flaky"), TOUCHY.failure_threshold
    route.answers.extend([500] * threshold)
    handler = webhook_handler(ctx, TOUCHY)
    for _ in range(threshold):
        await handler.handle(make_event(world.a.id))
    sender = webhook_sender(ctx, TOUCHY)
    await sender.run_once()
    admin = world.headers(world.a.members[Role.ADMIN])
    url = f"/v1/webhooks/endpoints/{endpoint['id']}"
    shown = await (await client.get(url, headers=admin)).json()
    assert (shown["enabled"], shown["disabled_reason"]) == (False, "failures")
    assert shown["consecutive_failures"] == threshold

    # Disabled: its pending deliveries wait, and new events do not queue for it.
    await handler.handle(make_event(world.a.id))
    clock.advance(timedelta(hours=1))
    await sender.run_once()
    assert len(route.received) == threshold
    assert len(await deliveries(client, world, endpoint["id"])) == threshold

    response = await client.patch(url, json={"enabled": True}, headers=admin)
    assert response.status == 200, await response.text()
    shown = await response.json()
    assert (shown["enabled"], shown["consecutive_failures"]) == (True, 0)
    await sender.run_once()
    rows = await deliveries(client, world, endpoint["id"])
    assert {r["status"] for r in rows} == {"delivered"}
    assert route.unverified == 0


async def test_a_host_resolving_to_a_refused_address_is_not_reached(
    client: Client, world: World, receiver: Receiver, ctx: Context
) -> None:
    # `localhost` passes creation (a name, and loopback is allowed in tests) but the sender
    # of an environment without loopback resolves it at send time and refuses.
    endpoint = await add_endpoint(
        client, world, receiver, "ssrf", ["*"], url=receiver.url("ssrf", host="localhost")
    )
    strict = webhook_sender(ctx, WebhookOptions(require_https=False, failure_threshold=100))
    await webhook_handler(ctx, LOCAL).handle(make_event(world.a.id))
    await strict.run_once()
    assert receiver.route("ssrf").received == []
    [row] = await deliveries(client, world, endpoint["id"])
    assert (row["status"], row["last_error"], row["last_status_code"]) == (
        "pending",
        "address_refused",
        None,
    )


async def test_an_allowlisted_network_is_reached(
    client: Client, world: World, receiver: Receiver, ctx: Context
) -> None:
    await add_endpoint(client, world, receiver, "allowed", ["*"])
    options = WebhookOptions(require_https=False, allowlist=(ipaddress.ip_network("127.0.0.0/8"),))
    allowed = webhook_sender(ctx, options)
    await webhook_handler(ctx, options).handle(make_event(world.a.id))
    await allowed.run_once()
    assert len(receiver.route("allowed").received) == 1


async def test_a_secret_the_sender_cannot_open_fails_the_attempt_without_sending(
    client: Client, world: World, receiver: Receiver, ctx: Context, sender: WebhookSender
) -> None:
    endpoint = await add_endpoint(client, world, receiver, "tampered", ["*"])
    async with client.app[DB_KEY].platform() as conn:  # a sealed value moved between rows
        await conn.execute(
            "UPDATE webhook_endpoints SET secret = 'v1:dev1:AAAA:AAAA' WHERE id = $1",
            uuid.UUID(endpoint["id"]),
        )
    await webhook_handler(ctx, LOCAL).handle(make_event(world.a.id))
    await sender.run_once()
    assert receiver.route("tampered").received == []
    [row] = await deliveries(client, world, endpoint["id"])
    assert row["last_error"] == "secret_unreadable"


async def test_two_senders_share_the_due_deliveries_without_sending_one_twice(
    client: Client, world: World, receiver: Receiver, ctx: Context
) -> None:
    await add_endpoint(client, world, receiver, "shared", ["*"])
    handler = webhook_handler(ctx, LOCAL)
    events = [make_event(world.a.id) for _ in range(30)]
    for event in events:
        await handler.handle(event)
    small = WebhookOptions(allow_loopback=True, require_https=False, batch_size=7)
    one, two = webhook_sender(ctx, small), webhook_sender(ctx, small)
    while sum(await asyncio.gather(one.run_once(), two.run_once())):
        pass
    ids = [r.webhook_id for r in receiver.route("shared").received]
    assert sorted(ids) == sorted(e.id for e in events)


async def test_redirects_are_not_followed_and_slow_receivers_time_out(
    client: Client, world: World, receiver: Receiver, ctx: Context
) -> None:
    redirecting = await add_endpoint(client, world, receiver, "moved", ["*"])
    receiver.route("moved").location = receiver.url("target")
    slow = await add_endpoint(client, world, receiver, "slow", ["*"])
    receiver.route("slow").delay_s = 3.0
    options = WebhookOptions(allow_loopback=True, require_https=False, timeout_s=0.5)
    await webhook_handler(ctx, options).handle(make_event(world.a.id))
    await webhook_sender(ctx, options).run_once()
    assert receiver.route("target").received == []
    [moved] = await deliveries(client, world, redirecting["id"])
    assert (moved["status"], moved["last_status_code"], moved["last_error"]) == (
        "pending",
        302,
        "http_302",
    )
    [late] = await deliveries(client, world, slow["id"])
    assert (late["status"], late["last_status_code"], late["last_error"]) == (
        "pending",
        None,
        "timeout",
    )
