"""Files on a patient's record (a referral letter, a scan, a photo of a wound): the bytes in
object storage (storage.blobs, by content key: the same file uploaded twice is stored once),
a row per attachment with the sealed file name, the content type sniffed from the bytes
(`checked_kind`), who uploaded it and, once deleted, who deleted it (rows are never removed).
Every function runs inside `Database.tenant(org)`; row-level security keeps another
organization's attachments out of sight."""

from storage.attachments._kinds import (
    ALLOWED_EXTENSIONS,
    ALLOWED_TYPES,
    MAX_FILENAME,
    Kind,
    checked_filename,
    checked_kind,
    sniff,
)
from storage.attachments._repository import Actor, create, delete, get, list_for_patient

__all__ = [
    "ALLOWED_EXTENSIONS",
    "ALLOWED_TYPES",
    "MAX_FILENAME",
    "Actor",
    "Kind",
    "checked_filename",
    "checked_kind",
    "create",
    "delete",
    "get",
    "list_for_patient",
    "sniff",
]
