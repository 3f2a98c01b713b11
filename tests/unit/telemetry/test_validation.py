from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from pipelines.telemetry import (
    MAX_EVENTS_PER_BATCH,
    EventType,
    MalformedBatch,
    decode_batch,
    validate_batch,
)

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def rep(**over: object) -> dict[str, object]:
    event: dict[str, object] = {
        "id": str(uuid.uuid4()),
        "type": "rep.metrics",
        "t": int(NOW.timestamp() * 1000),
        "session_id": str(uuid.uuid4()),
        "data": {
            "exercise_id": str(uuid.uuid4()),
            "set": 1,
            "rep": 3,
            "rom_deg": 84.5,
            "duration_ms": 2300,
        },
    }
    event.update(over)
    return event


def test_valid_events_of_every_type_become_rows() -> None:
    session, exercise = str(uuid.uuid4()), str(uuid.uuid4())
    t = NOW.isoformat()
    events = [
        rep(),
        {
            "id": str(uuid.uuid4()),
            "type": "pose.sample",
            "t": t,
            "session_id": session,
            "data": {"exercise_id": exercise, "angles": {"knee_left": 91.0}, "visibility": 0.9},
        },
        {
            "id": str(uuid.uuid4()),
            "type": "video.watch",
            "t": t,
            "data": {
                "exercise_id": exercise,
                "media_key": "ex/squat.mp4",
                "action": "play",
                "position_s": 0,
            },
        },
        {
            "id": str(uuid.uuid4()),
            "type": "client.error",
            "t": t,
            "data": {"code": "camera_denied", "message": "permission denied"},
        },
        {
            "id": str(uuid.uuid4()),
            "type": "session.timing",
            "t": t,
            "session_id": session,
            "data": {"phase": "completed", "ms": 600000},
        },
    ]
    rows, rejected = validate_batch(events, NOW)
    assert rejected == []
    assert {r.type for r in rows} == set(EventType)
    assert [r.clinical for r in rows] == [True, False, False, False, True]


def test_each_bad_event_is_rejected_with_a_reason_and_the_rest_kept() -> None:
    good = rep()
    years_ahead = int((NOW + timedelta(days=3 * 365)).timestamp() * 1000)
    bad = [
        rep(
            data={
                "exercise_id": str(uuid.uuid4()),
                "set": "one",
                "rep": 1,
                "rom_deg": 1,
                "duration_ms": 1,
            }
        ),
        rep(type="heartbeat"),
        rep(t=years_ahead),
        rep(
            data={
                "exercise_id": str(uuid.uuid4()),
                "set": 1,
                "rep": 1,
                "rom_deg": 1,
                "duration_ms": 1,
                "blob": "x" * 9000,
            }
        ),
        rep(id="not-a-uuid"),
        rep(
            data={
                "exercise_id": str(uuid.uuid4()),
                "set": 1,
                "rep": 1,
                "rom_deg": 1,
                "duration_ms": 1,
                "email": "p@example.com",
            }
        ),
        rep(
            data={
                "exercise_id": str(uuid.uuid4()),
                "set": 1,
                "rep": 1,
                "rom_deg": float("nan"),
                "duration_ms": 1,
            }
        ),
        "not an object",
        rep(t=True),
    ]
    rows, rejected = validate_batch([good, *bad], NOW)
    assert [r.event_id for r in rows] == [str(good["id"])]
    codes = [r.code for r in rejected]
    assert codes == [
        "invalid_field",
        "unknown_type",
        "t_out_of_range",
        "too_large",
        "invalid_field",
        "pii_not_allowed",
        "invalid_field",
        "invalid_event",
        "invalid_field",
    ]
    assert all(r.message for r in rejected)


def test_duplicate_ids_in_one_batch_store_once() -> None:
    event = rep()
    rows, rejected = validate_batch([event, dict(event)], NOW)
    assert len(rows) == 1 and rejected == []


def test_events_beyond_the_batch_limit_are_rejected_not_dropped() -> None:
    rows, rejected = validate_batch([rep() for _ in range(MAX_EVENTS_PER_BATCH + 3)], NOW)
    assert len(rows) == MAX_EVENTS_PER_BATCH
    assert [r.code for r in rejected] == ["batch_too_large"] * 3


def test_ids_become_canonical_uuid_text_whatever_their_spelling() -> None:
    # One event id in four spellings is one event: a resend that spells its id differently
    # must still be deduplicated (by the batch here, by the primary key in Postgres).
    event_id = uuid.uuid4()
    spellings = [str(event_id), str(event_id).upper(), "{" + str(event_id) + "}", event_id.hex]
    rows, rejected = validate_batch([rep(id=s) for s in spellings], NOW)
    assert rejected == []
    assert [r.event_id for r in rows] == [str(event_id)]
    session = uuid.uuid4()
    rows, _ = validate_batch([rep(session_id=str(session).upper())], NOW)
    assert rows[0].session_id == str(session)


def test_angles_and_visibility_out_of_range_are_rejected_with_the_field() -> None:
    def sample(angles: object, visibility: object = 0.9) -> dict[str, object]:
        return {
            "id": str(uuid.uuid4()),
            "type": "pose.sample",
            "t": int(NOW.timestamp() * 1000),
            "session_id": str(uuid.uuid4()),
            "data": {"exercise_id": str(uuid.uuid4()), "angles": angles, "visibility": visibility},
        }

    good = [sample({"knee": 90}), sample({"knee": 0.0, "hip": 360.0}, 1), sample({"knee": 5.5})]
    bad = [
        sample({"knee": 361.0}),
        sample({"knee": float("nan")}),
        sample({"knee": True}),
        sample({"knee": "90"}),
        sample({"knee": 90.0}, 1.5),
        sample({"knee": 90.0}, float("nan")),
        sample({"knee": 90.0}, "high"),
        sample({"knee": 90.0}, None),
    ]
    rows, rejected = validate_batch(good + bad, NOW)
    assert len(rows) == len(good)
    assert [r.message.split(" ")[0] for r in rejected] == ["data.knee"] * 4 + [
        "data.visibility"
    ] * 4


def test_event_time_is_the_same_microsecond_whichever_way_it_is_written() -> None:
    # `t` is part of the primary key: epoch ms as an int (the fast path), as a float and as
    # RFC 3339 text must name the same instant, or a resend would be stored twice.
    ms = int(NOW.timestamp() * 1000) - 86_400_123
    as_text = datetime.fromtimestamp(ms / 1000, UTC).isoformat().replace("+00:00", "Z")
    rows, rejected = validate_batch([rep(t=ms), rep(t=float(ms)), rep(t=as_text)], NOW)
    assert rejected == []
    assert {r.t_us for r in rows} == {ms * 1000}
    assert rows[0].t == datetime.fromtimestamp(ms / 1000, UTC)


def test_an_int_time_outside_the_window_is_rejected_as_before() -> None:
    too_old = int((NOW - timedelta(days=31)).timestamp() * 1000)
    absurd = 10**17  # fits JSON integers as orjson reads them, not a datetime
    _, rejected = validate_batch([rep(t=too_old), rep(t=absurd)], NOW)
    assert [r.code for r in rejected] == ["t_out_of_range", "t_out_of_range"]
    assert rejected[1].message == "t is not a plausible time"


def test_a_rest_body_and_a_websocket_frame_decode_into_the_same_rows() -> None:
    events = [rep(), rep(type="nope")]
    body = orjson.dumps({"events": events})
    frame = orjson.dumps({"id": 7, "op": "telemetry", "events": events})
    assert decode_batch(body, NOW) == decode_batch(frame, NOW) == validate_batch(events, NOW)
    rows, rejected = decode_batch(frame, NOW)
    assert [r.event_id for r in rows] == [events[0]["id"]]
    assert [r.code for r in rejected] == ["unknown_type"]


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"{", "bad_request"),
        (b"\xff", "bad_request"),
        (b"[]", "validation_failed"),
        (b'{"events": {}}', "validation_failed"),
        (b'{"op": "telemetry"}', "validation_failed"),
    ],
)
def test_a_batch_that_is_not_an_object_with_an_events_array_is_refused_whole(
    body: bytes, code: str
) -> None:
    with pytest.raises(MalformedBatch) as refused:
        decode_batch(body, NOW)
    assert refused.value.code == code
