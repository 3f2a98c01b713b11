"""Clinical notes (ClinicFlow doctor notes): on a patient or on one of their appointments,
private to their author or shared with the care team (`Reader` says who reads which), with an
append-only history of versions. Bodies are sealed at rest (storage/sealed.py's cipher) in the
revisions; a note is never deleted, a mistake is corrected by a new version. Every function runs
inside `Database.tenant(org)`."""

from storage.notes._repository import (
    MAX_BODY,
    Author,
    create_note,
    edit_note,
    get_note,
    list_notes,
    note_history,
    shared_notes_for_appointment,
)
from storage.notes._visibility import Reader, Visibility

__all__ = [
    "MAX_BODY",
    "Author",
    "Reader",
    "Visibility",
    "create_note",
    "edit_note",
    "get_note",
    "list_notes",
    "note_history",
    "shared_notes_for_appointment",
]
