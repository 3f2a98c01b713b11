"""Virtual visits: the appointment a video room belongs to, and the record of who was in the
room and when (attendances), from which the visit's duration is computed. Every function runs
inside `Database.tenant(org)`: another organization's appointment simply is not found."""

from storage.visits._attendances import (
    Attendance,
    VirtualAppointment,
    VisitParty,
    VisitRecord,
    join,
    leave,
    record,
    together,
    virtual_appointment,
)

__all__ = [
    "Attendance",
    "VisitParty",
    "VirtualAppointment",
    "VisitRecord",
    "join",
    "leave",
    "record",
    "together",
    "virtual_appointment",
]
