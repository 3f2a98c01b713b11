"""A patient's data as a whole: the export of everything held about them (GDPR art. 15/20) and
their erasure (art. 17), both driven by the catalog so a table added later is covered without
code changes here.

Which tables hold a patient's rows: every ordinary or partitioned (parent) table of the public
schema with a `patient_id` column, the `patients` row itself, and one level of child tables that
reference such a table by foreign key (an appointment's history, a custom plan's versions).
Audit rows about the patient are those with its `patient_id`, or naming the patient or its user
as entity, or carrying its id in their diff, or done by its user.

Erasure replaces what identifies the patient with the values declared in `SCRUB`, in ONE
transaction, and keeps the rows themselves (appointments, progress, audit trail) as records
that no longer say whom they are about. `NON_IDENTIFYING` declares the textual columns that
stay as they are; tests/security/test_export_erase.py fails when a textual column of a table
with patient rows is in neither.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from storage import audit
from storage.crypto import CryptoError, KeyRing
from storage.db import TenantSeal, enter_tenant
from storage.sealed import open_row, sealed_columns

PATIENT_COLUMN = "patient_id"
ERASED_FIRST_NAME = "Erased"
ERASED_LAST_NAME = "Patient"

# table -> column -> SQL expression that replaces the value on erasure (`w_org`, `w_pid` and
# `w_uid`, the organization, patient and the patient's user or NULL, may appear in it).
SCRUB: dict[str, dict[str, str]] = {
    "patients": {
        "first_name": f"'{ERASED_FIRST_NAME}'",
        "last_name": f"'{ERASED_LAST_NAME}'",
        "email": "NULL",
        "phone": "NULL",
        "date_of_birth": "NULL",
        "email_bidx": "NULL",
        "phone_bidx": "NULL",
    },
    "cancellations": {"note": "NULL", "reason": "'erased'"},
    # Why an admin booked over a conflict may name the patient; a forced row stays forced (the
    # no-overlap constraint leaves out exactly the rows with a reason).
    "appointments": {
        "forced_reason": "CASE WHEN forced_reason IS NULL THEN NULL ELSE 'erased' END"
    },
    "appointment_details": {"visit_reason": "NULL", "desk_note": "NULL"},
    # What the patient or the desk wrote about a waitlist request.
    "waitlist_entries": {"note": "NULL"},
    "session_questionnaires": {"note": "NULL"},
    # Telemetry payloads can carry anything a device sent; ids, type and time stay.
    "telemetry_events": {"data": "'{}'::jsonb"},
    # A custom plan is the patient's own: its name and description may name them.
    "treatment_plans": {"name": "'Erased plan'", "description": "''"},
    # The trail stays (who did what, when); what the rows said about the person goes.
    "audit_log": {
        "diff": "(SELECT coalesce(jsonb_object_agg(k, 'null'::jsonb), '{}'::jsonb)"
        " FROM jsonb_object_keys(diff) AS k)",
        "ip": "NULL",
        "request_id": "NULL",
    },
    "patient_consents": {"ip": "NULL", "request_id": "NULL", "ip_sealed": "NULL"},
    # What a patient or the staff wrote in messages; ids, roles and times stay.
    "message_threads": {"subject": "NULL"},
    "messages": {"body": "NULL"},
    # Clinical notes' versions and follow-up reasons; authors, versions, states and dates stay.
    "note_revisions": {"body": "NULL"},
    "follow_ups": {"reason": "NULL"},
    # A file's name may say whose it is; an erased patient's attachments are deleted too (the
    # bytes stay in object storage until a sweep removes blobs no live row names).
    "patient_attachments": {"filename": "NULL", "deleted_at": "coalesce(deleted_at, now())"},
    # A patient's forms: their answers and who signed from where go; the record of the signature
    # (when, how) stays (the guard of migration m2026_12_04t02 lets the owner do exactly this).
    "form_instances": {
        "answers": "NULL",
        "signer_name": "NULL",
        "signature_image": "NULL",
        "signer_ip": "NULL",
        "signer_user_agent": "NULL",
    },
    # Payments and claims stay as accounting records; what a person typed about the patient
    # goes: a payment's free reference, a claim's policy number and the insurer's rejection
    # reason (kept non-empty on a rejected claim, whose CHECK needs one).
    "payments": {"reference": "NULL"},
    "insurance_claims": {
        "policy_number": "NULL",
        "rejection_reason": "CASE WHEN rejection_reason IS NULL THEN NULL ELSE 'erased' END",
    },
    "insurance_claim_history": {
        "rejection_reason": "CASE WHEN rejection_reason IS NULL THEN NULL ELSE 'erased' END"
    },
}

# Textual columns (text, varchar, json, inet, bytea, dates kept as text...) that identify
# nobody: codes, states, roles, ids written as text, policy versions.
NON_IDENTIFYING: dict[str, frozenset[str]] = {
    "appointments": frozenset({"status"}),
    "audit_log": frozenset({"actor_role", "action", "entity", "entity_id"}),
    "cancellations": frozenset({"cancelled_by_role"}),
    "appointment_intakes": frozenset({"status", "token_hash"}),
    # Rendered documents: kinds, digests, content keys, template versions; the PDF itself is in
    # object storage (its blob outlives an erasure until blobs can be swept: not done yet).
    "documents": frozenset({"blob_key", "inputs_hash", "kind", "sha256", "template_version"}),
    "exercise_logs": frozenset({"cues"}),
    # Billing: codes, states, currencies and invoice numbers. Line descriptions are written
    # from the catalog's names (services, plans, products) or by the clinic for a manual line;
    # invoices are accounting records kept whole after an erasure (and immutable once issued).
    "invoices": frozenset({"kind", "status", "currency", "number"}),
    "invoice_lines": frozenset({"source", "service_code", "description"}),
    "patient_plans": frozenset({"status", "price_currency"}),
    # Payments and claims: methods, states, currencies, the provider's and insurer's references
    # (their ids of the transaction, not of the person) and the insurer's name.
    "payments": frozenset({"kind", "method", "currency"}),
    "payment_intents": frozenset(
        {"provider", "provider_reference", "currency", "status", "failure_reason"}
    ),
    "insurance_claims": frozenset({"insurer", "currency", "status", "insurer_reference"}),
    "insurance_claim_lines": frozenset({"service_code"}),
    "insurance_claim_history": frozenset(
        {"action", "from_status", "to_status", "insurer_reference"}
    ),
    "form_instances": frozenset({"status", "signature_method"}),
    "follow_ups": frozenset({"state", "created_by_role"}),
    "note_revisions": frozenset({"visibility"}),
    "notes": frozenset({"author_role", "visibility"}),
    "memberships": frozenset({"role"}),
    "patient_attachments": frozenset({"blob_key", "sha256", "content_type", "uploaded_by_role"}),
    "patient_consents": frozenset(
        {"purpose", "policy_version", "recorded_role", "channel", "policy_sha256"}
    ),
    # A guest's booking request: its state and who answered it (a role).
    "booking_requests": frozenset({"status", "decided_role"}),
    "plan_assignments": frozenset({"frequency", "status"}),
    "session_completions": frozenset({"source", "status"}),
    "telemetry_events": frozenset({"type"}),
    "treatment_plans": frozenset({"scope", "plan_type"}),
    "message_threads": frozenset({"state", "created_by_role"}),
    "messages": frozenset({"author_role"}),
    # A rule's run: what ran and how it ended (ids, kinds and outcomes, never patient fields).
    "automation_runs": frozenset(
        {"actions", "error", "event_id", "event_type", "reason", "rule_actions", "status"}
    ),
    # Notifications: kinds, states and ids and instants only; addresses are read from the
    # patient's sealed columns when a message is sent, and message text is never stored.
    "appointment_reminders": frozenset({"status"}),
    "notification_outbox": frozenset(
        {"data", "dedupe_key", "delivered", "kind", "last_error", "status"}
    ),
    "notification_preferences": frozenset({"language", "timezone"}),
    # A waitlist entry's urgency, state and the slots it passed on (calendar ids and instants).
    "waitlist_entries": frozenset({"priority", "status", "passed"}),
    # Who was in a virtual visit's room and why they left: roles and codes, never names.
    "visit_attendances": frozenset({"role", "left_reason"}),
}

# Rows "about" the patient beyond `patient_id = w_pid`, per table.
_ABOUT: dict[str, str] = {
    "audit_log": (
        " OR (entity = 'patient' AND entity_id = w_pid::text)"
        " OR (w_uid IS NOT NULL AND (actor_user_id = w_uid"
        "     OR (entity = 'user' AND entity_id = w_uid::text)))"
        " OR diff -> 'patient_id' ->> 'after' = w_pid::text"
        " OR diff -> 'patient_id' ->> 'before' = w_pid::text"
    ),
}
# Every statement binds the organization, the patient and its user once, as typed columns.
_WHO = "WITH who AS (SELECT $1::uuid AS w_org, $2::uuid AS w_pid, $3::uuid AS w_uid) "

TEXTUAL_TYPES = frozenset(
    {"text", "varchar", "bpchar", "json", "jsonb", "inet", "cidr", "bytea", "_text", "_varchar"}
)


class PatientNotFound(LookupError):
    pass


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


async def patient_tables(conn: asyncpg.Connection) -> list[str]:
    """Tables of the public schema with a `patient_id` column (partitions' parents only)."""
    rows = await conn.fetch(
        """SELECT c.relname FROM pg_class c
           JOIN pg_namespace n ON n.oid = c.relnamespace
           JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = $1 AND NOT a.attisdropped
           WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition
           ORDER BY c.relname""",
        PATIENT_COLUMN,
    )
    return [r["relname"] for r in rows]


@dataclass(frozen=True, slots=True)
class ChildTable:
    """A table without `patient_id` whose rows belong to rows of one that has it."""

    table: str
    parent: str
    columns: tuple[str, ...]
    parent_columns: tuple[str, ...]


async def child_tables(conn: asyncpg.Connection, parents: list[str]) -> list[ChildTable]:
    rows = await conn.fetch(
        """SELECT c.relname AS child, p.relname AS parent,
                  array(SELECT attname FROM unnest(k.conkey) WITH ORDINALITY u(n, i)
                        JOIN pg_attribute ON attrelid = k.conrelid AND attnum = u.n
                        ORDER BY u.i) AS cols,
                  array(SELECT attname FROM unnest(k.confkey) WITH ORDINALITY u(n, i)
                        JOIN pg_attribute ON attrelid = k.confrelid AND attnum = u.n
                        ORDER BY u.i) AS parent_cols
           FROM pg_constraint k
           JOIN pg_class c ON c.oid = k.conrelid
           JOIN pg_class p ON p.oid = k.confrelid
           JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE k.contype = 'f' AND n.nspname = 'public' AND p.relname = ANY($1::text[])
             AND NOT c.relispartition AND c.relname <> ALL($1::text[])
           ORDER BY c.relname, k.conname""",
        parents,
    )
    seen: set[str] = set()
    out = []
    for r in rows:
        if r["child"] in seen:
            continue  # one path to the patient is enough
        seen.add(r["child"])
        out.append(ChildTable(r["child"], r["parent"], tuple(r["cols"]), tuple(r["parent_cols"])))
    return out


@dataclass(frozen=True, slots=True)
class Scope:
    """The catalog's answer, read once per export or erasure."""

    tables: list[str]  # with patient_id
    with_id: list[str]  # of those, the ones whose rows have a uuid `id` (audit entity ids)

    def rows_of(self, table: str) -> str:
        """WHERE clause selecting the patient's rows of `table` (see `_WHO`)."""
        if table == "patients":
            return "organization_id = w_org AND id = w_pid"
        about = _ABOUT.get(table, "")
        if table == "audit_log" and self.with_id:
            # Audit rows about any of the patient's records (an appointment's cancellation
            # reason, say), whatever entity name they were written under.
            ids = " UNION ALL ".join(
                f"SELECT id::text FROM {_ident(t)}"
                f" WHERE organization_id = w_org AND {PATIENT_COLUMN} = w_pid"
                for t in self.with_id
            )
            about += f" OR entity_id IN ({ids})"
        return f"organization_id = w_org AND ({PATIENT_COLUMN} = w_pid{about})"


async def scope(conn: asyncpg.Connection) -> Scope:
    tables = await patient_tables(conn)
    with_id = await conn.fetch(
        """SELECT c.relname FROM pg_class c
           JOIN pg_namespace n ON n.oid = c.relnamespace
           JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'id' AND NOT a.attisdropped
           WHERE n.nspname = 'public' AND c.relname = ANY($1::text[])
             AND a.atttypid = 'uuid'::regtype
           ORDER BY c.relname""",
        tables,
    )
    return Scope(tables, [r["relname"] for r in with_id])


async def _user_of(conn: asyncpg.Connection, patient_id: uuid.UUID) -> uuid.UUID | None:
    row = await conn.fetchrow("SELECT user_id FROM patients WHERE id = $1", patient_id)
    if row is None:
        raise PatientNotFound(str(patient_id))
    found: uuid.UUID | None = row["user_id"]
    if found is None:
        found = await conn.fetchval(
            "SELECT user_id FROM memberships WHERE patient_id = $1 LIMIT 1", patient_id
        )
    return found


# --- export ---------------------------------------------------------------------------------


async def export_rows(
    conn: asyncpg.Connection,
    ring: KeyRing,
    org_id: uuid.UUID,
    patient_id: uuid.UUID,
    *,
    prefetch: int = 500,
) -> AsyncIterator[tuple[str, dict[str, Any] | None]]:
    """(table, None) as each table begins (every table is named, also when it holds nothing
    of the patient), then (table, row) for each row held about the patient, read through a
    server-side cursor (a long telemetry history never sits in memory). `conn` is a tenant
    transaction: row-level security keeps the export inside the caller's organization.
    Sealed values are opened; one that fails to open is given as null."""
    user_id = await _user_of(conn, patient_id)
    found = await scope(conn)
    tables = found.tables
    ordered = ["patients", *[t for t in tables if t != "patients"]]
    args = (org_id, patient_id, user_id)
    for table in ordered:
        query = f"{_WHO}SELECT t.* FROM {_ident(table)} t, who WHERE {found.rows_of(table)}"
        yield table, None
        async for record in conn.cursor(query, *args, prefetch=prefetch):
            yield table, _readable(ring, table, record)
    for child in await child_tables(conn, ["patients", *tables]):
        cols = ", ".join(f"t.{_ident(c)}" for c in child.columns)
        parent_cols = ", ".join(_ident(c) for c in child.parent_columns)
        query = (
            f"{_WHO}SELECT t.* FROM {_ident(child.table)} t WHERE ({cols}) IN"
            f" (SELECT {parent_cols} FROM {_ident(child.parent)}, who"
            f" WHERE {found.rows_of(child.parent)})"
        )
        yield child.table, None
        async for record in conn.cursor(query, *args, prefetch=prefetch):
            yield child.table, _readable(ring, child.table, record)


def _readable(ring: KeyRing, table: str, record: Mapping[str, Any]) -> dict[str, Any]:
    try:
        return open_row(ring, table, record)
    except CryptoError:
        row = dict(record.items())
        for col in sealed_columns(table):
            row[col.column] = None
        return open_row(ring, table, row)


# --- erasure --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Erasure:
    patient_id: uuid.UUID
    user_id: uuid.UUID | None
    erased_at: datetime
    first: bool  # False: the patient had been erased before (nothing new was done)


async def erase(
    conn: asyncpg.Connection,
    *,
    org_id: uuid.UUID,
    patient_id: uuid.UUID,
    actor: audit.AuditActor,
    seal: TenantSeal,
) -> Erasure:
    """Anonymize the patient in every table that holds their rows; idempotent.

    `conn` is a transaction on the schema owner's connection (the platform path): the audit
    log, the consent ledger and the progress records are append-only for the application role,
    and erasure is the one writer allowed to strip them. Every statement is pinned to `org_id`
    (and the tenant setting is made too, for owners that row-level security applies to).
    The patient's membership is disabled and its refresh tokens revoked here; the caller then
    tells the membership gate (after commit) and trims the event streams."""
    await enter_tenant(conn, seal, org_id)
    row = await conn.fetchrow(
        "SELECT id, user_id, erased_at FROM patients WHERE organization_id = $1 AND id = $2"
        " FOR UPDATE",
        org_id,
        patient_id,
    )
    if row is None:
        raise PatientNotFound(str(patient_id))
    user_id = await _user_of(conn, patient_id)
    if row["erased_at"] is not None:
        return Erasure(patient_id, user_id, row["erased_at"], first=False)
    found = await scope(conn)
    for table in found.tables:
        scrub = SCRUB.get(table)
        if not scrub:
            continue
        sets = ", ".join(f"{_ident(col)} = {expr}" for col, expr in scrub.items())
        await conn.execute(
            f"{_WHO}UPDATE {_ident(table)} SET {sets} FROM who WHERE {found.rows_of(table)}",
            org_id,
            patient_id,
            user_id,
        )
    sets = ", ".join(f"{_ident(col)} = {expr}" for col, expr in SCRUB["patients"].items())
    erased_at: datetime = await conn.fetchval(
        f"""{_WHO}UPDATE patients SET {sets}, erased_at = now(), updated_at = now(),
                                     deleted_at = coalesce(deleted_at, now())
            FROM who WHERE {found.rows_of("patients")} RETURNING erased_at""",
        org_id,
        patient_id,
        user_id,
    )
    await conn.execute(
        """UPDATE memberships SET disabled_at = coalesce(disabled_at, now()),
                                  sessions_valid_after = now(), updated_at = now()
           WHERE organization_id = $1 AND (patient_id = $2 OR user_id = $3)""",
        org_id,
        patient_id,
        user_id,
    )
    if user_id is not None:
        await _close_account(conn, org_id, user_id)
    await audit.record(
        conn,
        actor=actor,
        organization_id=org_id,
        action="patient.erase",
        entity="patient",
        entity_id=patient_id,
    )
    return Erasure(patient_id, user_id, erased_at, first=True)


async def _close_account(conn: asyncpg.Connection, org_id: uuid.UUID, user_id: uuid.UUID) -> None:
    """Revoke the user's sessions here; the account itself loses its e-mail, name and password
    unless it still belongs to another organization (whose data this clinic does not control)."""
    await conn.execute(
        """UPDATE refresh_tokens SET revoked_at = coalesce(revoked_at, now())
           WHERE organization_id = $1 AND user_id = $2""",
        org_id,
        user_id,
    )
    elsewhere = await conn.fetchval(
        """SELECT EXISTS (SELECT 1 FROM memberships
                          WHERE user_id = $1 AND organization_id <> $2 AND disabled_at IS NULL)""",
        user_id,
        org_id,
    )
    if not elsewhere:
        await conn.execute(
            """UPDATE users SET email = 'erased-' || id::text || '@erased.invalid',
                                display_name = '', password_hash = NULL, updated_at = now()
               WHERE id = $1""",
            user_id,
        )
