"""A document of the records, found or rendered once per inputs: the flow of
`GET .../document` (server/records/documents.py) and of the demo's report rendered by
`cadence seed demo` (server/records/demo_documents.py), so both store the same object and row.

1. `prepare`, in the tenant transaction that read the subject: the document (subject, clinic
   letterhead and time zone), the digest of everything it prints, and the row of the PDF already
   rendered from exactly those inputs, if any.
2. `render_and_store`, in no transaction (a render takes a worker for a while): the PDF, put in
   object storage under its content key.
3. `record_rendered`, in a new tenant transaction: its `documents` row and, when this call wrote
   it, the audit row of the render.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import asyncpg

from actors.documents import Renderer
from pipelines.documents import Document, digest
from storage import audit
from storage import documents as store
from storage.audit import AuditActor
from storage.blobs import BlobStore, StoredBlob
from storage.jsonable import jsonable

PDF = "application/pdf"


@dataclass(frozen=True, slots=True)
class Prepared:
    subject: store.Subject
    document: Document
    inputs_hash: str
    stored: store.StoredDocument | None  # None: never rendered from these inputs


async def prepare(org_id: uuid.UUID, subject: store.Subject) -> Prepared:
    """The subject's document in the clinic's letterhead (in the organization's transaction)."""
    letterhead, timezone = await store.clinic_letterhead(org_id)
    document = Document(subject.body, letterhead, timezone)
    inputs = digest(document)
    stored = await store.find_document(subject.body.KIND, subject.subject_id, inputs)
    return Prepared(subject, document, inputs, stored)


async def render_and_store(renderer: Renderer, blobs: BlobStore, document: Document) -> StoredBlob:
    """The PDF, rendered and stored. Raises RendererBusy (full, restarting, too slow) and
    storage.errors.Unavailable (object storage unreachable); nothing is recorded then."""
    pdf = await renderer.render(document)
    return await blobs.put(pdf.data, PDF)


async def record_rendered(
    conn: asyncpg.Connection,
    *,
    org_id: uuid.UUID,
    actor: AuditActor,
    prepared: Prepared,
    blob: StoredBlob,
) -> store.StoredDocument:
    """The row naming the stored PDF (a concurrent render of the same inputs may have recorded
    it first: that row is answered, and audited once, by the call that wrote it)."""
    subject, kind = prepared.subject, prepared.subject.body.KIND
    stored, created = await store.record_document(
        conn,
        kind=kind,
        subject_id=subject.subject_id,
        inputs_hash=prepared.inputs_hash,
        patient_id=subject.patient_id,
        template_version=prepared.document.template_version,
        blob_key=blob.key,
        sha256=blob.sha256,
        size=blob.size,
        rendered_by=actor.user_id,
    )
    if created:
        await audit.record(
            conn,
            actor=actor,
            organization_id=org_id,
            action="document.render",
            entity="document",
            entity_id=stored.id,
            after=jsonable(
                {
                    "kind": kind.value,
                    "subject_id": subject.subject_id,
                    "patient_id": subject.patient_id,
                    "sha256": stored.sha256,
                }
            ),
        )
    return stored
