"""Issue 15, holes 12 and 13: a patient's data can be exported whole and erased.

The attacks: export or erase another clinic's patient; erase as a receptionist; export as a
patient somebody else's record; after an erasure, find the patient's name, e-mail or phone
anywhere in the database dump, sign in as the erased patient or keep using their tokens, or
replay their events from Redis. And the omission: a table holding patients' rows that the export
leaves out (the tables are enumerated from the catalog here, independently of the code).
"""

from __future__ import annotations

import asyncio
import glob
import re
import secrets
import shutil
import subprocess
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from redis.typing import StreamRangeResponse

from server import tokens
from server.resources import DB_KEY, EVENTS_KEY, KEYS_KEY, REDIS_KEY, SETTINGS_KEY
from server.seed import seed_demo
from storage import privacy
from storage.types import Channel, Role
from tests.integration.scheduling.conftest import Api, day_at, new_org

Client = TestClient[web.Request, web.Application]
TEXTUAL = privacy.TEXTUAL_TYPES
CLOSE_BOUND_S = 10.0
REVOKED = 4003  # the protocol's close code for a revoked session


@dataclass
class Person:
    first: str
    last: str
    email: str
    phone: str
    password: str
    patient_id: str = ""
    user_id: str = ""

    @property
    def secrets_in_clear(self) -> list[str]:
        digits = re.sub(r"[^0-9]", "", self.phone)
        return [self.first, self.last, self.email, self.phone, digits]


def _person() -> Person:
    tag = "".join(secrets.choice("bcdfghjklmnpqrstvwxz") for _ in range(8))
    n = secrets.randbelow(900) + 100
    return Person(
        first=f"Ilinca{tag}",
        last=f"Vrânceanu{tag}",
        email=f"ilinca.{tag}@example.com",
        phone=f"+40 733 {n} {n + 1}",
        password="Erase-me-" + secrets.token_urlsafe(12),
    )


async def _call(
    http: Client, method: str, path: str, token: str, body: Any = None
) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"}
    resp = await http.request(method, path, json=body, headers=headers)
    raw = await resp.read()
    return resp.status, (orjson.loads(raw) if raw else None)


async def book_when_ready(api: Api, calendar_id: str, patient_id: str, start: datetime) -> Any:
    """One appointment; a 503 (the calendar's actor still starting on a loaded machine) says
    "retry shortly", and a client does."""
    for _ in range(30):
        status, body = await api.book(calendar_id, patient_id, start)
        if status != 503:
            assert status == 201, (status, body)
            return body["appointments"][0]
        await asyncio.sleep(1)
    raise AssertionError("the calendar stayed unavailable")


async def _demo_like_patient(http: Client) -> tuple[Api, Person, dict[str, Any]]:
    """The demo clinic, and in it a patient with an account, appointments (one cancelled with a
    note), a plan with a completed session and its questionnaire, telemetry, consents and a
    care-team grant: a row in every kind of table that holds patient data."""
    keys = http.app[SETTINGS_KEY].data_keys
    demo = await seed_demo(http.app[DB_KEY], keys=keys)
    api = Api(http, uuid.UUID(demo["organization_id"]))
    who = _person()
    who.patient_id = await api.patient(
        who.first, who.last, email=who.email, phone=who.phone, date_of_birth="1987-04-12"
    )
    user = await api.ok(
        "POST",
        "/v1/users",
        {"email": who.email, "password": who.password, "display_name": f"{who.first} {who.last}",
         "role": "patient", "patient_id": who.patient_id},
        expect=201,
    )  # fmt: skip
    who.user_id = user["id"]
    specialist = await api.specialist("Dr House")
    calendar = await api.calendar([specialist])
    kept = await book_when_ready(api, calendar["id"], who.patient_id, day_at(3, 10))
    dropped = await book_when_ready(api, calendar["id"], who.patient_id, day_at(4, 10))
    await api.ok(
        "POST",
        f"/v1/appointments/{dropped['id']}/cancel",
        {"reason": "schedule_conflict", "note": f"{who.first} {who.last} called from {who.phone}"},
    )
    today = datetime.now(UTC).date()
    plan_id = demo["plan_assignments"][0]["plan_id"]
    assignment = await api.ok(
        "POST",
        f"/v1/patients/{who.patient_id}/plan-assignments",
        {"plan_id": plan_id, "frequency": {"weekdays": [1, 3, 5]},
         "starts_on": today.isoformat(), "ends_on": (today + timedelta(weeks=4)).isoformat()},
        expect=201,
    )  # fmt: skip
    started = datetime.now(UTC) - timedelta(minutes=30)
    completion = await api.ok(
        "POST",
        f"/v1/plan-assignments/{assignment['id']}/completions",
        {"session_index": 0, "started_at": started.isoformat(),
         "completed_at": (started + timedelta(minutes=20)).isoformat(),
         "exercises": [{"position": 0, "exercise_id": demo["exercises"]["sit_to_stand"],
                        "sets_done": 3, "reps_done": 30, "duration_s": 600}]},
        expect=201,
    )  # fmt: skip
    await api.ok(
        "POST",
        f"/v1/session-completions/{completion['id']}/questionnaire",
        {"pain": 3, "difficulty": 5, "note": f"{who.first}'s knee hurts"},
        expect=201,
    )
    async with http.app[DB_KEY].platform() as conn:
        org, pid = api.org_id, uuid.UUID(who.patient_id)
        for purpose in ("analytics", "telerehab_camera"):
            await conn.execute(
                """INSERT INTO patient_consents (organization_id, patient_id, purpose,
                     policy_version, granted, channel, ip) VALUES ($1, $2, $3, 'v1', true, 'web',
                     '203.0.113.7')""",
                org, pid, purpose,
            )  # fmt: skip
        await conn.executemany(
            """INSERT INTO telemetry_events (organization_id, patient_id, event_id, type, t, data)
               VALUES ($1, $2, $3, 'app.note', now() - make_interval(secs => $4), $5)""",
            [(org, pid, uuid.uuid4(), i, {"text": f"{who.first} {who.last} {who.email}"})
             for i in range(5)],
        )  # fmt: skip
        await conn.execute(
            """INSERT INTO telemetry_rom_daily (organization_id, patient_id, exercise_id, day,
                 reps, rom_sum, rom_min, rom_max) VALUES ($1, $2, $3, current_date, 10, 900, 80,
                 100)""",
            org, pid, uuid.UUID(demo["exercises"]["squat"]),
        )  # fmt: skip
        await conn.execute(
            "INSERT INTO care_team_grants (organization_id, patient_id, specialist_id)"
            " VALUES ($1, $2, $3)",
            org, pid, uuid.UUID(specialist),
        )  # fmt: skip
    # A clinical read, so the access audit has something to show.
    await api.ok("GET", f"/v1/patients/{who.patient_id}/session-completions")
    return api, who, {"kept": kept, "dropped": dropped, "demo": demo}


async def _rows_by_table(http: Client, patient_id: str) -> dict[str, int]:
    """Every public table (partition parents only) with a patient_id column, from the catalog,
    and how many rows of this patient it holds."""
    async with http.app[DB_KEY].platform() as conn:
        tables = await conn.fetch(
            """SELECT c.relname FROM pg_class c
               JOIN pg_namespace n ON n.oid = c.relnamespace
               JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'patient_id'
               WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition
                 AND NOT a.attisdropped"""
        )
        return {
            r["relname"]: await conn.fetchval(
                f'SELECT count(*) FROM "{r["relname"]}" WHERE patient_id = $1',
                uuid.UUID(patient_id),
            )
            for r in tables
        }


def _pg_dump() -> str:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_dump"), key=_version)
    binary = found[-1] if found else shutil.which("pg_dump")
    if binary is None:
        pytest.fail("pg_dump not found (install postgresql-client)")
    return binary


def _version(path: str) -> int:
    match = re.search(r"/postgresql/(\d+)/", path)
    return int(match.group(1)) if match else 0


async def _dump(dsn: str) -> str:
    done = await asyncio.to_thread(
        subprocess.run,
        [_pg_dump(), "--data-only", "--no-owner", dsn],
        capture_output=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-2000:]
    return done.stdout.decode("utf-8", errors="replace")


async def _until_closed(socket: aiohttp.ClientWebSocketResponse) -> int | None:
    while not socket.closed:
        await socket.receive()
    return socket.close_code


def _payloads(entries: StreamRangeResponse | None) -> list[bytes]:
    """The `f` field of every stream entry (the client does not decode responses: bytes)."""
    payloads = []
    for _, fields in entries or []:
        assert fields is not None
        payload = fields[b"f"]
        assert isinstance(payload, bytes)
        payloads.append(payload)
    return payloads


async def _login(http: Client, who: Person) -> tuple[int, Any]:
    resp = await http.post("/v1/auth/login", json={"email": who.email, "password": who.password})
    return resp.status, await resp.json()


async def test_export_holds_every_patient_table_and_erasure_leaves_no_trace(
    client: Client,  # noqa: F811
    database_url: str,  # noqa: F811
) -> None:
    api, who, made = await _demo_like_patient(client)
    pid = who.patient_id
    status, signed_in = await _login(client, who)
    assert status == 200, signed_in
    access = signed_in["access_token"]
    assert (await _call(client, "GET", f"/v1/patients/{pid}", access))[0] == 200
    events, keys = client.app[EVENTS_KEY], client.app[KEYS_KEY]
    org_channel = Channel.org(api.org_id).name
    patient_stream = keys.stream(Channel.patient(uuid.UUID(pid)).name)
    before = await events.position(org_channel)
    await api.ok("POST", f"/v1/appointments/{made['kept']['id']}/confirm")
    redis = client.app[REDIS_KEY]
    assert await redis.xlen(patient_stream) > 0
    org_entries = await redis.xrange(keys.stream(org_channel))
    assert any(pid.encode() in payload for payload in _payloads(org_entries))

    # The export: every table of the catalog with this patient's rows, all of them.
    status, export = await _call(client, "GET", f"/v1/patients/{pid}/export", api.token())
    assert status == 200, export
    assert export["patient_id"] == pid and export["format"] == "cadence.patient-export.v1"
    held = await _rows_by_table(client, pid)
    assert held["appointments"] == 2 and held["telemetry_events"] == 5, held
    for table, count in held.items():
        assert table in export["tables"], f"the export leaves out {table}"
        mine = [r for r in export["tables"][table] if r.get("patient_id") == pid]
        assert len(mine) == count, (table, len(mine), count)
    profile = export["tables"]["patients"][0]
    assert (profile["email"], profile["phone"], profile["date_of_birth"]) == (
        who.email, who.phone, "1987-04-12",
    )  # fmt: skip
    assert "email_bidx" not in profile
    assert export["tables"]["cancellations"][0]["note"].startswith(who.first)
    assert export["tables"]["session_questionnaires"][0]["note"] == f"{who.first}'s knee hurts"
    history = export["tables"]["appointment_history"]
    assert {h["appointment_id"] for h in history} == {made["kept"]["id"], made["dropped"]["id"]}
    assert any(a["action"] == "read" for a in export["tables"]["audit_log"])

    # The patient exports their own record, and nobody else's.
    assert (await _call(client, "GET", f"/v1/patients/{pid}/export", access))[0] == 200
    other_patient = made["demo"]["patients"][0]["id"]
    assert (await _call(client, "GET", f"/v1/patients/{other_patient}/export", access))[0] == 404

    # A socket the patient holds open, listening to their own channel.
    socket = await client.ws_connect("/v1/ws", headers={"Authorization": f"Bearer {access}"})
    await socket.send_json({"op": "subscribe", "id": 1, "channel": f"patient:{pid}"})
    reply = await socket.receive_json(timeout=10)
    assert reply.get("op") != "error", reply
    listening = asyncio.create_task(_until_closed(socket))  # answers pings meanwhile

    # The erasure, twice: the same answer.
    status, first = await _call(client, "POST", f"/v1/patients/{pid}/erase", api.token())
    assert status == 200 and first["erased"] is True, first
    status, again = await _call(client, "POST", f"/v1/patients/{pid}/erase", api.token())
    assert (status, again) == (200, first)

    # Nothing of them in clear anywhere in the database.
    dump = await _dump(database_url)
    for text in who.secrets_in_clear:
        assert text not in dump, f"{text!r} survived the erasure"
    assert who.email.split("@")[0] not in dump

    # The records stay, anonymous.
    after = await _rows_by_table(client, pid)
    assert after["appointments"] == 2 and after["telemetry_events"] == 5
    assert after["audit_log"] >= held["audit_log"]

    # Their socket was closed by the membership's revocation (generous bound: a busy box).
    async with asyncio.timeout(CLOSE_BOUND_S):
        assert await listening == REVOKED

    # They cannot sign in, nor use the tokens they had.
    status, _ = await _login(client, who)
    assert status in (401, 403), status
    status, _ = await _call(client, "GET", f"/v1/patients/{pid}", access)
    assert status == 401
    resp = await client.post("/v1/auth/refresh", json={"refresh_token": signed_in["refresh_token"]})
    assert resp.status == 401

    # Their live history is gone; an old position is not silently "recovered" past the hole.
    assert await redis.xlen(patient_stream) == 0
    org_entries = await redis.xrange(keys.stream(org_channel))
    assert org_entries and not any(pid.encode() in payload for payload in _payloads(org_entries))
    assert (await events.replay(org_channel, before)).recovered is False


async def test_another_clinic_or_role_cannot_export_or_erase(
    client: Client,  # noqa: F811
) -> None:
    api = Api(client, await new_org(client.app))
    stranger = Api(client, await new_org(client.app))
    pid = await api.patient("Target", "Person", email="target@example.com")
    for path, method in ((f"/v1/patients/{pid}/export", "GET"), (f"/v1/patients/{pid}/erase",
                                                                  "POST")):  # fmt: skip
        status, body = await stranger.call(method, path)
        assert status == 404, body
        assert body["error"]["code"] == "not_found"
    for role in (Role.RECEPTIONIST, Role.SPECIALIST):
        assert (await api.call("POST", f"/v1/patients/{pid}/erase", role=role))[0] == 403
        assert (await api.call("GET", f"/v1/patients/{pid}/export", role=role))[0] == 403
    secret = client.app[SETTINGS_KEY].secret
    somebody = tokens.issue(
        secret, role=Role.PATIENT, org_id=api.org_id, user_id=uuid.uuid4(),
        patient_id=uuid.uuid4(),
    )  # fmt: skip
    assert (await _call(client, "GET", f"/v1/patients/{pid}/export", somebody))[0] == 404
    assert (await api.call("POST", f"/v1/patients/{uuid.uuid4()}/erase"))[0] == 404
    # Still whole after all that.
    body = await api.ok("GET", f"/v1/patients/{pid}")
    assert body["last_name"] == "Person" and body["email"] == "target@example.com"


async def test_every_textual_column_of_patient_tables_is_scrubbed_or_declared(
    client: Client,  # noqa: F811
) -> None:
    """A table added with patient rows must say, for each textual column, whether erasure
    replaces it (storage/privacy.SCRUB) or it identifies nobody (NON_IDENTIFYING)."""
    async with client.app[DB_KEY].platform() as conn:
        rows = await conn.fetch(
            """SELECT c.relname AS tbl, a.attname AS col, t.typname AS typ
               FROM pg_class c
               JOIN pg_namespace n ON n.oid = c.relnamespace
               JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
               JOIN pg_type t ON t.oid = a.atttypid
               WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition
                 AND (c.relname = 'patients' OR EXISTS (
                   SELECT 1 FROM pg_attribute p WHERE p.attrelid = c.oid
                     AND p.attname = 'patient_id' AND NOT p.attisdropped))"""
        )
    undeclared = sorted(
        f"{r['tbl']}.{r['col']} ({r['typ']})"
        for r in rows
        if r["typ"] in TEXTUAL
        and r["col"] not in privacy.SCRUB.get(r["tbl"], {})
        and r["col"] not in privacy.NON_IDENTIFYING.get(r["tbl"], frozenset())
    )
    assert not undeclared, f"declare these in storage/privacy.py: {undeclared}"
