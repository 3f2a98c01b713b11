"""The per-process fan-out: one pub/sub link for every channel any local client holds, and the
table from channel to local subscriptions.

A published entry is parsed once per channel (offset, seq, epoch, whether it is a counters-only
event) and the same frame bytes are offered to every subscription; each subscription decides
synchronously (dedupe, gap, filter) and appends to its connection's queue. Nothing here awaits
per subscriber.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING

from realtime._protocol import wire
from realtime._pubsub import PubSubLink
from storage.events import EventLog
from storage.types import ChannelName

if TYPE_CHECKING:
    from realtime._recovery import Subscription

log = logging.getLogger("cadence.realtime.hub")

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
    """One entry as it arrived on the pub/sub topic."""

    offset: str
    seq: int
    epoch: str
    counter: bool
    clinical: bool  # not one of NON_CLINICAL_PREFIXES
    frame: bytes
    wire: bytes  # the frame as a complete WebSocket frame, shared by every subscriber


def parse_entry(payload: bytes) -> Live | None:
    """`<offset> <frame>` as published by storage/_lua.py PUBLISH; None if it is not one."""
    raw_offset, _, frame = payload.partition(b" ")
    return entry_of(raw_offset, frame)


def entry_of(raw_offset: bytes, frame: bytes) -> Live | None:
    """An entry from its offset and encoded event frame (live or replayed)."""
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
    return Live(
        offset=raw_offset.decode(),
        seq=seq,
        # Interned: every subscription compares it on every delivery, identity makes that cheap.
        epoch=sys.intern(frame[start:end].decode()),
        counter=frame[type_start:type_end] in COUNTER_TYPES,
        clinical=not frame[type_start:type_end].startswith(NON_CLINICAL_PREFIXES),
        frame=frame,
        wire=wire(frame),
    )


class Hub:
    def __init__(self, redis_url: str, events: EventLog, *, name: str = "cadence-gateway") -> None:
        self.events = events
        self._channels: dict[ChannelName, dict[Subscription, None]] = {}
        self._topics: dict[bytes, ChannelName] = {}
        self._link = PubSubLink(redis_url, self._on_message, self._on_reconnect, name=name)
        self._task: asyncio.Task[None] | None = None
        self.deliveries = 0  # entries offered x subscribers, for the bench and metrics

    @property
    def generation(self) -> int:
        return self._link.generation

    async def start(self, timeout_s: float = 5.0) -> None:
        self._task = asyncio.create_task(self._link.run(), name="realtime-hub")
        async with asyncio.timeout(timeout_s):
            await self._link.connected.wait()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def channel_count(self) -> int:
        return len(self._channels)

    async def attach(self, sub: Subscription) -> int:
        """Register `sub` (it buffers from now on) and wait until its topic is confirmed.

        Returns the link generation the confirmation came from; if the generation changes later,
        messages may have been lost in between and the subscription must resync.
        """
        channel = sub.channel
        subs = self._channels.get(channel)
        if subs is None:
            subs = self._channels[channel] = {}
            self._topics[self.events.topic(channel).encode()] = channel
        subs[sub] = None
        try:
            return await self._link.subscribe(self.events.topic(channel))
        except BaseException:
            self.detach(sub)
            raise

    def detach(self, sub: Subscription) -> None:
        subs = self._channels.get(sub.channel)
        if subs is None or sub not in subs:
            return
        del subs[sub]
        if not subs:
            del self._channels[sub.channel]
            topic = self.events.topic(sub.channel)
            self._topics.pop(topic.encode(), None)
            self._link.unsubscribe(topic)

    def _on_message(self, topic: bytes, payload: bytes) -> None:
        channel = self._topics.get(topic)
        if channel is None:
            return
        entry = parse_entry(payload)
        if entry is None:
            log.warning("unparseable entry on %s", channel)
            return
        subs = self._channels[channel]
        self.deliveries += len(subs)
        # A list copy: offering may detach a subscription (its connection overflowed).
        for sub in list(subs):
            sub.offer(entry)

    def _on_reconnect(self, generation: int) -> None:
        # Entries published while the link was down were never received: every subscription
        # replays from its last offset (or is told recovered: false).
        log.warning("pub/sub link reconnected (generation %d); resyncing", generation)
        for subs in self._channels.values():
            for sub in list(subs):
                sub.request_resync()
