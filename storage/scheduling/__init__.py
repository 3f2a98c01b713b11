"""Scheduling storage: the calendar loaders the availability engine and the calendar actors use,
and the appointment writes (book, transition, cancel, reschedule, series) on an asyncpg
connection. No web framework here: REST handlers and actors both call these."""

from storage.scheduling._appointments import (
    Appointment,
    appointment_calendar,
    cancel_appointment,
    insert_appointment,
    insert_series,
    reschedule_appointment,
    transition_appointment,
)
from storage.scheduling._errors import (
    InvalidReference,
    InvalidTransition,
    NotFound,
    SchedulingError,
    SlotUnavailable,
)
from storage.scheduling._rules import (
    BookedInterval,
    CalendarSnapshot,
    calendar_owner,
    load_assignment_counts,
    load_calendar,
    load_calendar_snapshot,
    minutes_to_time,
)
from storage.scheduling._states import (
    BOOKED_EVENT,
    EVENT_TYPES,
    TRANSITIONS,
    Action,
    AppointmentStatus,
    allowed_actions,
    next_status,
)

__all__ = [
    "BOOKED_EVENT",
    "EVENT_TYPES",
    "TRANSITIONS",
    "Action",
    "Appointment",
    "appointment_calendar",
    "AppointmentStatus",
    "BookedInterval",
    "CalendarSnapshot",
    "calendar_owner",
    "InvalidReference",
    "InvalidTransition",
    "NotFound",
    "SchedulingError",
    "SlotUnavailable",
    "allowed_actions",
    "cancel_appointment",
    "insert_appointment",
    "insert_series",
    "load_assignment_counts",
    "load_calendar",
    "load_calendar_snapshot",
    "minutes_to_time",
    "next_status",
    "reschedule_appointment",
    "transition_appointment",
]
