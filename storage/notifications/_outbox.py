"""The notification outbox: rows written in the transaction of their cause (the appointment
triggers of the migration, `enqueue` for other domains, `enqueue_password_reset` for accounts),
claimed by dispatchers with a lease, finished with a fenced update.

A claim is `FOR UPDATE SKIP LOCKED` over the due index, then `status = 'sending'` with
`next_attempt_at` moved to the end of the lease and `attempts` counted up, committed at once: the
row is then invisible to other dispatchers until the lease ends. Every later write names the
`attempts` it claimed (a fence): a dispatcher whose lease ran out and whose row was taken over
cannot overwrite the newer claim's outcome.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from storage.crypto import FieldRef, KeyRing
from storage.orm import rows
from storage.tables._notifications import NotificationOutbox

# Kinds a domain may queue with `enqueue` (the appointment kinds come from the triggers);
# `automation_message` is a rule's `send_notification`, its template named in `data`.
ENQUEUED_KINDS = frozenset({"waitlist_offer", "intake_request", "automation_message"})
_ERROR_CHARS = 500


@dataclass(frozen=True, slots=True)
class OutboxItem:
    organization_id: uuid.UUID
    id: uuid.UUID
    kind: str
    patient_id: uuid.UUID
    appointment_id: uuid.UUID | None
    reminder_id: uuid.UUID | None
    data: dict[str, Any]
    attempts: int  # this claim's number: the fence of every later write
    delivered: tuple[str, ...]
    created_at: datetime


def _item(r: Mapping[str, Any]) -> OutboxItem:
    return OutboxItem(
        r["organization_id"], r["id"], r["kind"], r["patient_id"], r["appointment_id"],
        r["reminder_id"], dict(r["data"]), r["attempts"], tuple(r["delivered"]), r["created_at"],
    )  # fmt: skip


async def claim_outbox(
    conn: asyncpg.Connection, now: datetime, limit: int, lease: timedelta
) -> list[OutboxItem]:
    """Up to `limit` due rows of every organization (schema owner's connection), leased."""
    found = await conn.fetch(
        """WITH due AS (
             SELECT organization_id, id FROM notification_outbox
             WHERE status IN ('pending', 'sending') AND next_attempt_at <= $1
             ORDER BY next_attempt_at LIMIT $2
             FOR UPDATE SKIP LOCKED)
           UPDATE notification_outbox o
              SET status = 'sending', attempts = o.attempts + 1,
                  next_attempt_at = $1::timestamptz + $3::interval
             FROM due WHERE o.organization_id = due.organization_id AND o.id = due.id
           RETURNING o.*""",
        now,
        limit,
        lease,
    )
    return sorted((_item(r) for r in found), key=lambda i: i.created_at)


async def record_delivered(conn: asyncpg.Connection, item: OutboxItem, channel: str) -> bool:
    """Note that `channel` got the message (so a retry skips it); False: the claim was lost."""
    done = await conn.execute(
        """UPDATE notification_outbox SET delivered = array_append(delivered, $4::text)
           WHERE organization_id = $1 AND id = $2 AND attempts = $3 AND status = 'sending'
             AND NOT ($4::text = ANY (delivered))""",
        item.organization_id,
        item.id,
        item.attempts,
        channel,
    )
    return bool(done != "UPDATE 0")


@dataclass(frozen=True, slots=True)
class Outcome:
    """How one claim ends: `sent`, `failed` or `skipped` for good, or `pending` again at
    `retry_at` (`count_attempt=False`: a deferral, e.g. quiet hours, is not a failed try).
    `delivered`: channels that got the message in this claim (a retry skips them)."""

    item: OutboxItem
    status: str
    error: str | None = None
    retry_at: datetime | None = None
    count_attempt: bool = True
    delivered: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.status == "pending" and self.retry_at is None:
            raise ValueError("a pending row needs retry_at")


async def finish_many(
    conn: asyncpg.Connection, outcomes: Sequence[Outcome], now: datetime
) -> set[uuid.UUID]:
    """End claims in one statement; returns the ids whose claim still held (a row whose lease
    ran out and was taken over by another dispatcher is left to that one)."""
    if not outcomes:
        return set()
    found = await conn.fetch(
        """UPDATE notification_outbox o
              SET status = u.status, last_error = u.error,
                  next_attempt_at = coalesce(u.retry_at, o.next_attempt_at),
                  attempts = o.attempts - CASE WHEN u.count_attempt THEN 0 ELSE 1 END,
                  delivered = o.delivered || ARRAY(
                    SELECT c FROM unnest(string_to_array(u.delivered, ',')) AS c
                    WHERE c <> '' AND NOT (c = ANY (o.delivered))),
                  finished_at = CASE WHEN u.status IN ('sent', 'failed', 'skipped')
                                     THEN $9::timestamptz END,
                  -- A finished message's sealed values (an intake link) are no longer needed.
                  data = CASE WHEN u.status IN ('sent', 'failed', 'skipped')
                              THEN o.data - 'secrets' ELSE o.data END
             FROM unnest($1::uuid[], $2::uuid[], $3::int[], $4::text[], $5::text[],
                         $6::timestamptz[], $7::boolean[], $8::text[])
                  AS u(org, id, attempts, status, error, retry_at, count_attempt, delivered)
            WHERE o.organization_id = u.org AND o.id = u.id AND o.attempts = u.attempts
              AND o.status = 'sending'
           RETURNING o.id""",
        [o.item.organization_id for o in outcomes],
        [o.item.id for o in outcomes],
        [o.item.attempts for o in outcomes],
        [o.status for o in outcomes],
        [None if o.error is None else o.error[:_ERROR_CHARS] for o in outcomes],
        [o.retry_at for o in outcomes],
        [o.count_attempt for o in outcomes],
        [",".join(o.delivered) for o in outcomes],
        now,
    )
    return {r["id"] for r in found}


async def finish_outbox(
    conn: asyncpg.Connection,
    item: OutboxItem,
    status: str,
    now: datetime,
    *,
    error: str | None = None,
    retry_at: datetime | None = None,
    count_attempt: bool = True,
) -> bool:
    """`finish_many` of one claim; False when the claim was lost meanwhile."""
    outcome = Outcome(item, status, error, retry_at, count_attempt)
    return item.id in await finish_many(conn, [outcome], now)


async def outbox_due_count(conn: asyncpg.Connection, now: datetime) -> int:
    count: int = await conn.fetchval(
        """SELECT count(*) FROM notification_outbox
           WHERE status IN ('pending', 'sending') AND next_attempt_at <= $1""",
        now,
    )
    return count


async def enqueue(
    conn: asyncpg.Connection,
    *,
    organization_id: uuid.UUID,
    kind: str,
    patient_id: uuid.UUID,
    dedupe_key: str,
    data: Mapping[str, Any],
    appointment_id: uuid.UUID | None = None,
    secrets: Mapping[str, str] | None = None,
    keyring: KeyRing | None = None,
) -> bool:
    """Queue a message to a patient in the caller's transaction (a waitlist offer, an intake
    request). `data` holds ids and instants only. The same `dedupe_key` twice queues one
    message; returns whether this call queued it.

    `secrets` are template values that must not sit in clear at rest (an intake link carries
    its token): sealed with `keyring` under the row (`data.secrets`), opened by the dispatcher
    (`open_secrets`) and erased once the message is finished, whatever its outcome."""
    if kind not in ENQUEUED_KINDS:
        raise ValueError(f"{kind} is not queued by callers")
    outbox_id = uuid.uuid4()
    payload = dict(data)
    if secrets:
        if keyring is None:
            raise ValueError("secrets need the keyring that seals them")
        payload[SECRETS] = {
            name: keyring.seal(value, _secret_ref(organization_id, outbox_id, name))
            for name, value in secrets.items()
        }
    done = await conn.execute(
        """INSERT INTO notification_outbox (organization_id, id, kind, patient_id, appointment_id,
                                            dedupe_key, data)
           VALUES ($1, $2, $3, $4, $5, $6, $7)
           ON CONFLICT (organization_id, dedupe_key) DO NOTHING""",
        organization_id,
        outbox_id,
        kind,
        patient_id,
        appointment_id,
        f"{kind}:{dedupe_key}",
        payload,
    )
    return bool(done == "INSERT 0 1")


# The key of `data` that holds an item's sealed template values (see `enqueue`).
SECRETS = "secrets"


def _secret_ref(org: uuid.UUID, outbox_id: uuid.UUID, name: str) -> FieldRef:
    return FieldRef("notification_outbox", f"data.{SECRETS}.{name}", outbox_id, org)


def open_secrets(keyring: KeyRing, item: OutboxItem) -> dict[str, str]:
    """The item's sealed template values, opened (raises crypto.CryptoError when one does not
    open). A finished message has none left, and is never claimed again."""
    sealed = item.data.get(SECRETS)
    if not isinstance(sealed, dict):
        return {}
    return {
        name: keyring.open(str(value), _secret_ref(item.organization_id, item.id, name))
        for name, value in sealed.items()
    }


@dataclass(frozen=True, slots=True)
class OutboxFilter:
    status: str | None = None
    patient_id: uuid.UUID | None = None


async def list_outbox(
    flt: OutboxFilter, limit: int, before: tuple[datetime, uuid.UUID] | None
) -> list[dict[str, Any]]:
    """The organization's outbox, newest first (no message text is stored at all)."""
    t = NotificationOutbox
    where: Any = t.organization_id.is_not_null()
    if flt.status is not None:
        where &= t.status == flt.status
    if flt.patient_id is not None:
        where &= t.patient_id == flt.patient_id
    if before is not None:
        at, last = before
        where &= (t.created_at < at) | ((t.created_at == at) & (t.id < last))
    return await rows(
        t.select(
            t.id, t.kind, t.patient_id, t.appointment_id, t.status, t.attempts,
            t.next_attempt_at, t.delivered, t.last_error, t.created_at, t.finished_at,
        )
        .where(where)
        .order_by(t.created_at, t.id, ascending=False)
        .limit(limit)
    )  # fmt: skip


# --- mail to accounts (password resets) -----------------------------------------------------


def secret_ref(mail_id: uuid.UUID) -> FieldRef:
    return FieldRef("account_mail_outbox", "secret", mail_id, None)


async def enqueue_password_reset(
    conn: asyncpg.Connection, keyring: KeyRing, *, email: str, code: str, language: str = "en"
) -> uuid.UUID:
    """Queue the reset-code mail in the caller's transaction (the application role may only
    insert here). The code is sealed at rest and erased once sent."""
    mail_id = uuid.uuid4()
    await conn.execute(
        """INSERT INTO account_mail_outbox (id, kind, email, language, secret)
           VALUES ($1, 'password_reset', $2, $3, $4)""",
        mail_id,
        email,
        language,
        keyring.seal(code, secret_ref(mail_id)),
    )
    return mail_id


@dataclass(frozen=True, slots=True)
class AccountMail:
    id: uuid.UUID
    kind: str
    email: str
    language: str
    secret: str | None  # still sealed
    attempts: int


async def claim_account_mail(
    conn: asyncpg.Connection, now: datetime, limit: int, lease: timedelta
) -> list[AccountMail]:
    found = await conn.fetch(
        """WITH due AS (
             SELECT id FROM account_mail_outbox
             WHERE status IN ('pending', 'sending') AND next_attempt_at <= $1
             ORDER BY next_attempt_at LIMIT $2
             FOR UPDATE SKIP LOCKED)
           UPDATE account_mail_outbox m
              SET status = 'sending', attempts = m.attempts + 1,
                  next_attempt_at = $1::timestamptz + $3::interval
             FROM due WHERE m.id = due.id
           RETURNING m.id, m.kind, m.email, m.language, m.secret, m.attempts""",
        now,
        limit,
        lease,
    )
    return [
        AccountMail(r["id"], r["kind"], r["email"], r["language"], r["secret"], r["attempts"])
        for r in found
    ]


async def finish_account_mail(
    conn: asyncpg.Connection,
    mail: AccountMail,
    status: str,
    now: datetime,
    *,
    error: str | None = None,
    retry_at: datetime | None = None,
) -> bool:
    """As `finish_outbox`; a finished mail's secret is erased."""
    done = await conn.execute(
        """UPDATE account_mail_outbox
              SET status = $3::text, last_error = $4::text,
                  next_attempt_at = coalesce($5::timestamptz, next_attempt_at),
                  finished_at = CASE WHEN $3::text IN ('sent', 'failed') THEN $6::timestamptz END,
                  secret = CASE WHEN $3::text IN ('sent', 'failed') THEN NULL ELSE secret END
           WHERE id = $1 AND attempts = $2 AND status = 'sending'""",
        mail.id,
        mail.attempts,
        status,
        None if error is None else error[:_ERROR_CHARS],
        retry_at,
        now,
    )
    return bool(done != "UPDATE 0")
