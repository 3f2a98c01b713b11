"""Messages between a clinic and a patient: threads, replies, read receipts, the live pushes
(ids only, never the body), and who may see which thread."""

from __future__ import annotations

import uuid

import asyncpg
import orjson
from aiohttp import web
from aiohttp.test_utils import TestClient

from storage.types import Channel, Role
from tests.integration.messages.conftest import Clinic, make_clinic

Client = TestClient[web.Request, web.Application]


async def test_a_thread_with_replies_and_read_receipts(clinic: Clinic) -> None:
    staff = clinic.token(Role.RECEPTIONIST, clinic.staff_user)
    patient_channel, org_channel = Channel.patient(clinic.patient), Channel.org(clinic.org)
    since_patient = await clinic.position(patient_channel)
    since_org = await clinic.position(org_channel)

    status, created = await clinic.call(
        "POST",
        f"/v1/patients/{clinic.patient}/threads",
        staff,
        {"subject": "Your exercises", "body": "How is the knee?"},
    )
    assert status == 201, created
    thread = created["thread"]
    assert thread["subject"] == "Your exercises" and thread["state"] == "open"
    assert created["message"]["body"] == "How is the knee?"
    assert created["message"]["author_role"] == "receptionist"
    tid = thread["id"]

    status, reply = await clinic.call(
        "POST", f"/v1/threads/{tid}/messages", clinic.as_patient(), {"body": "Better, thanks"}
    )
    assert status == 201, reply
    assert reply["author_role"] == "patient"

    # The staff member has one unread message (the patient's); the patient none.
    status, listed = await clinic.call("GET", f"/v1/patients/{clinic.patient}/threads", staff)
    assert status == 200, listed
    assert [(t["id"], t["unread"]) for t in listed["data"]] == [(tid, 1)]
    status, mine = await clinic.call(
        "GET", f"/v1/patients/{clinic.patient}/threads", clinic.as_patient()
    )
    assert [(t["id"], t["unread"]) for t in mine["data"]] == [(tid, 1)]  # the first message

    status, receipt = await clinic.call("POST", f"/v1/threads/{tid}/read", staff, {})
    assert status == 200, receipt
    assert receipt["last_read_message_id"] == reply["id"]
    status, listed = await clinic.call("GET", f"/v1/patients/{clinic.patient}/threads", staff)
    assert listed["data"][0]["unread"] == 0
    # A receipt never moves back to an older message.
    first_id = created["message"]["id"]
    status, again = await clinic.call(
        "POST", f"/v1/threads/{tid}/read", staff, {"message_id": first_id}
    )
    assert status == 200 and again["last_read_message_id"] == reply["id"], again

    status, page = await clinic.call("GET", f"/v1/threads/{tid}/messages?limit=1", staff)
    assert status == 200 and [m["id"] for m in page["data"]] == [first_id], page
    status, rest = await clinic.call(
        "GET", f"/v1/threads/{tid}/messages?limit=1&cursor={page['next_cursor']}", staff
    )
    assert [m["body"] for m in rest["data"]] == ["Better, thanks"]

    # Pushed on both channels, in order, with ids only: never the body.
    for channel, since in ((patient_channel, since_patient), (org_channel, since_org)):
        frames = await clinic.events(channel, since)
        kinds = [(f["type"], f["data"].get("message_id")) for f in frames]
        assert kinds == [
            ("message.created", first_id),
            ("message.created", reply["id"]),
            ("message.read", reply["id"]),
        ], kinds
        raw = orjson.dumps(frames)
        assert b"knee" not in raw and b"Better" not in raw
        assert frames[-1]["data"]["user_id"] == str(clinic.staff_user)


async def test_bodies_are_sealed_at_rest(clinic: Clinic, database_url: str) -> None:
    staff = clinic.token(Role.ADMIN)
    status, _ = await clinic.call(
        "POST",
        f"/v1/patients/{clinic.patient}/threads",
        staff,
        {"subject": "Secret subject", "body": "Secret body"},
    )
    assert status == 201
    conn = await asyncpg.connect(database_url)
    try:
        stored = await conn.fetch(
            "SELECT m.body, t.subject FROM messages m JOIN message_threads t"
            " ON t.organization_id = m.organization_id AND t.id = m.thread_id"
            " WHERE m.organization_id = $1",
            clinic.org,
        )
    finally:
        await conn.close()
    assert len(stored) == 1
    assert "Secret" not in stored[0]["body"] and "Secret" not in stored[0]["subject"]


async def test_who_may_see_a_thread(clinic: Clinic, client: Client) -> None:
    status, created = await clinic.call(
        "POST",
        f"/v1/patients/{clinic.patient}/threads",
        clinic.as_patient(),
        {"subject": "Question", "body": "Can I move my visit?"},
    )
    assert status == 201, created
    tid = created["thread"]["id"]
    messages = f"/v1/threads/{tid}/messages"

    treating = clinic.token(Role.SPECIALIST, specialist_id=clinic.specialist)
    assert (await clinic.call("GET", messages, treating))[0] == 200
    assert (await clinic.call("GET", messages, clinic.token(Role.ADMIN)))[0] == 200

    other = await make_clinic(client)
    refused = {
        "another patient": clinic.as_patient(clinic.other_patient),
        "a specialist not treating": clinic.token(Role.SPECIALIST, specialist_id=uuid.uuid4()),
        "another clinic's admin": other.token(Role.ADMIN),
    }
    for who, token in refused.items():
        for method, path, body in (
            ("GET", messages, None),
            ("POST", messages, {"body": "hi"}),
            ("POST", f"/v1/threads/{tid}/read", {}),
        ):
            status, answer = await clinic.call(method, path, token, body)
            assert status == 404, (who, method, path, answer)
    status, _ = await clinic.call(
        "GET", f"/v1/patients/{clinic.patient}/threads", clinic.as_patient(clinic.other_patient)
    )
    assert status == 404
    # The owner sees no patient data at all.
    status, _ = await clinic.call("GET", messages, clinic.token(Role.OWNER))
    assert status == 403


async def test_bodies_empty_or_too_long_are_refused(clinic: Clinic) -> None:
    staff = clinic.token(Role.ADMIN)
    path = f"/v1/patients/{clinic.patient}/threads"
    for body in ("", "   ", "x" * 5001):
        status, answer = await clinic.call("POST", path, staff, {"subject": "S", "body": body})
        assert status == 422, (body[:5], answer)
        assert answer["error"]["code"] == "validation_failed"
        assert "body" in answer["error"]["details"]["fields"], answer
    status, created = await clinic.call("POST", path, staff, {"subject": "S", "body": "ok"})
    assert status == 201
    status, answer = await clinic.call(
        "POST", f"/v1/threads/{created['thread']['id']}/messages", staff, {"body": " \n "}
    )
    assert status == 422, answer
    read = f"/v1/threads/{created['thread']['id']}/read"
    status, answer = await clinic.call("POST", read, staff, {"message_id": "nope"})
    assert status == 422, answer
    status, answer = await clinic.call("POST", read, staff, {"message_id": str(uuid.uuid4())})
    assert status == 404, answer
    status, answer = await clinic.call("POST", read, staff)  # no body: up to the newest
    assert status == 200, answer
