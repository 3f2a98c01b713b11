"""Device telemetry (partitioned by month) and its daily rollups."""

from __future__ import annotations

from piccolo.columns import JSONB, UUID, BigInt, Date, DoublePrecision, Integer, Text, Timestamptz
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

from storage.orm import ENGINE


class TelemetryEvents(Table, tablename="telemetry_events", db=ENGINE):
    """Primary key (organization_id, event_id, t): Piccolo
    knows one column of it."""

    organization_id = UUID(primary_key=True)
    patient_id = UUID(null=True, default=None)
    session_id = UUID(null=True, default=None)
    exercise_id = UUID(null=True, default=None)
    event_id = UUID()
    type = Text()
    t = Timestamptz()
    received_at = Timestamptz(default=TimestamptzNow())
    data = JSONB()


class TelemetryRomDaily(Table, tablename="telemetry_rom_daily", db=ENGINE):
    """Primary key (organization_id, patient_id, exercise_id, day): Piccolo
    knows one column of it."""

    organization_id = UUID(primary_key=True)
    patient_id = UUID()
    exercise_id = UUID()
    day = Date()
    reps = Integer()
    rom_sum = DoublePrecision()
    rom_min = DoublePrecision()
    rom_max = DoublePrecision()


class TelemetrySessionsDaily(Table, tablename="telemetry_sessions_daily", db=ENGINE):
    """Primary key (organization_id, patient_id, day): Piccolo
    knows one column of it."""

    organization_id = UUID(primary_key=True)
    patient_id = UUID()
    day = Date()
    sessions_completed = Integer(default=0)
    active_ms = BigInt(default=0)
