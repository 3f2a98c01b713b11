"""Intake by link: staff send an appointment's form, the patient opens and submits it without an
account. Exactly 404 / 410 / 409 / 422; the status moves `not_sent -> sent -> completed`, pushed
live on the staff channel; the token is stored hashed and is in clear nowhere at rest (the outbox
seals the link and erases it once sent) nor in any event."""

from __future__ import annotations

import hashlib
import json
import secrets
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import orjson
import pytest_asyncio
from aiohttp import ClientWebSocketResponse

from actors.consumers import Context
from actors.notifications import NotificationOptions, OutboxPump
from server.resources import DB_KEY, EVENTS_KEY, REDIS_KEY, SETTINGS_KEY
from storage.keys import KeySpace
from storage.types import Channel, Role
from tests.integration.notifications.conftest import ManualClock, drain
from tests.integration.records.forms.conftest import Clinic, make_clinic

ANSWERS = {"pain": 4, "chest_pain": False, "side": "right"}
TYPED = {"signer_name": "Ana Pop", "method": "typed"}


def _token(link: str) -> str:
    return link.rsplit("/", 1)[1]


@pytest_asyncio.fixture
async def staff_socket(clinic: Clinic) -> AsyncIterator[ClientWebSocketResponse]:
    """A receptionist's WebSocket subscribed to the clinic's staff channel."""
    ws = await clinic.client.ws_connect(
        "/v1/ws", headers={"Authorization": f"Bearer {clinic.token(Role.RECEPTIONIST)}"}
    )
    await ws.send_json({"id": 1, "op": "subscribe", "channel": Channel.org(clinic.org).name})
    reply = await ws.receive_json(timeout=10)
    assert reply["op"] == "ok", reply
    yield ws
    await ws.close()


async def _pushes(ws: ClientWebSocketResponse, count: int) -> list[tuple[str, dict[str, Any]]]:
    """The next `count` events of the intake and forms families on the socket."""
    got: list[tuple[str, dict[str, Any]]] = []
    while len(got) < count:
        frame = await ws.receive_json(timeout=15)
        if frame.get("op") == "event" and frame["type"] in ("appointment.intake", "form.signed"):
            got.append((frame["type"], frame["data"]))
    return got


async def _send(clinic: Clinic, template_id: str, **extra: Any) -> dict[str, Any]:
    sent: dict[str, Any] = await clinic.ok(
        "POST", f"/v1/appointments/{clinic.appointment}/intake",
        clinic.token(Role.RECEPTIONIST), {"template_id": template_id, **extra}, 201,
    )  # fmt: skip
    return sent


async def test_an_intake_from_sending_to_completion(
    clinic: Clinic, staff_socket: ClientWebSocketResponse
) -> None:
    made = await clinic.intake_template()
    intake_path = f"/v1/appointments/{clinic.appointment}/intake"
    desk = clinic.token(Role.RECEPTIONIST)
    status = await clinic.ok("GET", intake_path, desk)
    assert status["status"] == "not_sent" and status["form_id"] is None

    sent = await _send(clinic, made["template"]["id"])
    assert sent["status"] == "sent" and sent["link"].startswith("http://127.0.0.1:")
    token = _token(sent["link"])
    assert await _pushes(staff_socket, 1) == [
        ("appointment.intake", {"appointment_id": str(clinic.appointment), "status": "sent"})
    ]

    # The patient opens it: the form, the clinic, the time; nothing else about them.
    status_code, opened = await clinic.call("GET", f"/v1/public/intake/{token}")
    assert status_code == 200, opened
    assert opened["clinic"] == {"name": "Knee Clinic"}
    assert opened["form"]["id"] == sent["form_id"] and opened["form"]["name"] == "Knee intake"
    assert opened["appointment"]["starts_at"].startswith(clinic.starts_at.strftime("%Y-%m-%dT"))
    assert opened["form"]["fields"][1] == {
        "key": "chest_pain", "label": "Chest pain on effort", "type": "yes_no", "options": None,
        "min": None, "max": None, "required": True,
    }  # fmt: skip
    raw = orjson.dumps(opened)
    assert b"Ana" not in raw and b"Pop" not in raw and b"example.com" not in raw

    # Answers that do not fit: 422 with one message per field.
    status_code, refused = await clinic.call(
        "POST", f"/v1/public/intake/{token}", None,
        {"answers": {"pain": "a lot", "side": "middle"}, "signature": TYPED},
    )  # fmt: skip
    assert status_code == 422, refused
    assert refused["error"]["details"]["fields"] == {
        "answers.pain": "must be a number",
        "answers.side": "must be one of the field's options",
        "answers.chest_pain": "is required",
    }
    status_code, refused = await clinic.call(
        "POST", f"/v1/public/intake/{token}", None, {"answers": ANSWERS}
    )
    assert status_code == 422
    assert refused["error"]["details"]["fields"] == {
        "answers.consent": "is required: sign the form"
    }

    status_code, done = await clinic.call(
        "POST", f"/v1/public/intake/{token}", None, {"answers": ANSWERS, "signature": TYPED},
        headers={"User-Agent": "PatientPhone/2"},
    )  # fmt: skip
    assert status_code == 200 and done == {"status": "completed", "signed": True}, done
    pushed = await _pushes(staff_socket, 2)
    assert pushed[0] == (
        "appointment.intake",
        {"appointment_id": str(clinic.appointment), "status": "completed"},
    )
    assert pushed[1][0] == "form.signed" and pushed[1][1]["form_id"] == sent["form_id"]

    # Spent: 409 both ways; the staff see the status, the answers and who signed from where.
    for method, body in (("GET", None), ("POST", {"answers": ANSWERS})):
        status_code, answer = await clinic.call(method, f"/v1/public/intake/{token}", None, body)
        assert status_code == 409 and answer["error"]["code"] == "intake_submitted", answer
    status = await clinic.ok("GET", intake_path, clinic.treating)
    assert status["status"] == "completed" and status["completed_at"] is not None
    form = await clinic.ok("GET", f"/v1/forms/{sent['form_id']}", clinic.treating)
    assert form["status"] == "signed" and form["answers"] == ANSWERS
    assert form["appointment_id"] == str(clinic.appointment)
    assert form["signature"]["user_agent"] == "PatientPhone/2"
    assert form["signature"]["signed_by"] is None
    # Sending again after completion is a conflict.
    status_code, answer = await clinic.call(
        "POST", intake_path, desk, {"template_id": made["template"]["id"]}
    )
    assert status_code == 409 and answer["error"]["code"] == "intake_submitted"


async def test_unknown_expired_and_replaced_tokens(clinic: Clinic, database_url: str) -> None:
    made = await clinic.intake_template()
    for token in (secrets.token_urlsafe(32), "short", "x" * 43 + "!", str(uuid.uuid4())):
        for method, body in (("GET", None), ("POST", {"answers": {}})):
            status, answer = await clinic.call(method, f"/v1/public/intake/{token}", None, body)
            assert status == 404 and answer["error"]["code"] == "not_found", (token, answer)

    first = _token((await _send(clinic, made["template"]["id"]))["link"])
    again = await _send(clinic, made["template"]["id"], expires_in_days=1)
    second = _token(again["link"])
    # Sending again replaces the link (the same form): the first one names nothing any more.
    assert (await clinic.call("GET", f"/v1/public/intake/{first}"))[0] == 404
    assert (await clinic.call("GET", f"/v1/public/intake/{second}"))[0] == 200

    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(
            "UPDATE appointment_intakes SET expires_at = now() - interval '1 second'"
            " WHERE appointment_id = $1",
            clinic.appointment,
        )
    finally:
        await conn.close()
    submission: dict[str, Any] = {"answers": ANSWERS, "signature": TYPED}
    for method, body in (("GET", None), ("POST", submission)):
        status, answer = await clinic.call(method, f"/v1/public/intake/{second}", None, body)
        assert status == 410 and answer["error"]["code"] == "gone", answer
    form = await clinic.ok("GET", f"/v1/forms/{again['form_id']}", clinic.admin)
    assert form["status"] == "open" and form["answers"] == {}


async def test_sending_refusals(clinic: Clinic, database_url: str) -> None:
    made = await clinic.intake_template()
    path = f"/v1/appointments/{clinic.appointment}/intake"
    body = {"template_id": made["template"]["id"]}
    other = await make_clinic(clinic.client)
    for who, token in {
        "another clinic's admin": other.admin,
        "a specialist not treating": clinic.token(Role.SPECIALIST, specialist_id=uuid.uuid4()),
    }.items():
        assert (await clinic.call("POST", path, token, body))[0] == 404, who
        assert (await clinic.call("GET", path, token))[0] == 404, who
    assert (await clinic.call("POST", path, clinic.as_patient(), body))[0] == 403
    status, answer = await clinic.call("POST", path, clinic.admin, {**body, "expires_in_days": 31})
    assert status == 422 and "expires_in_days" in answer["error"]["details"]["fields"]
    draft = await clinic.ok("POST", "/v1/form-templates", clinic.admin,
                            {"name": "Draft", "kind": "intake"}, 201)  # fmt: skip
    status, answer = await clinic.call("POST", path, clinic.admin, {"template_id": draft["id"]})
    assert status == 422 and "template_id" in answer["error"]["details"]["fields"]
    # One template's link is out: another template's is a conflict, not a second form.
    await clinic.ok("POST", path, clinic.treating, body, 201)
    other_template = await clinic.ok(
        "POST", "/v1/form-templates", clinic.admin,
        {"name": "Other", "kind": "intake", "field_ids": made["field_ids"][:1]}, 201,
    )  # fmt: skip
    await clinic.ok("POST", f"/v1/form-templates/{other_template['id']}/publish", clinic.admin,
                    None, 201)  # fmt: skip
    status, answer = await clinic.call(
        "POST", path, clinic.admin, {"template_id": other_template["id"]}
    )
    assert status == 409 and answer["error"]["code"] == "intake_pending"
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(
            "UPDATE appointments SET status = 'cancelled' WHERE id = $1", clinic.appointment
        )
    finally:
        await conn.close()
    status, answer = await clinic.call("POST", path, clinic.admin, body)
    assert status == 409 and answer["error"]["code"] == "appointment_cancelled"


async def test_the_token_is_never_in_clear_at_rest_nor_in_events(
    clinic: Clinic, database_url: str, tmp_path: Path
) -> None:
    made = await clinic.intake_template()
    patient_channel = Channel.patient(clinic.patient)
    since = await clinic.position(patient_channel)
    since_org = await clinic.position(Channel.org(clinic.org))
    sent = await _send(clinic, made["template"]["id"])
    token = _token(sent["link"])

    async def stored() -> tuple[str, list[dict[str, Any]]]:
        conn = await asyncpg.connect(database_url)
        try:
            hashed = await conn.fetchval(
                "SELECT token_hash FROM appointment_intakes WHERE appointment_id = $1",
                clinic.appointment,
            )
            assert bytes(hashed) == hashlib.sha256(token.encode()).digest()
            # Every table's text, the audit log and the outbox included.
            dump = await conn.fetchval(
                """SELECT string_agg(t::text, ' ') FROM (
                     SELECT row_to_json(x)::text AS t FROM notification_outbox x
                      WHERE organization_id = $1
                     UNION ALL SELECT row_to_json(x)::text FROM audit_log x
                      WHERE organization_id = $1
                     UNION ALL SELECT row_to_json(x)::text FROM appointment_intakes x
                      WHERE organization_id = $1
                     UNION ALL SELECT row_to_json(x)::text FROM form_instances x
                      WHERE organization_id = $1) s""",
                clinic.org,
            )
            outbox = await conn.fetch(
                "SELECT status, data FROM notification_outbox"
                " WHERE organization_id = $1 AND kind = 'intake_request'",
                clinic.org,
            )
        finally:
            await conn.close()
        return dump, [{"status": r["status"], "data": json.loads(r["data"])} for r in outbox]

    dump, outbox = await stored()
    assert token not in dump
    assert len(outbox) == 1 and set(outbox[0]["data"]["secrets"]) == {"link"}
    assert outbox[0]["data"]["secrets"]["link"].startswith("v1:")

    # The dispatcher opens the link into the patient's e-mail and erases it once sent. An in-app
    # copy would be an event kept in Redis in clear: the link goes by e-mail (and SMS) only.
    app = clinic.client.app
    settings = app[SETTINGS_KEY]
    ctx = Context(
        db=app[DB_KEY], redis=app[REDIS_KEY], keys=KeySpace(settings.redis_prefix),
        events=app[EVENTS_KEY], keyring=settings.data_keys, clock=ManualClock(datetime.now(UTC)),
    )  # fmt: skip
    await drain(OutboxPump(ctx, NotificationOptions(mail_dir=str(tmp_path))))
    mails = [orjson.loads(p.read_bytes()) for p in sorted(tmp_path.glob("*"))]  # noqa: ASYNC240
    # (the pump serves every clinic of the database: other tests' messages go out too)
    intake_mails = [m for m in mails if sent["link"] in m["body"]]
    assert len(intake_mails) == 1 and intake_mails[0]["to"] == "ana0@example.com"
    assert intake_mails[0]["subject"] == "Please fill in your intake form for Knee Clinic"
    assert "Hello Ana Pop" in intake_mails[0]["body"]

    dump, outbox = await stored()
    assert outbox[0]["status"] == "sent" and "secrets" not in outbox[0]["data"]
    assert token not in dump
    for channel, position in ((patient_channel, since), (Channel.org(clinic.org), since_org)):
        frames = await clinic.events(channel, position)
        assert "intake_request" not in [f["data"].get("kind") for f in frames]
        assert token not in orjson.dumps(frames).decode()
