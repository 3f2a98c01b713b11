"""Bookings that reach a calendar's shard in one batch are written in one transaction, each row
in its own savepoint: they commit together, and a refused row rolls back alone."""

from __future__ import annotations

import uuid
from typing import Any

from actors.calendar import messages as m
from server.resources import DB_KEY
from server.services import CALENDARS_KEY
from storage.audit import AuditActor
from tests.integration.live.conftest import Clinic, day_at, z


async def _batch(clinic: Clinic, requests: list[m.Request]) -> list[m.Result]:
    """The requests as ONE batch of the owning shard, as the pool sends a busy calendar's."""
    commands = clinic.client.app[CALENDARS_KEY]
    pool = commands._pool  # noqa: SLF001 - the test decides what one batch holds
    await pool.ensure_started()
    handle = pool.handle(pool.shard_for(clinic.api.org_id))
    results: list[m.Result] = await handle.handle_batch.remote(requests)
    return results


async def _hold(clinic: Clinic, hour: int) -> uuid.UUID:
    status, hold = await clinic.hold(day_at(5, hour))
    assert status == 201, hold
    return uuid.UUID(hold["id"])


async def _stored(clinic: Clinic, holds: list[uuid.UUID]) -> list[Any]:
    async with clinic.client.app[DB_KEY].tenant(clinic.api.org_id) as conn:
        return list(
            await conn.fetch(
                "SELECT hold_id, created_at FROM appointments WHERE hold_id = ANY($1)",
                holds,
            )
        )


async def test_a_batch_commits_together_and_a_refused_row_rolls_back_alone(clinic: Clinic) -> None:
    first, refused, third = [await _hold(clinic, h) for h in (9, 10, 11)]
    calendar = uuid.UUID(clinic.calendar_id)
    caller = m.Caller(f"user:{uuid.uuid4()}", clinic.api.org_id, "admin")
    actor = AuditActor(user_id=None, role="admin")
    patient = uuid.UUID(clinic.patient_id)
    results = await _batch(
        clinic,
        [
            m.BookRequest(calendar, caller, first, actor, patient),
            m.BookRequest(calendar, caller, refused, actor, uuid.uuid4()),  # no such patient
            m.BookRequest(calendar, caller, third, actor, patient),
            m.BookRequest(calendar, caller, first, actor, patient),  # a retry in the same batch
        ],
    )
    booked, invalid, booked_too, retried = results
    assert isinstance(booked, m.Booked) and booked.created
    assert isinstance(invalid, m.Failure) and invalid.status == 422, invalid
    assert isinstance(booked_too, m.Booked) and booked_too.created
    # The retry answers with the appointment the first request made, and makes none.
    assert isinstance(retried, m.Booked) and not retried.created
    assert retried.appointment.id == booked.appointment.id

    rows = await _stored(clinic, [first, refused, third])
    assert sorted(r["hold_id"] for r in rows) == sorted([first, third])
    # created_at defaults to now(), the start of the writing transaction: one for both rows.
    assert len({r["created_at"] for r in rows}) == 1

    # The refused row's hold is still the holder's: it books once the patient is right.
    status, appt = await clinic.api.call(
        "POST", "/v1/appointments", {"hold_id": str(refused), "patient_id": clinic.patient_id}
    )
    assert status == 201, appt
    state = await clinic.shard_state()
    assert str(refused) not in state["holds"]


async def test_a_lone_booking_refused_leaves_nothing_behind(clinic: Clinic) -> None:
    hold = await _hold(clinic, 12)
    caller = m.Caller(f"user:{uuid.uuid4()}", clinic.api.org_id, "admin")
    actor = AuditActor(user_id=None, role="admin")
    (answer,) = await _batch(
        clinic, [m.BookRequest(uuid.UUID(clinic.calendar_id), caller, hold, actor, uuid.uuid4())]
    )
    assert isinstance(answer, m.Failure) and answer.status == 422, answer
    assert await _stored(clinic, [hold]) == []


async def test_a_batch_of_staff_writes_commits_together_and_a_refused_one_alone(
    clinic: Clinic,
) -> None:
    calendar = uuid.UUID(clinic.calendar_id)
    caller = m.Caller(f"user:{uuid.uuid4()}", clinic.api.org_id, "admin")
    actor = AuditActor(user_id=None, role="admin")
    patient = uuid.UUID(clinic.patient_id)
    holds = [await _hold(clinic, h) for h in (14, 15)]
    books: list[m.Request] = [m.BookRequest(calendar, caller, h, actor, patient) for h in holds]
    booked = await _batch(clinic, books)
    first, second = [b.appointment.id for b in booked if isinstance(b, m.Booked)]

    def cancel(appointment: uuid.UUID) -> m.ChangeStatus:
        return m.ChangeStatus(calendar, caller, actor, appointment, "cancel", reason="batch")

    # The second cancel of `first` comes after the first one, in the same transaction: it sees
    # the appointment cancelled and is refused alone.
    results = await _batch(clinic, [cancel(first), cancel(first), cancel(second)])
    done, refused, done_too = results
    assert isinstance(done, m.Written) and isinstance(done_too, m.Written)
    assert isinstance(refused, m.Failure) and refused.code == "invalid_transition", refused
    async with clinic.client.app[DB_KEY].tenant(clinic.api.org_id) as conn:
        rows = await conn.fetch(
            "SELECT status, updated_at FROM appointments WHERE id = ANY($1)", [first, second]
        )
    assert [r["status"] for r in rows] == ["cancelled", "cancelled"]
    assert len({r["updated_at"] for r in rows}) == 1  # now(): one transaction for both
    # Both times are free again on the live calendar.
    slots = await clinic.slots(z(day_at(5, 0)), z(day_at(6, 0)))
    assert {z(day_at(5, 14)), z(day_at(5, 15))} <= {s["start"] for s in slots["slots"]}


async def test_status_changes_of_a_batch_go_together_each_refused_alone(clinic: Clinic) -> None:
    calendar = uuid.UUID(clinic.calendar_id)
    caller = m.Caller(f"user:{uuid.uuid4()}", clinic.api.org_id, "admin")
    actor = AuditActor(user_id=None, role="admin")
    patient = uuid.UUID(clinic.patient_id)
    holds = [await _hold(clinic, h) for h in (9, 10, 11, 12)]
    booked = await _batch(
        clinic, [m.BookRequest(calendar, caller, h, actor, patient) for h in holds]
    )
    confirmed, cancelled, missed, gone = [
        b.appointment.id for b in booked if isinstance(b, m.Booked)
    ]

    def change(appointment: uuid.UUID, action: str, **kw: Any) -> m.ChangeStatus:
        return m.ChangeStatus(calendar, caller, actor, appointment, action, **kw)

    (first,) = await _batch(clinic, [change(gone, "cancel", reason="illness")])
    assert isinstance(first, m.Written)
    results = await _batch(
        clinic,
        [
            change(confirmed, "confirm"),
            change(cancelled, "cancel", reason="illness", note="felt dizzy"),
            change(gone, "no_show"),  # cancelled already: no such edge
            change(uuid.uuid4(), "cancel", reason="illness"),  # no such appointment
            change(missed, "no_show"),
            change(holds[0], "cancel"),  # a hold's id, and no reason
        ],
    )
    ok_confirm, ok_cancel, no_edge, unknown, ok_no_show, no_reason = results
    assert isinstance(ok_confirm, m.Written) and ok_confirm.appointments[0].status == "confirmed"
    assert isinstance(ok_cancel, m.Written) and ok_cancel.appointments[0].status == "cancelled"
    assert isinstance(ok_no_show, m.Written) and ok_no_show.appointments[0].status == "no_show"
    assert ok_cancel.previous[0].status == "booked"
    assert isinstance(no_edge, m.Failure) and no_edge.code == "invalid_transition", no_edge
    assert isinstance(unknown, m.Failure) and unknown.status == 404, unknown
    assert isinstance(no_reason, m.Failure) and no_reason.status == 422, no_reason

    async with clinic.client.app[DB_KEY].tenant(clinic.api.org_id) as conn:
        rows = await conn.fetch(
            "SELECT id, status, updated_at FROM appointments WHERE id = ANY($1)",
            [confirmed, cancelled, missed, gone],
        )
        history = await conn.fetch(
            "SELECT appointment_id, action FROM appointment_history WHERE appointment_id = ANY($1)"
            " ORDER BY created_at, action",
            [confirmed, cancelled, missed, gone],
        )
        records = await conn.fetch(
            "SELECT appointment_id, reason, note FROM cancellations WHERE appointment_id = ANY($1)",
            [cancelled, gone],
        )
        audited = await conn.fetch(
            "SELECT entity_id, action FROM audit_log WHERE entity_id = ANY($1::text[])"
            " AND action <> 'appointment.book'",
            [str(a) for a in (confirmed, cancelled, missed, gone)],
        )
    status = {r["id"]: r["status"] for r in rows}
    assert status == {
        confirmed: "confirmed",
        cancelled: "cancelled",
        missed: "no_show",
        gone: "cancelled",
    }
    # One transaction for the three that were written (updated_at is its now()).
    assert len({r["updated_at"] for r in rows if r["id"] != gone}) == 1
    actions = {(h["appointment_id"], h["action"]) for h in history}
    assert actions == {
        (confirmed, "book"), (confirmed, "confirm"), (cancelled, "book"), (cancelled, "cancel"),
        (missed, "book"), (missed, "no_show"), (gone, "book"), (gone, "cancel"),
    }  # fmt: skip
    assert len(history) == 8  # the refused no-show of `gone` wrote no history
    by_appointment = {r["appointment_id"]: r for r in records}
    assert set(by_appointment) == {cancelled, gone}
    assert by_appointment[cancelled]["reason"] == "illness"
    note = by_appointment[cancelled]["note"]
    assert note is not None and "felt dizzy" not in note  # sealed at rest
    assert sorted((r["entity_id"], r["action"]) for r in audited) == sorted([
        (str(confirmed), "appointment.confirm"), (str(cancelled), "appointment.cancel"),
        (str(missed), "appointment.no_show"), (str(gone), "appointment.cancel"),
    ])  # fmt: skip
    # The freed times are offered again; the confirmed one stays taken.
    slots = {s["start"] for s in (await clinic.slots(z(day_at(5, 0)), z(day_at(6, 0))))["slots"]}
    assert {z(day_at(5, h)) for h in (10, 11, 12)} <= slots
    assert z(day_at(5, 9)) not in slots
