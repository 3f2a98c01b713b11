"""Documents (PDFs) of the records: what each prints, read from the records it is about; which
PDF was rendered for which inputs (so unchanged inputs are never rendered twice); and each
clinic's letterhead. Every function runs inside `Database.tenant(org)`.

The PDFs themselves live in object storage (storage/blobs) under their content key; rows here
name them and hold no free text."""

from storage.documents._inputs import (
    Subject,
    appointment_summary,
    assigned_version,
    form_patient,
    handout,
    session_report,
    signed_form,
)
from storage.documents._letterhead import LIMITS, clinic_letterhead, get_letterhead, put_letterhead
from storage.documents._stored import StoredDocument, find_document, record_document

__all__ = [
    "LIMITS",
    "StoredDocument",
    "Subject",
    "appointment_summary",
    "assigned_version",
    "clinic_letterhead",
    "find_document",
    "form_patient",
    "get_letterhead",
    "handout",
    "put_letterhead",
    "record_document",
    "session_report",
    "signed_form",
]
