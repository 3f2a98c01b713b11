"""Messages between a clinic and a patient: threads per patient, their messages (subjects and
bodies sealed at rest, storage/sealed.py's cipher), and read receipts (per reader, the newest
message read). Every function runs inside `Database.tenant(org)`; row-level security keeps
another organization's threads out of sight."""

from storage.messages._repository import (
    MAX_BODY,
    MAX_SUBJECT,
    Author,
    Thread,
    add_message,
    create_thread,
    get_thread,
    list_messages,
    list_threads,
    mark_read,
)

__all__ = [
    "MAX_BODY",
    "MAX_SUBJECT",
    "Author",
    "Thread",
    "add_message",
    "create_thread",
    "get_thread",
    "list_messages",
    "list_threads",
    "mark_read",
]
