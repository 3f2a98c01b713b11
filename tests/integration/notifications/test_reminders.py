"""Acceptance: 500 appointments over a simulated day, reminded 24 h and 2 h before, each
exactly once at its time, with appointments moved and cancelled in between.

A controllable clock moves in 15-minute steps over two days. At each step the changes of that
moment are made through the scheduling repository (the functions the calendar shard runs; the
triggers plan and re-plan the reminders in the same transaction), then two reminder pumps race
each other, and two outbox dispatchers deliver to a local SMTP server. Once a reminder pump is
killed in the middle of its claim (its transaction dies), and once a dispatcher dies after
claiming. Checked: one outbox row per (appointment, lead) exactly where the model expects one,
none for anything cancelled before its time, each made at the first step at or after its due
time, each delivered by exactly one e-mail (counted by Message-ID).
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from aiohttp import web
from aiohttp.test_utils import TestClient

from actors.consumers import Context
from actors.notifications.channels import SmtpOptions
from server.resources import DB_KEY
from storage import notifications as store
from storage import scheduling
from storage.audit import SYSTEM
from tests.integration.notifications.conftest import (
    Inbox,
    ManualClock,
    drain,
    outbox_pump,
    reminder_pump,
)
from tests.integration.scheduling.conftest import Api, new_org

Client = TestClient[web.Request, web.Application]
STEP = timedelta(minutes=15)
LEADS = (1440, 120)
SPECIALISTS, SLOTS, PATIENTS = 10, 50, 50
GAP, LENGTH = timedelta(minutes=28), timedelta(minutes=20)


@dataclass
class Appt:
    id: uuid.UUID
    specialist: int
    slot: int
    start: datetime
    cancelled: bool = False
    # lead -> due instant while planned; moved to `sent` when the model says it went out
    planned: dict[int, datetime] = field(default_factory=dict)
    sent: dict[int, datetime] = field(default_factory=dict)

    def plan(self, now: datetime) -> None:
        """The triggers' rule: leads still ahead are (re)planned; past ones are dropped;
        sent ones stay sent."""
        for lead in LEADS:
            if lead in self.sent:
                continue
            due = self.start - timedelta(minutes=lead)
            if due > now:
                self.planned[lead] = due
            else:
                self.planned.pop(lead, None)


async def _world(client: Client) -> tuple[Api, str, list[str], list[uuid.UUID]]:
    api = Api(client, await new_org(client.app))
    specialists = [await api.specialist(f"Spec {n}") for n in range(SPECIALISTS)]
    calendar = await api.calendar(specialists)
    patients = [
        uuid.UUID(await api.patient(f"P{n}", "Test", email=f"p{n}@example.com"))
        for n in range(PATIENTS)
    ]
    return api, calendar["id"], specialists, patients


async def test_500_appointments_are_each_reminded_exactly_once_at_their_times(
    client: Client, ctx: Context, clock: ManualClock, smtp: tuple[Inbox, SmtpOptions]
) -> None:
    inbox, options = smtp
    api, calendar_id, specialists, patients = await _world(client)
    db = client.app[DB_KEY]
    t0 = clock.now()
    first = t0 + timedelta(hours=26)
    appts: dict[tuple[int, int], Appt] = {}
    async with db.tenant(api.org_id) as conn:
        service_id = await conn.fetchval("SELECT service_id FROM calendars WHERE id = $1",
                                         uuid.UUID(calendar_id))  # fmt: skip
        await store.plan_as_of(conn, t0)
        rows = [
            (uuid.uuid4(), s, i, first + i * GAP)
            for s in range(SPECIALISTS) for i in range(SLOTS)
        ]  # fmt: skip
        await conn.executemany(
            """INSERT INTO appointments (id, organization_id, calendar_id, service_id,
                 specialist_id, patient_id, starts_at, ends_at)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8)""",
            [
                (aid, api.org_id, uuid.UUID(calendar_id), service_id,
                 uuid.UUID(specialists[s]), patients[(s * SLOTS + i) % PATIENTS], at,
                 at + LENGTH)
                for aid, s, i, at in rows
            ],
        )  # fmt: skip
    for aid, s, i, at in rows:
        appts[(s, i)] = Appt(aid, s, i, at)
        appts[(s, i)].plan(t0)
    assert len(appts) == SPECIALISTS * SLOTS

    async def change(now: datetime, cancels: list[Appt], moves: list[tuple[Appt, int]]) -> None:
        """Cancel, then move into the freed slots, as the shard would (its repository)."""
        async with db.tenant(api.org_id) as conn:
            await store.plan_as_of(conn, now)
            for a in cancels:
                await scheduling.cancel_appointment(
                    conn, actor=SYSTEM, appointment_id=a.id, reason="clinic_request"
                )
            for a, slot in moves:
                await scheduling.reschedule_appointment(
                    conn, actor=SYSTEM, appointment_id=a.id, starts_at=first + slot * GAP
                )
        for a in cancels:
            a.cancelled = True
            a.planned.clear()
        for a, slot in moves:
            a.start, a.slot = first + slot * GAP, slot
            a.plan(now)

    # The moments of change: before any reminder is due, and mid-way (after the first 24 h
    # reminders went out, so moved appointments have sent, re-planned and dropped leads).
    def phase_a() -> tuple[list[Appt], list[tuple[Appt, int]]]:
        cancels = [appts[(s, i)] for s in range(0, SPECIALISTS, 2) for i in range(3, SLOTS, 10)]
        moves = [(appts[(s, i)], i - 4) for s in range(0, SPECIALISTS, 2)
                 for i in range(7, SLOTS, 10)]  # fmt: skip
        return cancels, moves

    def phase_b() -> tuple[list[Appt], list[tuple[Appt, int]]]:
        cancels = [appts[(s, i)] for s in range(SPECIALISTS) for i in range(5, SLOTS, 10)]
        moves = [(appts[(s, i)], i - 4) for s in range(SPECIALISTS) for i in range(9, SLOTS, 10)]
        return cancels, moves

    changes = {t0 + timedelta(hours=1): phase_a, t0 + timedelta(hours=20): phase_b}
    reminders = [reminder_pump(ctx, batch=100), reminder_pump(ctx, batch=100)]
    dispatchers = [outbox_pump(ctx, options, in_app=False, batch=100, lease_s=60) for _ in "ab"]
    end = first + SLOTS * GAP + STEP
    killed_reminder_claim = died_dispatcher = False
    while clock.now() < end:
        clock.advance(STEP)
        now = clock.now()
        if now in changes:
            await change(now, *changes.pop(now)())
        due_now = sum(1 for a in appts.values() for d in a.planned.values() if d <= now)
        if due_now and not killed_reminder_claim:
            # A reminder pump dies mid-claim: its transaction rolls back, nothing is lost.
            try:
                async with db.platform() as conn:
                    claimed = await store.claim_due_reminders(conn, now, 10)
                    assert claimed.sent
                    raise ConnectionResetError("killed")
            except ConnectionResetError:
                killed_reminder_claim = True
        await asyncio.gather(*(drain(p) for p in reminders))
        for a in appts.values():
            for lead, due in list(a.planned.items()):
                if due <= now:
                    a.sent[lead] = now
                    del a.planned[lead]
        if due_now and not died_dispatcher:
            async with db.platform() as conn:  # claims, then dies without sending
                assert await store.claim_outbox(conn, now, 5, timedelta(seconds=60))
            died_dispatcher = True
        await asyncio.gather(*(drain(p) for p in dispatchers))
    assert killed_reminder_claim and died_dispatcher and not changes
    for p in dispatchers:
        await p.close()

    async with db.platform() as conn:
        outbox = await conn.fetch(
            """SELECT o.id, o.appointment_id, o.status, o.created_at, o.attempts,
                      r.lead_min, r.due_at, r.sent_at
               FROM notification_outbox o
               JOIN appointment_reminders r ON r.organization_id = o.organization_id
                                           AND r.id = o.reminder_id
               WHERE o.organization_id = $1 AND o.kind = 'appointment_reminder'""",
            api.org_id,
        )
        org_ids = [
            r["id"]
            for r in await conn.fetch(
                "SELECT id FROM notification_outbox WHERE organization_id = $1", api.org_id
            )
        ]
        others = await conn.fetch(
            """SELECT kind, count(*) AS n, count(*) FILTER (WHERE status = 'sent') AS sent
               FROM notification_outbox WHERE organization_id = $1 GROUP BY kind""",
            api.org_id,
        )
    got = Counter((r["appointment_id"], r["lead_min"]) for r in outbox)
    assert max(got.values()) == 1  # never twice
    expected = {(a.id, lead): at for a in appts.values() for lead, at in a.sent.items()}
    assert set(got) == set(expected)  # each expected one, nothing for the cancelled
    for r in outbox:
        sent_at = expected[(r["appointment_id"], r["lead_min"])]
        assert r["sent_at"] == sent_at  # the first step at or after its due time
        assert r["due_at"] <= r["sent_at"] < r["due_at"] + STEP
        assert r["status"] == "sent"
    cancelled = [a for a in appts.values() if a.cancelled]
    assert len(cancelled) == 75 * SPECIALISTS // 10
    by_kind = {r["kind"]: (r["n"], r["sent"]) for r in others}
    n = SPECIALISTS * SLOTS
    assert by_kind["appointment_confirmation"] == (n, n)
    assert by_kind["appointment_cancellation"] == (len(cancelled), len(cancelled))
    assert by_kind["appointment_change"] == (len(cancelled), len(cancelled))
    # Every row reached the SMTP server once (a dispatcher that died after its claim is taken
    # over after the lease; its row is sent once all the same).
    # (Other tests' organizations may have rows due in the simulated days: count ours.)
    ids = Counter(inbox.message_ids())
    assert max(ids.values()) == 1
    ours = {f"<{i}@cadence.local>" for i in org_ids}
    assert sum(n for i, n in ids.items() if i in ours) == len(outbox) + n + 2 * len(cancelled)
    for r in outbox:
        assert ids[f"<{r['id']}@cadence.local>"] == 1
    # Moved ones kept a 24 h reminder sent before the move, or got one at the new time, or
    # lost a lead that was already past; cancelled ones lost what was not sent yet.
    assert SPECIALISTS * SLOTS < len(outbox) < 2 * SPECIALISTS * SLOTS
