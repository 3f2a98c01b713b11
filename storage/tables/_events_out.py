"""What the stream consumers keep: events they gave up on."""

from __future__ import annotations

from piccolo.columns import JSONB, UUID, Integer, Text, Timestamptz
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.columns.defaults.uuid import UUID4
from piccolo.table import Table

from storage.orm import ENGINE


class EventDeadLetters(Table, tablename="event_dead_letters", db=ENGINE):
    """Primary key (organization_id, id); Piccolo knows one column of it."""

    id = UUID(primary_key=True, default=UUID4())
    organization_id = UUID()
    group_name = Text()
    event_id = Text()
    event_type = Text()
    payload = JSONB()
    error = Text()
    attempts = Integer()
    created_at = Timestamptz(default=TimestamptzNow())
