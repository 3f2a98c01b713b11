"""Due reminders become outbox rows, exactly once.

The schedule is `appointment_reminders` (planned by the appointment triggers, index on `due_at`
of the planned ones). One statement claims a batch of due reminders with `FOR UPDATE SKIP
LOCKED`, inserts one outbox row per reminder (dedupe key `reminder:<id>`, unique) and marks
each reminder sent, in one transaction: a second pump skips the locked rows, and after the
commit finds them no longer planned; a pump killed before its commit leaves them planned and
untouched. So a reminder turns into one outbox row, whoever races.

A reminder is sent only while its appointment is booked or confirmed, still starts when the
reminder was planned for, and has not started yet; otherwise it is marked skipped (the triggers
re-plan on every move, so a mismatch means a change that committed while this one ran).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg


@dataclass(frozen=True, slots=True)
class ClaimedReminders:
    sent: list[tuple[uuid.UUID, uuid.UUID]]  # (organization, outbox row id)
    skipped: int


async def claim_due_reminders(
    conn: asyncpg.Connection, now: datetime, limit: int
) -> ClaimedReminders:
    """Turn up to `limit` reminders due at `now` into outbox rows (schema owner's connection,
    every organization; the caller's transaction)."""
    found = await conn.fetch(
        """WITH due AS (
             SELECT r.organization_id, r.id, r.appointment_id, r.patient_id, r.lead_min,
                    r.starts_at, r.due_at,
                    (a.status IN ('booked', 'confirmed') AND a.starts_at = r.starts_at
                     AND a.starts_at > $1) AS live,
                    a.ends_at, a.specialist_id, a.service_id, a.calendar_id
             FROM appointment_reminders r
             JOIN appointments a ON a.organization_id = r.organization_id
                                AND a.id = r.appointment_id
             WHERE r.status = 'planned' AND r.due_at <= $1
             ORDER BY r.due_at LIMIT $2
             FOR UPDATE OF r SKIP LOCKED),
         queued AS (
             INSERT INTO notification_outbox (organization_id, kind, patient_id, appointment_id,
                                              reminder_id, dedupe_key, data, next_attempt_at)
             SELECT d.organization_id, 'appointment_reminder', d.patient_id, d.appointment_id,
                    d.id, 'reminder:' || d.id,
                    jsonb_build_object('starts_at', d.starts_at, 'ends_at', d.ends_at,
                                       'lead_min', d.lead_min, 'due_at', d.due_at,
                                       'specialist_id', d.specialist_id,
                                       'service_id', d.service_id,
                                       'calendar_id', d.calendar_id),
                    $1
             FROM due d WHERE d.live
             ON CONFLICT (organization_id, dedupe_key) DO NOTHING
             RETURNING organization_id, id, reminder_id),
         marked AS (
             UPDATE appointment_reminders r
                SET status = CASE WHEN d.live THEN 'sent' ELSE 'skipped' END,
                    sent_at = CASE WHEN d.live THEN $1 END, updated_at = now()
               FROM due d WHERE r.organization_id = d.organization_id AND r.id = d.id
             RETURNING r.id)
         SELECT (SELECT count(*) FROM marked) AS marked,
                (SELECT count(*) FROM due WHERE NOT live) AS skipped,
                q.organization_id, q.id
         FROM (SELECT 1) one LEFT JOIN queued q ON true""",
        now,
        limit,
    )
    sent = [(r["organization_id"], r["id"]) for r in found if r["id"] is not None]
    return ClaimedReminders(sent, int(found[0]["skipped"]) if found else 0)


async def reminders_due_count(conn: asyncpg.Connection, now: datetime) -> int:
    count: int = await conn.fetchval(
        "SELECT count(*) FROM appointment_reminders WHERE status = 'planned' AND due_at <= $1",
        now,
    )
    return count


async def plan_as_of(conn: asyncpg.Connection, at: datetime) -> None:
    """Let the appointment triggers of this transaction take `at` as now when they plan
    reminders and decide which messages are still worth sending (a simulation, or a test with a
    controllable clock); without it they use the transaction's start."""
    await conn.execute("SELECT set_config('cadence.clock', $1, true)", at.isoformat())
