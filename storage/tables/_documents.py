"""Rendered documents (PDFs in object storage, by content key) and each clinic's letterhead."""

from __future__ import annotations

from piccolo.columns import UUID, Integer, Text, Timestamptz
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.columns.defaults.uuid import UUID4
from piccolo.table import Table

from storage.orm import ENGINE


class Documents(Table, tablename="documents", db=ENGINE):
    """Primary key (organization_id, id); Piccolo knows one column of it."""

    id = UUID(primary_key=True, default=UUID4())
    organization_id = UUID()
    kind = Text()
    subject_id = UUID()
    inputs_hash = Text()
    patient_id = UUID(null=True, default=None)
    template_version = Text()
    blob_key = Text()
    sha256 = Text()
    size = Integer()
    rendered_at = Timestamptz(default=TimestamptzNow())
    rendered_by = UUID(null=True, default=None)


class DocumentLetterheads(Table, tablename="document_letterheads", db=ENGINE):
    organization_id = UUID(primary_key=True)
    clinic_name = Text(null=True, default=None)
    address = Text(null=True, default=None)
    phone = Text(null=True, default=None)
    footer = Text(null=True, default=None)
    updated_at = Timestamptz(default=TimestamptzNow())
    updated_by = UUID(null=True, default=None)
