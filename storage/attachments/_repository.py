"""The attachment rows' reads and writes (see the package's docstring)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from storage.blobs import StoredBlob
from storage.crypto import FieldRef, KeyRing
from storage.orm import first, rows
from storage.tables._attachments import PatientAttachments

Row = dict[str, Any]
_A = PatientAttachments
_TABLE = "patient_attachments"


@dataclass(frozen=True, slots=True)
class Actor:
    """Who uploads or deletes: the user (None for a token without one) and their role."""

    user_id: uuid.UUID | None
    role: str


def _opened(ring: KeyRing, row: Row) -> Row:
    sealed = row["filename"]
    name = (
        None  # erased
        if sealed is None
        else ring.open(sealed, FieldRef(_TABLE, "filename", row["id"], row["organization_id"]))
    )
    return {**row, "filename": name}


async def create(
    ring: KeyRing,
    org: uuid.UUID,
    patient_id: uuid.UUID,
    blob: StoredBlob,
    filename: str,
    by: Actor,
) -> Row:
    """The attachment row of a blob already stored (opened). `filename` and the blob's content
    type were checked by the caller (`checked_filename`, `checked_kind`)."""
    attachment_id = uuid.uuid4()
    inserted = await rows(
        _A.insert(
            _A(
                id=attachment_id,
                organization_id=org,
                patient_id=patient_id,
                blob_key=blob.key,
                sha256=blob.sha256,
                size=blob.size,
                content_type=blob.content_type,
                filename=ring.seal(filename, FieldRef(_TABLE, "filename", attachment_id, org)),
                uploaded_by=by.user_id,
                uploaded_by_role=by.role,
            )
        ).returning(*_A.all_columns())
    )
    return _opened(ring, inserted[0])


async def get(ring: KeyRing, attachment_id: uuid.UUID) -> Row | None:
    """The attachment (opened), unless deleted."""
    found = await first(
        _A.select().where((_A.id == attachment_id) & _A.deleted_at.is_null()).first()
    )
    return None if found is None else _opened(ring, found)


async def list_for_patient(
    ring: KeyRing, patient_id: uuid.UUID, limit: int, before: tuple[datetime, uuid.UUID] | None
) -> list[Row]:
    """The patient's attachments, newest first, after the cursor `before` (created_at, id)."""
    query = _A.select().where((_A.patient_id == patient_id) & _A.deleted_at.is_null())
    if before is not None:
        at, last = before
        query = query.where((_A.created_at < at) | ((_A.created_at == at) & (_A.id < last)))
    found = await rows(query.order_by(_A.created_at, _A.id, ascending=False).limit(limit))
    return [_opened(ring, r) for r in found]


async def delete(ring: KeyRing, attachment_id: uuid.UUID, by: Actor) -> Row | None:
    """Stamp the attachment deleted (the row stays, with who and when); the row as deleted, or
    None when there is no live one. The blob stays: another row may name the same bytes."""
    found = await rows(
        _A.update({_A.deleted_at: datetime.now(UTC), _A.deleted_by: by.user_id})
        .where((_A.id == attachment_id) & _A.deleted_at.is_null())
        .returning(*_A.all_columns())
    )
    return _opened(ring, found[0]) if found else None
