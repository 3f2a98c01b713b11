"""The message tables' reads and writes (see the package's docstring)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from storage.crypto import FieldRef, KeyRing
from storage.errors import Invalid
from storage.orm import first, rows
from storage.tables._messages import Messages, MessageThreads

MAX_SUBJECT = 200
MAX_BODY = 5000
Row = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Author:
    """Who writes or reads: the user (None for a token without one) and their role."""

    user_id: uuid.UUID | None
    role: str


@dataclass(frozen=True, slots=True)
class Thread:
    id: uuid.UUID
    patient_id: uuid.UUID
    state: str


def _text(value: object, name: str, limit: int) -> str:
    """Free text that is not blank and at most `limit` characters (what the schema cannot say:
    whitespace only)."""
    if not isinstance(value, str) or not value.strip():
        raise Invalid({name: "must not be empty"})
    if len(value) > limit:
        raise Invalid({name: f"must be at most {limit} characters"})
    return value


def _seal(
    ring: KeyRing, table: str, column: str, row_id: uuid.UUID, org: uuid.UUID, text: str
) -> str:
    return ring.seal(text, FieldRef(table, column, row_id, org))


def _open(ring: KeyRing, table: str, column: str, row: Row) -> str | None:
    sealed = row[column]
    if sealed is None:  # erased
        return None
    return ring.open(sealed, FieldRef(table, column, row["id"], row["organization_id"]))


def _opened_thread(ring: KeyRing, row: Row) -> Row:
    return {**row, "subject": _open(ring, "message_threads", "subject", row)}


def _opened_message(ring: KeyRing, row: Row) -> Row:
    return {**row, "body": _open(ring, "messages", "body", row)}


async def create_thread(
    ring: KeyRing, org: uuid.UUID, patient_id: uuid.UUID, subject: str, body: str, by: Author
) -> tuple[Row, Row]:
    """A new open thread about the patient with its first message; (thread, message) opened."""
    subject = _text(subject, "subject", MAX_SUBJECT)
    body = _text(body, "body", MAX_BODY)
    thread_id = uuid.uuid4()
    inserted = await rows(
        MessageThreads.insert(
            MessageThreads(
                id=thread_id,
                organization_id=org,
                patient_id=patient_id,
                subject=_seal(ring, "message_threads", "subject", thread_id, org, subject),
                created_by=by.user_id,
                created_by_role=by.role,
            )
        ).returning(*MessageThreads.all_columns())
    )
    message = await add_message(ring, org, Thread(thread_id, patient_id, "open"), body, by)
    thread = {**inserted[0], "last_message_at": message["created_at"]}
    return _opened_thread(ring, thread), message


async def get_thread(thread_id: uuid.UUID) -> Thread | None:
    row = await first(
        MessageThreads.select(MessageThreads.id, MessageThreads.patient_id, MessageThreads.state)
        .where(MessageThreads.id == thread_id)
        .first()
    )
    return None if row is None else Thread(row["id"], row["patient_id"], row["state"])


async def list_threads(
    conn: asyncpg.Connection,
    ring: KeyRing,
    patient_id: uuid.UUID,
    reader: uuid.UUID | None,
    limit: int,
    before: tuple[datetime, uuid.UUID] | None,
) -> list[Row]:
    """The patient's threads, most recently active first, each with how many messages of others
    `reader` has not read (after the message of their read receipt)."""
    found = await conn.fetch(
        """SELECT t.*,
                  (SELECT count(*) FROM messages m
                    WHERE m.organization_id = t.organization_id AND m.thread_id = t.id
                      AND m.author_user_id IS DISTINCT FROM $2
                      AND NOT EXISTS (
                        SELECT 1 FROM message_reads r
                          JOIN messages seen ON seen.organization_id = r.organization_id
                                            AND seen.id = r.last_read_message_id
                         WHERE r.organization_id = t.organization_id AND r.thread_id = t.id
                           AND r.user_id = $2
                           AND (m.created_at, m.id) <= (seen.created_at, seen.id))) AS unread
             FROM message_threads t
            WHERE t.patient_id = $1
              AND ($3::timestamptz IS NULL OR (t.last_message_at, t.id) < ($3, $4::uuid))
            ORDER BY t.last_message_at DESC, t.id DESC
            LIMIT $5""",
        patient_id,
        reader,
        None if before is None else before[0],
        None if before is None else before[1],
        limit,
    )
    return [_opened_thread(ring, dict(r.items())) for r in found]


async def list_messages(
    ring: KeyRing, thread_id: uuid.UUID, limit: int, after: tuple[datetime, uuid.UUID] | None
) -> list[Row]:
    """The thread's messages oldest first, after `after` (created_at, id)."""
    query = Messages.select().where(Messages.thread_id == thread_id)
    if after is not None:
        at, last = after
        query = query.where(
            (Messages.created_at > at) | ((Messages.created_at == at) & (Messages.id > last))
        )
    found = await rows(query.order_by(Messages.created_at, Messages.id).limit(limit))
    return [_opened_message(ring, r) for r in found]


async def add_message(ring: KeyRing, org: uuid.UUID, thread: Thread, body: str, by: Author) -> Row:
    """A message in the thread (opened); the thread's `last_message_at` follows it."""
    body = _text(body, "body", MAX_BODY)
    if thread.state != "open":
        raise Invalid({"thread": "is closed"}, "the thread is closed")
    message_id = uuid.uuid4()
    inserted = await rows(
        Messages.insert(
            Messages(
                id=message_id,
                organization_id=org,
                thread_id=thread.id,
                patient_id=thread.patient_id,
                author_user_id=by.user_id,
                author_role=by.role,
                body=_seal(ring, "messages", "body", message_id, org, body),
            )
        ).returning(*Messages.all_columns())
    )
    row = inserted[0]
    await MessageThreads.update({MessageThreads.last_message_at: row["created_at"]}).where(
        (MessageThreads.id == thread.id) & (MessageThreads.last_message_at < row["created_at"])
    )
    return _opened_message(ring, row)


async def mark_read(
    conn: asyncpg.Connection,
    thread_id: uuid.UUID,
    user_id: uuid.UUID,
    message_id: uuid.UUID | None,
) -> tuple[Row, bool] | None:
    """The reader's receipt moved to `message_id` (None: the thread's newest message) and
    stamped now; a receipt never moves back to an older message. Returns the receipt and whether
    it moved, or None when the thread has no such message."""
    found = await conn.fetchrow(
        """WITH target AS (
             SELECT id, created_at FROM messages
              WHERE thread_id = $1 AND ($3::uuid IS NULL OR id = $3)
              ORDER BY created_at DESC, id DESC LIMIT 1)
           INSERT INTO message_reads (thread_id, user_id, last_read_message_id, last_read_at)
           SELECT $1, $2, target.id, clock_timestamp() FROM target
           ON CONFLICT (organization_id, thread_id, user_id) DO UPDATE
              SET last_read_message_id = excluded.last_read_message_id,
                  last_read_at = excluded.last_read_at
            WHERE (SELECT (seen.created_at, seen.id) FROM messages seen
                    WHERE seen.organization_id = message_reads.organization_id
                      AND seen.id = message_reads.last_read_message_id)
                < (SELECT (target.created_at, target.id) FROM target)
           RETURNING thread_id, user_id, last_read_message_id, last_read_at""",
        thread_id,
        user_id,
        message_id,
    )
    if found is not None:
        return dict(found.items()), True
    # Nothing written: no such message, or the receipt is already at or past it.
    current = await conn.fetchrow(
        """SELECT r.thread_id, r.user_id, r.last_read_message_id, r.last_read_at
             FROM message_reads r
            WHERE r.thread_id = $1 AND r.user_id = $2
              AND ($3::uuid IS NULL OR EXISTS (
                SELECT 1 FROM messages m WHERE m.thread_id = $1 AND m.id = $3))""",
        thread_id,
        user_id,
        message_id,
    )
    return None if current is None else (dict(current.items()), False)
