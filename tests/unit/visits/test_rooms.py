"""The pure parts of virtual visits: the room's window and who is a party, the time both were in
the room, TURN credentials, and the settings that refuse a default TURN secret in production."""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from server.visit_settings import DEV_TURN_SECRET, VisitSettings, visit_settings
from server.visits.access import RoomState, Window, party_of
from server.visits.provider import PeerToPeer, turn_credential
from server.visits.ws import signal_body
from storage.errors import DomainError
from storage.types import Principal, Role
from storage.visits import Attendance, VirtualAppointment, VisitParty, together

T0 = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)
ORG, PATIENT, SPECIALIST = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()


def appointment(status: str = "booked") -> VirtualAppointment:
    return VirtualAppointment(uuid.uuid4(), ORG, PATIENT, SPECIALIST, T0,
                              T0 + timedelta(minutes=30), status, True)  # fmt: skip


def principal(role: Role, org: uuid.UUID = ORG, **ids: uuid.UUID) -> Principal:
    return Principal(uuid.uuid4(), org, role, ids.get("patient_id"), ids.get("specialist_id"))


def test_the_window_opens_before_the_start_and_closes_after_the_end() -> None:
    settings = VisitSettings(open_before_s=600, close_after_s=900)
    a = appointment()
    window = Window.of(a, settings)
    assert window.state(a, T0 - timedelta(minutes=11)) is RoomState.SCHEDULED
    assert window.state(a, T0 - timedelta(minutes=10)) is RoomState.OPEN
    assert window.state(a, T0 + timedelta(minutes=44)) is RoomState.OPEN
    assert window.state(a, T0 + timedelta(minutes=45)) is RoomState.CLOSED
    cancelled = appointment("cancelled")
    assert window.state(cancelled, T0) is RoomState.CANCELLED
    assert window.state(appointment("no_show"), T0) is RoomState.CANCELLED
    # A guest's request not yet accepted: its room waits.
    assert window.state(appointment("requested"), T0) is RoomState.SCHEDULED


def test_a_party_is_the_organization_and_the_subject_together() -> None:
    a = appointment()
    assert party_of(principal(Role.PATIENT, patient_id=PATIENT), a) is VisitParty.PATIENT
    assert party_of(principal(Role.SPECIALIST, specialist_id=SPECIALIST), a) is (
        VisitParty.SPECIALIST
    )
    assert party_of(principal(Role.PATIENT, uuid.uuid4(), patient_id=PATIENT), a) is None
    assert party_of(principal(Role.PATIENT, patient_id=uuid.uuid4()), a) is None
    assert party_of(principal(Role.ADMIN), a) is None
    # A specialist token carrying the patient's id is not the patient.
    assert party_of(principal(Role.SPECIALIST, patient_id=PATIENT), a) is None
    assert party_of(None, a) is None


def _attendance(role: VisitParty, start: int, end: int | None) -> Attendance:
    left = None if end is None else T0 + timedelta(seconds=end)
    return Attendance(uuid.uuid4(), role, T0 + timedelta(seconds=start), left, None)


def test_time_together_counts_only_the_overlap() -> None:
    p, s = VisitParty.PATIENT, VisitParty.SPECIALIST
    attendances = [
        _attendance(p, 0, 100),  # the patient alone for 30 s, then with the specialist
        _attendance(s, 30, 200),
        _attendance(p, 150, None),  # back after a reload gap; still in at "now" = 300
    ]
    seconds, first, last = together(attendances, T0 + timedelta(seconds=300))
    assert seconds == 70 + 50
    assert first == T0 + timedelta(seconds=30) and last == T0 + timedelta(seconds=200)
    assert together([_attendance(p, 0, 10)], T0) == (0.0, None, None)


def test_turn_credentials_are_the_turn_rest_api_hmac() -> None:
    username, credential = turn_credential("s3cret-s3cret-s3cret", "patient-x", 1_900_000_000)
    assert username == "1900000000:patient-x"
    digest = hmac.new(b"s3cret-s3cret-s3cret", username.encode(), hashlib.sha1).digest()
    assert credential == base64.b64encode(digest).decode()
    settings = VisitSettings(stun_urls=("stun:stun.example.org:3478",),
                             turn_urls=("turn:turn.example.org:3478",), turn_secret="k" * 20,
                             turn_ttl_s=600)  # fmt: skip
    room = PeerToPeer(settings, clock=lambda: 1000.0).access(uuid.uuid4(), VisitParty.PATIENT,
                                                              PATIENT, 5000.0)  # fmt: skip
    stun, turn = room.ice_servers
    assert stun == {"urls": ["stun:stun.example.org:3478"]}
    assert turn["username"].startswith("1600:patient-")
    assert "k" * 20 not in str(room)


def test_the_turn_secret_is_never_defaulted_outside_development() -> None:
    env = {"CADENCE_VISIT_TURN_URLS": "turn:turn.example.org:3478"}
    problems: list[str] = []
    visit_settings(env, local=False, problems=problems)
    assert any("CADENCE_VISIT_TURN_SECRET is required" in p for p in problems), problems
    problems = []
    visit_settings({**env, "CADENCE_VISIT_TURN_SECRET": DEV_TURN_SECRET}, False, problems)
    assert problems, "the development secret was accepted in production"
    problems = []
    assert visit_settings(env, local=True, problems=problems).turn_secret == DEV_TURN_SECRET
    assert problems == []
    problems = []
    visit_settings({"CADENCE_VISIT_STUN_URLS": "http://x", "CADENCE_VISIT_OPEN_BEFORE_S": "-1"},
                   True, problems)  # fmt: skip
    assert len(problems) == 2, problems


@pytest.mark.parametrize(
    "frame",
    [
        {"kind": "hangup"},
        {"kind": "answer", "sdp": ""},
        {"kind": "candidate", "candidate": {"candidate": "c", "sdpMid": 3}},
        {"kind": "candidate", "candidate": {"candidate": "c", "sdpMLineIndex": True}},
    ],
)
def test_a_bad_signal_is_refused_naming_its_field(frame: dict[str, object]) -> None:
    with pytest.raises(DomainError) as caught:
        signal_body(frame)
    assert caught.value.code == "bad_request" and caught.value.details["fields"]


def test_only_the_known_parts_of_a_signal_are_relayed() -> None:
    body = signal_body({"kind": "offer", "sdp": "v=0", "from": "patient", "extra": "x"})
    assert body == {"kind": "offer", "sdp": "v=0"}
