"""Frame parsing and entry parsing: pure functions, no services."""

from __future__ import annotations

import orjson
import pytest

from realtime._connection import TokenBucket
from realtime._entries import parse_entry
from realtime._protocol import OpError, frame_id, parse_binary, parse_text
from storage.events import StreamPosition


@pytest.mark.parametrize(
    "raw", [b"", b"nope", b"[]", b'"x"', b'{"op": 1}', b"{}", b"\xff\xfe", b'{"op": null}']
)
def test_malformed_text_frames_are_bad_requests(raw: bytes) -> None:
    with pytest.raises(OpError) as err:
        parse_text(raw)
    assert err.value.code == "bad_request"


def test_a_text_frame_is_an_object_with_a_string_op() -> None:
    assert parse_text(b'{"id": 3, "op": "ping"}') == {"id": 3, "op": "ping"}


@pytest.mark.parametrize(
    ("value", "echoed"),
    [(7, 7), ("abc", "abc"), (True, None), ("x" * 65, None), (2**60, None), ([1], None)],
)
def test_only_sane_ids_are_echoed(value: object, echoed: object) -> None:
    assert frame_id({"id": value}) == echoed


def test_binary_frame_splits_header_and_payload_without_copy() -> None:
    header = orjson.dumps({"op": "pose.frame", "session_id": "s", "t": 1})
    frame = parse_binary(len(header).to_bytes(4, "big") + header + b"JPEG")
    assert frame["op"] == "pose.frame"
    assert isinstance(frame["payload"], memoryview) and bytes(frame["payload"]) == b"JPEG"


@pytest.mark.parametrize(
    "raw", [b"", b"\x00\x00", b"\x00\x00\x00\x00x", b"\x00\x00\x00\x09{}", b"\xff\xff\xff\xff{}"]
)
def test_binary_frames_with_bad_header_lengths_are_bad_requests(raw: bytes) -> None:
    with pytest.raises(OpError):
        parse_binary(raw)


def _payload(offset: str, event_type: str) -> bytes:
    frame = (
        '{"op":"event","channel":"org:x","offset":"' + offset + '","epoch":"e1",'
        '"type":"' + event_type + '","data":{"type":"dashboard.updated"}}'
    )
    return offset.encode() + b" " + frame.encode()


def test_an_entry_is_parsed_once_for_every_subscriber() -> None:
    entry = parse_entry(_payload("1700000000000-42", "appointment.booked"))
    assert entry is not None
    assert (entry.position, entry.seq, entry.counter) == (
        StreamPosition("1700000000000-42", "e1"), 42, False,
    )  # fmt: skip
    # A nested "type" in data does not make an event a counter.
    assert entry.frame.startswith(b'{"op":"event"')


def test_dashboard_updates_are_counters() -> None:
    entry = parse_entry(_payload("1-1", "dashboard.updated"))
    assert entry is not None and entry.counter


def test_a_garbled_entry_is_rejected() -> None:
    assert parse_entry(b"garbage") is None


def test_token_bucket_allows_the_burst_then_refuses() -> None:
    bucket = TokenBucket(rate=0.001, burst=3)
    assert [bucket.take() for _ in range(5)] == [True, True, True, False, False]
