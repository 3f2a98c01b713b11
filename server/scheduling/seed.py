"""Demo seeder of the scheduling domain: 2 services, 3 specialists (Mon-Fri hours), 2 calendars
in Europe/Bucharest (one public, one staff-only), 4 patients and a few appointments; a group
class of 8 seats with its own public calendar, and a patient on the waitlist; two locations with
rooms, a shockwave device, and a shockwave service that needs a treatment room and the device.

Runs after identity's seeder; links the demo specialist and patient logins (if any) to the
specialists and patients made here, so their tokens carry `sid` / `pid`.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import asyncpg

from server.seed import DemoSeed, seeder
from storage import audit
from storage.scheduling import (
    NewAppointment,
    add_cancellation_reason,
    insert_appointment,
    insert_seat,
    join_waitlist,
    place_specialist,
    seed_login_link,
    seed_members,
    seed_paper_consent,
    seed_row,
    seed_week,
    set_public_booking_policy,
    set_scheduling_policy,
)
from storage.tables import (
    Calendars,
    Equipment,
    Locations,
    Patients,
    Rooms,
    ServiceRequirements,
    Services,
    Specialists,
)

ZONE = "Europe/Bucharest"
SERVICES = [  # name, duration, buffer before, buffer after, modality, price (bani)
    ("Physiotherapy session", 50, 0, 10, "in_clinic", 25_000),
    ("Telerehab check-in", 30, 0, 0, "virtual", 12_000),
]
SPECIALISTS = [  # name, weekly intervals per weekday (Mon-Fri)
    ("Dr. Ana Constantinescu", [(9 * 60, 17 * 60)]),
    ("Mihai Radu, PT", [(8 * 60, 12 * 60), (13 * 60, 17 * 60)]),
    ("Irina Vasilescu, PT", [(10 * 60, 18 * 60)]),
]
GROUP_CLASS = ("Back class (group)", 60, 8)  # name, duration, seats
LOCATIONS = [  # name, rooms (name, kind)
    ("Central clinic", [("Gym", "gym"), ("Treatment room 1", "treatment"),
                        ("Treatment room 2", "treatment")]),
    ("North clinic", [("North gym", "gym"), ("North treatment room", "treatment")]),
]  # fmt: skip
CANCELLATION_REASONS = [
    ("illness", "Patient unwell"),
    ("schedule_conflict", "Schedule conflict"),
    ("transport", "Transport problem"),
    ("clinic", "Cancelled by the clinic"),
]
PATIENTS = [  # diacritics on purpose: search is accent-insensitive
    ("Ștefan", "Popescu", "stefan.popescu@example.com", "+40 721 000 001"),
    ("Ioana", "Mărgărit", "ioana.margarit@example.com", "+40 721 000 002"),
    ("Andrei", "Ionescu", None, "+40 721 000 003"),
    ("Elena", "Dumitru", "elena.dumitru@example.com", None),
]


def _organization(demo: DemoSeed) -> uuid.UUID:
    if demo.organization_id is None:
        raise RuntimeError("the identity seeder makes the demo organization first")
    return uuid.UUID(demo.organization_id)


def _next_weekdays(count: int) -> list[date]:
    day = datetime.now(ZoneInfo(ZONE)).date() + timedelta(days=2)
    found: list[date] = []
    while len(found) < count:
        if day.isoweekday() <= 5:
            found.append(day)
        day += timedelta(days=1)
    return found


@seeder
async def seed_scheduling(conn: asyncpg.Connection, demo: DemoSeed) -> None:
    org = _organization(demo)
    services = [
        await seed_row(
            conn,
            Services,
            "service",
            {
                "organization_id": org,
                "name": name,
                "duration_min": duration,
                "buffer_before_min": before,
                "buffer_after_min": after,
                "modality": modality,
                "price_amount": price,
                "price_currency": "RON",
            },
        )
        for name, duration, before, after, modality, price in SERVICES
    ]
    specialists = []
    for name, intervals in SPECIALISTS:
        values = {"organization_id": org, "name": name, "timezone": ZONE}
        sid = await seed_row(conn, Specialists, "specialist", values)
        await seed_week(org, sid, range(1, 6), intervals)
        specialists.append(sid)
        demo.specialists.append({"id": str(sid), "name": name, "timezone": ZONE})
    calendars = [
        ("Physiotherapy - online booking", services[0], True, 60, 120, "round_robin", specialists),
        ("Telerehab follow-ups (staff)", services[1], False, 30, 0, "priority", specialists[:2]),
    ]
    calendar_ids = []
    for name, service, public, interval, notice, assignment, members in calendars:
        cid = await seed_row(
            conn,
            Calendars,
            "calendar",
            {
                "organization_id": org,
                "name": name,
                "service_id": service,
                "timezone": ZONE,
                "public": public,
                "slot_interval_min": interval,
                "min_notice_min": notice,
                "horizon_days": 30 if public else 60,
                "assignment": assignment,
            },
        )
        await seed_members(org, cid, members)
        calendar_ids.append(cid)
        demo.calendars.append(
            {
                "id": str(cid),
                "name": name,
                "timezone": ZONE,
                "public": public,
                "specialist_ids": [str(s) for s in members],
                "service_id": str(service),
            }
        )
    patients = []
    for first, last, email, phone in PATIENTS:
        row_id = uuid.uuid4()  # chosen here: sealed values are bound to their row
        pid = await seed_row(
            conn,
            Patients,
            "patient",
            demo.sealed(
                "patients",
                row_id,
                {
                    "id": row_id,
                    "organization_id": org,
                    "first_name": first,
                    "last_name": last,
                    "email": email,
                    "phone": phone,
                },
            ),
        )
        # Consent is only ever a ledger row (storage/consents.py): the demo patients agreed to
        # camera sessions on paper at the front desk.
        await seed_paper_consent(org, pid, "telerehab_camera", "demo")
        patients.append(pid)
        demo.patients.append({"id": str(pid), "name": f"{first} {last}"})
    await _link_logins(demo, org, specialists, patients)
    # The clinic's policy: cancellations within a day are late; patients may cancel or move
    # online up to a day ahead; the front desk picks a reason from the clinic's list.
    policy = {"late_cancel_window_min": 24 * 60, "patient_can_cancel": True,
              "patient_can_reschedule": True, "patient_min_notice_min": 24 * 60}  # fmt: skip
    await set_scheduling_policy(conn, org, policy)
    for position, (code, label) in enumerate(CANCELLATION_REASONS):
        await add_cancellation_reason(org, code, label, position)
    # A few appointments on the coming weekdays, at 10:00 and 14:00 local (on every slot grid).
    zone = ZoneInfo(ZONE)
    for i, day in enumerate(_next_weekdays(3)):
        for j, hour in enumerate((10, 14)):
            start = datetime.combine(day, time(hour), zone).astimezone(UTC)
            await insert_appointment(
                conn,
                calendar_ids[0],
                NewAppointment(
                    audit.SYSTEM,
                    specialists[(i + j) % len(specialists)],
                    patients[(2 * i + j) % len(patients)],
                    start,
                ),
            )
    await _seed_class_and_waitlist(conn, demo, org, specialists, patients, calendar_ids[0])
    await _seed_places(conn, demo, org, specialists)


async def _seed_places(
    conn: asyncpg.Connection, demo: DemoSeed, org: uuid.UUID, specialists: list[uuid.UUID]
) -> None:
    """Two locations with rooms, a shockwave device at the central one, and a shockwave
    service needing a treatment room and the device (its own public calendar, whose online
    bookings are requests the front desk confirms); Dr. Ana works at the central clinic, Irina
    at the north one (issue #17 items 1 and 6)."""
    places = {}
    for place, rooms in LOCATIONS:
        values = {"organization_id": org, "name": place}
        places[place] = await seed_row(conn, Locations, "location", values)
        for room, kind in rooms:
            values = {"organization_id": org, "location_id": places[place], "name": room,
                      "kind": kind}  # fmt: skip
            await seed_row(conn, Rooms, "room", values)
    central = places[LOCATIONS[0][0]]
    values = {"organization_id": org, "location_id": central, "name": "Shockwave device"}
    device = await seed_row(conn, Equipment, "equipment", values)
    await place_specialist(specialists[0], central)
    await place_specialist(specialists[2], places[LOCATIONS[1][0]])
    values = {"organization_id": org, "name": "Shockwave therapy", "duration_min": 30,
              "modality": "in_clinic", "price_amount": 18_000, "price_currency": "RON"}  # fmt: skip
    service = await seed_row(conn, Services, "service", values)
    for need in ({"room_kind": "treatment"}, {"equipment_id": device}):
        values = {"organization_id": org, "service_id": service, **need}
        await seed_row(conn, ServiceRequirements, "service_requirement", values)
    calendar = {"organization_id": org, "name": "Shockwave therapy - online booking",
                "service_id": service, "timezone": ZONE, "public": True, "slot_interval_min": 30,
                "min_notice_min": 60, "horizon_days": 30, "assignment": "priority"}  # fmt: skip
    cid = await seed_row(conn, Calendars, "calendar", calendar)
    await seed_members(org, cid, specialists[:1])
    # Its online bookings are requests the front desk confirms (#17 item 6): the device's
    # sessions need a prescription checked first.
    await set_public_booking_policy(conn, org, {}, {cid: "request"})
    demo.calendars.append({"id": str(cid), "name": calendar["name"], "timezone": ZONE,
                           "public": True, "specialist_ids": [str(specialists[0])],
                           "service_id": str(service)})  # fmt: skip


async def _seed_class_and_waitlist(
    conn: asyncpg.Connection, demo: DemoSeed, org: uuid.UUID, specialists: list[uuid.UUID],
    patients: list[uuid.UUID], waited_calendar: uuid.UUID,
) -> None:  # fmt: skip
    """A back class of 8 seats (public, three seats taken on the next weekday at 13:00) and a
    patient on the waitlist of the online-booking calendar for the coming week."""
    name, duration, seats = GROUP_CLASS
    values = {"organization_id": org, "name": name, "duration_min": duration,
              "modality": "in_clinic", "price_amount": 9_000, "price_currency": "RON",
              "capacity": seats}  # fmt: skip
    service = await seed_row(conn, Services, "service", values)
    calendar = {"organization_id": org, "name": f"{name} - online booking", "service_id": service,
                "timezone": ZONE, "public": True, "slot_interval_min": 60,
                "min_notice_min": 60, "horizon_days": 30, "assignment": "priority"}  # fmt: skip
    cid = await seed_row(conn, Calendars, "calendar", calendar)
    await seed_members(org, cid, specialists[1:2])
    demo.calendars.append({"id": str(cid), "name": calendar["name"], "timezone": ZONE,
                           "public": True, "specialist_ids": [str(specialists[1])],
                           "service_id": str(service)})  # fmt: skip
    day = _next_weekdays(1)[0]
    starts = datetime.combine(day, time(13), ZoneInfo(ZONE)).astimezone(UTC)
    for patient in patients[:3]:
        await insert_seat(
            conn, actor=audit.SYSTEM, calendar_id=cid, specialist_id=specialists[1],
            patient_id=patient, starts_at=starts, hold_id=uuid.uuid4(),
        )  # fmt: skip
    now = datetime.now(UTC)
    await join_waitlist(
        organization_id=org, patient_id=patients[-1], calendar_id=waited_calendar,
        service_id=None, specialist_id=None, window_from=now, window_to=now + timedelta(days=7),
        priority="urgent", note=None, created_by=None, now=now,
    )  # fmt: skip


async def _link_logins(
    demo: DemoSeed, org: uuid.UUID, specialists: list[uuid.UUID], patients: list[uuid.UUID]
) -> None:
    """Give identity's demo specialist and patient logins their specialist / patient rows."""
    pools = {"specialist": list(specialists), "patient": list(patients)}
    for user in demo.users:
        pool = pools.get(str(user.get("role")))
        if not pool or not user.get("user_id"):
            continue
        target, user_id = pool.pop(0), uuid.UUID(user["user_id"])
        if user["role"] == "specialist":
            await seed_login_link(org, user_id, specialist_id=target)
            user["specialist_id"] = str(target)
        else:
            await seed_login_link(org, user_id, patient_id=target)
            user["patient_id"] = str(target)
