"""Messages between a clinic and its patients: threads per patient, their messages, and each
reader's read receipt. Subjects and bodies hold sealed values (storage/messages)."""

from __future__ import annotations

from piccolo.columns import UUID, Text, Timestamptz
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.columns.defaults.uuid import UUID4
from piccolo.table import Table

from storage.orm import ENGINE


class MessageThreads(Table, tablename="message_threads", db=ENGINE):
    """Primary key (organization_id, id); Piccolo knows one column of it."""

    id = UUID(primary_key=True, default=UUID4())
    organization_id = UUID()
    patient_id = UUID()
    subject = Text(null=True, default=None)  # sealed; NULL once the patient is erased
    state = Text(default="open")
    created_by = UUID(null=True, default=None)
    created_by_role = Text()
    created_at = Timestamptz(default=TimestamptzNow())
    last_message_at = Timestamptz(default=TimestamptzNow())


class Messages(Table, tablename="messages", db=ENGINE):
    """Primary key (organization_id, id); Piccolo knows one column of it."""

    id = UUID(primary_key=True, default=UUID4())
    organization_id = UUID()
    thread_id = UUID()
    patient_id = UUID()
    author_user_id = UUID(null=True, default=None)
    author_role = Text()
    body = Text(null=True, default=None)  # sealed; NULL once the patient is erased
    created_at = Timestamptz(default=TimestamptzNow())


class MessageReads(Table, tablename="message_reads", db=ENGINE):
    """Primary key (organization_id, thread_id, user_id); Piccolo knows one column of it."""

    organization_id = UUID(primary_key=True)
    thread_id = UUID()
    user_id = UUID()
    last_read_message_id = UUID()
    last_read_at = Timestamptz()
