"""Staff writes that change availability without a hold (reschedule, series, status changes),
as the owning shard runs them under its organization's lock: first against the live holds (a
hold promises its holder the booking), then in one Postgres transaction. The exclusion
constraint still has the last word on appointments."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from actors.calendar import messages as m
from actors.calendar._state import CalendarState
from actors.calendar._transaction import in_one_transaction, refusal
from storage import errors
from storage.crypto import KeyRing
from storage.db import TenantPool
from storage.jsonable import jsonable
from storage.rfc3339 import format_instant
from storage.scheduling import (
    Action,
    Appointment,
    InvalidTransition,
    NotFound,
    PolicyRefused,
    StatusChange,
    decide_request,
    insert_series,
    insert_walk_in,
    reschedule_appointment,
    scheduling_policy,
    set_details,
    transition_appointments,
)

REQUEST_DECISIONS = frozenset({Action.APPROVE, Action.DECLINE, Action.EXPIRE})


def moved(before: Appointment, after: Appointment) -> bool:
    """Whether the write changed the time the appointment occupies, or where (a confirm does
    not)."""

    def place(a: Appointment) -> tuple[object, ...]:
        return (a.status.holds_time, a.specialist_id, a.starts_at, a.ends_at, a.calendar_id,
                a.buffer_before_min, a.buffer_after_min)  # fmt: skip

    return place(before) != place(after)


def spans_of(r: m.StaffWrite) -> tuple[m.Span, ...]:
    if isinstance(r, m.RescheduleAppointment):
        return (r.span,)
    if isinstance(r, m.BookSeries):
        return r.spans
    if isinstance(r, m.WalkIn):
        return (r.span,)
    return ()


def forced(r: m.StaffWrite) -> bool:
    """A booking over a conflict (storage checks the caller may force it): held times too."""
    return isinstance(r, m.BookSeries | m.WalkIn) and r.forced_reason is not None


def held_conflicts(state: CalendarState, spans: tuple[m.Span, ...]) -> list[Any]:
    """Each span that comes within the calendar's buffers of a live hold, on this calendar or
    another of the organization (its foreign holds)."""
    cal = state.calendar
    pad = timedelta(minutes=cal.buffer_before_min + cal.buffer_after_min)
    holds = [*state.holds.values(), *state.foreign.values()]
    found: list[dict[str, Any]] = []
    for index, span in enumerate(spans):
        for hold in holds:
            if (
                hold.specialist_id == span.specialist_id
                and hold.start < span.end + pad
                and span.start < hold.end + pad
            ):
                found.append({
                    "index": index, "start": format_instant(span.start),
                    "end": format_instant(span.end),
                    "specialist_id": str(span.specialist_id), "reason": "held",
                    "held_until": format_instant(hold.expires_at),
                })  # fmt: skip
                break
    return found


async def _visit_reason(
    conn: asyncpg.Connection,
    keys: KeyRing | None,
    r: m.BookSeries | m.WalkIn,
    booked: list[Appointment],
) -> None:
    """The booking's visit reason on each appointment it made, in its transaction."""
    if not r.visit_reason:
        return
    for appt in booked:
        await set_details(
            conn, keys, organization_id=appt.organization_id, appointment_id=appt.id,
            patient_id=appt.patient_id, values={"visit_reason": r.visit_reason},
            by=r.actor.user_id,
        )  # fmt: skip


def own_patient(r: m.StaffWrite) -> uuid.UUID | None:
    """The patient acting on their own appointment (a cancel or a move, within the clinic's
    policy, which storage applies with the appointment locked); None for staff."""
    caller = r.caller
    if caller.role == "patient" and isinstance(r, m.RescheduleAppointment | m.ChangeStatus):
        return caller.patient_id
    return None


def may_write(r: m.StaffWrite, organization_id: uuid.UUID) -> bool:
    if r.caller.org_id != organization_id:
        return False
    return r.caller.staff or own_patient(r) is not None


async def _write(conn: asyncpg.Connection, r: m.StaffWrite, keys: KeyRing | None) -> m.Written:
    patient = own_patient(r)
    if isinstance(r, m.RescheduleAppointment):
        before, after = await reschedule_appointment(
            conn, actor=r.actor, appointment_id=r.appointment_id, starts_at=r.span.start,
            specialist_id=r.span.specialist_id, calendar_id=r.calendar_id, own_patient=patient,
        )  # fmt: skip
        return m.Written((after,), (before,))
    if isinstance(r, m.BookSeries | m.WalkIn) and r.forced_reason is not None:
        (await scheduling_policy()).check_force(r.caller.role)
    if isinstance(r, m.BookSeries):
        series_id, booked = await insert_series(
            conn, actor=r.actor, calendar_id=r.calendar_id,
            specialist_id=r.spans[0].specialist_id, patient_id=r.patient_id,
            starts=[s.start for s in r.spans], every_days=r.every_days,
            forced_reason=r.forced_reason,
        )  # fmt: skip
        await _visit_reason(conn, keys, r, booked)
        return m.Written(tuple(booked), (), series_id)
    if isinstance(r, m.WalkIn):
        arrived = await insert_walk_in(
            conn, actor=r.actor, calendar_id=r.calendar_id, specialist_id=r.span.specialist_id,
            patient_id=r.patient_id, starts_at=r.span.start, forced_reason=r.forced_reason,
        )  # fmt: skip
        await _visit_reason(conn, keys, r, [arrived])
        return m.Written((arrived,), ())
    # A guest's booking request decided: its record too (other status changes go together,
    # `_status_changes`).
    before, after = await decide_request(
        conn, actor=r.actor, appointment_id=r.appointment_id, action=Action(r.action),
        now=datetime.now(UTC),
    )  # fmt: skip
    return m.Written((after,), (before,))


async def write_many(
    pool: TenantPool, org_id: uuid.UUID, batch: Sequence[m.StaffWrite], keys: KeyRing | None
) -> list[m.Result]:
    """The writes of one calendar's batch in ONE tenant transaction, in order (a later one
    sees what an earlier one wrote), each in its own savepoint (actors/calendar/_transaction.py):
    a refused write rolls back alone and its neighbours commit together. Status changes next to
    each other go as one item (`transition_appointments`: a handful of round trips for all of
    them instead of six each); each is decided alone before anything is written, so one refused
    leaves its neighbours as they would have been."""

    async def run(conn: asyncpg.Connection, part: Sequence[m.StaffWrite]) -> list[m.Result]:
        changes = [r for r in part if isinstance(r, m.ChangeStatus)]
        if len(changes) == len(part):
            return await _status_changes(conn, changes, keys)
        return [await _checked(conn, r, keys) for r in part]  # one write

    def failed(exc: Exception, part: Sequence[m.StaffWrite]) -> list[m.Result]:
        return [failure_of(exc)] * len(part)

    parts = await in_one_transaction(pool, org_id, _parts(batch), run, failed)
    return [answer for part in parts for answer in part]


def _parts(batch: Sequence[m.StaffWrite]) -> list[list[m.StaffWrite]]:
    """The batch in order, each write alone but for runs of status changes that may go
    together: of distinct appointments no other write of the batch names, by actions that
    keep or free the time (the database cannot refuse one of them alone), and not a booking
    request's decision (its record changes too)."""
    named = Counter(_appointment_of(r) for r in batch)
    parts: list[list[m.StaffWrite]] = []
    joinable = False
    for r in batch:
        fits = (
            isinstance(r, m.ChangeStatus)
            and Action(r.action) in _TOGETHER
            and named[r.appointment_id] == 1
        )
        if fits and joinable:
            parts[-1].append(r)
        else:
            parts.append([r])
        joinable = fits
    return parts


_TOGETHER = frozenset({Action.CONFIRM, Action.CHECK_IN, Action.CANCEL, Action.NO_SHOW})


def _appointment_of(r: m.StaffWrite) -> uuid.UUID | None:
    return r.appointment_id if isinstance(r, m.ChangeStatus | m.RescheduleAppointment) else None


async def _status_changes(
    conn: asyncpg.Connection, part: Sequence[m.ChangeStatus], keys: KeyRing | None
) -> list[m.Result]:
    """Status changes of distinct appointments of this calendar: one on another calendar is
    not found, nothing written for it. A booking request's decision changes its record too."""
    if len(part) == 1 and Action(part[0].action) in REQUEST_DECISIONS:
        return [await _checked(conn, part[0], keys)]
    changes = [
        StatusChange(
            r.actor, r.appointment_id, Action(r.action), r.only_specialist, r.reason, r.note,
            own_patient(r), r.calendar_id,
        )
        for r in part
    ]  # fmt: skip
    answers = await transition_appointments(conn, changes, keys)
    return [
        failure_of(a) if isinstance(a, Exception) else m.Written((a[1],), (a[0],)) for a in answers
    ]


async def _checked(conn: asyncpg.Connection, r: m.StaffWrite, keys: KeyRing | None) -> m.Written:
    written = await _write(conn, r, keys)
    if isinstance(r, m.ChangeStatus):
        if written.appointments[0].calendar_id != r.calendar_id:
            raise NotFound("appointment")  # named by another calendar: roll back
    if isinstance(r, m.RescheduleAppointment):
        if written.previous[0].calendar_id != (r.from_calendar or r.calendar_id):
            raise NotFound("appointment")  # it moved meanwhile: roll back
    return written


def failure_of(exc: Exception) -> m.Failure:
    """A refused or failed write as the answer the edge maps (re-raises what is not ours)."""
    refused = refusal(exc)
    if refused is not None:
        return refused
    if isinstance(exc, InvalidTransition | errors.InvalidTransition):
        details = {"status": exc.current, "action": exc.action, "allowed": exc.allowed}
        return m.Failure(409, "invalid_transition", str(exc), jsonable(details))
    if isinstance(exc, PolicyRefused):
        return m.Failure(403, exc.code, exc.message, exc.details)
    if isinstance(exc, asyncpg.ExclusionViolationError):
        return m.slot_unavailable("the specialist is not free at this time")
    if isinstance(exc, asyncpg.DeadlockDetectedError):
        return m.Failure(409, "conflict", "a concurrent booking overlapped this one; retry")
    if isinstance(exc, asyncpg.UniqueViolationError):
        return m.Failure(409, "conflict", "a resource with these values already exists")
    if isinstance(exc, asyncpg.ForeignKeyViolationError | asyncpg.CheckViolationError):
        return m.invalid("$", "references or values the database refuses")
    if isinstance(exc, asyncpg.PostgresError | OSError | TimeoutError):
        return m.UNAVAILABLE
    raise exc
