"""A clinic's scheduling policy and its cancellation reasons (ClinicFlow's settings).

The policy says when a cancellation is late (it is then marked so in the patient's attendance)
and whether patients may cancel or move their own appointments, and how long before the start.
The calendar shard applies it inside the write's transaction, with the appointment locked, so
the start it judges is the start it changes. Every function runs in `Database.tenant(org)` (or
the shard's tenant transaction).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import asyncpg
from piccolo.columns import Column

from storage import errors
from storage.orm import first, rows
from storage.scheduling._errors import InvalidReference, SchedulingError
from storage.tables import CancellationReasons, SchedulingPolicies

Row = dict[str, Any]
POLICY_FIELDS = (
    "late_cancel_window_min",
    "patient_can_cancel",
    "patient_can_reschedule",
    "patient_min_notice_min",
    "allow_forced_booking",
)


class PolicyRefused(SchedulingError, errors.Forbidden):
    """The clinic's policy does not let the patient do this themselves (the front desk can)."""

    def __init__(self, message: str, details: Mapping[str, Any]) -> None:
        super().__init__(message, details, code="policy_refused")


@dataclass(frozen=True, slots=True)
class Policy:
    late_cancel_window: timedelta = timedelta(0)
    patient_can_cancel: bool = False
    patient_can_reschedule: bool = False
    patient_min_notice: timedelta = timedelta(days=1)
    allow_forced_booking: bool = False

    def check_force(self, role: str | None) -> None:
        """Booking over a conflict: admins only, where the clinic allows it."""
        if not self.allow_forced_booking:
            raise PolicyRefused("this clinic does not allow forced bookings", {"action": "force"})
        if role != "admin":
            raise PolicyRefused("only an admin may book over a conflict", {"action": "force"})

    def is_late(self, starts_at: datetime, now: datetime) -> bool:
        return starts_at - now < self.late_cancel_window

    def check_patient(self, action: str, starts_at: datetime, now: datetime) -> None:
        """Refuse a patient's own cancel or reschedule the policy does not allow (the time
        checked is the one being given up or taken, each needs the notice)."""
        allowed = self.patient_can_cancel if action == "cancel" else self.patient_can_reschedule
        if not allowed:
            raise PolicyRefused(
                f"this clinic does not let patients {action} online; contact the clinic",
                {"action": action},
            )
        deadline = starts_at - self.patient_min_notice
        if now > deadline:
            raise PolicyRefused(
                f"too late to {action} online; contact the clinic",
                {
                    "action": action,
                    "deadline": deadline,
                    "min_notice_min": int(self.patient_min_notice.total_seconds() // 60),
                },
            )

    def as_row(self) -> Row:
        return {
            "late_cancel_window_min": int(self.late_cancel_window.total_seconds() // 60),
            "patient_can_cancel": self.patient_can_cancel,
            "patient_can_reschedule": self.patient_can_reschedule,
            "patient_min_notice_min": int(self.patient_min_notice.total_seconds() // 60),
            "allow_forced_booking": self.allow_forced_booking,
        }


def _policy(row: Mapping[str, Any] | None) -> Policy:
    if row is None:
        return Policy()
    return Policy(
        timedelta(minutes=row["late_cancel_window_min"]),
        row["patient_can_cancel"],
        row["patient_can_reschedule"],
        timedelta(minutes=row["patient_min_notice_min"]),
        row["allow_forced_booking"],
    )


async def scheduling_policy() -> Policy:
    """The clinic's policy (the defaults when it has not set one)."""
    return _policy(await first(SchedulingPolicies.select().first()))


async def set_scheduling_policy(
    conn: asyncpg.Connection, org: uuid.UUID, values: Mapping[str, Any]
) -> Policy:
    """Change some of the policy's fields; the others keep their current values. (Filtered by
    `org` as well as by row-level security: the demo seed writes on the platform path.)"""
    current = await first(
        SchedulingPolicies.select().where(SchedulingPolicies.organization_id == org).first()
    )
    merged = {**_policy(current).as_row(), **values}
    row = await conn.fetchrow(
        """INSERT INTO scheduling_policies (organization_id, late_cancel_window_min,
             patient_can_cancel, patient_can_reschedule, patient_min_notice_min,
             allow_forced_booking)
           VALUES ($1, $2, $3, $4, $5, $6)
           ON CONFLICT (organization_id) DO UPDATE SET
             late_cancel_window_min = EXCLUDED.late_cancel_window_min,
             patient_can_cancel = EXCLUDED.patient_can_cancel,
             patient_can_reschedule = EXCLUDED.patient_can_reschedule,
             patient_min_notice_min = EXCLUDED.patient_min_notice_min,
             allow_forced_booking = EXCLUDED.allow_forced_booking,
             updated_at = now()
           RETURNING *""",
        org,
        *(merged[f] for f in POLICY_FIELDS),
    )
    return _policy(row)


async def cancellation_reasons(*, include_retired: bool = False) -> list[Row]:
    query = CancellationReasons.select().order_by(
        CancellationReasons.position, CancellationReasons.code
    )
    if not include_retired:
        query = query.where(CancellationReasons.active.eq(True))
    return await rows(query)


async def add_cancellation_reason(org: uuid.UUID, code: str, label: str, position: int) -> Row:
    same = (CancellationReasons.organization_id == org) & (CancellationReasons.code == code)
    if await first(CancellationReasons.select().where(same).first()):
        raise errors.Conflict(
            "a cancellation reason with this code exists", {"code": code}, code="duplicate"
        )
    created = await rows(
        CancellationReasons.insert(
            CancellationReasons(organization_id=org, code=code, label=label, position=position)
        ).returning(*CancellationReasons.all_columns())
    )
    return created[0]


async def edit_cancellation_reason(reason_id: uuid.UUID, values: Mapping[str, Any]) -> Row | None:
    """Change the label, position or active flag (codes are kept: cancellations name them)."""
    changes: dict[Column | str, Any] = {
        CancellationReasons._meta.get_column_by_name(k): v for k, v in values.items()
    }
    if not changes:
        return await first(
            CancellationReasons.select().where(CancellationReasons.id == reason_id).first()
        )
    changed = await rows(
        CancellationReasons.update(changes)
        .where(CancellationReasons.id == reason_id)
        .returning(*CancellationReasons.all_columns())
    )
    return changed[0] if changed else None


_CANCEL_TERMS = f"""
SELECT {", ".join("p." + f for f in POLICY_FIELDS)},
       ARRAY(SELECT code FROM cancellation_reasons
             WHERE organization_id = $1 AND active ORDER BY position, code) AS codes
FROM (VALUES (1)) AS one LEFT JOIN scheduling_policies p ON p.organization_id = $1
"""


@dataclass(frozen=True, slots=True)
class CancelTerms:
    """A clinic's policy and its active cancellation reasons, read once for a batch of cancels."""

    policy: Policy
    codes: tuple[str, ...]

    def policy_for(self, reason: str) -> Policy:
        """The policy for a cancellation, once `reason` is found fit: a clinic with a list of
        reasons takes one of its active codes; without a list, any text (the behaviour before
        clinics had lists)."""
        if self.codes and reason not in self.codes:
            listed = ", ".join(self.codes)
            raise InvalidReference(
                "reason", f"must be one of the clinic's cancellation reasons: {listed}"
            )
        return self.policy


async def cancellation_terms(conn: asyncpg.Connection, org: uuid.UUID) -> CancelTerms:
    """One round trip, in the caller's transaction: the front desk's cancels run in the
    calendar's batch."""
    row = await conn.fetchrow(_CANCEL_TERMS, org)
    return CancelTerms(
        _policy(row if row["late_cancel_window_min"] is not None else None), tuple(row["codes"])
    )
