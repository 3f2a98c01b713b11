"""REST endpoints of the scheduling domain: catalog, specialists, calendars and slots, patients,
appointments, staff day views."""

from server.routing import Endpoint
from server.scheduling import (
    appointments,
    calendars,
    catalog,
    patients,
    policies,
    privacy,
    requests,
    resources,
    schedule,
    specialists,
    waitlist,
    walk_ins,
)

ENDPOINTS: list[Endpoint] = [
    *catalog.ENDPOINTS,
    *resources.ENDPOINTS,
    *specialists.ENDPOINTS,
    *calendars.ENDPOINTS,
    *patients.ENDPOINTS,
    *privacy.ENDPOINTS,
    *appointments.ENDPOINTS,
    *policies.ENDPOINTS,
    *walk_ins.ENDPOINTS,
    *waitlist.ENDPOINTS,
    *requests.ENDPOINTS,
    *schedule.ENDPOINTS,
]
