"""Virtual visits: who was in an appointment's video room, and when (storage/visits)."""

from __future__ import annotations

from piccolo.columns import UUID, Text, Timestamptz
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.columns.defaults.uuid import UUID4
from piccolo.table import Table

from storage.orm import ENGINE


class VisitAttendances(Table, tablename="visit_attendances", db=ENGINE):
    """Primary key (organization_id, id); Piccolo knows one column of it. At most one open
    attendance (`left_at` NULL) per appointment and role."""

    id = UUID(primary_key=True, default=UUID4())
    organization_id = UUID()
    appointment_id = UUID()
    role = Text()
    user_id = UUID(null=True, default=None)
    joined_at = Timestamptz(default=TimestamptzNow())
    left_at = Timestamptz(null=True, default=None)
    left_reason = Text(null=True, default=None)
