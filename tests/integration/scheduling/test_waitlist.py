"""The waitlist through the real calendar shard: a freed slot is offered at once to the first
eligible entry (urgent first, then first come) as an exclusive hold, pushed to the patient and
the staff channel; accept books it, decline passes it on, an expired offer answers 410; and a
public booker can never take a slot while it is offered."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient

from actors.calendar import anonymous
from actors.calendar import messages as m
from server.services import CALENDARS_KEY
from storage.audit import AuditActor
from storage.types import Channel, Role
from tests.integration.live.conftest import Clinic, make_clinic
from tests.integration.scheduling.conftest import day_at, z

DESK = AuditActor(None, "receptionist")


async def _book(clinic: Clinic, start: datetime, patient_id: str) -> str:
    status, hold = await clinic.hold(start)
    assert status == 201, hold
    status, appt = await clinic.api.call(
        "POST", "/v1/appointments", {"hold_id": hold["id"], "patient_id": patient_id}
    )
    assert status == 201, appt
    appointment_id: str = appt["id"]
    return appointment_id


async def _join(clinic: Clinic, patient_id: str, start: datetime, **extra: Any) -> dict[str, Any]:
    body = {
        "patient_id": patient_id, "calendar_id": clinic.calendar_id, "from": z(start),
        "to": z(start + timedelta(hours=1)), "priority": "normal", **extra,
    }  # fmt: skip
    entry: dict[str, Any] = await clinic.api.ok(
        "POST", "/v1/waitlist", body, role=Role.RECEPTIONIST, expect=201
    )
    return entry


async def _cancel(clinic: Clinic, appointment_id: str) -> None:
    await clinic.api.ok(
        "POST", f"/v1/appointments/{appointment_id}/cancel", {"reason": "sick"},
        role=Role.RECEPTIONIST,
    )  # fmt: skip


async def test_bad_input(client: TestClient[web.Request, web.Application]) -> None:
    clinic = await make_clinic(client)
    past = {
        "patient_id": clinic.patient_id, "calendar_id": clinic.calendar_id,
        "from": z(day_at(-3, 9)), "to": z(day_at(-2, 9)), "priority": "normal",
    }  # fmt: skip
    status, body = await clinic.api.call("POST", "/v1/waitlist", past)
    assert status == 422 and "to" in body["error"]["details"]["fields"], body
    status, body = await clinic.api.call(
        "POST", "/v1/waitlist", {**past, "to": z(day_at(3, 9)), "calendar_id": str(uuid.uuid4())}
    )
    assert status == 404, body
    status, body = await clinic.api.call(
        "POST", "/v1/waitlist", {**past, "to": z(day_at(3, 9)), "priority": "soon"}
    )
    assert status == 422, body
    for path in ("accept", "decline"):
        status, body = await clinic.api.call("POST", f"/v1/waitlist/{uuid.uuid4()}/{path}")
        assert status == 404, body
    entry = await _join(clinic, clinic.patient_id, day_at(5, 9))
    # Nothing was offered: accepting is past (410); declining has no offer to pass (409).
    status, body = await clinic.api.call("POST", f"/v1/waitlist/{entry['id']}/accept")
    assert status == 410 and body["error"]["code"] == "offer_expired", body
    status, body = await clinic.api.call("POST", f"/v1/waitlist/{entry['id']}/decline")
    assert status == 409, body
    # Another patient's entry is not found for a patient; their own is.
    other = uuid.uuid4()
    status, _ = await clinic.api.call(
        "GET", f"/v1/waitlist/{entry['id']}", role=Role.PATIENT, patient_id=other
    )
    assert status == 404
    mine = await clinic.api.ok(
        "GET", f"/v1/waitlist/{entry['id']}", role=Role.PATIENT,
        patient_id=uuid.UUID(clinic.patient_id),
    )  # fmt: skip
    assert mine["id"] == entry["id"]


async def test_a_cancellation_is_offered_to_the_first_entry_urgent_first(
    client: TestClient[web.Request, web.Application],
) -> None:
    clinic = await make_clinic(client)
    start = day_at(2, 10)
    booked = await _book(clinic, start, clinic.patient_id)
    first_come = await clinic.api.patient("First", "Come")
    urgent = await clinic.api.patient("Urg", "Ent")
    normal = await _join(clinic, first_come, start)
    hurry = await _join(clinic, urgent, start, priority="urgent")
    staff = Channel.org(clinic.api.org_id)
    since_staff = await clinic.api.position(staff)
    since_patient = await clinic.api.position(Channel.patient(uuid.UUID(urgent)))
    await _cancel(clinic, booked)
    entry = await clinic.api.ok("GET", f"/v1/waitlist/{hurry['id']}")
    assert entry["status"] == "offered" and entry["offer"]["start"] == z(start), entry
    offer = entry["offer"]
    pushed = await clinic.api.events_since(Channel.patient(uuid.UUID(urgent)), since_patient)
    offered = [e["data"] for e in pushed if e["type"] == "waitlist.offered"]
    assert offered and offered[0]["hold_id"] == offer["hold_id"], pushed
    assert offered[0]["expires_at"] == offer["expires_at"]
    staff_types = [e["type"] for e in await clinic.api.events_since(staff, since_staff)]
    assert "waitlist.offered" in staff_types and "waitlist.updated" in staff_types
    # The freed slot never shows as free, and nobody else can hold it during the offer.
    listed = await clinic.slots(z(day_at(2, 0)), z(day_at(3, 0)))
    assert z(start) not in [s["start"] for s in listed["slots"]]
    status, body = await clinic.hold(start)
    assert status == 409, body
    queue = await clinic.api.ok("GET", f"/v1/waitlist?calendar_id={clinic.calendar_id}")
    assert [e["id"] for e in queue["data"]] == [hurry["id"], normal["id"]]
    # Declined: the next entry is offered the slot at once.
    await clinic.api.ok(
        "POST", f"/v1/waitlist/{hurry['id']}/decline", role=Role.PATIENT,
        patient_id=uuid.UUID(urgent),
    )  # fmt: skip
    nxt = await clinic.api.ok("GET", f"/v1/waitlist/{normal['id']}")
    assert nxt["status"] == "offered" and nxt["offer"]["start"] == z(start), nxt
    back = await clinic.api.ok("GET", f"/v1/waitlist/{hurry['id']}")
    assert back["status"] == "waiting" and back["offer"] is None
    accepted = await clinic.api.ok(
        "POST", f"/v1/waitlist/{normal['id']}/accept", role=Role.PATIENT,
        patient_id=uuid.UUID(first_come),
    )  # fmt: skip
    assert accepted["entry"]["status"] == "booked"
    assert accepted["appointment"]["patient_id"] == first_come
    assert accepted["appointment"]["start"] == z(start)
    status, body = await clinic.api.call("POST", f"/v1/waitlist/{normal['id']}/accept")
    assert status == 409, body
    listed = await clinic.slots(z(day_at(2, 0)), z(day_at(3, 0)))
    assert z(start) not in [s["start"] for s in listed["slots"]]


async def test_an_expired_offer_answers_410_and_passes_on(
    client: TestClient[web.Request, web.Application],
) -> None:
    clinic = await make_clinic(client, hold_ttl_s=30)
    start = day_at(3, 15)
    booked = await _book(clinic, start, clinic.patient_id)
    late = await _join(clinic, await clinic.api.patient("Late", "Comer"), start)
    after = await _join(clinic, await clinic.api.patient("Next", "One"), start)
    await _cancel(clinic, booked)
    entry = await clinic.api.ok("GET", f"/v1/waitlist/{late['id']}")
    assert entry["status"] == "offered"
    expires = datetime.fromisoformat(entry["offer"]["expires_at"].replace("Z", "+00:00"))
    await asyncio.sleep(max(0.0, (expires - datetime.now(expires.tzinfo)).total_seconds()) + 1)
    status, body = await clinic.api.call("POST", f"/v1/waitlist/{late['id']}/accept")
    assert status == 410 and body["error"]["code"] == "offer_expired", body
    for _ in range(100):  # the expiry timer passes it on; the accept above did too
        nxt = await clinic.api.ok("GET", f"/v1/waitlist/{after['id']}")
        if nxt["status"] == "offered":
            break
        await asyncio.sleep(0.1)
    assert nxt["status"] == "offered" and nxt["offer"]["start"] == z(start), nxt


async def test_a_freed_slot_offered_cannot_be_taken_by_a_public_booker(
    client: TestClient[web.Request, web.Application],
) -> None:
    """100 repetitions: a cancellation races 20 public holds on the slot it frees; the slot
    goes to the waiting entry every time and never to a public booker."""
    clinic = await make_clinic(client)
    commands = client.app[CALENDARS_KEY]
    cal, org = uuid.UUID(clinic.calendar_id), clinic.api.org_id
    desk = m.Caller(f"user:{uuid.uuid4()}", org, "receptionist")
    waiting = uuid.UUID(await clinic.api.patient("Wait", "Ing"))
    patient = uuid.UUID(clinic.patient_id)
    starts = [day_at(d, h) for d in range(1, 12) for h in range(8, 20)][:100]
    for start in starts:
        held = await commands.hold(desk, cal, start)
        assert isinstance(held, m.HoldGranted), held
        done = await commands.book(desk, held.hold.id, DESK, patient_id=patient)
        assert isinstance(done, m.Booked), done
        joined = await commands.waitlist(
            m.JoinWaitlist(
                org,
                desk,
                DESK,
                waiting,
                cal,
                None,
                None,
                start,
                start + timedelta(hours=1),
                "normal",
            )  # fmt: skip
        )
        assert isinstance(joined, m.WaitlistChanged), joined
        cancel = m.ChangeStatus(cal, desk, DESK, done.appointment.id, "cancel", reason="sick")
        public = [
            commands.hold(anonymous(uuid.uuid4().hex), cal, start) for _ in range(20)
        ]  # fmt: skip
        results = await asyncio.gather(commands.write(cancel), *public)
        assert isinstance(results[0], m.Written), results[0]
        taken = [r for r in results[1:] if isinstance(r, m.HoldGranted)]
        assert taken == [], (start, taken)
        entry = await clinic.api.ok("GET", f"/v1/waitlist/{joined.entry.id}")
        assert entry["status"] == "offered" and entry["offer"]["start"] == z(start), entry


async def test_an_offer_whose_calendar_was_deleted_is_answered_not_failed(
    client: TestClient[web.Request, web.Application],
) -> None:
    """Found by schemathesis: an entry offered a slot of a calendar deleted since answered 503
    to accept, decline and cancel (the shard could not load the calendar). The offer went with
    the calendar: accept is 410, decline puts the entry back to waiting, cancel removes it."""
    clinic = await make_clinic(client)
    start = day_at(2, 10)
    booked = await _book(clinic, start, clinic.patient_id)
    other = await clinic.api.patient("Wait", "Ing")
    entry = await _join(clinic, other, start)
    await _cancel(clinic, booked)
    assert (await clinic.api.ok("GET", f"/v1/waitlist/{entry['id']}"))["status"] == "offered"
    await clinic.api.ok("DELETE", f"/v1/calendars/{clinic.calendar_id}", expect=204)

    status, body = await clinic.api.call("POST", f"/v1/waitlist/{entry['id']}/accept")
    assert status == 410 and body["error"]["code"] == "offer_expired", body
    status, body = await clinic.api.call("POST", f"/v1/waitlist/{entry['id']}/decline")
    assert status == 200 and body["status"] == "waiting", body
    status, body = await clinic.api.call("DELETE", f"/v1/waitlist/{entry['id']}")
    assert status == 200, body
