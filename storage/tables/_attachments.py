"""Files on a patient's record: the bytes in object storage (storage/blobs) by content key, the
sealed file name, who uploaded and who deleted (storage/attachments)."""

from __future__ import annotations

from piccolo.columns import UUID, BigInt, Text, Timestamptz
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.columns.defaults.uuid import UUID4
from piccolo.table import Table

from storage.orm import ENGINE


class PatientAttachments(Table, tablename="patient_attachments", db=ENGINE):
    """Primary key (organization_id, id); Piccolo knows one column of it."""

    id = UUID(primary_key=True, default=UUID4())
    organization_id = UUID()
    patient_id = UUID()
    blob_key = Text()
    sha256 = Text()
    size = BigInt()
    content_type = Text()
    filename = Text(null=True, default=None)  # sealed; NULL once the patient is erased
    uploaded_by = UUID(null=True, default=None)
    uploaded_by_role = Text()
    created_at = Timestamptz(default=TimestamptzNow())
    deleted_at = Timestamptz(null=True, default=None)
    deleted_by = UUID(null=True, default=None)
