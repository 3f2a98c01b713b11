"""Guest booking requests and privacy-policy consent, through REST and the WebSocket, against real
Ray, Redis and Postgres: a request keeps its slot until staff confirm or decline it (or it
expires), every step is pushed on the staff channel and queued to the guest, and a clinic that
requires consent gets it, recorded without the address in clear."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import ClientWebSocketResponse, web
from aiohttp.test_utils import TestClient

from server.resources import DB_KEY, EVENTS_KEY
from server.scheduling.requests import sweep_once
from server.services import CALENDARS_KEY
from storage.types import Role
from tests.integration.live.conftest import Clinic, day_at, make_clinic, z
from tests.integration.scheduling.conftest import Api, new_org

Client = TestClient[web.Request, web.Application]
POLICY_TEXT = "We keep your contact details to manage your appointments."
SHA = hashlib.sha256(POLICY_TEXT.encode()).hexdigest()
CONSENT = {"accepted": True, "privacy_policy_version": "2026-12", "privacy_policy_sha256": SHA}
GUEST = {"name": "Ana Pop", "email": "ana@example.com", "phone": "+40 700 000 000"}


async def _requests_on(clinic: Clinic, **extra: Any) -> None:
    await clinic.api.ok("PUT", "/v1/public-booking/policy", {"mode": "request", **extra})


async def _public_hold(clinic: Clinic, start: datetime) -> tuple[int, Any]:
    r = await clinic.client.post(
        "/v1/public/holds", json={"calendar_id": clinic.calendar_id, "start": z(start)}
    )
    return r.status, await r.json()


async def _public_book(
    clinic: Clinic, start: datetime, consent: Any = None, hold: Any = None
) -> tuple[int, Any]:
    if hold is None:
        status, hold = await _public_hold(clinic, start)
        assert status == 201, hold
    body: dict[str, Any] = {"hold_id": hold["id"], "hold_token": hold["hold_token"],
                            "contact": GUEST}  # fmt: skip
    if consent is not None:
        body["consent"] = consent
    r = await clinic.client.post("/v1/public/bookings", json=body)
    return r.status, await r.json()


async def _staff_socket(clinic: Clinic) -> ClientWebSocketResponse:
    token = clinic.api.token(Role.RECEPTIONIST)
    ws = await clinic.client.ws_connect("/v1/ws", headers={"Authorization": f"Bearer {token}"})
    await ws.send_json({"id": 1, "op": "subscribe", "channel": f"org:{clinic.api.org_id}"})
    reply = await ws.receive_json(timeout=10)
    assert reply["op"] == "ok", reply
    return ws


async def _next_event(ws: ClientWebSocketResponse, prefix: str) -> dict[str, Any]:
    """The next event whose type starts with `prefix` (others, e.g. dashboard, are skipped)."""
    while True:
        frame: dict[str, Any] = await ws.receive_json(timeout=15)
        if frame.get("op") == "event" and frame["type"].startswith(prefix):
            return frame


async def _slot_starts(clinic: Clinic, day: int) -> set[str]:
    listed = await clinic.slots(z(day_at(day, 0)), z(day_at(day, 23)))
    return {s["start"] for s in listed["slots"]}


async def _outbox_kinds(client: Client, appointment_id: str) -> list[str]:
    async with client.app[DB_KEY].platform() as conn:
        rows = await conn.fetch(
            "SELECT kind FROM notification_outbox WHERE appointment_id = $1 ORDER BY created_at",
            uuid.UUID(appointment_id),
        )
    return [r["kind"] for r in rows]


async def _deadline(client: Client, appointment_id: str, from_now: timedelta) -> datetime:
    """Move the request's deadline (time passing, as far as the request can tell)."""
    at = datetime.now(UTC) + from_now
    async with client.app[DB_KEY].platform() as conn:
        await conn.execute(
            "UPDATE booking_requests SET expires_at = $2 WHERE appointment_id = $1",
            uuid.UUID(appointment_id),
            at,
        )
    return at


async def _request_status(clinic: Clinic, appointment_id: str) -> tuple[str, str]:
    got = await clinic.api.ok("GET", f"/v1/booking-requests/{appointment_id}")
    return got["status"], got["request"]["status"]


async def test_a_request_keeps_its_slot_and_staff_confirm_it(clinic: Clinic) -> None:
    await _requests_on(clinic)
    ws = await _staff_socket(clinic)
    try:
        start = day_at(8, 10)
        status, appt = await _public_book(clinic, start)
        assert status == 201, appt
        assert appt["status"] == "requested" and "patient_id" not in appt
        assert appt["request"]["status"] == "pending"
        expires = datetime.fromisoformat(appt["request"]["expires_at"])
        assert datetime.now(UTC) + timedelta(hours=23) < expires <= start
        pushed = await _next_event(ws, "appointment.")
        assert pushed["type"] == "appointment.requested"
        assert pushed["data"]["appointment_id"] == appt["id"]

        # The slot is taken while the request waits: not listed, not holdable.
        assert z(start) not in await _slot_starts(clinic, 8)
        status, refused = await _public_hold(clinic, start)
        assert status == 409, refused
        assert await _outbox_kinds(clinic.client, appt["id"]) == ["booking_request_received"]

        confirmed = await clinic.api.ok(
            "POST", f"/v1/booking-requests/{appt['id']}/confirm", role=Role.RECEPTIONIST
        )
        assert confirmed["status"] == "booked"
        assert confirmed["request"]["status"] == "confirmed"
        assert confirmed["request"]["decided_at"] is not None
        pushed = await _next_event(ws, "appointment.")
        assert pushed["type"] == "appointment.request_confirmed"
        assert pushed["data"]["status"] == "booked"
        assert await _outbox_kinds(clinic.client, appt["id"]) == [
            "booking_request_received", "appointment_confirmation",
        ]  # fmt: skip
        assert z(start) not in await _slot_starts(clinic, 8)

        # Decided once: confirming or declining again is an illegal transition.
        for action in ("confirm", "decline"):
            status, body = await clinic.api.call(
                "POST", f"/v1/booking-requests/{appt['id']}/{action}", role=Role.ADMIN
            )
            assert status == 409 and body["error"]["code"] == "invalid_transition", body
        got = await clinic.api.ok("GET", f"/v1/booking-requests/{appt['id']}")
        assert got["status"] == "booked" and got["request"]["status"] == "confirmed"
        # The plain confirm of an appointment does not answer a request.
        _, other = await _public_book(clinic, day_at(8, 11))
        status, body = await clinic.api.call("POST", f"/v1/appointments/{other['id']}/confirm")
        assert status == 409 and "approve" in body["error"]["details"]["allowed"], body
    finally:
        await ws.close()


async def test_a_declined_request_frees_its_slot_and_is_pushed(clinic: Clinic) -> None:
    await _requests_on(clinic)
    ws = await _staff_socket(clinic)
    try:
        start = day_at(9, 14)
        _, appt = await _public_book(clinic, start)
        assert (await _next_event(ws, "appointment."))["type"] == "appointment.requested"
        # Staff cannot book over it either while it waits.
        status, body = await clinic.api.book(clinic.calendar_id, clinic.patient_id, start)
        assert status == 409, body
        position = await clinic.api.position(clinic.channel())
        declined = await clinic.api.ok("POST", f"/v1/booking-requests/{appt['id']}/decline")
        assert declined["status"] == "cancelled"
        assert declined["request"]["status"] == "declined"
        pushed = await _next_event(ws, "appointment.")
        assert pushed["type"] == "appointment.request_declined"
        # The slot is free again, pushed to every booking page as a delta.
        deltas = await clinic.deltas_since({"offset": position.offset, "epoch": position.epoch})
        assert any(u["start"] == z(start) for d in deltas for u in d["upserted"]), deltas
        assert z(start) in await _slot_starts(clinic, 9)
        assert await _outbox_kinds(clinic.client, appt["id"]) == [
            "booking_request_received", "booking_request_declined",
        ]  # fmt: skip
        status, body = await clinic.api.call("POST", f"/v1/booking-requests/{appt['id']}/confirm")
        assert status == 409 and body["error"]["code"] == "invalid_transition", body
        # Anyone may take the time now.
        status, _ = await _public_hold(clinic, start)
        assert status == 201
    finally:
        await ws.close()


async def test_an_unanswered_request_expires_410_and_by_the_sweep(clinic: Clinic) -> None:
    await _requests_on(clinic, request_ttl_min=60)
    ws = await _staff_socket(clinic)
    try:
        late = day_at(10, 9)
        _, appt = await _public_book(clinic, late)
        await _deadline(clinic.client, appt["id"], -timedelta(seconds=1))
        # Whether this confirmation or a server's sweep gets there first, it is gone: 410.
        for action in ("confirm", "decline"):
            path = f"/v1/booking-requests/{appt['id']}/{action}"
            status, body = await clinic.api.call("POST", path)
            assert status == 410 and body["error"]["code"] == "request_expired", body
        assert await _request_status(clinic, appt["id"]) == ("cancelled", "expired")
        assert z(late) in await _slot_starts(clinic, 10)
        types = [(await _next_event(ws, "appointment."))["type"] for _ in range(2)]
        assert types == ["appointment.requested", "appointment.request_expired"]

        # Nobody answers at all: the sweep expires it through the calendar's shard. (The
        # deadline stays an hour ahead of the real clock, so only this sweep, told it is two
        # hours later, finds it due; the servers' own sweeps do not.)
        swept = day_at(10, 12)
        _, second = await _public_book(clinic, swept)
        assert (await _next_event(ws, "appointment."))["type"] == "appointment.requested"
        app = clinic.client.app
        args = (app[DB_KEY], app[CALENDARS_KEY], app[EVENTS_KEY])
        deadline = await _deadline(clinic.client, second["id"], timedelta(hours=1))
        await sweep_once(*args, now=deadline - timedelta(minutes=1))
        assert await _request_status(clinic, second["id"]) == ("requested", "pending")
        assert z(swept) not in await _slot_starts(clinic, 10)
        assert await sweep_once(*args, now=deadline + timedelta(hours=1)) >= 1
        assert (await _next_event(ws, "appointment."))["type"] == "appointment.request_expired"
        assert await _request_status(clinic, second["id"]) == ("cancelled", "expired")
        assert z(swept) in await _slot_starts(clinic, 10)
        assert await _outbox_kinds(clinic.client, second["id"]) == [
            "booking_request_received", "booking_request_declined",
        ]  # fmt: skip
    finally:
        await ws.close()


async def test_a_calendar_mode_overrides_the_clinic_default(client: Client) -> None:
    clinic = await make_clinic(client)
    second = await clinic.api.calendar([clinic.specialist_id])
    policy = await clinic.api.ok("PUT", "/v1/public-booking/policy", {
        "calendars": {clinic.calendar_id: "request", second["id"]: "instant"},
    })  # fmt: skip
    assert policy["mode"] == "instant"
    assert policy["calendars"] == {clinic.calendar_id: "request", second["id"]: "instant"}
    terms = await client.get(f"/v1/public/calendars/{clinic.calendar_id}/booking-terms")
    terms_body = await terms.json()
    assert terms.status == 200 and terms_body["mode"] == "request", terms_body
    _, appt = await _public_book(clinic, day_at(11, 10))
    assert appt["status"] == "requested"

    # The clinic's default becomes request; the second calendar keeps its own instant mode.
    await clinic.api.ok("PUT", "/v1/public-booking/policy", {"mode": "request"})
    other = Clinic(clinic.api, second["id"], clinic.specialist_id, clinic.patient_id)
    _, booked = await _public_book(other, day_at(11, 12))
    assert booked["status"] == "booked" and "request" not in booked
    # null gives the calendar back to the clinic's mode.
    policy = await clinic.api.ok(
        "PUT", "/v1/public-booking/policy", {"calendars": {second["id"]: None}}
    )
    assert policy["calendars"] == {clinic.calendar_id: "request"}
    _, requested = await _public_book(other, day_at(11, 14))
    assert requested["status"] == "requested"


async def test_consent_is_required_where_the_clinic_asks_and_kept_sealed(clinic: Clinic) -> None:
    await clinic.api.ok("PUT", "/v1/public-booking/policy", {
        "consent_required": True, "privacy_policy_version": "2026-12",
        "privacy_policy_sha256": SHA,
    })  # fmt: skip
    terms = await clinic.client.get(f"/v1/public/calendars/{clinic.calendar_id}/booking-terms")
    assert (await terms.json())["privacy_policy_sha256"] == SHA
    start = day_at(12, 10)
    status, hold = await _public_hold(clinic, start)
    assert status == 201
    status, body = await _public_book(clinic, start, hold=hold)
    assert status == 422 and body["error"]["code"] == "consent_required", body
    assert "consent" in body["error"]["details"]["fields"]
    stale = {**CONSENT, "privacy_policy_sha256": "0" * 64}
    status, body = await _public_book(clinic, start, consent=stale, hold=hold)
    assert status == 422 and body["error"]["code"] == "consent_outdated", body
    refused = {**CONSENT, "accepted": False}
    status, body = await _public_book(clinic, start, consent=refused, hold=hold)
    assert status == 422, body
    # The hold survived the refusals: the same guest books it with consent.
    status, appt = await _public_book(clinic, start, consent=CONSENT, hold=hold)
    assert status == 201 and appt["status"] == "booked", appt

    async with clinic.client.app[DB_KEY].platform() as conn:
        row = await conn.fetchrow(
            """SELECT c.* FROM patient_consents c JOIN appointments a
                 ON a.organization_id = c.organization_id AND a.patient_id = c.patient_id
                WHERE a.id = $1 AND c.purpose = 'privacy_policy'""",
            uuid.UUID(appt["id"]),
        )
    assert row is not None
    assert row["granted"] and row["policy_version"] == "2026-12"
    assert row["policy_sha256"] == SHA and row["channel"] == "web"
    assert row["ip"] is None  # never in clear
    assert row["ip_sealed"] and "127.0.0.1" not in row["ip_sealed"]
    assert row["request_id"]

    # A request records its consent too.
    await _requests_on(clinic)
    _, requested = await _public_book(clinic, day_at(12, 11), consent=CONSENT)
    got = await clinic.api.ok("GET", f"/v1/booking-requests/{requested['id']}")
    assert got["request"]["consented"] is True


async def test_foreign_and_unknown_requests_are_404(client: Client) -> None:
    clinic = await make_clinic(client)
    await _requests_on(clinic)
    _, appt = await _public_book(clinic, day_at(13, 10))
    foreign = Api(client, await new_org(client.app))
    for action in ("confirm", "decline"):
        for api, target in ((foreign, appt["id"]), (clinic.api, str(uuid.uuid4())),
                            (clinic.api, "not-a-uuid")):  # fmt: skip
            status, body = await api.call("POST", f"/v1/booking-requests/{target}/{action}")
            assert status == 404, (action, target, body)
    status, _ = await foreign.call("GET", f"/v1/booking-requests/{appt['id']}")
    assert status == 404
    # Still pending after all that: foreign calls changed nothing.
    got = await clinic.api.ok("GET", f"/v1/booking-requests/{appt['id']}")
    assert got["request"]["status"] == "pending"
    # An appointment that is not a request is no booking request.
    staff_booked = await clinic.api.book_one(clinic.calendar_id, clinic.patient_id, day_at(13, 12))
    status, _ = await clinic.api.call("POST", f"/v1/booking-requests/{staff_booked['id']}/confirm")
    assert status == 404
    # Another clinic's calendar in the policy is not a calendar of this clinic.
    other_clinic = await make_clinic(client)
    status, body = await clinic.api.call(
        "PUT", "/v1/public-booking/policy", {"calendars": {other_clinic.calendar_id: "request"}}
    )
    assert status == 422, body
    for bad in ({"calendars": {"nope": "request"}}, {"mode": "sometimes"},
                {"consent_required": True, "privacy_policy_version": None},
                {"request_ttl_min": 1}):  # fmt: skip
        status, body = await clinic.api.call("PUT", "/v1/public-booking/policy", bad)
        assert status == 422, (bad, body)


async def test_who_may_answer_requests_and_set_the_policy(client: Client) -> None:
    clinic = await make_clinic(client)
    await _requests_on(clinic)
    _, appt = await _public_book(clinic, day_at(14, 10))
    one = f"/v1/booking-requests/{appt['id']}"
    routes = [("GET", one), ("POST", one + "/confirm"), ("POST", one + "/decline"),
              ("PUT", "/v1/public-booking/policy")]  # fmt: skip
    for role in (Role.SPECIALIST, Role.PATIENT, Role.OWNER):
        for method, path in routes:
            body: dict[str, Any] | None = {} if method == "PUT" else None
            status, _ = await clinic.api.call(method, path, body, role=role)
            assert status == 403, (role, method, path)
    status, _ = await clinic.api.call(
        "PUT", "/v1/public-booking/policy", {}, role=Role.RECEPTIONIST
    )
    assert status == 403
    assert (await client.post(one + "/confirm")).status == 401
    assert (await client.get("/v1/public-booking/policy")).status == 401
    await clinic.api.ok("GET", "/v1/public-booking/policy", role=Role.RECEPTIONIST)
    await clinic.api.ok("GET", one, role=Role.RECEPTIONIST)


async def test_the_public_routes_never_answer_401_or_403(client: Client) -> None:
    clinic = await make_clinic(client)
    private = await clinic.api.calendar([clinic.specialist_id], public=False)
    await clinic.api.ok("PUT", "/v1/public-booking/policy", {
        "consent_required": True, "privacy_policy_version": "2026-12",
        "privacy_policy_sha256": SHA,
    })  # fmt: skip
    foreign_token = Api(client, await new_org(client.app)).token(Role.ADMIN)
    # A stale or malformed token on a public route is read as no token (server/middleware.py).
    for headers in ({}, {"Authorization": f"Bearer {foreign_token}"},
                    {"Authorization": "Bearer not-a-token"}):  # fmt: skip
        for target, expect in ((clinic.calendar_id, 200), (private["id"], 404),
                               (str(uuid.uuid4()), 404), ("nope", 404)):  # fmt: skip
            r = await client.get(f"/v1/public/calendars/{target}/booking-terms", headers=headers)
            assert r.status == expect, (headers, target, await r.text())
    status, hold = await _public_hold(clinic, day_at(15, 10))
    body = {"hold_id": hold["id"], "hold_token": hold["hold_token"], "contact": GUEST}
    for headers in ({}, {"Authorization": f"Bearer {foreign_token}"},
                    {"Authorization": "Bearer not-a-token"}):  # fmt: skip
        r = await client.post("/v1/public/bookings", json=body, headers=headers)
        assert r.status == 422, await r.text()  # consent missing: never 401/403
