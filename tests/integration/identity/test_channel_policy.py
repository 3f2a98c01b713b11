"""Who may subscribe to which channel (PROTOCOL.md "Channels and events"), for every channel
kind x every role x own and foreign organization, plus anonymous connections."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from server.identity import IDENTITY_KEY, Policy
from server.resources import DB_KEY
from storage.db import Database
from storage.types import Channel, ChannelKind, Principal, Role

Client = TestClient[web.Request, web.Application]
ROLES = list(Role)


@dataclass(frozen=True)
class Tenant:
    org: uuid.UUID
    public_calendar: uuid.UUID
    private_calendar: uuid.UUID
    patient: uuid.UUID
    visit: uuid.UUID  # a virtual appointment of `patient`, its room open now


async def _tenant(db: Database, label: str) -> Tenant:
    async with db.platform() as conn:
        org = await conn.fetchval(
            "INSERT INTO organizations (name, slug) VALUES ($1, $2) RETURNING id",
            label,
            f"{label}-{uuid.uuid4().hex[:8]}",
        )
        service = await conn.fetchval(
            """INSERT INTO services (organization_id, name, duration_min, modality)
               VALUES ($1, 'Assessment', 45, 'in_clinic') RETURNING id""",
            org,
        )
        calendars = [
            await conn.fetchval(
                """INSERT INTO calendars (organization_id, name, service_id, timezone, public,
                                          slot_interval_min, horizon_days)
                   VALUES ($1, 'Front desk', $2, 'Europe/Bucharest', $3, 15, 30) RETURNING id""",
                org,
                service,
                public,
            )
            for public in (True, False)
        ]
        patient = await conn.fetchval(
            """INSERT INTO patients (organization_id, first_name, last_name)
               VALUES ($1, 'Ana', 'Pop') RETURNING id""",
            org,
        )
        # A virtual visit of the patient, starting in two minutes (its room is open), with a
        # specialist no principal below is: only the patient may join its room.
        specialist = await conn.fetchval(
            "INSERT INTO specialists (organization_id, name, timezone)"
            " VALUES ($1, 'Dr V', 'UTC') RETURNING id",
            org,
        )
        video = await conn.fetchval(
            """INSERT INTO services (organization_id, name, duration_min, modality)
               VALUES ($1, 'Video', 30, 'virtual') RETURNING id""",
            org,
        )
        start = datetime.now(UTC) + timedelta(minutes=2)
        visit = await conn.fetchval(
            """INSERT INTO appointments (organization_id, calendar_id, service_id, specialist_id,
                                         patient_id, starts_at, ends_at, status)
               VALUES ($1, $2, $3, $4, $5, $6, $7, 'booked') RETURNING id""",
            org, calendars[1], video, specialist, patient, start, start + timedelta(minutes=30),
        )  # fmt: skip
    return Tenant(org, calendars[0], calendars[1], patient, visit)


def _principal(role: Role, tenant: Tenant, *, patient: uuid.UUID | None = None) -> Principal:
    if role is Role.SUPERADMIN:
        return Principal(uuid.uuid4(), None, role)
    return Principal(
        uuid.uuid4(),
        tenant.org,
        role,
        patient_id=(patient or tenant.patient) if role is Role.PATIENT else None,
        specialist_id=uuid.uuid4() if role is Role.SPECIALIST else None,
    )


# Expected answers: (channel in the caller's own organization, in a foreign one), per role.
STAFF = {Role.ADMIN, Role.RECEPTIONIST, Role.SPECIALIST}
EXPECTED: dict[str, dict[Role | None, tuple[bool, bool]]] = {
    "public calendar": {r: (True, True) for r in [*ROLES, None]},
    "private calendar": {r: (r in STAFF | {Role.OWNER}, False) for r in [*ROLES, None]},
    # A specialist only for a patient they treat (none here: tests/security covers the grant and
    # appointment cases); a receptionist gets the channel's non-clinical events only.
    "patient": {
        r: (r in {Role.ADMIN, Role.RECEPTIONIST, Role.PATIENT}, False) for r in [*ROLES, None]
    },
    "org": {r: (r in STAFF | {Role.OWNER}, False) for r in [*ROLES, None]},
    # A video room: its patient and its specialist only (the specialist case is in
    # tests/integration/visits), never the clinic's staff.
    "visit": {r: (r is Role.PATIENT, False) for r in [*ROLES, None]},
}
KIND_OF = {
    "public calendar": ChannelKind.CALENDAR,
    "private calendar": ChannelKind.CALENDAR,
    "patient": ChannelKind.PATIENT,
    "org": ChannelKind.ORG,
    "visit": ChannelKind.VISIT,
}


def _channel(case: str, tenant: Tenant) -> Channel:
    return {
        "public calendar": Channel.calendar(tenant.public_calendar),
        "private calendar": Channel.calendar(tenant.private_calendar),
        "patient": Channel.patient(tenant.patient),
        "org": Channel.org(tenant.org),
        "visit": Channel.visit(tenant.visit),
    }[case]


def test_the_matrix_covers_every_channel_kind() -> None:
    """A new channel kind fails here until its rules are written down."""
    assert set(KIND_OF.values()) == set(ChannelKind)


async def test_subscription_matrix(client: Client) -> None:
    db = client.app[DB_KEY]
    own, foreign = await _tenant(db, "own"), await _tenant(db, "foreign")
    policy = Policy(lambda: db)
    policy.visit_rooms = client.app[IDENTITY_KEY].policy.visit_rooms  # server/visits installs it
    failures = []
    for case, by_role in EXPECTED.items():
        for role, (in_own, in_foreign) in by_role.items():
            who = None if role is None else _principal(role, own)
            for tenant, expected in ((own, in_own), (foreign, in_foreign)):
                if role is Role.SUPERADMIN and tenant is foreign:
                    expected = in_own  # superadmin belongs to no organization: same answer
                got = await policy.may_subscribe(who, _channel(case, tenant))
                if got is not expected:
                    failures.append((case, role, "own" if tenant is own else "foreign", got))
    assert failures == []


async def test_a_patient_token_naming_a_foreign_patient_is_refused(client: Client) -> None:
    db = client.app[DB_KEY]
    own, foreign = await _tenant(db, "own"), await _tenant(db, "foreign")
    policy = Policy(lambda: db)
    sneaky = _principal(Role.PATIENT, own, patient=foreign.patient)
    assert not await policy.may_subscribe(sneaky, Channel.patient(foreign.patient))
    other_patient = _principal(Role.PATIENT, own, patient=uuid.uuid4())
    assert not await policy.may_subscribe(other_patient, Channel.patient(own.patient))


def _no_database() -> Database:
    raise AssertionError("these checks are decided from the token alone")


async def test_unknown_ids_are_refused(client: Client) -> None:
    policy = Policy(lambda: client.app[DB_KEY])
    admin = Principal(uuid.uuid4(), uuid.uuid4(), Role.ADMIN)
    for kind in (ChannelKind.CALENDAR, ChannelKind.PATIENT):
        assert not await policy.may_subscribe(admin, Channel(kind, uuid.uuid4()))
        assert not await policy.may_subscribe(None, Channel(kind, uuid.uuid4()))


@pytest.mark.parametrize("role", ROLES)
def test_only_the_owner_gets_counters_only_on_org_channels(role: Role) -> None:
    policy = Policy(_no_database)
    who = Principal(uuid.uuid4(), uuid.uuid4(), role)
    assert policy.counters_only(who, Channel.org(uuid.uuid4())) is (role is Role.OWNER)
    assert policy.counters_only(who, Channel.calendar(uuid.uuid4())) is False


@pytest.mark.parametrize("role", ROLES)
def test_only_a_receptionist_is_limited_to_non_clinical_events_on_patient_channels(
    role: Role,
) -> None:
    policy = Policy(_no_database)
    who = Principal(uuid.uuid4(), uuid.uuid4(), role)
    limited = policy.non_clinical_only(who, Channel.patient(uuid.uuid4()))
    assert limited is (role is Role.RECEPTIONIST)
    assert policy.non_clinical_only(who, Channel.org(uuid.uuid4())) is False
