"""Typed names shared by every floor: ids, roles, the authenticated principal, channel names."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from enum import StrEnum
from typing import NewType

OrgId = NewType("OrgId", uuid.UUID)
UserId = NewType("UserId", uuid.UUID)
PatientId = NewType("PatientId", uuid.UUID)
SpecialistId = NewType("SpecialistId", uuid.UUID)
CalendarId = NewType("CalendarId", uuid.UUID)
ChannelName = NewType("ChannelName", str)


class Role(StrEnum):
    SUPERADMIN = "superadmin"
    ADMIN = "admin"
    RECEPTIONIST = "receptionist"
    SPECIALIST = "specialist"
    OWNER = "owner"
    PATIENT = "patient"


STAFF_ROLES = frozenset({Role.ADMIN, Role.RECEPTIONIST, Role.SPECIALIST})


@dataclass(frozen=True, slots=True)
class PatientSubject:
    """A patient as every "is this the patient" check compares it: the organization AND the
    patient (ARCHITECTURE.md invariant 8). A patient id alone proves nothing: a token, a hold or
    a session of another clinic may carry the same id."""

    org_id: uuid.UUID
    patient_id: uuid.UUID


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: built from a verified token, never from request input."""

    user_id: uuid.UUID | None
    org_id: uuid.UUID | None
    role: Role
    patient_id: uuid.UUID | None = None
    specialist_id: uuid.UUID | None = None
    expires_at: float | None = None
    # The sign-in this token belongs to (its refresh-token family): logout and password changes
    # revoke it. None for operator tokens and identity-provider tokens.
    session_id: uuid.UUID | None = None

    @property
    def patient(self) -> PatientSubject | None:
        """The patient this principal acts as, with its organization; None for anyone else."""
        if self.role is not Role.PATIENT or self.org_id is None or self.patient_id is None:
            return None
        return PatientSubject(self.org_id, self.patient_id)


class ChannelKind(StrEnum):
    CALENDAR = "calendar"
    PATIENT = "patient"
    ORG = "org"
    VISIT = "visit"  # a virtual visit's room: signalling between its two parties


_CHANNEL = re.compile(
    r"^(calendar|patient|org|visit):([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$"
)


@dataclass(frozen=True, slots=True)
class Channel:
    kind: ChannelKind
    id: uuid.UUID

    @property
    def name(self) -> ChannelName:
        return ChannelName(f"{self.kind.value}:{self.id}")

    @classmethod
    def parse(cls, raw: str) -> Channel:
        """Parse `kind:<uuid>` (lower-case canonical form); raises ValueError otherwise."""
        match = _CHANNEL.match(raw) if isinstance(raw, str) else None
        if match is None:
            raise ValueError(
                "channel must be calendar:<uuid>, patient:<uuid>, org:<uuid> or visit:<uuid>"
            )
        return cls(ChannelKind(match.group(1)), uuid.UUID(match.group(2)))

    @classmethod
    def calendar(cls, calendar_id: uuid.UUID) -> Channel:
        return cls(ChannelKind.CALENDAR, calendar_id)

    @classmethod
    def patient(cls, patient_id: uuid.UUID) -> Channel:
        return cls(ChannelKind.PATIENT, patient_id)

    @classmethod
    def org(cls, org_id: uuid.UUID) -> Channel:
        return cls(ChannelKind.ORG, org_id)

    @classmethod
    def visit(cls, appointment_id: uuid.UUID) -> Channel:
        return cls(ChannelKind.VISIT, appointment_id)
