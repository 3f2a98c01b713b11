"""Authorization, in one place: which principal may call which route, and who may subscribe to
which channel of the WebSocket gateway.

Routes declare their `Access` (server/routing.py); `check_route` is the only code that reads it.
Channels follow PROTOCOL.md "Channels and events". Decisions beyond the table:

- `calendar:<id>`: public calendars are open to everyone, anonymous included. Other calendars are
  open to admin, receptionist, specialist and also `owner` of the calendar's organization:
  `slots.changed` carries no patient data, and availability is the kind of aggregate an owner sees.
- `patient:<id>`: decided by the same rule as REST's clinical records
  (storage/care_team.clinical_view): the patient (token `pid`), admins, specialists
  treating the patient; a receptionist of the organization is subscribed to the non-clinical
  events only (`non_clinical_only`: the gateway drops every other event type at fan-out).
  Never `owner`.
- `org:<id>`: admin, receptionist, specialist and `owner` of that organization; the owner gets
  counters only (`counters_only`), the gateway strips everything else.
- `visit:<appointment id>`: decided by `visit_rooms`, which server/visits installs: only the
  appointment's patient and specialist (organization AND subject), while its room is open.
  Without it installed, nobody.
- `superadmin` subscribes to no private channel: platform operators manage organizations, they do
  not watch a clinic's patients or bookings. Public calendars are open to them like to anyone.

Lookups that need rows (calendar visibility, patient ownership) run in the principal's
organization context or through the narrow `calendar_visibility()` function; an unknown id, or a
schema without those tables yet, means "no".
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable

import asyncpg

from server.errors import ApiError
from server.routing import Access
from storage import identity
from storage.care_team import ClinicalView, clinical_view
from storage.db import Database
from storage.types import STAFF_ROLES, Channel, ChannelKind, Principal, Role

log = logging.getLogger("cadence.policy")

CALENDAR_ROLES = STAFF_ROLES | {Role.OWNER}
PATIENT_STAFF_ROLES = STAFF_ROLES  # owner excluded: never patient data
ORG_ROLES = STAFF_ROLES | {Role.OWNER}


class Policy:
    def __init__(self, db: Callable[[], Database]) -> None:
        self._db = db
        # Who may join a virtual visit's room (server/visits installs it).
        self.visit_rooms: Callable[[Principal | None, uuid.UUID], Awaitable[bool]] | None = None

    def check_route(self, access: Access, principal: Principal | None) -> None:
        """Raise 401 when a token is needed and missing, 403 when the role is not allowed."""
        if access.public:
            return
        if principal is None:
            raise ApiError(401, "unauthorized", "authentication required")
        if not access.allows(principal.role):
            raise ApiError(403, "forbidden", "your role may not call this endpoint")

    async def may_subscribe(self, principal: Principal | None, channel: Channel) -> bool:
        try:
            if channel.kind is ChannelKind.CALENDAR:
                return await self._calendar(principal, channel.id)
            if channel.kind is ChannelKind.PATIENT:
                return await self._patient(principal, channel.id)
            if channel.kind is ChannelKind.ORG:
                return principal is not None and _member_with(principal, channel.id, ORG_ROLES)
            if channel.kind is ChannelKind.VISIT:
                rooms = self.visit_rooms
                return rooms is not None and await rooms(principal, channel.id)
        except (asyncpg.UndefinedTableError, asyncpg.UndefinedFunctionError) as exc:
            log.warning("channel lookup unavailable", extra={"error": repr(exc)})
        return False

    def counters_only(self, principal: Principal, channel: Channel) -> bool:
        """True when the principal may see aggregate counters of the channel and nothing else."""
        return channel.kind is ChannelKind.ORG and principal.role is Role.OWNER

    def non_clinical_only(self, principal: Principal, channel: Channel) -> bool:
        """True when the principal may see a patient's scheduling and presence events only."""
        return channel.kind is ChannelKind.PATIENT and principal.role is Role.RECEPTIONIST

    async def _calendar(self, principal: Principal | None, calendar_id: uuid.UUID) -> bool:
        async with self._db().anonymous() as conn:
            calendar = await identity.calendar_visibility(conn, calendar_id)
        if calendar is None:
            return False
        if calendar.public:
            return True
        return principal is not None and _member_with(
            principal, calendar.organization_id, CALENDAR_ROLES
        )

    async def _patient(self, principal: Principal | None, patient_id: uuid.UUID) -> bool:
        if principal is None or principal.org_id is None:
            return False
        if principal.role is Role.PATIENT:
            if principal.patient_id != patient_id:
                return False
        elif principal.role not in PATIENT_STAFF_ROLES:
            return False
        # The patient must belong to the principal's organization (a token's pid alone is not
        # proof: a foreign id under RLS simply is not found), and a specialist must treat them.
        async with self._db().tenant(principal.org_id) as conn:
            view = await clinical_view(conn, principal, patient_id)
        return view is not ClinicalView.NONE


def _member_with(principal: Principal, org_id: uuid.UUID, allowed: frozenset[Role]) -> bool:
    return principal.org_id == org_id and principal.role in allowed
