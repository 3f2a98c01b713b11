"""One entry of a channel's stream as the gateway delivers it: parsed once (position, sequence
number, whether it is a counters-only or a clinical event) and framed once, whether it arrived
live on the pub/sub topic or was read back from the stream. Every subscription of every
connection is offered the same object."""

from __future__ import annotations

import sys
from dataclasses import dataclass

from realtime._protocol import wire
from storage.events import StreamPosition

# Events an `owner` may receive on org: channels (aggregates, never patient data).
COUNTER_TYPES = frozenset({b"dashboard.updated"})
# Events of a patient's channel that carry no clinical data (scheduling, presence, messages):
# all a receptionist receives there. Anything else, including event types added later, counts
# as clinical.
NON_CLINICAL_PREFIXES = (b"appointment.", b"waitlist.", b"message.", b"presence.")
_EPOCH = b',"epoch":"'
_TYPE = b'"type":"'


@dataclass(frozen=True, slots=True)
class Live:
    """One entry, shared by every subscriber."""

    position: StreamPosition
    seq: int  # `position.seq`, parsed once: every subscription compares it on every delivery
    counter: bool
    clinical: bool  # not one of NON_CLINICAL_PREFIXES
    frame: bytes
    wire: bytes  # the frame as a complete WebSocket frame, shared by every subscriber


def parse_entry(payload: bytes) -> Live | None:
    """`<offset> <frame>` as published by storage/_lua.py PUBLISH; None if it is not one."""
    raw_offset, _, frame = payload.partition(b" ")
    return entry_of(raw_offset, frame)


def entry_of(raw_offset: bytes, frame: bytes) -> Live | None:
    """An entry from its offset and encoded event frame (live or replayed). The frame is never
    decoded: the epoch and the type are found by their fixed spelling in the frame."""
    dash = raw_offset.find(b"-")
    start = frame.find(_EPOCH)
    if dash < 0 or start < 0:
        return None
    start += len(_EPOCH)
    end = frame.find(b'"', start)
    type_start = frame.find(_TYPE, end) + len(_TYPE)
    type_end = frame.find(b'"', type_start)
    try:
        seq = int(raw_offset[dash + 1 :])
    except ValueError:
        return None
    # The epoch is interned: every subscription compares it on every delivery, identity makes
    # that cheap.
    position = StreamPosition(raw_offset.decode(), sys.intern(frame[start:end].decode()))
    return Live(
        position=position,
        seq=seq,
        counter=frame[type_start:type_end] in COUNTER_TYPES,
        clinical=not frame[type_start:type_end].startswith(NON_CLINICAL_PREFIXES),
        frame=frame,
        wire=wire(frame),
    )
