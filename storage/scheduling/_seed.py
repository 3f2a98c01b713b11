"""The writes of the scheduling part of the demo clinic (`cadence seed demo`,
server/scheduling/seed.py holds what the demo contains): catalog rows audited as the system's,
specialists' weeks, calendar members, paper consents, and demo logins linked to the specialists
and patients made for them.

The seed runs in one platform transaction, with no tenant context: every row names its
organization. Piccolo throughout.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import asyncpg
from piccolo.table import Table

from storage import audit
from storage.scheduling._catalog import insert_row
from storage.tables import (
    CalendarSpecialists,
    Memberships,
    PatientConsents,
    Patients,
    SpecialistHours,
    Specialists,
)


async def seed_row(
    conn: asyncpg.Connection, table: type[Table], entity: str, values: Mapping[str, Any]
) -> uuid.UUID:
    """Insert a row and its `<entity>.create` audit row (made by the system); the row's id."""
    row = await insert_row(table, values)
    await audit.record(
        conn,
        actor=audit.SYSTEM,
        organization_id=values["organization_id"],
        action=f"{entity}.create",
        entity=entity,
        entity_id=row["id"],
        after=values,
    )
    row_id: uuid.UUID = row["id"]
    return row_id


async def seed_week(
    org_id: uuid.UUID,
    specialist_id: uuid.UUID,
    weekdays: Iterable[int],
    intervals: Sequence[tuple[int, int]],
) -> None:
    """The same working intervals (minutes of the day) on each of the ISO weekdays."""
    await SpecialistHours.insert(
        *(
            SpecialistHours(
                organization_id=org_id,
                specialist_id=specialist_id,
                weekday=day,
                start_min=start,
                end_min=end,
            )  # fmt: skip
            for day in weekdays
            for start, end in intervals
        )
    )


async def seed_members(
    org_id: uuid.UUID, calendar_id: uuid.UUID, specialist_ids: Sequence[uuid.UUID]
) -> None:
    """The calendar's specialists, each with its position as priority (their own hours)."""
    await CalendarSpecialists.insert(
        *(
            CalendarSpecialists(
                organization_id=org_id, calendar_id=calendar_id, specialist_id=sid, priority=i
            )
            for i, sid in enumerate(specialist_ids)
        )
    )


async def seed_paper_consent(
    org_id: uuid.UUID, patient_id: uuid.UUID, purpose: str, policy_version: str
) -> None:
    """A consent the patient gave on paper at the front desk: a ledger row, which the ledger's
    trigger mirrors onto the patient (storage/consents.py)."""
    await PatientConsents.insert(
        PatientConsents(
            organization_id=org_id,
            patient_id=patient_id,
            purpose=purpose,
            policy_version=policy_version,
            granted=True,
            channel="paper",
            recorded_at=datetime.now(UTC),
        )
    )


async def seed_login_link(
    org_id: uuid.UUID,
    user_id: uuid.UUID,
    *,
    specialist_id: uuid.UUID | None = None,
    patient_id: uuid.UUID | None = None,
) -> None:
    """Make a login the specialist's or the patient's: on the row and on the membership, so
    the login's tokens carry `sid` / `pid`."""
    if specialist_id is not None:
        await Specialists.update({Specialists.user_id: user_id}).where(
            Specialists.id == specialist_id
        )
        link: dict[Any, Any] = {Memberships.specialist_id: specialist_id}
    elif patient_id is not None:
        await Patients.update({Patients.user_id: user_id}).where(Patients.id == patient_id)
        link = {Memberships.patient_id: patient_id}
    else:
        raise ValueError("link a login to a specialist or a patient")
    await Memberships.update(link).where(
        (Memberships.organization_id == org_id) & (Memberships.user_id == user_id)
    )
