"""The front-desk dashboard's storage: the day's appointment aggregates and open appointments
read from Postgres (`_queries`), and the projection's published state in Redis, moved in one
transaction with the events that describe each change (`_projection`)."""

from storage.dashboard._projection import ProjectionBusy, ProjectionStore, Snapshot, Step
from storage.dashboard._queries import (
    DayCounts,
    FailedNotification,
    OpenAppointment,
    clinic_timezone,
    day_counts,
    failed_notifications,
    follow_ups_due,
    open_appointments,
    organizations_with_appointments,
)

__all__ = [
    "DayCounts",
    "FailedNotification",
    "OpenAppointment",
    "ProjectionBusy",
    "ProjectionStore",
    "Snapshot",
    "Step",
    "clinic_timezone",
    "day_counts",
    "failed_notifications",
    "follow_ups_due",
    "open_appointments",
    "organizations_with_appointments",
]
