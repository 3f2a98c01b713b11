"""Appointment writes as plain functions on an asyncpg connection: book (from a hold or by staff),
transition, cancel, reschedule, and book a recurring series all-or-nothing.

The caller owns the transaction (`Database.tenant(org_id)`); each function writes its history row
and its audit row in it. Engine rules (hours, alignment, daily cap) are the caller's to check
first; these functions enforce what the database can prove: tenancy, membership, the state
machine, and no overlap (the exclusion constraint, SQLSTATE 23P01 -> SlotUnavailable).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from storage import audit
from storage.crypto import LEGACY, FieldRef, KeyRing
from storage.orm import first, rows
from storage.scheduling._errors import (
    InvalidReference,
    NotFound,
    SchedulingError,
    SlotUnavailable,
)
from storage.scheduling._policies import CancelTerms, cancellation_terms, scheduling_policy
from storage.scheduling._states import Action, AppointmentStatus, next_status
from storage.tables import AppointmentHistory, Appointments

ENTITY = "appointment"
# The rooms' and equipment's exclusion constraint (m2026_12_06t01): the appointment's own
# statement fails with it when a room or piece of equipment the service requires is taken.
RESOURCES_TAKEN = "appointment_resources_no_overlap"
ROOM_OR_EQUIPMENT_TAKEN = "a room or piece of equipment the service requires is not free"


@dataclass(frozen=True, slots=True)
class Appointment:
    id: uuid.UUID
    organization_id: uuid.UUID
    calendar_id: uuid.UUID
    service_id: uuid.UUID
    specialist_id: uuid.UUID
    patient_id: uuid.UUID
    starts_at: datetime
    ends_at: datetime
    buffer_before_min: int
    buffer_after_min: int
    status: AppointmentStatus
    series_id: uuid.UUID | None
    series_index: int | None
    hold_id: uuid.UUID | None
    created_at: datetime
    updated_at: datetime
    forced_reason: str | None = None  # booked over a conflict by an admin (the policy allows)
    group_session_id: uuid.UUID | None = None  # a participant of a class (a seat)

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Appointment:
        return cls(
            id=row["id"],
            organization_id=row["organization_id"],
            calendar_id=row["calendar_id"],
            service_id=row["service_id"],
            specialist_id=row["specialist_id"],
            patient_id=row["patient_id"],
            starts_at=row["starts_at"],
            ends_at=row["ends_at"],
            buffer_before_min=row["buffer_before_min"],
            buffer_after_min=row["buffer_after_min"],
            status=AppointmentStatus(row["status"]),
            series_id=row["series_id"],
            series_index=row["series_index"],
            hold_id=row["hold_id"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
            forced_reason=row["forced_reason"],
            group_session_id=row.get("group_session_id"),
        )

    def audit_view(self) -> dict[str, Any]:
        """The fields an audit diff records (ids and times; no patient data)."""
        return {
            "status": self.status.value,
            "calendar_id": self.calendar_id,
            "specialist_id": self.specialist_id,
            "patient_id": self.patient_id,
            "starts_at": self.starts_at,
            "ends_at": self.ends_at,
        } | ({"forced_reason": self.forced_reason} if self.forced_reason else {})


_HISTORY = """INSERT INTO appointment_history (organization_id, appointment_id, action,
                from_status, to_status, from_starts_at, from_ends_at, from_specialist_id,
                starts_at, ends_at, specialist_id, actor_user_id, actor_role)
              VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"""


def _history_row(
    actor: audit.AuditActor, action: str, before: Appointment | None, after: Appointment
) -> tuple[Any, ...]:
    return (
        after.organization_id,
        after.id,
        action,
        before.status.value if before else None,
        after.status.value,
        before.starts_at if before else None,
        before.ends_at if before else None,
        before.specialist_id if before else None,
        after.starts_at,
        after.ends_at,
        after.specialist_id,
        actor.user_id,
        actor.role,
    )


async def _history(
    conn: asyncpg.Connection,
    actor: audit.AuditActor,
    action: str,
    before: Appointment | None,
    after: Appointment,
) -> None:
    await conn.execute(_HISTORY, *_history_row(actor, action, before, after))


async def _conflicts(
    conn: asyncpg.Connection,
    specialist_id: uuid.UUID,
    starts_at: datetime,
    ends_at: datetime,
    buffer_before_min: int,
    buffer_after_min: int,
    exclude: uuid.UUID | None = None,
) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        """SELECT id, starts_at, ends_at FROM appointments
           WHERE specialist_id = $1 AND status NOT IN ('cancelled', 'no_show')
             AND ($6::uuid IS NULL OR id <> $6)
             AND appointment_span(starts_at, ends_at, buffer_before_min, buffer_after_min)
                 && appointment_span($2, $3, $4, $5)
           ORDER BY starts_at""",
        specialist_id,
        starts_at,
        ends_at,
        buffer_before_min,
        buffer_after_min,
        exclude,
    )
    return [
        {
            "appointment_id": r["id"],
            "specialist_id": specialist_id,
            "start": r["starts_at"],
            "end": r["ends_at"],
        }
        for r in rows
    ]


NOT_A_MEMBER = "is not an active specialist of this calendar"


def _theirs(a: Appointment, specialist_id: uuid.UUID | None, patient_id: uuid.UUID | None) -> bool:
    """Whether a caller restricted to a specialist's or a patient's own appointments (when
    given) may see this one: to them no other exists."""
    return (specialist_id is None or a.specialist_id == specialist_id) and (
        patient_id is None or a.patient_id == patient_id
    )


async def _locked(
    conn: asyncpg.Connection, appointment_id: uuid.UUID, patient_id: uuid.UUID | None
) -> Appointment:
    """The appointment locked for the write; NotFound when it is not the given patient's."""
    row = await conn.fetchrow("SELECT * FROM appointments WHERE id = $1 FOR UPDATE", appointment_id)
    appointment = None if row is None else Appointment.from_row(row)
    if appointment is None or not _theirs(appointment, None, patient_id):
        raise NotFound(ENTITY)
    return appointment


async def _booking_references(
    conn: asyncpg.Connection,
    calendar_id: uuid.UUID,
    specialists: Sequence[uuid.UUID],
    patients: Sequence[uuid.UUID],
) -> asyncpg.Record:
    """The calendar's organization and its service's duration and buffers, with which of
    `specialists` are its active members and which of `patients` exist, in ONE round trip for
    a whole batch of bookings (or a move to another specialist or calendar); NotFound."""
    cal = await conn.fetchrow(
        """SELECT c.organization_id, c.service_id, s.duration_min, s.buffer_before_min,
                  s.buffer_after_min,
                  ARRAY(SELECT cs.specialist_id FROM calendar_specialists cs
                        JOIN specialists sp ON sp.id = cs.specialist_id
                        WHERE cs.calendar_id = c.id AND cs.specialist_id = ANY($2::uuid[])
                          AND sp.active AND sp.deleted_at IS NULL) AS members,
                  ARRAY(SELECT p.id FROM patients p
                        WHERE p.id = ANY($3::uuid[]) AND p.deleted_at IS NULL) AS patients
           FROM calendars c JOIN services s ON s.id = c.service_id
           WHERE c.id = $1 AND c.deleted_at IS NULL""",
        calendar_id,
        list(set(specialists)),
        list(set(patients)),
    )
    if cal is None:
        raise NotFound("calendar")
    return cal


async def appointment_calendar(
    conn: asyncpg.Connection, appointment_id: uuid.UUID
) -> uuid.UUID | None:
    """The calendar of a visible appointment: where a write to it is routed (its shard)."""
    calendar_id: uuid.UUID | None = await conn.fetchval(
        "SELECT calendar_id FROM appointments WHERE id = $1", appointment_id
    )
    return calendar_id


async def find_appointment(
    appointment_id: uuid.UUID,
    *,
    specialist_id: uuid.UUID | None = None,
    patient_id: uuid.UUID | None = None,
) -> Appointment | None:
    """A visible appointment, restricted to the specialist's or the patient's own when given."""
    where: Any = Appointments.id == appointment_id
    if specialist_id is not None:
        where &= Appointments.specialist_id == specialist_id
    if patient_id is not None:
        where &= Appointments.patient_id == patient_id
    row = await first(Appointments.select().where(where).first())
    return None if row is None else Appointment.from_row(row)


async def appointment_by_hold(conn: asyncpg.Connection, hold_id: uuid.UUID) -> Appointment | None:
    """The appointment a hold became (the booking path: raw asyncpg, it runs per booking)."""
    row = await conn.fetchrow("SELECT * FROM appointments WHERE hold_id = $1", hold_id)
    return None if row is None else Appointment.from_row(row)


async def appointments_by_holds(
    conn: asyncpg.Connection, hold_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, Appointment]:
    """`appointment_by_hold` for a batch of holds, in one round trip (hold id -> appointment)."""
    found = await conn.fetch("SELECT * FROM appointments WHERE hold_id = ANY($1::uuid[])", hold_ids)
    return {r["hold_id"]: Appointment.from_row(r) for r in found}


@dataclass(frozen=True, slots=True)
class AppointmentFilter:
    """What `list_appointments` lists: appointments overlapping [start, stop), by start and id,
    after the `after` (starts_at, id) keyset; `own_*` restrict to a specialist's or patient's."""

    start: datetime | None = None
    stop: datetime | None = None
    specialist_id: uuid.UUID | None = None
    patient_id: uuid.UUID | None = None
    calendar_id: uuid.UUID | None = None
    status: str | None = None
    after: tuple[datetime, uuid.UUID] | None = None
    own_specialist: uuid.UUID | None = None
    own_patient: uuid.UUID | None = None
    # What it reserved (appointment_resources): the room, or any room or piece of equipment at
    # the location.
    room_id: uuid.UUID | None = None
    location_id: uuid.UUID | None = None


async def list_appointments(
    conn: asyncpg.Connection, f: AppointmentFilter, limit: int
) -> list[Appointment]:
    """At most `limit` appointments (keyset paging on a row comparison: raw SQL)."""
    after_start, after_id = f.after or (None, None)
    rows = await conn.fetch(
        """SELECT * FROM appointments t
           WHERE ($1::timestamptz IS NULL OR t.ends_at > $1)
             AND ($2::timestamptz IS NULL OR t.starts_at < $2)
             AND ($3::uuid IS NULL OR t.specialist_id = $3)
             AND ($4::uuid IS NULL OR t.patient_id = $4)
             AND ($5::uuid IS NULL OR t.calendar_id = $5)
             AND ($6::text IS NULL OR t.status = $6)
             AND ($7::timestamptz IS NULL OR (t.starts_at, t.id) > ($7, $8::uuid))
             AND ($9::uuid IS NULL OR t.specialist_id = $9)
             AND ($10::uuid IS NULL OR t.patient_id = $10)
             AND ($12::uuid IS NULL OR EXISTS (
                   SELECT 1 FROM appointment_resources ar
                   WHERE ar.organization_id = t.organization_id AND ar.appointment_id = t.id
                     AND ar.room_id = $12))
             AND ($13::uuid IS NULL OR EXISTS (
                   SELECT 1 FROM appointment_resources ar
                   LEFT JOIN rooms r ON r.organization_id = ar.organization_id
                     AND r.id = ar.room_id
                   LEFT JOIN equipment e ON e.organization_id = ar.organization_id
                     AND e.id = ar.equipment_id
                   WHERE ar.organization_id = t.organization_id AND ar.appointment_id = t.id
                     AND coalesce(r.location_id, e.location_id) = $13))
           ORDER BY t.starts_at, t.id LIMIT $11""",
        f.start, f.stop, f.specialist_id, f.patient_id, f.calendar_id, f.status,
        after_start, after_id, f.own_specialist, f.own_patient, limit, f.room_id,
        f.location_id,
    )  # fmt: skip
    return [Appointment.from_row(r) for r in rows]


async def appointment_history(appointment_id: uuid.UUID) -> list[dict[str, Any]]:
    """Every status change and move of the appointment, oldest first."""
    return await rows(
        AppointmentHistory.select()
        .where(AppointmentHistory.appointment_id == appointment_id)
        .order_by(AppointmentHistory.id)
    )


async def insert_guest(
    conn: asyncpg.Connection,
    row_id: uuid.UUID,
    org_id: uuid.UUID,
    first_name: str,
    last_name: str,
    sealed: Mapping[str, Any],
) -> uuid.UUID:
    """A guest patient of a public booking, with its contact already sealed (`email`, `phone`,
    `email_bidx`, `phone_bidx`); the booking path, so raw asyncpg."""
    new_id: uuid.UUID = await conn.fetchval(
        """INSERT INTO patients (id, organization_id, first_name, last_name, email, phone,
                                 email_bidx, phone_bidx, guest)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, true) RETURNING id""",
        row_id, org_id, first_name, last_name, sealed["email"], sealed["phone"],
        sealed["email_bidx"], sealed["phone_bidx"],
    )  # fmt: skip
    return new_id


@dataclass(frozen=True, slots=True)
class NewAppointment:
    """One appointment for `insert_appointments`: `[starts_at, ends_at)` (default: the
    service's duration) with the specialist, `status` as requested (a guest's booking request
    occupies the time just the same). Its id is chosen here, so the row the database skipped
    is known by its absence."""

    actor: audit.AuditActor
    specialist_id: uuid.UUID
    patient_id: uuid.UUID
    starts_at: datetime
    ends_at: datetime | None = None
    hold_id: uuid.UUID | None = None
    series_id: uuid.UUID | None = None
    series_index: int | None = None
    forced_reason: str | None = None
    group_session_id: uuid.UUID | None = None
    status: AppointmentStatus = AppointmentStatus.BOOKED
    id: uuid.UUID = field(default_factory=uuid.uuid4)


# The rows go in by column (unnest), so any number of them is one statement and one plan. No
# arbiter is named: the hold's uniqueness and the specialist's no-overlap constraint both skip
# a row instead of aborting the caller's transaction, so no savepoint (two round trips) is
# needed to ask what was in the way. The specialists' counts of assignments (the calendar's
# fair rotation) rise with the rows, in the same statement.
_INSERT = """
WITH booked AS (
  INSERT INTO appointments (id, organization_id, calendar_id, service_id, specialist_id,
    patient_id, starts_at, ends_at, buffer_before_min, buffer_after_min, hold_id, series_id,
    series_index, created_by, forced_reason, group_session_id, status)
  SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], $5::uuid[],
    $6::uuid[], $7::timestamptz[], $8::timestamptz[], $9::int[], $10::int[], $11::uuid[],
    $12::uuid[], $13::int[], $14::uuid[], $15::text[], $16::uuid[], $17::text[])
  ON CONFLICT DO NOTHING
  RETURNING *
), counted AS (
  UPDATE calendar_specialists cs SET assignments = assignments + b.n
  FROM (SELECT calendar_id, specialist_id, count(*) AS n FROM booked GROUP BY 1, 2) b
  WHERE cs.calendar_id = b.calendar_id AND cs.specialist_id = b.specialist_id
)
SELECT * FROM booked
"""

Booked = Appointment | SchedulingError


async def insert_appointments(
    conn: asyncpg.Connection, calendar_id: uuid.UUID, wanted: Sequence[NewAppointment]
) -> list[Booked]:
    """Book each of `wanted` on the calendar, in the caller's transaction, in about four round
    trips whatever their number (a busy calendar's batch). Each answer is the appointment, or
    what refused that one: InvalidReference (specialist_id, patient_id, end), SlotUnavailable
    (the time or its buffers overlap another live appointment of the specialist, or an earlier
    one of `wanted`). A `forced_reason` books over a conflict (the caller checked `may_force`):
    the no-overlap constraint leaves such a row out.

    Idempotent per `hold_id`: a hold already booked answers with that appointment (its id is
    then not the one `wanted` chose). Raises NotFound (calendar) for all, and SlotUnavailable
    when a room or piece of equipment the service requires is taken: the trigger that books
    them aborts the statement, and the caller rolls back or books one at a time.
    """
    if not wanted:
        return []
    cal = await _booking_references(
        conn, calendar_id, [w.specialist_id for w in wanted], [w.patient_id for w in wanted]
    )
    members, patients = set(cal["members"]), set(cal["patients"])
    duration = timedelta(minutes=cal["duration_min"])
    answers: dict[uuid.UUID, Booked] = {}
    rows: list[tuple[NewAppointment, datetime]] = []
    for w in wanted:
        ends_at = w.ends_at or w.starts_at + duration
        if w.specialist_id not in members:
            answers[w.id] = InvalidReference("specialist_id", NOT_A_MEMBER)
        elif w.patient_id not in patients:
            answers[w.id] = InvalidReference("patient_id", "no such patient")
        elif ends_at <= w.starts_at:
            answers[w.id] = InvalidReference("end", "must be after start")
        else:
            rows.append((w, ends_at))
    bb, ba = cal["buffer_before_min"], cal["buffer_after_min"]
    n = len(rows)
    try:
        made = await conn.fetch(
            _INSERT,
            [w.id for w, _ in rows], [cal["organization_id"]] * n, [calendar_id] * n,
            [cal["service_id"]] * n, [w.specialist_id for w, _ in rows],
            [w.patient_id for w, _ in rows], [w.starts_at for w, _ in rows],
            [end for _, end in rows], [bb] * n, [ba] * n, [w.hold_id for w, _ in rows],
            [w.series_id for w, _ in rows], [w.series_index for w, _ in rows],
            [w.actor.user_id for w, _ in rows], [w.forced_reason for w, _ in rows],
            [w.group_session_id for w, _ in rows], [w.status.value for w, _ in rows],
        ) if rows else []  # fmt: skip
    except asyncpg.ExclusionViolationError as exc:
        if exc.constraint_name == RESOURCES_TAKEN:
            raise SlotUnavailable(ROOM_OR_EQUIPMENT_TAKEN) from None
        raise
    booked = {r["id"]: Appointment.from_row(r) for r in made}
    fresh = [(w, booked[w.id]) for w, _ in rows if w.id in booked]
    await conn.executemany(_HISTORY, [_history_row(w.actor, "book", None, a) for w, a in fresh])
    await audit.record_many(
        conn,
        [
            audit.Entry(
                w.actor, a.organization_id, "appointment.book", ENTITY, a.id, None,
                a.audit_view(),
            )
            for w, a in fresh
        ],
    )  # fmt: skip
    answers.update(booked)
    for w, ends_at in rows:
        if w.id not in booked:  # skipped: the hold booked already, or the time taken
            answers[w.id] = await _skipped(conn, w, ends_at, bb, ba)
    return [answers[w.id] for w in wanted]


async def _skipped(
    conn: asyncpg.Connection, w: NewAppointment, ends_at: datetime, bb: int, ba: int
) -> Booked:
    if w.hold_id is not None:
        row = await conn.fetchrow("SELECT * FROM appointments WHERE hold_id = $1", w.hold_id)
        if row is not None:
            return Appointment.from_row(row)
    conflicts = await _conflicts(conn, w.specialist_id, w.starts_at, ends_at, bb, ba)
    return SlotUnavailable("the specialist is not free at this time", conflicts)


async def insert_appointment(
    conn: asyncpg.Connection, calendar_id: uuid.UUID, wanted: NewAppointment
) -> Appointment:
    """`insert_appointments` of one, raising what refused it."""
    (answer,) = await insert_appointments(conn, calendar_id, [wanted])
    if isinstance(answer, SchedulingError):
        raise answer
    return answer


@dataclass(frozen=True, slots=True)
class StatusChange:
    """One status action (see `transition_appointment`). `calendar_id`, when given, is the
    calendar the caller believes the appointment is on: one on another calendar is NotFound."""

    actor: audit.AuditActor
    appointment_id: uuid.UUID
    action: Action
    only_specialist: uuid.UUID | None = None
    reason: str | None = None
    note: str | None = None
    own_patient: uuid.UUID | None = None
    calendar_id: uuid.UUID | None = None


Changed = tuple[Appointment, Appointment] | SchedulingError

_CANCELLATION = """INSERT INTO cancellations (id, organization_id, appointment_id, patient_id,
  specialist_id, calendar_id, reason, note, cancelled_by, cancelled_by_role, original_starts_at,
  original_ends_at, late)
VALUES ($12, $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $13)"""

_SET_STATUS = """UPDATE appointments a SET status = u.status, updated_at = now()
FROM unnest($1::uuid[], $2::text[]) AS u(id, status) WHERE a.id = u.id RETURNING a.*"""


async def transition_appointments(
    conn: asyncpg.Connection, changes: Sequence[StatusChange], keys: KeyRing | None = None
) -> list[Changed]:
    """Apply status actions to distinct appointments, in the caller's transaction, in about six
    round trips whatever their number (a calendar batch's front-desk writes): the rows locked
    together (in id order, as any two batches lock them), the clinic's cancellation terms read
    once, one UPDATE, then the cancellation records, history and audit rows each in one
    pipelined round trip. Each answer is (before, after) or what refused that change, with
    nothing written for it. The appointments must be distinct (ValueError)."""
    ids = [c.appointment_id for c in changes]
    if len(set(ids)) != len(ids):
        raise ValueError("one status change per appointment")
    answers: dict[int, Changed] = {}
    for i, c in enumerate(changes):
        if c.action is Action.RESCHEDULE:
            raise ValueError("use reschedule_appointment to move an appointment")
        if c.own_patient is not None and c.action is not Action.CANCEL:
            answers[i] = NotFound(ENTITY)
        elif c.action is Action.CANCEL and not c.reason:
            answers[i] = InvalidReference("reason", "is required to cancel")
    found = {
        r["id"]: Appointment.from_row(r)
        for r in await conn.fetch(
            "SELECT * FROM appointments WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE",
            [c.appointment_id for i, c in enumerate(changes) if i not in answers],
        )
    }  # fmt: skip
    terms: dict[uuid.UUID, CancelTerms] = {}
    now = datetime.now(UTC)
    todo: list[tuple[int, Appointment, AppointmentStatus, bool]] = []
    for i, c in enumerate(changes):
        if i in answers:
            continue
        before = found.get(c.appointment_id)
        try:
            if before is None or not _may_touch(before, c):
                raise NotFound(ENTITY)
            status = next_status(before.status, c.action)
            late = False
            if c.action is Action.CANCEL:
                org = before.organization_id
                if org not in terms:
                    terms[org] = await cancellation_terms(conn, org)
                policy = terms[org].policy_for(c.reason or "")
                if c.own_patient is not None:
                    policy.check_patient("cancel", before.starts_at, now)
                late = policy.is_late(before.starts_at, now)
        except SchedulingError as exc:
            answers[i] = exc
            continue
        todo.append((i, before, status, late))
    if todo:
        updated = await conn.fetch(
            _SET_STATUS, [b.id for _, b, _, _ in todo], [s.value for _, _, s, _ in todo]
        )
        after = {r["id"]: Appointment.from_row(r) for r in updated}
        done = [(changes[i], b, after[b.id], late) for i, b, _, late in todo]
        await _status_records(conn, keys, done)
        for i, before, _, _ in todo:
            answers[i] = (before, after[before.id])
    return [answers[i] for i in range(len(changes))]


def _may_touch(before: Appointment, c: StatusChange) -> bool:
    """Whether the caller may act on this appointment: a specialist or patient restricted to
    their own sees no other, and one on another calendar than the caller named is not found."""
    return _theirs(before, c.only_specialist, c.own_patient) and (
        c.calendar_id is None or before.calendar_id == c.calendar_id
    )


async def _status_records(
    conn: asyncpg.Connection,
    keys: KeyRing | None,
    done: Sequence[tuple[StatusChange, Appointment, Appointment, bool]],
) -> None:
    """The cancellation records, history and audit rows of applied status changes."""
    cancels = []
    for c, _, after, late in done:
        if c.action is not Action.CANCEL:
            continue
        # The note is clinical free text, sealed at rest and bound to this row (its id chosen
        # here); without keys it is stored tagged for the next `cadence keys rotate`.
        cancellation_id = uuid.uuid4()
        stored_note = c.note
        if c.note is not None:
            where = FieldRef("cancellations", "note", cancellation_id, after.organization_id)
            stored_note = keys.seal(c.note, where) if keys is not None else LEGACY + c.note
        cancels.append((
            after.organization_id, after.id, after.patient_id, after.specialist_id,
            after.calendar_id, c.reason, stored_note, c.actor.user_id, c.actor.role,
            after.starts_at, after.ends_at, cancellation_id, late,
        ))  # fmt: skip
    if cancels:
        await conn.executemany(_CANCELLATION, cancels)
    await conn.executemany(
        _HISTORY, [_history_row(c.actor, c.action.value, b, a) for c, b, a, _ in done]
    )
    await audit.record_many(
        conn,
        [
            audit.Entry(
                c.actor, a.organization_id, f"appointment.{c.action.value}", ENTITY, a.id,
                b.audit_view(),
                {**a.audit_view(), "reason": c.reason, "note": c.note}
                | ({"late": late} if c.action is Action.CANCEL else {}),
            )
            for c, b, a, late in done
        ],
    )  # fmt: skip


async def transition_appointment(
    conn: asyncpg.Connection,
    *,
    actor: audit.AuditActor,
    appointment_id: uuid.UUID,
    action: Action,
    only_specialist: uuid.UUID | None = None,
    reason: str | None = None,
    note: str | None = None,
    keys: KeyRing | None = None,
    own_patient: uuid.UUID | None = None,
) -> tuple[Appointment, Appointment]:
    """Apply a status action under a row lock; returns (before, after).

    `only_specialist` restricts the call to that specialist's appointments (others are
    NotFound); `own_patient` to the patient's own, within the clinic's policy (a patient may
    only cancel). Cancelling needs a `reason` (one of the clinic's codes when it has a list)
    and writes the cancellation record, marked late inside the policy's window. Raises
    InvalidTransition when the state machine has no such edge from the current status.
    """
    change = StatusChange(actor, appointment_id, action, only_specialist, reason, note, own_patient)
    (answer,) = await transition_appointments(conn, [change], keys)
    if isinstance(answer, SchedulingError):
        raise answer
    return answer


async def cancel_appointment(
    conn: asyncpg.Connection,
    *,
    actor: audit.AuditActor,
    appointment_id: uuid.UUID,
    reason: str,
    note: str | None = None,
    only_specialist: uuid.UUID | None = None,
    keys: KeyRing | None = None,
) -> tuple[Appointment, Appointment]:
    """Cancel and record why (see `transition_appointment`); the time is free on commit."""
    return await transition_appointment(
        conn,
        actor=actor,
        appointment_id=appointment_id,
        action=Action.CANCEL,
        only_specialist=only_specialist,
        reason=reason,
        note=note,
        keys=keys,
    )


async def reschedule_appointment(
    conn: asyncpg.Connection,
    *,
    actor: audit.AuditActor,
    appointment_id: uuid.UUID,
    starts_at: datetime,
    specialist_id: uuid.UUID | None = None,
    calendar_id: uuid.UUID | None = None,
    own_patient: uuid.UUID | None = None,
) -> tuple[Appointment, Appointment]:
    """Move a booked or confirmed appointment to `starts_at`, optionally to another specialist
    and to another calendar of the organization, in one UPDATE: the old time is released and
    the new one taken atomically, the id and status stay, the move is kept in the history.
    Within its calendar it keeps its length and buffers; moved to another calendar it takes
    that calendar's service (its duration and buffers). The specialist must be an active
    member of the calendar it ends on. `own_patient`: the patient moves their own appointment,
    within the clinic's policy (the notice applies to the time given up and the time taken).
    Returns (before, after); raises SlotUnavailable, InvalidTransition, InvalidReference,
    NotFound (a target calendar), PolicyRefused."""
    before = await _locked(conn, appointment_id, own_patient)
    next_status(before.status, Action.RESCHEDULE)
    if own_patient is not None:
        policy, now = await scheduling_policy(), datetime.now(UTC)
        policy.check_patient("reschedule", min(before.starts_at, starts_at), now)
    target = specialist_id or before.specialist_id
    where = calendar_id or before.calendar_id
    length = before.ends_at - before.starts_at
    service_id, bb, ba = before.service_id, before.buffer_before_min, before.buffer_after_min
    if target != before.specialist_id or where != before.calendar_id:
        cal = await _booking_references(conn, where, [target], [])
        if where != before.calendar_id:
            service_id, bb = cal["service_id"], cal["buffer_before_min"]
            ba, length = cal["buffer_after_min"], timedelta(minutes=cal["duration_min"])
        if target not in cal["members"]:
            raise InvalidReference("specialist_id", NOT_A_MEMBER)
    ends_at = starts_at + length
    try:
        async with conn.transaction():
            row = await conn.fetchrow(
                """UPDATE appointments SET starts_at = $2, ends_at = $3, specialist_id = $4,
                     calendar_id = $5, service_id = $6, buffer_before_min = $7,
                     buffer_after_min = $8, updated_at = now()
                   WHERE id = $1 RETURNING *""",
                appointment_id, starts_at, ends_at, target, where, service_id, bb, ba,
            )  # fmt: skip
    except asyncpg.ExclusionViolationError as exc:
        if exc.constraint_name == RESOURCES_TAKEN:
            raise SlotUnavailable(ROOM_OR_EQUIPMENT_TAKEN) from None
        conflicts = await _conflicts(
            conn, target, starts_at, ends_at, bb, ba, exclude=appointment_id
        )
        raise SlotUnavailable("the specialist is not free at the new time", conflicts) from None
    after = Appointment.from_row(row)
    await _history(conn, actor, Action.RESCHEDULE.value, before, after)
    await audit.record(
        conn,
        actor=actor,
        organization_id=after.organization_id,
        action="appointment.reschedule",
        entity=ENTITY,
        entity_id=after.id,
        before=before.audit_view(),
        after=after.audit_view(),
    )
    return before, after


async def insert_series(
    conn: asyncpg.Connection,
    *,
    actor: audit.AuditActor,
    calendar_id: uuid.UUID,
    specialist_id: uuid.UUID,
    patient_id: uuid.UUID,
    starts: Sequence[datetime],
    every_days: int,
    forced_reason: str | None = None,
) -> tuple[uuid.UUID, list[Appointment]]:
    """Book every start of a recurring series, or none: the first conflict raises
    SlotUnavailable (its conflicts carry the occurrence `index`) and the caller's transaction
    rolls back whatever was inserted before it."""
    if not starts:
        raise InvalidReference("occurrences", "a series needs at least one occurrence")
    org = await conn.fetchval(
        "SELECT organization_id FROM calendars WHERE id = $1 AND deleted_at IS NULL", calendar_id
    )
    if org is None:
        raise NotFound("calendar")
    series_id = await conn.fetchval(
        """INSERT INTO appointment_series (organization_id, calendar_id, patient_id, specialist_id,
             occurrences, every_days, first_starts_at, created_by)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id""",
        org,
        calendar_id,
        patient_id,
        specialist_id,
        len(starts),
        every_days,
        starts[0],
        actor.user_id,
    )
    wanted = [
        NewAppointment(
            actor, specialist_id, patient_id, start, series_id=series_id, series_index=index,
            forced_reason=forced_reason,
        )
        for index, start in enumerate(starts)
    ]  # fmt: skip
    answers = await insert_appointments(conn, calendar_id, wanted)
    booked = [a for a in answers if isinstance(a, Appointment)]
    for index, (start, answer) in enumerate(zip(starts, answers, strict=True)):
        if isinstance(answer, SlotUnavailable):
            end = booked[0].ends_at - booked[0].starts_at + start if booked else None
            conflict = {
                "index": index,
                "start": start,
                "end": end,
                "reason": "busy",
                "appointments": answer.conflicts,
            }
            raise SlotUnavailable(f"occurrence {index} is not free", [conflict])
        if isinstance(answer, SchedulingError):
            raise answer
    return series_id, booked


async def insert_walk_in(
    conn: asyncpg.Connection,
    *,
    actor: audit.AuditActor,
    calendar_id: uuid.UUID,
    specialist_id: uuid.UUID,
    patient_id: uuid.UUID,
    starts_at: datetime,
    forced_reason: str | None = None,
) -> Appointment:
    """A walk-in: booked and checked in at once, in the caller's transaction (both steps in
    the history). Raises as `insert_appointment`."""
    booked = await insert_appointment(
        conn, calendar_id,
        NewAppointment(actor, specialist_id, patient_id, starts_at, forced_reason=forced_reason),
    )  # fmt: skip
    _, arrived = await transition_appointment(
        conn, actor=actor, appointment_id=booked.id, action=Action.CHECK_IN
    )
    return arrived
