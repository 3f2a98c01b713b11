"""Virtual visits over REST and the WebSocket, on real Postgres, Redis and Ray: only the
appointment's patient and specialist enter its room, only while it is open; signalling reaches
the other party and nobody else; bad frames get error frames; joins, leaves and the time both
were in the room are recorded."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from aiohttp import web
from aiohttp.test_utils import TestClient

from server.resources import EVENTS_KEY
from storage.events import StreamPosition
from storage.types import Channel, Role
from tests.integration.scheduling.conftest import Api, new_org
from tests.integration.visits.conftest import Visit, virtual_visit

OFFER = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"


async def test_only_the_patient_and_the_specialist_get_the_room(
    visit: Visit, client: TestClient[web.Request, web.Application]
) -> None:
    await visit.open_now()
    status, body = await visit.get(visit.patient_token())
    assert status == 200, body
    assert body["state"] == "open" and body["role"] == "patient"
    assert body["room"]["kind"] == "p2p"
    assert body["room"]["channel"] == f"visit:{visit.appointment_id}"
    assert isinstance(body["room"]["ice_servers"], list)
    status, body = await visit.get(visit.specialist_token())
    assert (status, body["role"]) == (200, "specialist"), body

    # The clinic's desk reads the record, never the room.
    status, body = await visit.get(visit.api.token(Role.ADMIN))
    assert (status, body["role"], body["room"]) == (200, None, None), body
    # Another patient or specialist of the clinic, and anyone of another clinic: 404.
    stranger = await visit.api.patient("Stranger", "Patient")
    colleague = await visit.api.specialist("Dr. Other")
    other = Api(client, await new_org(client.app))
    for token in (
        visit.patient_token(stranger),
        visit.specialist_token(colleague),
        other.token(Role.ADMIN),
        # The same patient id under another organization's token: the subject AND the tenant.
        other.token(Role.PATIENT, patient_id=uuid.UUID(visit.patient_id)),
    ):
        status, body = await visit.get(token)
        assert status == 404, body
    status, body = await visit.get(visit.api.token(Role.OWNER))
    assert status == 403, body

    # Over the WebSocket: the same answer, and the room's channel refuses them.
    channel = f"visit:{visit.appointment_id}"
    for token in (
        visit.patient_token(stranger),
        visit.api.token(Role.ADMIN),
        other.token(Role.PATIENT, patient_id=uuid.UUID(visit.patient_id)),
    ):
        ws = await visit.socket(token)
        joined = await ws.call("visit.join", appointment_id=visit.appointment_id)
        assert joined["op"] == "error" and joined["error"]["code"] == "not_found", joined
        subscribed = await ws.call("subscribe", channel=channel)
        assert subscribed["error"]["code"] == "forbidden", subscribed
        await ws.close()
    anonymous = await visit.socket(None)
    refused = await anonymous.call("visit.join", appointment_id=visit.appointment_id)
    assert refused["error"]["code"] == "unauthorized", refused
    assert (await anonymous.call("subscribe", channel=channel))["error"]["code"] == "forbidden"
    await anonymous.close()


async def test_the_room_opens_before_the_start_and_closes_after_the_end(visit: Visit) -> None:
    # Tomorrow: not open yet, and the answer says when it opens.
    status, body = await visit.get(visit.patient_token())
    assert (status, body["state"], body["room"]) == (200, "scheduled", None), body
    ws = await visit.socket(visit.patient_token())
    early = await ws.call("visit.join", appointment_id=visit.appointment_id)
    assert early["error"]["code"] == "visit_not_open", early
    assert early["error"]["details"]["opens_at"] == body["opens_at"]
    channel = f"visit:{visit.appointment_id}"
    assert (await ws.call("subscribe", channel=channel))["error"]["code"] == "forbidden"

    # Starting in 5 minutes (the default window opens 10 minutes before): open.
    await visit.move(datetime.now(UTC) + timedelta(minutes=5))
    joined = await ws.call("visit.join", appointment_id=visit.appointment_id)
    assert joined["op"] == "ok" and joined["result"]["role"] == "patient", joined

    # Ended two hours ago (the default window closes 30 minutes after the end): closed.
    await visit.move(datetime.now(UTC) - timedelta(hours=2, minutes=30))
    status, body = await visit.get(visit.patient_token())
    assert (status, body["state"], body["room"]) == (200, "closed", None), body
    late = await ws.call("visit.join", appointment_id=visit.appointment_id)
    assert late["error"]["code"] == "visit_closed", late
    signal = await ws.call("visit.signal", appointment_id=visit.appointment_id,
                           kind="offer", sdp=OFFER)  # fmt: skip
    assert signal["error"]["code"] == "visit_closed", signal
    await ws.close()


async def test_an_in_clinic_appointment_has_no_room(
    client: TestClient[web.Request, web.Application],
) -> None:
    in_clinic = await virtual_visit(Api(client, await new_org(client.app)), "in_clinic")
    await in_clinic.open_now()
    status, body = await in_clinic.get(in_clinic.patient_token())
    assert (status, body["error"]["code"]) == (409, "not_virtual"), body
    ws = await in_clinic.socket(in_clinic.patient_token())
    refused = await ws.call("visit.join", appointment_id=in_clinic.appointment_id)
    assert refused["error"]["code"] == "not_virtual", refused
    await ws.close()


async def test_signals_reach_the_other_party_and_nobody_else(visit: Visit) -> None:
    await visit.open_now()
    channel = f"visit:{visit.appointment_id}"
    staff = await visit.socket(visit.api.token(Role.ADMIN))
    org_channel = f"org:{visit.api.org_id}"
    assert (await staff.call("subscribe", channel=org_channel))["op"] == "ok"

    patient = await visit.socket(visit.patient_token())
    specialist = await visit.socket(visit.specialist_token())
    for ws in (patient, specialist):
        assert (await ws.call("subscribe", channel=channel))["op"] == "ok"
    # A signal before joining is refused: the room's membership is per connection.
    early = await specialist.call("visit.signal", appointment_id=visit.appointment_id,
                                  kind="offer", sdp=OFFER)  # fmt: skip
    assert early["error"]["code"] == "not_joined", early

    first = await patient.call("visit.join", appointment_id=visit.appointment_id)
    assert first["result"]["peer_present"] is False, first
    second = await specialist.call("visit.join", appointment_id=visit.appointment_id)
    assert second["result"]["peer_present"] is True, second
    joined = await patient.event("visit.joined")
    assert joined["data"]["role"] == "patient"
    assert (await patient.event("visit.joined"))["data"]["role"] == "specialist"

    sent = await specialist.call("visit.signal", appointment_id=visit.appointment_id,
                                 kind="offer", sdp=OFFER)  # fmt: skip
    assert sent["op"] == "ok", sent
    offer = await patient.event("visit.signal")
    assert offer["data"] == {"from": "specialist", "kind": "offer", "sdp": OFFER}
    candidate = {"candidate": "candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host",
                 "sdpMid": "0", "sdpMLineIndex": 0}  # fmt: skip
    await patient.call("visit.signal", appointment_id=visit.appointment_id,
                       kind="candidate", candidate=candidate)  # fmt: skip
    relayed = await specialist.event("visit.signal")
    while relayed["data"]["from"] != "patient":  # its own offer comes back first
        relayed = await specialist.event("visit.signal")
    assert relayed["data"] == {"from": "patient", "kind": "candidate", "candidate": candidate}

    # The staff channel heard the joins (ids and roles) and no signal.
    roles = [(await staff.event("visit.joined"))["data"]["role"] for _ in range(2)]
    assert sorted(roles) == ["patient", "specialist"]
    marker = await staff.call("ping")
    assert marker["op"] == "ok"
    assert not [e for e in staff.events if e["type"] == "visit.signal"], staff.events
    # What the room's stream holds went to the room's channel only.
    events = visit.client.app[EVENTS_KEY]
    org_replay = await events.replay(Channel.org(visit.api.org_id).name, StreamPosition("0-0", ""))
    assert not [f for _, f in org_replay.frames if b"visit.signal" in f]
    for ws in (staff, patient, specialist):
        await ws.close()


async def test_bad_signals_get_error_frames_and_the_connection_stays(visit: Visit) -> None:
    await visit.open_now()
    ws = await visit.socket(visit.specialist_token())
    assert (await ws.call("visit.join", appointment_id=visit.appointment_id))["op"] == "ok"
    aid = visit.appointment_id
    bad: list[dict[str, Any]] = [
        {"appointment_id": "not-a-uuid", "kind": "offer", "sdp": OFFER},
        {"appointment_id": aid, "kind": "renegotiate", "sdp": OFFER},
        {"appointment_id": aid, "kind": "offer"},
        {"appointment_id": aid, "kind": "offer", "sdp": "x" * 16385},
        {"appointment_id": aid, "kind": "candidate", "candidate": "not an object"},
        {"appointment_id": aid, "kind": "candidate",
         "candidate": {"candidate": "c", "sdpMLineIndex": "zero"}},
        {"appointment_id": aid, "kind": "candidate",
         "candidate": {"candidate": "c" * 1025}},
    ]  # fmt: skip
    for fields in bad:
        reply = await ws.call("visit.signal", **fields)
        assert reply["op"] == "error", (fields, reply)
        assert reply["error"]["code"] == "bad_request", (fields, reply)
        assert reply["error"]["details"]["fields"], reply
    # A storm of candidates is cut off by the per-connection signal rate, with an error frame.
    candidate = {"candidate": "candidate:1 1 udp 1 127.0.0.1 9 typ host", "sdpMid": "0",
                 "sdpMLineIndex": 0}  # fmt: skip
    codes = set()
    for _ in range(150):
        reply = await ws.call("visit.signal", appointment_id=aid, kind="candidate",
                              candidate=candidate)  # fmt: skip
        codes.add(reply["op"] if reply["op"] == "ok" else reply["error"]["code"])
    assert codes == {"ok", "rate_limited"}, codes
    assert (await ws.call("ping"))["op"] == "ok"
    await ws.close()


async def test_joins_leaves_and_the_time_together_are_recorded(visit: Visit) -> None:
    await visit.open_now()
    org_channel = Channel.org(visit.api.org_id)
    since = await visit.api.position(org_channel)
    patient = await visit.socket(visit.patient_token())
    specialist = await visit.socket(visit.specialist_token())
    aid = visit.appointment_id
    assert (await patient.call("visit.join", appointment_id=aid))["op"] == "ok"
    assert (await specialist.call("visit.join", appointment_id=aid))["op"] == "ok"
    # The patient reloads the page: a new connection joins, the old attendance is closed.
    again = await visit.socket(visit.patient_token())
    assert (await again.call("visit.join", appointment_id=aid))["op"] == "ok"
    await patient.close()
    assert (await again.call("visit.leave", appointment_id=aid))["op"] == "ok"
    assert (await specialist.call("visit.leave", appointment_id=aid))["op"] == "ok"
    # Leaving twice: not in the room any more on this connection.
    twice = await specialist.call("visit.leave", appointment_id=aid)
    assert twice["error"]["code"] == "not_joined", twice

    status, body = await visit.get(visit.api.token(Role.ADMIN))
    assert status == 200, body
    record = body["record"]
    assert [(a["role"], a["left_reason"]) for a in record["attendances"]] == [
        ("patient", "rejoined"),
        ("specialist", "left"),
        ("patient", "left"),
    ], record
    assert all(a["left_at"] is not None for a in record["attendances"])
    assert record["together_s"] > 0, record
    assert record["first_together_at"] <= record["last_together_at"], record
    # The staff channel carried each join and leave, ids and roles only.
    staff_events = await visit.api.events_since(org_channel, since)
    kinds = [(e["type"], e["data"]["role"]) for e in staff_events if e["type"].startswith("visit.")]
    assert kinds == [
        ("visit.joined", "patient"),
        ("visit.joined", "specialist"),
        ("visit.joined", "patient"),
        ("visit.left", "patient"),
        ("visit.left", "specialist"),
    ], kinds
    assert all(set(e["data"]) <= {"appointment_id", "role", "attendance_id"}
               for e in staff_events if e["type"].startswith("visit."))  # fmt: skip
    for ws in (again, specialist):
        await ws.close()


def test_frames_are_published_in_the_schema() -> None:
    from realtime import frame_schemas

    ops = frame_schemas.document()["$defs"]
    assert {"client_visit_join", "client_visit_leave", "client_visit_signal"} <= set(ops)
    assert orjson.dumps(ops["client_visit_signal"])


async def test_a_closed_connection_leaves_the_room(visit: Visit) -> None:
    """A tab closed without `visit.leave`: the server's sweep closes the attendance."""
    await visit.open_now()
    ws = await visit.socket(visit.specialist_token())
    assert (await ws.call("visit.join", appointment_id=visit.appointment_id))["op"] == "ok"
    await ws.close()
    admin = visit.api.token(Role.ADMIN)
    deadline = asyncio.get_running_loop().time() + 60  # the sweep runs every few seconds
    reasons: list[str | None] = [None]
    while asyncio.get_running_loop().time() < deadline:
        _, body = await visit.get(admin)
        reasons = [a["left_reason"] for a in body["record"]["attendances"]]
        if reasons != [None]:
            break
        await asyncio.sleep(0.5)
    assert reasons == ["disconnected"], reasons
