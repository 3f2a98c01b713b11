"""Clinical notes (a header per note and every version of its body) and follow-ups. Bodies and
reasons hold sealed values (storage/notes, storage/follow_ups)."""

from __future__ import annotations

from piccolo.columns import UUID, Date, Integer, Text, Timestamptz
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.columns.defaults.uuid import UUID4
from piccolo.table import Table

from storage.orm import ENGINE


class Notes(Table, tablename="notes", db=ENGINE):
    """Primary key (organization_id, id); Piccolo knows one column of it. The body is in
    `NoteRevisions` at `version`."""

    id = UUID(primary_key=True, default=UUID4())
    organization_id = UUID()
    patient_id = UUID()
    appointment_id = UUID(null=True, default=None)
    author_user_id = UUID()
    author_role = Text()
    author_specialist_id = UUID(null=True, default=None)
    visibility = Text(default="private")
    version = Integer(default=1)
    created_at = Timestamptz(default=TimestamptzNow())
    updated_at = Timestamptz(default=TimestamptzNow())


class NoteRevisions(Table, tablename="note_revisions", db=ENGINE):
    """Primary key (organization_id, id); append-only for the application."""

    id = UUID(primary_key=True, default=UUID4())
    organization_id = UUID()
    note_id = UUID()
    patient_id = UUID()
    version = Integer()
    body = Text(null=True, default=None)  # sealed; NULL once the patient is erased
    visibility = Text()
    edited_by = UUID()
    created_at = Timestamptz(default=TimestamptzNow())


class FollowUps(Table, tablename="follow_ups", db=ENGINE):
    """Primary key (organization_id, id); Piccolo knows one column of it."""

    id = UUID(primary_key=True, default=UUID4())
    organization_id = UUID()
    patient_id = UUID()
    from_appointment_id = UUID(null=True, default=None)
    scheduled_appointment_id = UUID(null=True, default=None)
    reason = Text(null=True, default=None)  # sealed; NULL once the patient is erased
    due_on = Date()
    state = Text(default="pending")
    created_by = UUID(null=True, default=None)
    created_by_role = Text()
    created_at = Timestamptz(default=TimestamptzNow())
    updated_at = Timestamptz(default=TimestamptzNow())
