"""An appointment's visit reason and the front desk's note: given at booking (staff series,
walk-in, a hold's booking), set later, shown in reads (the desk note to staff only), sealed at
rest, and audited without their text."""

from __future__ import annotations

import uuid
from typing import Any

import orjson

from server.resources import DB_KEY
from storage.types import Role
from tests.integration.scheduling.conftest import Api, day_at, z

REASON = "Left knee pain after running"


async def test_visit_reason_and_desk_note(api: Api) -> None:
    cid = (await api.calendar([await api.specialist()]))["id"]
    patient, other = await api.patient(), await api.patient("Other")
    series = {"calendar_id": cid, "patient_id": patient, "start": z(day_at(3, 10)),
              "visit_reason": REASON}  # fmt: skip
    booked = await api.ok("POST", "/v1/appointments/series", series, Role.RECEPTIONIST, 201)
    appt_id = booked["appointments"][0]["id"]
    shown = await api.ok("GET", f"/v1/appointments/{appt_id}")
    assert shown["visit_reason"] == REASON and shown["desk_note"] is None

    # From a hold, too.
    hold = await api.ok("POST", "/v1/holds", {"calendar_id": cid, "start": z(day_at(3, 12))},
                        Role.RECEPTIONIST, 201)  # fmt: skip
    from_hold = await api.ok(
        "POST", "/v1/appointments",
        {"hold_id": hold["id"], "patient_id": other, "visit_reason": "Shoulder check"},
        Role.RECEPTIONIST, 201,
    )  # fmt: skip
    listed = await api.ok("GET", f"/v1/appointments?calendar_id={cid}")
    assert {a["id"]: a["visit_reason"] for a in listed["data"]} == {
        appt_id: REASON,
        from_hold["id"]: "Shoulder check",
    }

    note = {"desk_note": "Bring the MRI report"}
    changed = await api.ok("PATCH", f"/v1/appointments/{appt_id}/details", note, Role.RECEPTIONIST)
    assert changed["desk_note"] == "Bring the MRI report" and changed["visit_reason"] == REASON

    # The patient sees the reason, not the desk's note, and may restate only the reason.
    me: dict[str, Any] = {"role": Role.PATIENT, "patient_id": patient}
    mine = await api.ok("GET", f"/v1/appointments/{appt_id}", **me)
    assert mine["visit_reason"] == REASON and "desk_note" not in mine
    status, body = await api.call("PATCH", f"/v1/appointments/{appt_id}/details", note, **me)
    assert status == 422 and "desk_note" in body["error"]["details"]["fields"]
    restated = {"visit_reason": "Left knee pain on stairs"}
    mine = await api.ok("PATCH", f"/v1/appointments/{appt_id}/details", restated, **me)
    assert mine["visit_reason"] == "Left knee pain on stairs" and "desk_note" not in mine
    status, _ = await api.call(
        "PATCH", f"/v1/appointments/{from_hold['id']}/details", restated, **me
    )
    assert status == 404  # another patient's
    status, _ = await api.call("PATCH", f"/v1/appointments/{appt_id}/details", {})
    assert status == 422

    # Sealed at rest; the audit names the fields, never their text.
    async with api.client.app[DB_KEY].tenant(api.org_id) as conn:
        raw = await conn.fetchrow(
            "SELECT visit_reason, desk_note FROM appointment_details WHERE appointment_id = $1",
            uuid.UUID(appt_id),
        )
    assert raw is not None and "knee" not in raw["visit_reason"] and "MRI" not in raw["desk_note"]
    audit = await api.ok("GET", "/v1/audit?action=appointment.details")
    assert audit["data"] and all(b"MRI" not in orjson.dumps(r) for r in audit["data"])
