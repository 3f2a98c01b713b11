"""REST endpoints of the records domain: attachments, forms and intake, notes and follow-ups,
documents."""

from server.records import (
    attachments,
    blob_links,
    documents,
    follow_ups,
    forms,
    intake,
    notes,
)
from server.routing import Endpoint

ENDPOINTS: list[Endpoint] = [
    *attachments.ENDPOINTS,
    *blob_links.ENDPOINTS,
    *forms.ENDPOINTS,
    *intake.ENDPOINTS,
    *notes.ENDPOINTS,
    *follow_ups.ENDPOINTS,
    *documents.ENDPOINTS,
]
