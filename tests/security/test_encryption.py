"""Issue 15, hole 14: the most sensitive fields are encrypted at rest.

The attacks: read a patient's contact details or birth date straight from the database (a
dump, a replica, a backup); flip bits of a stored ciphertext; move a ciphertext into another
patient's row, or into another clinic's, hoping the server decrypts it there; find a patient by
a fragment of an encrypted field. And the operation: re-encrypt 10,000 rows under a new key while
the API keeps answering, with every row readable afterwards.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import os
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from urllib.parse import quote

import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestClient
from pytest_aiohttp import AiohttpClient

from server.app import create_app
from server.resources import DB_KEY, SETTINGS_KEY
from server.settings import Settings
from storage.crypto import DEV_INDEX_KEY, DEV_KEYS, FieldRef, KeyRing, TamperedValue
from storage.db import create_pool
from storage.sealed import open_row, rotate, seal_values
from storage.types import Role
from tests.integration.scheduling.conftest import Api, day_at, new_org, z
from tests.security.test_export_erase import book_when_ready

Client = TestClient[web.Request, web.Application]
ROWS = 10_000


async def _raw(http: Client, patient_id: str) -> dict[str, object]:
    async with http.app[DB_KEY].platform() as conn:
        row = await conn.fetchrow("SELECT * FROM patients WHERE id = $1", uuid.UUID(patient_id))
    assert row is not None
    return dict(row.items())


async def test_contacts_and_birth_date_are_ciphertext_in_the_database(
    client: Client,  # noqa: F811
) -> None:
    api = Api(client, await new_org(client.app))
    pid = await api.patient(
        "Sorina", "Enache", email="sorina.enache@example.com", phone="+40 744 123 456",
        date_of_birth="1990-02-03",
    )  # fmt: skip
    raw = await _raw(client, pid)
    active = client.app[SETTINGS_KEY].data_keys.active
    for column, clear in (("email", "sorina"), ("phone", "123"), ("date_of_birth", "1990")):
        value = str(raw[column])
        assert value.startswith(f"v1:{active}:"), (column, value[:8])
        assert clear not in value
    assert isinstance(raw["email_bidx"], bytes) and len(raw["email_bidx"]) == 32
    # The API still shows them, to whoever may read the patient.
    body = await api.ok("GET", f"/v1/patients/{pid}", role=Role.RECEPTIONIST)
    assert (body["email"], body["phone"], body["date_of_birth"]) == (
        "sorina.enache@example.com", "+40 744 123 456", "1990-02-03",
    )  # fmt: skip

    # A cancellation note is clinical free text: sealed too.
    specialist = await api.specialist()
    calendar = await api.calendar([specialist])
    appt = await book_when_ready(api, calendar["id"], pid, day_at(2, 9))
    await api.ok(
        "POST", f"/v1/appointments/{appt['id']}/cancel",
        {"reason": "ill", "note": "Sorina has a fever"},
    )  # fmt: skip
    async with client.app[DB_KEY].platform() as conn:
        note = await conn.fetchval(
            "SELECT note FROM cancellations WHERE appointment_id = $1", uuid.UUID(appt["id"])
        )
    assert note.startswith("v1:") and "fever" not in note
    listed = await api.ok("GET", f"/v1/patients/{pid}/cancellations")
    assert listed["data"][0]["note"] == "Sorina has a fever"


async def test_a_questionnaire_note_is_ciphertext_in_the_database(
    client: Client,  # noqa: F811
) -> None:
    from tests.integration.telerehab.conftest import assign, make_clinic, published_plan

    clinic = await make_clinic(client.app[SETTINGS_KEY], client.app[DB_KEY])
    plan = await published_plan(client, clinic)
    assignment = await assign(client, clinic, plan["id"])
    started = datetime.now(UTC) - timedelta(minutes=30)
    resp = await client.post(
        f"/v1/plan-assignments/{assignment['id']}/completions",
        json={"session_index": 0, "started_at": started.isoformat(),
              "completed_at": (started + timedelta(minutes=20)).isoformat(),
              "exercises": [{"position": 0, "exercise_id": str(clinic.library["squat"]),
                             "sets_done": 3, "reps_done": 30, "duration_s": 600}]},
        headers=clinic.admin,
    )  # fmt: skip
    assert resp.status == 201, await resp.text()
    completion = (await resp.json())["id"]
    resp = await client.post(
        f"/v1/session-completions/{completion}/questionnaire",
        json={"pain": 6, "difficulty": 4, "note": "sharp pain in the left knee"},
        headers=clinic.patient(0),
    )
    assert resp.status == 201, await resp.text()
    assert (await resp.json())["note"] == "sharp pain in the left knee"
    async with client.app[DB_KEY].platform() as conn:
        note = await conn.fetchval(
            "SELECT note FROM session_questionnaires WHERE completion_id = $1",
            uuid.UUID(completion),
        )
    assert note.startswith("v1:") and "knee" not in note
    resp = await client.get(f"/v1/session-completions/{completion}", headers=clinic.admin)
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["questionnaire"]["note"] == "sharp pain in the left knee"


async def test_a_public_guest_booking_stores_the_contact_sealed(
    client: Client,  # noqa: F811
) -> None:
    """The guest patient is written by the calendar actor, in its own process: sealed there."""
    api = Api(client, await new_org(client.app))
    calendar = await api.calendar([await api.specialist()])
    resp = await client.post(
        "/v1/public/holds", json={"calendar_id": calendar["id"], "start": z(day_at(5, 11))}
    )
    assert resp.status == 201, await resp.text()
    hold = await resp.json()
    resp = await client.post("/v1/public/bookings", json={
        "hold_id": hold["id"], "hold_token": hold["hold_token"],
        "contact": {"name": "Gina Guest", "email": "gina.guest@example.com",
                    "phone": "+40 755 010 203"},
    })  # fmt: skip
    assert resp.status == 201, await resp.text()
    async with client.app[DB_KEY].platform() as conn:
        row = await conn.fetchrow(
            "SELECT id, email, phone FROM patients WHERE organization_id = $1 AND guest", api.org_id
        )
    assert row is not None
    assert row["email"].startswith("v1:") and "gina" not in row["email"]
    assert row["phone"].startswith("v1:") and "755" not in row["phone"]
    found = await api.ok("GET", f"/v1/patients?q={quote('Gina.Guest@example.com')}")
    assert [p["id"] for p in found["data"]] == [str(row["id"])]
    assert found["data"][0]["phone"] == "+40 755 010 203"


async def test_tampered_or_moved_ciphertext_is_refused(client: Client) -> None:  # noqa: F811
    api = Api(client, await new_org(client.app))
    stranger = Api(client, await new_org(client.app))
    a = await api.patient("Ana", "Aldea", email="ana.aldea@example.com")
    b = await api.patient("Bogdan", "Barbu", email="bogdan.barbu@example.com")
    c = await stranger.patient("Carmen", "Cazacu", email="carmen@example.com")
    stolen = str((await _raw(client, a))["email"])
    db = client.app[DB_KEY]

    async def store(patient_id: str, value: str) -> None:
        async with db.platform() as conn:
            await conn.execute(
                "UPDATE patients SET email = $2 WHERE id = $1", uuid.UUID(patient_id), value
            )

    # Ana's e-mail copied into Bogdan's row (same clinic), and into another clinic's patient.
    for owner, target in ((api, b), (stranger, c)):
        await store(target, stolen)
        status, body = await owner.call("GET", f"/v1/patients/{target}")
        assert status == 500 and body["error"]["code"] == "data_integrity", body
        assert "ana.aldea" not in str(body)
    # One flipped bit in Ana's own ciphertext.
    head, _, tail = stolen.rpartition(":")
    raw = bytearray(base64.urlsafe_b64decode(tail + "=" * (-len(tail) % 4)))
    raw[0] ^= 1
    await store(a, f"{head}:{base64.urlsafe_b64encode(bytes(raw)).rstrip(b'=').decode()}")
    status, body = await api.call("GET", f"/v1/patients/{a}")
    assert status == 500 and body["error"]["code"] == "data_integrity", body
    # The cipher itself: the same bytes under another row's or tenant's associated data fail.
    ring = client.app[SETTINGS_KEY].data_keys
    org = uuid.uuid4()
    sealed = ring.seal("x@example.com", FieldRef("patients", "email", uuid.UUID(int=1), org))
    for where in (
        FieldRef("patients", "email", uuid.UUID(int=2), org),
        FieldRef("patients", "email", uuid.UUID(int=1), uuid.uuid4()),
        FieldRef("patients", "phone", uuid.UUID(int=1), org),
    ):
        with pytest.raises(TamperedValue):
            ring.open(sealed, where)


async def test_search_uses_a_keyed_blind_index_per_clinic(client: Client) -> None:  # noqa: F811
    api = Api(client, await new_org(client.app))
    stranger = Api(client, await new_org(client.app))
    mine = await api.patient("Dana", "Dinu", email="Dana.Dinu@Example.com", phone="0722 111 222")
    theirs = await stranger.patient("Dana", "Dinu", email="dana.dinu@example.com")

    async def search(who: Api, q: str) -> list[str]:
        body = await who.ok("GET", f"/v1/patients?q={quote(q)}", role=Role.RECEPTIONIST)
        return [p["id"] for p in body["data"]]

    assert await search(api, "dana.dinu@example.com") == [mine]
    assert await search(api, "+40722111222") == []  # another number (country code)
    assert await search(api, "0722-111-222") == [mine]
    assert await search(api, "example.com") == []  # no fragments of encrypted fields
    assert await search(api, "111 222") == []
    assert await search(stranger, "dana.dinu@example.com") == [theirs]
    # The same e-mail in two clinics has unrelated indexes: no linking across tenants.
    assert (await _raw(client, mine))["email_bidx"] != (await _raw(client, theirs))["email_bidx"]
    # Names stay searchable without accents, as before.
    assert await search(api, "dînu") == [mine]


@pytest_asyncio.fixture
async def rotating(
    settings: Settings,  # noqa: F811
    aiohttp_client: AiohttpClient,
) -> AsyncIterator[tuple[Client, KeyRing]]:
    """A server that knows the development key and a new one (still inactive), and the ring
    that makes the new one active: the state of a deployment in the middle of a rotation."""
    fresh = base64.b64encode(os.urandom(32)).decode()
    old = KeyRing.parse(f"{DEV_KEYS},k2:{fresh}", DEV_INDEX_KEY)
    served = create_app(dataclasses.replace(settings, data_keys=old))
    http = await aiohttp_client(served)
    yield http, old.with_active("k2")


async def test_rotation_of_10000_rows_while_the_api_serves(
    rotating: tuple[Client, KeyRing],
    database_url: str,  # noqa: F811
) -> None:
    http, new = rotating
    old = http.app[SETTINGS_KEY].data_keys
    api = Api(http, await new_org(http.app))
    org = api.org_id
    records = []
    for i in range(ROWS):
        row_id = uuid.uuid4()
        values = seal_values(
            old, "patients", row_id, org,
            {"email": f"p{i}@example.com", "phone": f"+40 700 {i:06d}",
             "date_of_birth": date(1950 + i % 50, 1 + i % 12, 1 + i % 28)},
        )  # fmt: skip
        records.append(
            (row_id, org, f"Rot{i}", "Ation", values["email"], values["phone"],
             values["date_of_birth"], values["email_bidx"], values["phone_bidx"])
        )  # fmt: skip
    # Two rows as the privacy migration left them: plaintext tagged, no blind index yet.
    legacy = [uuid.uuid4(), uuid.uuid4()]
    for n, row_id in enumerate(legacy):
        records.append(
            (row_id, org, "Legacy", "Row", f"p0:legacy{n}@example.com", None, "p0:1970-01-01",
             None, None)
        )  # fmt: skip
    columns = ["id", "organization_id", "first_name", "last_name", "email", "phone",
               "date_of_birth", "email_bidx", "phone_bidx"]  # fmt: skip
    pool = await create_pool(database_url, min_size=1, max_size=3)
    try:
        async with pool.acquire() as conn:
            await conn.copy_records_to_table("patients", records=records, columns=columns)
        sample = [str(records[i][0]) for i in range(0, ROWS, 997)] + [str(r) for r in legacy]
        legacy_body = await api.ok("GET", f"/v1/patients/{legacy[0]}")
        assert legacy_body["email"] == "legacy0@example.com"

        rotation = asyncio.create_task(rotate(pool, new, batch=500))
        served = 0
        while not rotation.done():
            pid = sample[served % len(sample)]
            body = await api.ok("GET", f"/v1/patients/{pid}", role=Role.RECEPTIONIST)
            assert body["id"] == pid and body["email"].endswith("@example.com")
            served += 1
        done = await rotation
        assert served >= 1  # the API answered while the rotation ran
        assert done.rewritten["patients"] >= ROWS + len(legacy)

        async with pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT id, organization_id, email, phone, date_of_birth, email_bidx"
                " FROM patients WHERE organization_id = $1",
                org,
            )
        assert len(rows) == ROWS + len(legacy)
        only_new = KeyRing({"k2": new.keys["k2"]}, "k2", new.index_key)
        for row in rows:
            assert row["email"].startswith("v1:k2:"), row["email"][:8]
            opened = open_row(only_new, "patients", row)  # readable without the old key
            assert opened["email"].endswith("@example.com")
            assert row["email_bidx"] is not None
        # A second run finds nothing left to do; the API reads every sampled row.
        assert (await rotate(pool, new, batch=500)).rewritten["patients"] == 0
        for pid in sample:
            await api.ok("GET", f"/v1/patients/{pid}")
        found = await api.ok("GET", f"/v1/patients?q={quote('legacy1@example.com')}")
        assert [p["id"] for p in found["data"]] == [str(legacy[1])]
    finally:
        await pool.close()
