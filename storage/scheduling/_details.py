"""An appointment's details: the visit reason (the patient's words at booking) and the front
desk's note, sealed at rest and kept beside the appointment (they change no availability, so
the server writes them; a booking that carries a reason writes it in the booking's transaction).
Runs inside a tenant transaction."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from typing import Any

import asyncpg

from storage.crypto import LEGACY, KeyRing
from storage.orm import rows
from storage.sealed import open_row, seal_values
from storage.tables import AppointmentDetails

DETAIL_FIELDS = ("visit_reason", "desk_note")
MAX_DETAIL = 2000


async def set_details(
    conn: asyncpg.Connection,
    keys: KeyRing | None,
    *,
    organization_id: uuid.UUID,
    appointment_id: uuid.UUID,
    patient_id: uuid.UUID,
    values: Mapping[str, str | None],
    by: uuid.UUID | None,
) -> None:
    """Set the given fields (None clears one); the others keep their values."""
    given = {k: v for k, v in values.items() if k in DETAIL_FIELDS}
    if not given:
        return
    if keys is not None:
        sealed = seal_values(keys, "appointment_details", appointment_id, organization_id, given)
    else:  # tagged for the next `cadence keys rotate`, as the other sealed columns
        sealed = {k: None if v is None else LEGACY + v for k, v in given.items()}
    names = list(sealed)
    await conn.execute(
        f"""INSERT INTO appointment_details (organization_id, appointment_id, patient_id,
              updated_by, {", ".join(names)})
            VALUES ($1, $2, $3, $4, {", ".join(f"${i + 5}" for i in range(len(names)))})
            ON CONFLICT (organization_id, appointment_id) DO UPDATE SET
              {", ".join(f"{n} = EXCLUDED.{n}" for n in names)},
              updated_by = EXCLUDED.updated_by, updated_at = now()""",  # noqa: S608 - names are DETAIL_FIELDS
        organization_id,
        appointment_id,
        patient_id,
        by,
        *sealed.values(),
    )


async def details_of(
    keys: KeyRing, appointment_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, dict[str, Any]]:
    """The opened details of these appointments (those that have any)."""
    ids = list(appointment_ids)
    if not ids:
        return {}
    found = await rows(
        AppointmentDetails.select().where(AppointmentDetails.appointment_id.is_in(ids))
    )
    out: dict[uuid.UUID, dict[str, Any]] = {}
    for row in found:
        opened = open_row(keys, "appointment_details", row)
        out[opened["appointment_id"]] = {k: opened[k] for k in DETAIL_FIELDS}
    return out
