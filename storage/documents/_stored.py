"""Rendered documents: which PDF (by content key) was made for which inputs."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from pipelines.documents import Kind
from storage.orm import first
from storage.tables._documents import Documents


@dataclass(frozen=True, slots=True)
class StoredDocument:
    id: uuid.UUID
    kind: Kind
    subject_id: uuid.UUID
    inputs_hash: str
    patient_id: uuid.UUID | None
    template_version: str
    blob_key: str
    sha256: str
    size: int
    rendered_at: datetime


_D = Documents
_COLUMNS = (
    _D.id, _D.kind, _D.subject_id, _D.inputs_hash, _D.patient_id, _D.template_version,
    _D.blob_key, _D.sha256, _D.size, _D.rendered_at,
)  # fmt: skip
_NAMES = ", ".join(c._meta.db_column_name for c in _COLUMNS)  # the same list, for raw SQL


def _stored(row: dict[str, object]) -> StoredDocument:
    return StoredDocument(**{**row, "kind": Kind(str(row["kind"]))})  # type: ignore[arg-type]


async def find_document(
    kind: Kind, subject_id: uuid.UUID, inputs_hash: str
) -> StoredDocument | None:
    """The document already rendered from exactly these inputs, if any."""
    row = await first(
        _D.select(*_COLUMNS)
        .where(
            (_D.kind == kind.value)
            & (_D.subject_id == subject_id)
            & (_D.inputs_hash == inputs_hash)
        )
        .first()
    )
    return None if row is None else _stored(row)


async def record_document(
    conn: asyncpg.Connection,
    *,
    kind: Kind,
    subject_id: uuid.UUID,
    inputs_hash: str,
    patient_id: uuid.UUID | None,
    template_version: str,
    blob_key: str,
    sha256: str,
    size: int,
    rendered_by: uuid.UUID | None,
) -> tuple[StoredDocument, bool]:
    """The row of a rendered document and whether this call wrote it (False: a concurrent
    request for the same inputs recorded it first; that row is answered)."""
    # ON CONFLICT: two requests for the same new document both render; one row wins.
    row = await conn.fetchrow(
        f"""INSERT INTO documents (kind, subject_id, inputs_hash, patient_id, template_version,
                                   blob_key, sha256, size, rendered_by)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
            ON CONFLICT (organization_id, kind, subject_id, inputs_hash) DO NOTHING
            RETURNING {_NAMES}""",
        kind.value,
        subject_id,
        inputs_hash,
        patient_id,
        template_version,
        blob_key,
        sha256,
        size,
        rendered_by,
    )
    if row is not None:
        return _stored(dict(row.items())), True
    found = await find_document(kind, subject_id, inputs_hash)
    assert found is not None
    return found, False
