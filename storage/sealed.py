"""Which columns are encrypted at rest, how their values are sealed and opened, and the batched
re-encryption behind `cadence keys rotate` (storage/crypto.py holds the cipher itself).

Sealed columns: a patient's e-mail, phone and date of birth (contact details, identity) and the
clinical free text (cancellation notes, post-session questionnaire notes, visit reasons, clinical
notes, follow-up reasons, attachment file names, form answers). Names stay in clear:
the accent-insensitive trigram search needs them, and erasure removes them. E-mail and phone get
a keyed blind index for exact search.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import asyncpg

from storage.crypto import VERSION, CryptoError, FieldRef, KeyRing


@dataclass(frozen=True, slots=True)
class SealedColumn:
    table: str
    column: str
    id_column: str = "id"
    is_date: bool = False  # stored as the sealed ISO date, handed out as a `date`


SEALED: tuple[SealedColumn, ...] = (
    SealedColumn("patients", "email"),
    SealedColumn("patients", "phone"),
    SealedColumn("patients", "date_of_birth", is_date=True),
    SealedColumn("cancellations", "note"),
    SealedColumn("appointment_details", "visit_reason", id_column="appointment_id"),
    SealedColumn("appointment_details", "desk_note", id_column="appointment_id"),
    SealedColumn("session_questionnaires", "note", id_column="completion_id"),
    SealedColumn("webhook_endpoints", "secret"),
    SealedColumn("webhook_endpoints", "previous_secret"),
    SealedColumn("message_threads", "subject"),
    SealedColumn("note_revisions", "body"),
    SealedColumn("follow_ups", "reason"),
    SealedColumn("patient_attachments", "filename"),
    SealedColumn("form_instances", "answers"),
    SealedColumn("form_instances", "signer_name"),
    SealedColumn("form_instances", "signature_image"),
    SealedColumn("messages", "body"),
    # The address a guest accepted the privacy policy from (a public booking's consent).
    SealedColumn("patient_consents", "ip_sealed"),
)
_BY_TABLE: dict[str, tuple[SealedColumn, ...]] = {}
for _c in SEALED:
    _BY_TABLE[_c.table] = (*_BY_TABLE.get(_c.table, ()), _c)


def normalized_email(value: str) -> str:
    return value.strip().lower()


def phone_digits(value: str) -> str:
    return re.sub(r"[^0-9]", "", value)


@dataclass(frozen=True, slots=True)
class BlindIndex:
    column: str  # the bytea column beside the sealed one
    normalize: Callable[[str], str]


BLIND_INDEXES: dict[tuple[str, str], BlindIndex] = {
    ("patients", "email"): BlindIndex("email_bidx", normalized_email),
    ("patients", "phone"): BlindIndex("phone_bidx", phone_digits),
}


def sealed_columns(table: str) -> tuple[SealedColumn, ...]:
    return _BY_TABLE.get(table, ())


def blind_index(
    ring: KeyRing, table: str, column: str, org_id: uuid.UUID, value: str
) -> bytes | None:
    """The search key of `value` (None when it normalizes to nothing, e.g. a phone of no digits)."""
    spec = BLIND_INDEXES[(table, column)]
    normalized = spec.normalize(value)
    return ring.blind_index(f"{table}.{column}", org_id, normalized) if normalized else None


def seal_values(
    ring: KeyRing, table: str, row_id: uuid.UUID, org_id: uuid.UUID, values: Mapping[str, Any]
) -> dict[str, Any]:
    """`values` with every sealed column of `table` sealed, and the blind indexes of those that
    have one set beside them. Columns not present are left alone; None stays None."""
    out = dict(values)
    for col in sealed_columns(table):
        if col.column not in values:
            continue
        raw = values[col.column]
        index = BLIND_INDEXES.get((table, col.column))
        if raw is None:
            out[col.column] = None
            if index is not None:
                out[index.column] = None
            continue
        text = raw.isoformat() if isinstance(raw, date) else str(raw)
        out[col.column] = ring.seal(text, FieldRef(table, col.column, row_id, org_id))
        if index is not None:
            out[index.column] = blind_index(ring, table, col.column, org_id, text)
    return out


def open_row(ring: KeyRing, table: str, row: Mapping[str, Any]) -> dict[str, Any]:
    """The row as a dict with its sealed columns opened (raises crypto.CryptoError when one was
    tampered with or moved); blind indexes are dropped, they mean nothing to a reader."""
    out = dict(row.items())
    for col in sealed_columns(table):
        sealed = out.get(col.column)
        if sealed is None:
            continue
        where = FieldRef(table, col.column, out[col.id_column], out["organization_id"])
        text = ring.open(sealed, where)
        out[col.column] = date.fromisoformat(text) if col.is_date else text
    for (name, _), index in BLIND_INDEXES.items():
        if name == table:
            out.pop(index.column, None)
    return out


# --- rotation -------------------------------------------------------------------------------

ROTATE_BATCH = 500


@dataclass
class Rotation:
    """Rows rewritten per table, and rows left as they were because a value in them failed to
    open (tampered, or sealed under a key this ring lacks): an operator looks at those."""

    rewritten: dict[str, int] = field(default_factory=dict)
    unreadable: dict[str, int] = field(default_factory=dict)


async def rotate(
    pool: asyncpg.Pool,
    ring: KeyRing,
    *,
    batch: int = ROTATE_BATCH,
    on_batch: Callable[[str, int], None] | None = None,
) -> Rotation:
    """Seal every value not yet under the active key (older keys, legacy `p0:` plaintext) and
    fill missing blind indexes.

    Runs beside a serving API: one short transaction per `batch` rows, walked in id order with a
    cursor and locked FOR UPDATE (a row a request is writing waits, never the other way round
    for long), while readers keep opening values of any key the ring knows. `pool` connects as
    the schema owner (cross-organization maintenance, like migrations)."""
    done = Rotation()
    for table in _BY_TABLE:
        await _rotate_table(pool, ring, table, batch, on_batch, done)
    return done


async def _rotate_table(
    pool: asyncpg.Pool,
    ring: KeyRing,
    table: str,
    batch: int,
    on_batch: Callable[[str, int], None] | None,
    done: Rotation,
) -> None:
    cols = sealed_columns(table)
    id_col = cols[0].id_column
    current = f"{VERSION}:{ring.active}:%"
    stale = " OR ".join(f"({c.column} IS NOT NULL AND {c.column} NOT LIKE $2)" for c in cols)
    missing = [
        f"({c.column} IS NOT NULL AND {BLIND_INDEXES[(table, c.column)].column} IS NULL)"
        for c in cols
        if (table, c.column) in BLIND_INDEXES
    ]
    where = " OR ".join([stale, *missing])
    names = ", ".join(c.column for c in cols)
    # What a rewrite sets: the sealed columns and their blind indexes.
    targets = [c.column for c in cols] + [
        BLIND_INDEXES[(table, c.column)].column for c in cols if (table, c.column) in BLIND_INDEXES
    ]
    sets = ", ".join(f"{name} = ${i}" for i, name in enumerate(targets, start=2))
    done.rewritten[table] = done.unreadable[table] = 0
    cursor: uuid.UUID | None = None
    while True:
        async with pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                f"""SELECT {id_col} AS row_id, organization_id, {names} FROM {table}
                    WHERE ($1::uuid IS NULL OR {id_col} > $1) AND ({where})
                    ORDER BY {id_col} LIMIT {int(batch)} FOR UPDATE""",
                cursor,
                current,
            )
            if not rows:
                return
            updates = []
            for r in rows:
                try:
                    opened = open_row(ring, table, {**dict(r.items()), id_col: r["row_id"]})
                except CryptoError:
                    done.unreadable[table] += 1  # passed by the cursor, never retried here
                    continue
                fresh = seal_values(
                    ring, table, r["row_id"], r["organization_id"],
                    {c.column: opened[c.column] for c in cols},
                )  # fmt: skip
                updates.append((r["row_id"], *(fresh[name] for name in targets)))
            if updates:
                await conn.executemany(f"UPDATE {table} SET {sets} WHERE {id_col} = $1", updates)
            cursor = rows[-1]["row_id"]
            done.rewritten[table] += len(updates)
        if on_batch is not None:
            on_batch(table, len(updates))
