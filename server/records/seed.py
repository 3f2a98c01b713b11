"""Demo seeder of the records domain: an intake form template (published), one intake sent for
the first demo appointment and completed by its patient (typed signature), a clinician's note
shared with the care team on that appointment, and a follow-up in the front desk's queue.

Runs after scheduling's and telerehab's seeders, inside the seed's platform transaction, with
the organization named explicitly on every write.
"""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Any

import asyncpg

from server.seed import DemoSeed, seeder
from storage import follow_ups, forms, notes
from storage.crypto import DEV_INDEX_KEY, DEV_KEYS, KeyRing
from storage.notes import Author, Visibility
from storage.scheduling import AppointmentFilter, list_appointments

INTAKE_FIELDS: list[dict[str, Any]] = [
    {"key": "main_complaint", "label": "What brings you in?", "type": "text", "required": True},
    {"key": "pain_now", "label": "Pain right now (0-10)", "type": "scale", "required": True,
     "alert_at": 7},
    {"key": "pain_worse_at_night", "label": "Is the pain worse at night?", "type": "yes_no",
     "required": True, "red_flag": True},
    {"key": "since", "label": "Since when?", "type": "date", "required": False},
    {"key": "signature", "label": "Signature", "type": "signature", "required": True},
]  # fmt: skip
ANSWERS = {
    "main_complaint": "Right knee pain when climbing stairs, after a skiing fall",
    "pain_now": 4,
    "pain_worse_at_night": False,
    "since": (date.today() - timedelta(days=40)).isoformat(),
}
NOTE = (
    "Knee flexion 95 degrees, extension full. Pain 3/10 on stairs, 0/10 at rest. "
    "Plan: progress to step-ups and add balance work; review in two weeks."
)


def _ring(demo: DemoSeed) -> KeyRing:
    # A bare test database is seeded without keys; the test servers open with the same fixed
    # development keys, so records sealed here read back there.
    return demo.keys or KeyRing.parse(DEV_KEYS, DEV_INDEX_KEY)


def _user(demo: DemoSeed, role: str) -> dict[str, Any]:
    return next(u for u in demo.users if u.get("role") == role)


@seeder
async def seed_records(conn: asyncpg.Connection, demo: DemoSeed) -> None:
    if demo.organization_id is None or not demo.patients:
        return
    org, ring = uuid.UUID(demo.organization_id), _ring(demo)
    admin = uuid.UUID(_user(demo, "admin")["user_id"])
    fields = [await forms.create_field(org, spec, admin) for spec in INTAKE_FIELDS]
    template = await forms.create_template(
        org, "New patient intake", "intake", [f["id"] for f in fields], admin
    )
    await forms.publish(conn, org, template["id"], admin)

    specialist = _user(demo, "specialist")
    specialist_id = uuid.UUID(specialist["specialist_id"])
    [appt] = await list_appointments(conn, AppointmentFilter(specialist_id=specialist_id), 1)
    booked = await forms.appointment(conn, appt.id)
    assert booked is not None
    sent = await forms.send_intake(
        conn, ring, org, appt=booked, template_id=template["id"], ttl=forms.DEFAULT_TTL,
        by=admin, link_of=lambda token: f"/intake/{token}",
    )  # fmt: skip
    patient = next(p for p in demo.patients if p["id"] == str(appt.patient_id))
    await forms.complete_intake(
        conn, ring, sent.token, ANSWERS, forms.Signature(patient["name"], "typed")
    )

    author = Author(uuid.UUID(specialist["user_id"]), "specialist", specialist_id)
    note = await notes.create_note(
        ring, org, patient_id=appt.patient_id, appointment_id=appt.id, body=NOTE,
        visibility=Visibility.CARE_TEAM, by=author,
    )  # fmt: skip
    follow_up = await follow_ups.create_follow_up(
        ring, org, patient_id=appt.patient_id, from_appointment_id=appt.id,
        reason="Re-check knee range of motion", due_on=appt.starts_at.date() + timedelta(days=14),
        by_user=author.user_id, by_role="specialist",
    )  # fmt: skip
    demo.extra["records"] = {
        "form_template_id": str(template["id"]),
        "intake_appointment_id": str(appt.id),
        "intake_form_id": str(sent.form["id"]),
        "note_id": str(note["id"]),
        "follow_up_id": str(follow_up["id"]),
    }
