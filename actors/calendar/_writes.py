"""Staff writes that change availability without a hold (reschedule, series, status changes),
as the owning shard runs them under its organization's lock: first against the live holds (a
hold promises its holder the booking), then in one Postgres transaction. The exclusion
constraint still has the last word on appointments."""

from __future__ import annotations

import uuid
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
    decide_request,
    insert_series,
    insert_walk_in,
    reschedule_appointment,
    scheduling_policy,
    set_details,
    transition_appointment,
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
    if Action(r.action) in REQUEST_DECISIONS:  # a guest's booking request: its record too
        before, after = await decide_request(
            conn, actor=r.actor, appointment_id=r.appointment_id, action=Action(r.action),
            now=datetime.now(UTC),
        )  # fmt: skip
        return m.Written((after,), (before,))
    before, after = await transition_appointment(
        conn, actor=r.actor, appointment_id=r.appointment_id, action=Action(r.action),
        only_specialist=r.only_specialist, reason=r.reason, note=r.note, keys=keys,
        own_patient=patient,
    )  # fmt: skip
    return m.Written((after,), (before,))


async def write_many(
    pool: TenantPool, org_id: uuid.UUID, batch: Sequence[m.StaffWrite], keys: KeyRing | None
) -> list[m.Result]:
    """The writes of one calendar's batch in ONE tenant transaction, in order (a later one
    sees what an earlier one wrote), each in its own savepoint (actors/calendar/_transaction.py):
    a refused write rolls back alone and its neighbours commit together."""

    async def run(conn: asyncpg.Connection, r: m.StaffWrite) -> m.Result:
        return await _checked(conn, r, keys)

    return await in_one_transaction(pool, org_id, batch, run, failure_of)


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
