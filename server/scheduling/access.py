"""Who may call what in the scheduling domain (see server/routing.Access)."""

from server.routing import roles
from storage.types import Role

ADMIN = roles(Role.ADMIN)
# Catalog reads carry no patient data, so the owner may see them too.
CATALOG_READERS = roles(Role.ADMIN, Role.RECEPTIONIST, Role.SPECIALIST, Role.OWNER)
FRONT_DESK = roles(Role.ADMIN, Role.RECEPTIONIST)
STAFF = roles(Role.ADMIN, Role.RECEPTIONIST, Role.SPECIALIST)
SPECIALIST = roles(Role.SPECIALIST)
# Who may read appointments: staff (specialists their own) and patients (their own).
APPOINTMENT_READERS = roles(Role.ADMIN, Role.RECEPTIONIST, Role.SPECIALIST, Role.PATIENT)
# Slots carry no patient data; patients see public calendars only.
SLOT_READERS = roles(Role.ADMIN, Role.RECEPTIONIST, Role.SPECIALIST, Role.OWNER, Role.PATIENT)
