"""What crosses Ray between the calendar facade and the CalendarShard actors (frozen dataclasses).

Every request names its calendar (the shard key) and the caller as far as the shard needs it for
tenancy and hold ownership; every answer is a result object, never a raised domain error, so one
request's failure cannot fail the other requests of its batch.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any

from actors._pool.compact import compact
from actors.calendar._state import Hold
from pipelines.availability import Slot
from storage.audit import AuditActor
from storage.events import StreamPosition
from storage.scheduling import Appointment, GuestConsent, Member, WaitlistEntry

STAFF = frozenset({"admin", "receptionist", "specialist"})


@compact
@dataclass(frozen=True, slots=True)
class Caller:
    """Who asks. `org_id` None: an anonymous booker of the public API (public calendars only).
    `holder`: whose hold it is ("patient:<id>", "user:<id>", "anon:<token digest>")."""

    holder: str
    org_id: uuid.UUID | None = None
    role: str | None = None
    patient_id: uuid.UUID | None = None

    @property
    def staff(self) -> bool:
        return self.org_id is not None and self.role in STAFF

    @property
    def public(self) -> bool:
        """Only public calendars: anonymous bookers and patients."""
        return self.org_id is None or self.role == "patient"

    def holds(self, hold: Hold) -> bool:
        """Whether this caller is the hold's holder: the same holder AND the same organization
        (none for the public API's anonymous holds). A holder alone is a bare id: a token of
        another clinic may carry the same patient id (ARCHITECTURE.md invariant 8)."""
        return self.holder == hold.holder and self.org_id == (
            None if hold.public else hold.organization_id
        )


@compact
@dataclass(frozen=True, slots=True)
class GuestContact:
    """The contact of a public booking; becomes a guest patient in the booking's transaction."""

    name: str
    email: str
    phone: str

    def __repr__(self) -> str:  # never print patient data
        return "GuestContact(***)"


@compact
@dataclass(frozen=True, slots=True)
class SlotsQuery:
    """Slots starting in [start, end): instants, or calendar-local dates (`end` inclusive),
    resolved by the shard in the calendar's zone; defaults: now and start + 7 days."""

    calendar_id: uuid.UUID
    caller: Caller
    start: datetime | date | None = None
    end: datetime | date | None = None


@compact
@dataclass(frozen=True, slots=True)
class HoldRequest:
    calendar_id: uuid.UUID
    caller: Caller
    start: datetime
    specialist_id: uuid.UUID | None
    idempotency_key: str  # scoped by the facade to the caller; generated when none was given
    # Whether this request may have reached a shard before: the client sent its own key (it
    # may be retrying), or the pool sends it again after a failed call. Only then does the
    # shard look its key up in Redis; a generated key on a first send is new by construction.
    may_repeat: bool = False

    def again(self) -> HoldRequest:
        """This request as the pool sends it again (actors/_pool/_pool.py)."""
        return replace(self, may_repeat=True)


@compact
@dataclass(frozen=True, slots=True)
class ReleaseRequest:
    calendar_id: uuid.UUID
    caller: Caller
    hold_id: uuid.UUID


@compact
@dataclass(frozen=True, slots=True)
class BookRequest:
    calendar_id: uuid.UUID
    caller: Caller
    hold_id: uuid.UUID
    actor: AuditActor
    patient_id: uuid.UUID | None = None
    guest: GuestContact | None = None
    visit_reason: str | None = field(default=None, repr=False)  # patient data: never printed
    # A guest's acceptance of the clinic's privacy policy (storage/scheduling/_requests.py).
    consent: GuestConsent | None = None


@compact
@dataclass(frozen=True, slots=True)
class Span:
    specialist_id: uuid.UUID
    start: datetime
    end: datetime


# Staff writes that change availability without a hold. The owning shard decides each against
# its live holds (a hold promises its holder the booking: a time held within buffers is a 409),
# writes it to Postgres in one transaction, applies it to every calendar sharing the specialist
# and publishes, all under the organization's lock: nothing is granted in between, and the
# shard's state is never behind the database once the write is acknowledged.


@compact
@dataclass(frozen=True, slots=True)
class RescheduleAppointment:
    """Move an appointment to `span` on `calendar_id`, from `from_calendar` (None: the same
    calendar). Both calendars are the organization's, so one shard decides the move."""

    calendar_id: uuid.UUID  # where the appointment ends up (its live holds are checked)
    caller: Caller
    actor: AuditActor
    appointment_id: uuid.UUID
    span: Span  # the new specialist and time
    from_calendar: uuid.UUID | None = None


@compact
@dataclass(frozen=True, slots=True)
class BookSeries:
    """All occurrences or none (one transaction)."""

    calendar_id: uuid.UUID
    caller: Caller
    actor: AuditActor
    patient_id: uuid.UUID
    spans: tuple[Span, ...]  # one specialist, every occurrence
    every_days: int
    forced_reason: str | None = None  # an admin books over a conflict (the clinic allows it)
    visit_reason: str | None = field(default=None, repr=False)


@compact
@dataclass(frozen=True, slots=True)
class WalkIn:
    """A patient at the desk: booked at `span` and checked in at once. The time need not be a
    slot (the patient is here now); the specialist must be free unless it is forced."""

    calendar_id: uuid.UUID
    caller: Caller
    actor: AuditActor
    patient_id: uuid.UUID
    span: Span
    forced_reason: str | None = None
    visit_reason: str | None = field(default=None, repr=False)


@compact
@dataclass(frozen=True, slots=True)
class ChangeStatus:
    """A status action (cancel, no-show, confirm, ...); cancel and no-show free the time."""

    calendar_id: uuid.UUID
    caller: Caller
    actor: AuditActor
    appointment_id: uuid.UUID
    action: str  # storage.scheduling.Action value
    only_specialist: uuid.UUID | None = None  # a specialist acts on their own appointments
    reason: str | None = None  # cancel
    note: str | None = None  # cancel: clinical free text, sealed at rest

    def __repr__(self) -> str:  # never print the note
        return f"ChangeStatus({self.appointment_id}, {self.action})"


StaffWrite = RescheduleAppointment | BookSeries | WalkIn | ChangeStatus


# Rule edits (hours, overrides, specialists' profiles, services, calendar settings and members).
# The organization's shard writes each in its tenant transaction, reads the new rules of every
# calendar it has loaded that the edit touches in that same transaction, and applies and
# publishes them before answering: no calendar's slots lag the rules once the edit is
# acknowledged. Routed by organization: a specialist's hours may touch any of its calendars, or
# none.


@compact
@dataclass(frozen=True, slots=True)
class SetWeeklyHours:
    """Replace a specialist's whole week ({"weekday", "start_min", "end_min"} rows, each with
    an optional "location_id": where they work then)."""

    organization_id: uuid.UUID
    caller: Caller
    actor: AuditActor
    specialist_id: uuid.UUID
    week: tuple[Mapping[str, Any], ...]


@compact
@dataclass(frozen=True, slots=True)
class SetOverride:
    """Set the hours of one date as [start_min, end_min] spans; () = a day off."""

    organization_id: uuid.UUID
    caller: Caller
    actor: AuditActor
    specialist_id: uuid.UUID
    day: date
    spans: tuple[tuple[int, int], ...]


@compact
@dataclass(frozen=True, slots=True)
class DeleteOverride:
    organization_id: uuid.UUID
    caller: Caller
    actor: AuditActor
    specialist_id: uuid.UUID
    day: date


@compact
@dataclass(frozen=True, slots=True)
class EditCalendar:
    """Change a calendar's settings (validated column values) and, unless None, its members."""

    organization_id: uuid.UUID
    caller: Caller
    actor: AuditActor
    calendar_id: uuid.UUID
    values: Mapping[str, Any]
    members: tuple[Member, ...] | None = None


@compact
@dataclass(frozen=True, slots=True)
class DeleteCalendar:
    organization_id: uuid.UUID
    caller: Caller
    actor: AuditActor
    calendar_id: uuid.UUID


@compact
@dataclass(frozen=True, slots=True)
class EditSpecialist:
    """Change a specialist's profile (validated column values: `active` and `timezone` shape
    its calendars' slots) and, unless None, its specialties."""

    organization_id: uuid.UUID
    caller: Caller
    actor: AuditActor
    specialist_id: uuid.UUID
    values: Mapping[str, Any]
    specialty_ids: tuple[uuid.UUID, ...] | None = None


@compact
@dataclass(frozen=True, slots=True)
class DeleteSpecialist:
    organization_id: uuid.UUID
    caller: Caller
    actor: AuditActor
    specialist_id: uuid.UUID


@compact
@dataclass(frozen=True, slots=True)
class EditService:
    """Change a service (validated column values: its duration, buffers and `active` shape the
    slots of the calendars booking it)."""

    organization_id: uuid.UUID
    caller: Caller
    actor: AuditActor
    service_id: uuid.UUID
    values: Mapping[str, Any]


@compact
@dataclass(frozen=True, slots=True)
class DeleteService:
    organization_id: uuid.UUID
    caller: Caller
    actor: AuditActor
    service_id: uuid.UUID


RuleEdit = (
    SetWeeklyHours | SetOverride | DeleteOverride | EditSpecialist | DeleteSpecialist
    | EditService | DeleteService | EditCalendar | DeleteCalendar
)  # fmt: skip
RULE_EDITS = (
    SetWeeklyHours, SetOverride, DeleteOverride, EditSpecialist, DeleteSpecialist,
    EditService, DeleteService, EditCalendar, DeleteCalendar,
)  # fmt: skip
# The waitlist (storage/scheduling/_waitlist.py). Routed by organization: its shard offers freed
# slots as holds, so it is the one writer of the entries' states too (an entry offered a slot
# and the hold that offers it change together, under the organization's lock).


@compact
@dataclass(frozen=True, slots=True)
class JoinWaitlist:
    organization_id: uuid.UUID
    caller: Caller
    actor: AuditActor
    patient_id: uuid.UUID
    calendar_id: uuid.UUID | None
    service_id: uuid.UUID | None
    specialist_id: uuid.UUID | None
    window_from: datetime
    window_to: datetime
    priority: str  # "urgent" | "normal"
    note: str | None = field(default=None, repr=False)  # patient data: never printed


@compact
@dataclass(frozen=True, slots=True)
class WaitlistCommand:
    """`accept` books the entry's offer (410 once it expired), `decline` passes it to the next
    entry, `cancel` takes the entry off the list (passing on its offer, if any)."""

    organization_id: uuid.UUID
    caller: Caller
    actor: AuditActor
    entry_id: uuid.UUID
    action: str  # "accept" | "decline" | "cancel"


WaitlistOp = JoinWaitlist | WaitlistCommand
WAITLIST_OPS = (JoinWaitlist, WaitlistCommand)


@compact
@dataclass(frozen=True, slots=True)
class ResourcesChanged:
    """The organization's locations, rooms, equipment or a service's requirements changed over
    REST (committed already): its shard reads them again and recomputes its loaded calendars,
    so a room added or a requirement dropped shows in the slots at once."""

    organization_id: uuid.UUID


# Deletions: applied twice, the second would answer 404 (so the pool does not retry them).
DELETIONS = (DeleteOverride, DeleteSpecialist, DeleteService, DeleteCalendar)
# Requests about one calendar (its shard serves them together in a batch).
CalendarRequest = SlotsQuery | HoldRequest | ReleaseRequest | BookRequest | StaffWrite
OrganizationRequest = RuleEdit | WaitlistOp | ResourcesChanged
ORGANIZATION_REQUESTS = (*RULE_EDITS, *WAITLIST_OPS, ResourcesChanged)
Request = CalendarRequest | OrganizationRequest


@compact
@dataclass(frozen=True, slots=True)
class Failure:
    """A domain answer that is not a success: HTTP status, envelope code, message, details."""

    status: int
    code: str
    message: str
    details: Mapping[str, Any] = field(default_factory=dict)


@compact
@dataclass(frozen=True, slots=True)
class SlotsView:
    calendar_id: uuid.UUID
    timezone: str
    position: StreamPosition  # of the last delta this snapshot includes
    slots: list[Slot]


@compact
@dataclass(frozen=True, slots=True)
class HoldGranted:
    hold: Hold
    replaced: uuid.UUID | None = None


@compact
@dataclass(frozen=True, slots=True)
class Written:
    """A staff write committed and applied: the appointments after it (and before it, for a
    status change or move) and, for a series, its id."""

    appointments: tuple[Appointment, ...]
    previous: tuple[Appointment, ...] = ()
    series_id: uuid.UUID | None = None


@compact
@dataclass(frozen=True, slots=True)
class Released:
    hold_id: uuid.UUID


@compact
@dataclass(frozen=True, slots=True)
class Booked:
    appointment: Appointment
    created: bool  # False: a retry found the appointment this hold already became


@compact
@dataclass(frozen=True, slots=True)
class RulesEdited:
    """A rule edit committed and applied: what it changed, as storage reads it (for the
    answer; None where nothing was or is left)."""

    before: Any
    after: Any


@compact
@dataclass(frozen=True, slots=True)
class ResourcesApplied:
    """`ResourcesChanged` applied: how many loaded calendars were recomputed."""

    calendars: int


@compact
@dataclass(frozen=True, slots=True)
class WaitlistChanged:
    """The entry after a waitlist command; `appointment`: what an accepted offer booked."""

    entry: WaitlistEntry
    appointment: Appointment | None = None


Result = (
    SlotsView | HoldGranted | Written | Released | Booked | RulesEdited | WaitlistChanged
    | ResourcesApplied | Failure
)  # fmt: skip


def not_found(what: str) -> Failure:
    return Failure(404, "not_found", f"{what} not found")


def slot_unavailable(message: str, details: Mapping[str, Any] | None = None) -> Failure:
    return Failure(409, "slot_unavailable", message, details or {"conflicts": []})


def invalid(field_name: str, message: str) -> Failure:
    return Failure(422, "validation_failed", "request failed validation",
                   {"fields": {field_name: message}})  # fmt: skip


HOLD_EXPIRED = Failure(410, "hold_expired", "the hold expired or was released")
OFFER_EXPIRED = Failure(410, "offer_expired", "the waitlist offer expired or was passed on")
UNAVAILABLE = Failure(503, "unavailable", "the calendar is temporarily unavailable, retry")
