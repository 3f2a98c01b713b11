"""The follow-ups table's reads and writes (see the package's docstring)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any

import asyncpg

from storage.care_team import treats_condition
from storage.crypto import FieldRef, KeyRing
from storage.errors import Invalid
from storage.follow_ups._states import Action, FollowUpState, next_state
from storage.orm import first, rows
from storage.tables._notes import FollowUps

MAX_REASON = 500
Row = dict[str, Any]


def _reason(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise Invalid({"reason": "must not be empty"})
    if len(value) > MAX_REASON:
        raise Invalid({"reason": f"must be at most {MAX_REASON} characters"})
    return value


def _ref(org: uuid.UUID, follow_up_id: uuid.UUID) -> FieldRef:
    return FieldRef("follow_ups", "reason", follow_up_id, org)


def _opened(ring: KeyRing, row: Row) -> Row:
    sealed = row["reason"]
    reason = None if sealed is None else ring.open(sealed, _ref(row["organization_id"], row["id"]))
    return {**row, "reason": reason}


async def create_follow_up(
    ring: KeyRing,
    org: uuid.UUID,
    *,
    patient_id: uuid.UUID,
    from_appointment_id: uuid.UUID | None,
    reason: str,
    due_on: date,
    by_user: uuid.UUID | None,
    by_role: str,
) -> Row:
    """A pending follow-up, opened. The caller checked the appointment, if any, is the patient's."""
    reason = _reason(reason)
    follow_up_id = uuid.uuid4()
    inserted = await rows(
        FollowUps.insert(
            FollowUps(
                id=follow_up_id,
                organization_id=org,
                patient_id=patient_id,
                from_appointment_id=from_appointment_id,
                reason=ring.seal(reason, _ref(org, follow_up_id)),
                due_on=due_on,
                state=FollowUpState.PENDING.value,
                created_by=by_user,
                created_by_role=by_role,
            )
        ).returning(*FollowUps.all_columns())
    )
    return _opened(ring, inserted[0])


async def get_follow_up(
    ring: KeyRing, follow_up_id: uuid.UUID, *, lock: bool = False
) -> Row | None:
    """The follow-up, opened, or None. `lock`: for a transition (concurrent ones queue)."""
    query = FollowUps.select().where(FollowUps.id == follow_up_id)
    if lock:
        query = query.lock_rows("NO KEY UPDATE")
    row = await first(query.first())
    return None if row is None else _opened(ring, row)


async def list_follow_ups(
    conn: asyncpg.Connection,
    ring: KeyRing,
    *,
    state: FollowUpState | None,
    due_before: date | None,
    patient_id: uuid.UUID | None,
    treated_by: uuid.UUID | None,
    limit: int,
    after: tuple[date, uuid.UUID] | None,
) -> list[Row]:
    """Follow-ups by due date, earliest first (the front desk's queue), after `after` (due_on,
    id): in `state`, due strictly before `due_before`, of `patient_id`, and of the patients the
    specialist `treated_by` treats, each filter when given. A deleted patient's follow-ups are
    left out (one of them by id is 404 too)."""
    found = await conn.fetch(
        f"""SELECT f.* FROM follow_ups f
             WHERE EXISTS (SELECT 1 FROM patients p
                            WHERE p.organization_id = f.organization_id AND p.id = f.patient_id
                              AND p.deleted_at IS NULL)
               AND ($1::text IS NULL OR f.state = $1)
               AND ($2::date IS NULL OR f.due_on < $2)
               AND ($3::uuid IS NULL OR f.patient_id = $3)
               AND ($4::uuid IS NULL OR {treats_condition("f.patient_id", "$4")})
               AND ($5::date IS NULL OR (f.due_on, f.id) > ($5, $6::uuid))
             ORDER BY f.due_on, f.id
             LIMIT $7""",
        None if state is None else state.value,
        due_before,
        patient_id,
        treated_by,
        None if after is None else after[0],
        None if after is None else after[1],
        limit,
    )
    return [_opened(ring, dict(r.items())) for r in found]


async def transition_follow_up(
    ring: KeyRing, follow_up: Row, action: Action, *, appointment_id: uuid.UUID | None = None
) -> Row:
    """Apply `action` to `follow_up` (read with `lock=True` in this transaction); the updated
    row, opened. InvalidTransition when the state machine has no such edge. `schedule` links the
    appointment that fulfils it (the caller checked it is the patient's); `reopen` unlinks it."""
    state = next_state(FollowUpState(follow_up["state"]), action)
    linked = follow_up["scheduled_appointment_id"]
    if action is Action.SCHEDULE:
        if appointment_id is None:
            raise Invalid({"appointment_id": "is required"})
        linked = appointment_id
    elif action is Action.REOPEN:
        linked = None
    updated = await rows(
        FollowUps.update(
            {
                FollowUps.state: state.value,
                FollowUps.scheduled_appointment_id: linked,
                FollowUps.updated_at: datetime.now(UTC),
            }
        )
        .where(FollowUps.id == follow_up["id"])
        .returning(*FollowUps.all_columns())
    )
    return _opened(ring, updated[0])
