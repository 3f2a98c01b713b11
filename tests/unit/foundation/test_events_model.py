from __future__ import annotations

import uuid

import orjson
import pytest

from storage.events import StreamPosition, encode_body, offset_seq
from storage.keys import KeySpace
from storage.types import Channel, ChannelName


def test_position_parse_accepts_the_offset_format() -> None:
    position = StreamPosition.parse({"offset": "1732000000000-42", "epoch": "ab12"})
    assert position.offset.endswith("42")
    assert offset_seq("1732000000000-42") == 42


@pytest.mark.parametrize(
    "raw",
    [
        None,
        [],
        {"offset": "12"},
        {"offset": "x-1", "epoch": "e"},
        {"offset": "1-1", "epoch": ""},
        {"offset": "1-1", "epoch": 5},
        {"offset": "1-1"},
    ],
)
def test_position_parse_rejects_malformed_input(raw: object) -> None:
    with pytest.raises(ValueError):
        StreamPosition.parse(raw)


def test_body_fragment_completes_an_event_frame() -> None:
    frame = b'{"op":"event",' + encode_body("slots.changed", {"a": 1}) + b"}"
    assert orjson.loads(frame) == {"op": "event", "type": "slots.changed", "data": {"a": 1}}


def test_channel_names_round_trip_and_reject_junk() -> None:
    cid = uuid.uuid4()
    assert Channel.parse(f"calendar:{cid}") == Channel.calendar(cid)
    for junk in ("calendar:", "room:" + str(cid), f"calendar:{cid} ", "org:" + str(cid).upper()):
        with pytest.raises(ValueError):
            Channel.parse(junk)


def test_keyspace_topics_map_back_to_channels() -> None:
    keys = KeySpace("t1:")
    channel = ChannelName(f"org:{uuid.uuid4()}")
    assert keys.channel_of_topic(keys.topic(channel)) == channel
    assert keys.stream(channel).startswith("t1:")
