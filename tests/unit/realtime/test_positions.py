"""One position type wherever a stream position travels: the gateway's entries, subscribe's
`since` and replies, `recovery` frames and the SDK all use `storage.events.StreamPosition`."""

from __future__ import annotations

import pickle

import orjson

from realtime import _protocol as proto
from realtime._entries import parse_entry
from realtime.client import Position
from storage.events import ORIGIN, StreamPosition


def test_a_position_is_written_to_the_wire_exactly_as_it_is_read() -> None:
    wire = {"offset": "1732000000000-42", "epoch": "ab12"}
    position = StreamPosition.parse(wire)
    assert position.as_dict() == wire
    assert position.seq == 42
    assert pickle.loads(pickle.dumps(position)) == position


def test_the_origin_comes_before_every_entry() -> None:
    assert ORIGIN.seq == 0 and ORIGIN.epoch == ""


def test_an_entry_carries_the_position_its_frame_names() -> None:
    frame = b'{"op":"event","channel":"org:x","offset":"5-3","epoch":"e9","type":"a.b","data":{}}'
    entry = parse_entry(b"5-3 " + frame)
    assert entry is not None
    decoded = orjson.loads(entry.frame)
    assert entry.position == StreamPosition(decoded["offset"], decoded["epoch"])
    assert entry.seq == entry.position.seq == 3


def test_server_frames_carry_positions_in_the_wire_shape() -> None:
    position = StreamPosition("9-9", "e1")
    assert proto.subscribed("org:x", position, True)["position"] == position.as_dict()
    pushed = orjson.loads(proto.recovery("org:x", position))
    assert StreamPosition.parse(pushed["position"]) == position


def test_the_sdk_position_is_the_protocol_position() -> None:
    assert Position is StreamPosition
