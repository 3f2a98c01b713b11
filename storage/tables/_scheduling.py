"""The clinic's catalog (specialties, services, specialists, calendars), working rules and
appointments."""

from __future__ import annotations

from piccolo.columns import (
    JSONB,
    UUID,
    Array,
    BigInt,
    BigSerial,
    Boolean,
    Bytea,
    Date,
    Integer,
    SmallInt,
    Text,
    Timestamptz,
)
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.columns.defaults.uuid import UUID4
from piccolo.table import Table

from storage.orm import ENGINE


class Specialties(Table, tablename="specialties", db=ENGINE):
    id = UUID(primary_key=True, default=UUID4())
    organization_id = UUID()
    name = Text()
    created_at = Timestamptz(default=TimestamptzNow())
    updated_at = Timestamptz(default=TimestamptzNow())


class Services(Table, tablename="services", db=ENGINE):
    id = UUID(primary_key=True, default=UUID4())
    organization_id = UUID()
    name = Text()
    duration_min = Integer()
    buffer_before_min = Integer(default=0)
    buffer_after_min = Integer(default=0)
    modality = Text()
    price_amount = BigInt(default=0)
    price_currency = Text(default="EUR")
    active = Boolean(default=True)
    capacity = Integer(default=1)  # > 1: a class with seats (group_sessions)
    created_at = Timestamptz(default=TimestamptzNow())
    updated_at = Timestamptz(default=TimestamptzNow())
    deleted_at = Timestamptz(null=True, default=None)
    # Billing (m2026_12_05t01): how a visit is priced, its claim code and VAT rate.
    billing_model = Text(default="session_based")
    time_unit_min = Integer(null=True, default=None)
    rate_per_unit = BigInt(null=True, default=None)
    service_code = Text(null=True, default=None)
    tax_rate_id = UUID(null=True, default=None)


class Specialists(Table, tablename="specialists", db=ENGINE):
    id = UUID(primary_key=True, default=UUID4())
    organization_id = UUID()
    user_id = UUID(null=True, default=None)
    name = Text()
    timezone = Text()
    active = Boolean(default=True)
    created_at = Timestamptz(default=TimestamptzNow())
    updated_at = Timestamptz(default=TimestamptzNow())
    deleted_at = Timestamptz(null=True, default=None)


class SpecialistSpecialties(Table, tablename="specialist_specialties", db=ENGINE):
    """Primary key (organization_id, specialist_id, specialty_id): Piccolo
    knows one column of it."""

    organization_id = UUID(primary_key=True)
    specialist_id = UUID()
    specialty_id = UUID()


class Calendars(Table, tablename="calendars", db=ENGINE):
    id = UUID(primary_key=True, default=UUID4())
    organization_id = UUID()
    name = Text()
    service_id = UUID()
    timezone = Text()
    public = Boolean(default=False)
    slot_interval_min = Integer()
    min_notice_min = Integer(default=0)
    horizon_days = Integer(null=True, default=None)
    period_start = Date(null=True, default=None)
    period_end = Date(null=True, default=None)
    assignment = Text(default="priority")
    hours = JSONB(null=True, default=None)
    daily_cap = Integer(null=True, default=None)
    hold_ttl_s = Integer(default=600)
    active = Boolean(default=True)
    created_at = Timestamptz(default=TimestamptzNow())
    updated_at = Timestamptz(default=TimestamptzNow())
    deleted_at = Timestamptz(null=True, default=None)


class CalendarSpecialists(Table, tablename="calendar_specialists", db=ENGINE):
    """Primary key (organization_id, calendar_id, specialist_id): Piccolo
    knows one column of it."""

    organization_id = UUID(primary_key=True)
    calendar_id = UUID()
    specialist_id = UUID()
    priority = Integer(default=0)
    hours = JSONB(null=True, default=None)
    assignments = BigInt(default=0)


class SpecialistHours(Table, tablename="specialist_hours", db=ENGINE):
    id = UUID(primary_key=True, default=UUID4())
    organization_id = UUID()
    specialist_id = UUID()
    weekday = SmallInt()
    start_min = SmallInt()
    end_min = SmallInt()
    location_id = UUID(null=True, default=None)  # where they work then (m2026_12_06t01)


class SpecialistOverrides(Table, tablename="specialist_overrides", db=ENGINE):
    id = UUID(primary_key=True, default=UUID4())
    organization_id = UUID()
    specialist_id = UUID()
    date = Date()
    hours = JSONB()
    created_at = Timestamptz(default=TimestamptzNow())


class Patients(Table, tablename="patients", db=ENGINE):
    id = UUID(primary_key=True, default=UUID4())
    organization_id = UUID()
    user_id = UUID(null=True, default=None)
    first_name = Text()
    last_name = Text()
    email = Text(null=True, default=None)
    phone = Text(null=True, default=None)
    date_of_birth = Text(null=True, default=None)
    guest = Boolean(default=False)
    consent_analytics = Boolean(default=False)
    consent_marketing = Boolean(default=False)
    consent_telerehab = Boolean(default=False)
    created_at = Timestamptz(default=TimestamptzNow())
    updated_at = Timestamptz(default=TimestamptzNow())
    deleted_at = Timestamptz(null=True, default=None)
    email_bidx = Bytea(null=True, default=None)
    phone_bidx = Bytea(null=True, default=None)
    erased_at = Timestamptz(null=True, default=None)


class AppointmentSeries(Table, tablename="appointment_series", db=ENGINE):
    id = UUID(primary_key=True, default=UUID4())
    organization_id = UUID()
    calendar_id = UUID()
    patient_id = UUID()
    specialist_id = UUID()
    occurrences = Integer()
    every_days = Integer()
    first_starts_at = Timestamptz()
    created_by = UUID(null=True, default=None)
    created_at = Timestamptz(default=TimestamptzNow())


class Appointments(Table, tablename="appointments", db=ENGINE):
    id = UUID(primary_key=True, default=UUID4())
    organization_id = UUID()
    calendar_id = UUID()
    service_id = UUID()
    specialist_id = UUID()
    patient_id = UUID()
    starts_at = Timestamptz()
    ends_at = Timestamptz()
    buffer_before_min = Integer(default=0)
    buffer_after_min = Integer(default=0)
    status = Text(default="booked")
    series_id = UUID(null=True, default=None)
    series_index = Integer(null=True, default=None)
    hold_id = UUID(null=True, default=None)
    created_by = UUID(null=True, default=None)
    created_at = Timestamptz(default=TimestamptzNow())
    updated_at = Timestamptz(default=TimestamptzNow())
    forced_reason = Text(null=True, default=None)
    group_session_id = UUID(null=True, default=None)  # a participant of a class


class AppointmentHistory(Table, tablename="appointment_history", db=ENGINE):
    """Primary key (id, organization_id): Piccolo
    knows one column of it."""

    id = BigSerial(primary_key=True)
    organization_id = UUID()
    appointment_id = UUID()
    action = Text()
    from_status = Text(null=True, default=None)
    to_status = Text()
    from_starts_at = Timestamptz(null=True, default=None)
    from_ends_at = Timestamptz(null=True, default=None)
    from_specialist_id = UUID(null=True, default=None)
    starts_at = Timestamptz()
    ends_at = Timestamptz()
    specialist_id = UUID()
    actor_user_id = UUID(null=True, default=None)
    actor_role = Text(null=True, default=None)
    created_at = Timestamptz()


class Cancellations(Table, tablename="cancellations", db=ENGINE):
    id = UUID(primary_key=True, default=UUID4())
    organization_id = UUID()
    appointment_id = UUID()
    patient_id = UUID()
    specialist_id = UUID()
    calendar_id = UUID()
    reason = Text()
    note = Text(null=True, default=None)
    cancelled_by = UUID(null=True, default=None)
    cancelled_by_role = Text(null=True, default=None)
    original_starts_at = Timestamptz()
    original_ends_at = Timestamptz()
    created_at = Timestamptz(default=TimestamptzNow())
    late = Boolean(default=False)


class SchedulingPolicies(Table, tablename="scheduling_policies", db=ENGINE):
    organization_id = UUID(primary_key=True)
    late_cancel_window_min = Integer(default=0)
    patient_can_cancel = Boolean(default=False)
    patient_can_reschedule = Boolean(default=False)
    patient_min_notice_min = Integer(default=1440)
    allow_forced_booking = Boolean(default=False)
    updated_at = Timestamptz(default=TimestamptzNow())


class CancellationReasons(Table, tablename="cancellation_reasons", db=ENGINE):
    id = UUID(primary_key=True, default=UUID4())
    organization_id = UUID()
    code = Text()
    label = Text()
    position = Integer(default=0)
    active = Boolean(default=True)
    created_at = Timestamptz(default=TimestamptzNow())


class AppointmentDetails(Table, tablename="appointment_details", db=ENGINE):
    """Primary key (organization_id, appointment_id): Piccolo knows one column of it."""

    appointment_id = UUID(primary_key=True)
    organization_id = UUID()
    patient_id = UUID()
    visit_reason = Text(null=True, default=None)
    desk_note = Text(null=True, default=None)
    updated_by = UUID(null=True, default=None)
    updated_at = Timestamptz(default=TimestamptzNow())


class GroupSessions(Table, tablename="group_sessions", db=ENGINE):
    """One class at one time: its participants are appointments; `seats_taken` is kept by a
    trigger under CHECK seats_taken <= capacity. Primary key (organization_id, id)."""

    id = UUID(primary_key=True, default=UUID4())
    organization_id = UUID()
    calendar_id = UUID()
    service_id = UUID()
    specialist_id = UUID()
    starts_at = Timestamptz()
    ends_at = Timestamptz()
    capacity = Integer()
    seats_taken = Integer(default=0)
    created_at = Timestamptz(default=TimestamptzNow())


class WaitlistEntries(Table, tablename="waitlist_entries", db=ENGINE):
    """A patient waiting for a freed slot (storage/scheduling/_waitlist.py). Primary key
    (organization_id, id)."""

    id = UUID(primary_key=True, default=UUID4())
    organization_id = UUID()
    patient_id = UUID()
    calendar_id = UUID(null=True, default=None)
    service_id = UUID(null=True, default=None)
    specialist_id = UUID(null=True, default=None)
    window_from = Timestamptz()
    window_to = Timestamptz()
    priority = Text()
    note = Text(null=True, default=None)
    status = Text(default="waiting")
    offer_hold_id = UUID(null=True, default=None)
    offer_calendar_id = UUID(null=True, default=None)
    offer_specialist_id = UUID(null=True, default=None)
    offer_starts_at = Timestamptz(null=True, default=None)
    offer_ends_at = Timestamptz(null=True, default=None)
    offer_expires_at = Timestamptz(null=True, default=None)
    offers = Integer(default=0)
    passed = Array(Text())
    appointment_id = UUID(null=True, default=None)
    created_by = UUID(null=True, default=None)
    created_at = Timestamptz(default=TimestamptzNow())
    updated_at = Timestamptz(default=TimestamptzNow())
