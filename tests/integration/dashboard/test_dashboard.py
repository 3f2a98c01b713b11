"""The live front desk: the snapshot plus the deltas after its position equals a fresh snapshot
after a random day of 2,000 appointment events (the invariant slots keep too), the cards and
the needs-attention queue say what the appointments say, and an owner gets counts only."""

from __future__ import annotations

import asyncio
import random
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import orjson
from aiohttp import web
from aiohttp.test_utils import TestClient
from prometheus_client import REGISTRY

from actors.dashboard import ATTENTION, UPDATED, AttentionPump, DashboardProjection, apply
from server import tokens
from server.resources import DB_KEY, EVENTS_KEY, KEYS_KEY, REDIS_KEY, SETTINGS_KEY
from storage.events import StreamPosition
from storage.rfc3339 import format_instant
from storage.streams import DomainEvent, parse_entry
from storage.types import Channel, Role
from tests.integration.dashboard.conftest import DAY_START, World, make_world
from tests.support.consumers import ManualClock, context_of

Client = TestClient[web.Request, web.Application]
ZONE = ZONE_NAME = "Europe/Bucharest"
LATE = timedelta(minutes=10)
SLOT = timedelta(minutes=15)
EVENTS = 2000


@dataclass
class Appt:
    id: uuid.UUID
    specialist: uuid.UUID
    patient: uuid.UUID
    start: datetime
    status: str
    created_at: datetime


class Clinic:
    """Appointments written as the calendar shard writes them (one row change, then its event on
    the organization channel), each event read back from the stream and handed to the dashboard
    projection, as its consumer group would."""

    def __init__(self, client: Client, world: World, clock: ManualClock) -> None:
        self.client = client
        self.world = world
        self.clock = clock
        self.channel = Channel.org(world.org)
        ctx = context_of(client.app, clock)
        self.projection = DashboardProjection(ctx)
        self.pump = AttentionPump(ctx, self.projection)
        self.appts: dict[uuid.UUID, Appt] = {}
        self.delivered: list[DomainEvent] = []

    # --- the REST snapshot ---------------------------------------------------------------

    def token(self, role: Role = Role.ADMIN) -> str:
        secret = self.client.app[SETTINGS_KEY].secret
        return tokens.issue(secret, role=role, org_id=self.world.org, user_id=uuid.uuid4())

    async def snapshot(self, role: Role = Role.ADMIN) -> dict[str, Any]:
        response = await self.client.get(
            "/v1/dashboard", headers={"Authorization": f"Bearer {self.token(role)}"}
        )
        body: dict[str, Any] = await response.json()
        assert response.status == 200, body
        return body

    async def dashboard_events(self, since: dict[str, str]) -> list[tuple[str, dict[str, Any]]]:
        replay = await self.client.app[EVENTS_KEY].replay(
            self.channel.name, StreamPosition(since["offset"], since["epoch"])
        )
        assert replay.recovered
        frames = [orjson.loads(frame) for _, frame in replay.frames]
        return [(f["type"], f["data"]) for f in frames if f["type"].startswith("dashboard.")]

    # --- the shard's side ------------------------------------------------------------------

    async def write(self, appt: Appt, event_type: str, *, new: bool = False) -> None:
        async with self.client.app[DB_KEY].platform() as conn:  # the schema owner: set-up only
            if new:
                await conn.execute(
                    """INSERT INTO appointments (id, organization_id, calendar_id, service_id,
                         specialist_id, patient_id, starts_at, ends_at, status, created_at)
                       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)""",
                    appt.id, self.world.org, self.world.calendar, self.world.service,
                    appt.specialist, appt.patient, appt.start, appt.start + SLOT, appt.status,
                    appt.created_at,
                )  # fmt: skip
            else:
                await conn.execute(
                    """UPDATE appointments SET status = $2, starts_at = $3, ends_at = $4,
                         specialist_id = $5 WHERE id = $1""",
                    appt.id, appt.status, appt.start, appt.start + SLOT, appt.specialist,
                )  # fmt: skip
        self.appts[appt.id] = appt
        data = {
            "appointment_id": str(appt.id),
            "calendar_id": str(self.world.calendar),
            "specialist_id": str(appt.specialist),
            "patient_id": str(appt.patient),
            "status": appt.status,
            "start": format_instant(appt.start),
            "end": format_instant(appt.start + SLOT),
        }
        position = await self.client.app[EVENTS_KEY].publish(self.channel.name, event_type, data)
        await self.deliver(await self.read_back(position))

    async def insert_booked(self, i: int) -> Appt:
        """The i-th specialist's booking, i hours into the day, as its row alone: no event."""
        world = self.world
        appt = Appt(uuid.uuid4(), world.specialists[i], world.patients[i],
                    DAY_START + timedelta(hours=i), "booked", self.clock.now())  # fmt: skip
        async with self.client.app[DB_KEY].platform() as conn:
            await conn.execute(
                """INSERT INTO appointments (id, organization_id, calendar_id, service_id,
                     specialist_id, patient_id, starts_at, ends_at, status)
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'booked')""",
                appt.id, world.org, world.calendar, world.service, appt.specialist,
                appt.patient, appt.start, appt.start + SLOT,
            )  # fmt: skip
        self.appts[appt.id] = appt
        return appt

    async def read_back(self, position: StreamPosition) -> DomainEvent:
        stream = self.client.app[KEYS_KEY].stream(self.channel.name)
        entries: Any = await self.client.app[REDIS_KEY].xrange(
            stream, min=position.offset, max=position.offset
        )
        assert len(entries) == 1
        fields: dict[bytes, bytes] = entries[0][1]
        return parse_entry(fields)

    async def deliver(self, event: DomainEvent) -> None:
        await self.projection.handle(event)
        self.delivered.append(event)

    # --- what the appointments say, computed apart from the projection ---------------------

    def expected(self) -> dict[str, Any]:
        zone = ZoneInfo(ZONE_NAME)
        now = self.clock.now()
        today = now.astimezone(zone).date()
        day = [a for a in self.appts.values() if a.start.astimezone(zone).date() == today]
        cards = {
            "appointments_today": sum(a.status != "cancelled" for a in day),
            "checked_in": sum(a.status in ("checked_in", "in_progress", "completed") for a in day),
            "waiting": sum(a.status == "checked_in" for a in day),
            "no_shows": sum(a.status == "no_show" for a in day),
            "intake_pending": 0,
            "follow_ups_due": 0,
        }
        attention = set()
        for a in day:
            if a.status in ("booked", "confirmed") and now >= a.start + LATE:
                attention.add(f"late:{a.id}")
            elif a.status == "booked":
                attention.add(f"unconfirmed:{a.id}")
        return {"day": today.isoformat(), "cards": cards, "attention": attention}


def comparable(snapshot: dict[str, Any]) -> dict[str, Any]:
    items = snapshot["attention"]
    if isinstance(items, list):
        items = {i["id"]: i for i in items}
    return {"day": snapshot["day"], "cards": snapshot["cards"], "attention": items}


class RandomDay:
    """Bookings, confirmations, check-ins, starts, completions, no-shows, cancellations and
    reschedules over one clinic day, with the time moving on."""

    def __init__(self, clinic: Clinic, seed: int) -> None:
        self.c = clinic
        self.rng = random.Random(seed)
        local_start = datetime(2026, 3, 2, 7, 0, tzinfo=ZoneInfo(ZONE_NAME))
        # Today 07:00-21:00 local, and some of tomorrow (a reschedule may leave the day).
        self.slot_starts = [local_start + SLOT * k for k in range(56)]
        self.slot_starts += [local_start + timedelta(days=1) + SLOT * k for k in range(8)]
        self.busy: set[tuple[uuid.UUID, datetime]] = set()

    def _free(self) -> tuple[uuid.UUID, datetime] | None:
        for _ in range(50):
            spot = (self.rng.choice(self.c.world.specialists), self.rng.choice(self.slot_starts))
            if spot not in self.busy:
                return spot
        return None

    def _pick(self, *statuses: str) -> Appt | None:
        found = [a for a in self.c.appts.values() if a.status in statuses]
        return self.rng.choice(found) if found else None

    async def step(self) -> bool:
        """One event, if the drawn action has something to act on."""
        roll = self.rng.random()
        now = self.c.clock.now()
        if roll < 0.30:
            spot = self._free()
            if spot is None:
                return False
            appt = Appt(
                uuid.uuid4(), spot[0], self.rng.choice(self.c.world.patients), spot[1],
                "booked", now,
            )  # fmt: skip
            self.busy.add(spot)
            await self.c.write(appt, "appointment.booked", new=True)
            return True
        moves = [
            (0.42, ("booked",), "confirmed", "appointment.confirmed"),
            (0.57, ("booked", "confirmed"), "checked_in", "appointment.checked_in"),
            (0.67, ("checked_in",), "in_progress", "appointment.started"),
            (0.77, ("in_progress",), "completed", "appointment.completed"),
            (0.83, ("booked", "confirmed"), "no_show", "appointment.no_show"),
            (0.92, ("booked", "confirmed"), "cancelled", "appointment.cancelled"),
        ]
        for bound, sources, target, event_type in moves:
            if roll < bound:
                chosen = self._pick(*sources)
                if chosen is None:
                    return False
                if target in ("cancelled", "no_show"):
                    self.busy.discard((chosen.specialist, chosen.start))
                chosen.status = target
                await self.c.write(chosen, event_type)
                return True
        moved = self._pick("booked", "confirmed")
        spot = self._free()
        if moved is None or spot is None:
            return False
        self.busy.discard((moved.specialist, moved.start))
        self.busy.add(spot)
        moved.specialist, moved.start = spot
        await self.c.write(moved, "appointment.rescheduled")
        return True


async def test_snapshot_plus_deltas_equals_a_fresh_snapshot_after_a_random_day(
    client: Client, clock: ManualClock
) -> None:
    world = await make_world(client.app, specialists=20, patients=40)
    clinic = Clinic(client, world, clock)
    day = RandomDay(clinic, seed=19)
    first: dict[str, Any] | None = None
    events = 0
    while events < EVENTS:
        clock.advance(timedelta(seconds=day.rng.randrange(0, 55)))
        if await day.step():
            events += 1
            if events % 100 == 0:
                await clinic.pump.run_once()  # time alone makes patients late
            if events % 250 == 0:  # a consumer that crashed before its ack: delivered again
                again = clinic.delivered[-day.rng.randrange(1, 20)]
                await clinic.projection.handle(again)
            if events == 600:
                first = await clinic.snapshot()
                assert comparable(first)["attention"].keys() == clinic.expected()["attention"]
    assert first is not None
    clock.advance(timedelta(minutes=30))
    while await clinic.pump.run_once():
        pass
    fresh = await clinic.snapshot()

    followed = apply(comparable(first), await clinic.dashboard_events(first["position"]))
    assert followed == comparable(fresh)
    want = clinic.expected()
    assert (fresh["day"], fresh["cards"]) == (want["day"], want["cards"])
    assert {i["id"] for i in fresh["attention"]} == want["attention"]
    # Not trivially equal: a busy day, both kinds of attention on the way.
    assert fresh["cards"]["appointments_today"] > 100
    assert {i["kind"] for i in first["attention"]} == {"late", "unconfirmed"}
    assert any(i["kind"] == "late" for i in fresh["attention"])


async def test_cards_and_the_attention_queue_follow_the_day(
    client: Client, clock: ManualClock
) -> None:
    world = await make_world(client.app, specialists=2, patients=2)
    clinic = Clinic(client, world, clock)
    empty = await clinic.snapshot()
    assert empty["day"] == "2026-03-02" and empty["attention"] == []
    assert set(empty["cards"].values()) == {0}

    nine = DAY_START + timedelta(hours=3)  # 09:00 local
    a = Appt(uuid.uuid4(), world.specialists[0], world.patients[0], nine, "booked", clock.now())
    b = Appt(uuid.uuid4(), world.specialists[1], world.patients[1], nine, "booked", clock.now())
    await clinic.write(a, "appointment.booked", new=True)
    await clinic.write(b, "appointment.booked", new=True)
    b.status = "confirmed"
    await clinic.write(b, "appointment.confirmed")
    snap = await clinic.snapshot()
    assert snap["cards"]["appointments_today"] == 2
    assert [i["id"] for i in snap["attention"]] == [f"unconfirmed:{a.id}"]

    # 09:11: both are late; the pump notices without any event.
    clock.set(nine + LATE + timedelta(minutes=1))
    position = (await clinic.client.app[EVENTS_KEY].position(clinic.channel.name)).as_dict()
    assert await clinic.pump.run_once() == 0  # one page: the pass is complete
    late = await clinic.dashboard_events(position)
    # Items of the same `since` are listed by id.
    assert [(t, [i["id"] for i in d["upserted"]], d["removed"]) for t, d in late] == [
        (ATTENTION, sorted([f"late:{a.id}", f"late:{b.id}"]), [f"unconfirmed:{a.id}"])
    ], late
    b.status = "checked_in"
    await clinic.write(b, "appointment.checked_in")
    a.status = "no_show"
    await clinic.write(a, "appointment.no_show")
    snap = await clinic.snapshot()
    assert snap["attention"] == []
    assert snap["cards"] == {
        "appointments_today": 2, "checked_in": 1, "waiting": 1, "no_shows": 1,
        "intake_pending": 0, "follow_ups_due": 0,
    }  # fmt: skip

    # An event that changes nothing publishes nothing.
    before = (await clinic.snapshot())["position"]
    await clinic.projection.handle(clinic.delivered[-1])
    assert await clinic.dashboard_events(before) == []

    # The owner: counts only.
    owned = await clinic.snapshot(Role.OWNER)
    assert "attention" not in owned and owned["cards"] == snap["cards"]

    # The clinic's day ends: the pump starts the cards again from zero and resets the queue
    # (an unconfirmed appointment of the day ending included).
    a2 = Appt(uuid.uuid4(), world.specialists[0], world.patients[0], nine + timedelta(hours=2),
              "booked", clock.now())  # fmt: skip
    await clinic.write(a2, "appointment.booked", new=True)
    snap = await clinic.snapshot()
    assert [i["id"] for i in snap["attention"]] == [f"unconfirmed:{a2.id}"]
    clock.set(datetime(2026, 3, 3, 6, 0, tzinfo=ZoneInfo(ZONE)))
    before = (await clinic.client.app[EVENTS_KEY].position(clinic.channel.name)).as_dict()
    await clinic.pump.run_once()
    rollover = await clinic.dashboard_events(before)
    assert [(t, d["day"], d.get("reset")) for t, d in rollover] == [
        (UPDATED, "2026-03-03", None),
        (ATTENTION, "2026-03-03", True),
    ]
    tomorrow = await clinic.snapshot()
    assert tomorrow["day"] == "2026-03-03" and set(tomorrow["cards"].values()) == {0}
    assert tomorrow["attention"] == []
    assert apply(comparable(snap), rollover) == comparable(tomorrow)


async def test_an_owner_subscribed_to_the_org_channel_receives_counts_only(
    client: Client, clock: ManualClock
) -> None:
    world = await make_world(client.app, specialists=1, patients=1)
    clinic = Clinic(client, world, clock)
    sockets = {}
    for role in (Role.OWNER, Role.RECEPTIONIST):
        ws = await client.ws_connect(
            "/v1/ws", headers={"Authorization": f"Bearer {clinic.token(role)}"}
        )
        await ws.send_json({"id": 1, "op": "subscribe", "channel": clinic.channel.name})
        reply = await ws.receive_json(timeout=10)
        assert reply["op"] == "ok", reply
        sockets[role] = ws
    try:
        start = DAY_START + timedelta(hours=2)
        appt = Appt(uuid.uuid4(), world.specialists[0], world.patients[0], start, "booked",
                    clock.now())  # fmt: skip
        await clinic.write(appt, "appointment.booked", new=True)
        appt.status = "checked_in"
        await clinic.write(appt, "appointment.checked_in")

        async def frames(role: Role, until_checked_in: int) -> list[dict[str, Any]]:
            got: list[dict[str, Any]] = []
            updates = 0
            while updates < until_checked_in:
                frame = await sockets[role].receive_json(timeout=15)
                if frame.get("op") != "event":
                    continue
                got.append(frame)
                updates += frame["type"] == UPDATED
            return got

        staff = await frames(Role.RECEPTIONIST, 2)
        assert {f["type"] for f in staff} >= {UPDATED, ATTENTION, "appointment.booked"}
        owner = await frames(Role.OWNER, 2)
        assert [f["type"] for f in owner] == [UPDATED, UPDATED], owner
        assert owner[-1]["data"]["cards"]["checked_in"] == 1
        assert str(world.patients[0]) not in orjson.dumps(owner).decode()
    finally:
        for ws in sockets.values():
            await ws.close()


async def test_concurrent_refreshes_publish_each_change_once(
    client: Client, clock: ManualClock
) -> None:
    """Consumers, the pump and snapshots racing on one clinic: the guarded commit lets one of
    them publish a change and the others find nothing left to publish."""
    world = await make_world(client.app, specialists=4, patients=4)
    clinic = Clinic(client, world, clock)
    start = (await clinic.snapshot())["position"]
    for i in range(len(world.specialists)):
        await clinic.insert_booked(i)  # rows first, events not yet handled
    others = [DashboardProjection(context_of(client.app, clock)) for _ in range(6)]
    published = await asyncio.gather(*(p.refresh(world.org, trigger="event") for p in others))
    assert sorted(published) == [False] * 5 + [True]
    events = await clinic.dashboard_events(start)
    assert [t for t, _ in events] == [UPDATED, ATTENTION]
    fresh = await clinic.snapshot()
    assert fresh["cards"]["appointments_today"] == 4
    assert {i["id"] for i in fresh["attention"]} == clinic.expected()["attention"]


async def test_a_read_batch_right_after_another_waits_out_the_gap_and_counts_everything(
    client: Client, clock: ManualClock
) -> None:
    """A busy front desk's events fold into fewer recomputations: the group's second read
    batch, within the gap of its first, waits before recomputing, and then counts both."""
    world = await make_world(client.app, specialists=2, patients=2)
    clinic = Clinic(client, world, clock)
    paced = DashboardProjection(context_of(client.app, clock), refresh_gap_s=1.0)
    start = (await clinic.snapshot())["position"]
    waited = REGISTRY.get_sample_value("cadence_dashboard_coalesced_total") or 0.0
    for i in range(len(world.specialists)):
        appt = await clinic.insert_booked(i)
        data = {"appointment_id": str(appt.id), "status": "booked"}
        events = client.app[EVENTS_KEY]
        position = await events.publish(clinic.channel.name, "appointment.booked", data)
        await paced.handle_many([await clinic.read_back(position)])
    assert REGISTRY.get_sample_value("cadence_dashboard_coalesced_total") == waited + 1
    updates = [d["cards"] for t, d in await clinic.dashboard_events(start) if t == UPDATED]
    assert [c["appointments_today"] for c in updates] == [1, 2]


async def test_a_notification_that_failed_today_needs_attention(
    client: Client, clock: ManualClock
) -> None:
    """The outbox publishes nothing on the organization channel when it gives up: the pump
    finds the failure."""
    world = await make_world(client.app, specialists=1, patients=1)
    clinic = Clinic(client, world, clock)
    await clinic.snapshot()
    failed_at = clock.now() - timedelta(minutes=5)
    async with client.app[DB_KEY].platform() as conn:
        outbox_id = await conn.fetchval(
            """INSERT INTO notification_outbox (organization_id, kind, patient_id, dedupe_key,
                 status, finished_at, last_error)
               VALUES ($1, 'appointment_reminder', $2, $3, 'failed', $4, 'bounced')
               RETURNING id""",
            world.org, world.patients[0], f"test-{uuid.uuid4()}", failed_at,
        )  # fmt: skip
    before = (await client.app[EVENTS_KEY].position(clinic.channel.name)).as_dict()
    while await clinic.pump.run_once():
        pass
    [(kind, data)] = await clinic.dashboard_events(before)
    assert kind == ATTENTION and data["removed"] == []
    assert data["upserted"] == [
        {
            "id": f"notification_failed:{outbox_id}",
            "kind": "notification_failed",
            "notification_id": str(outbox_id),
            "notification_kind": "appointment_reminder",
            "appointment_id": None,
            "patient_id": str(world.patients[0]),
            "since": format_instant(failed_at),
        }
    ]
    owner = await clinic.snapshot(Role.OWNER)
    assert "attention" not in owner
