"""The per-process fan-out: one pub/sub link for every channel any local client holds, and the
table from channel to local subscriptions.

A published entry is parsed once per channel (`_entries.py`) and the same object is offered to
every subscription; each subscription decides
synchronously (dedupe, gap, filter) and appends to its connection's queue. Nothing here awaits
per subscriber. An ephemeral event (payload `~ <frame>`, storage/events.py) has no offset: it is
framed once and offered as is (`offer_ephemeral`), outside the seq bookkeeping.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Protocol

from realtime._entries import Live, parse_entry
from realtime._protocol import wire
from realtime._pubsub import PubSubLink
from storage.events import EPHEMERAL, EventLog
from storage.types import ChannelName

log = logging.getLogger("cadence.realtime.hub")


class Subscriber(Protocol):
    """What the hub needs of a subscription (`_recovery.Subscription`)."""

    @property
    def channel(self) -> ChannelName: ...

    def offer(self, entry: Live) -> None:
        """A live entry of the channel; synchronous, never awaits."""
        ...

    def request_resync(self) -> None:
        """Entries may have been missed (the pub/sub link reconnected)."""
        ...

    def offer_ephemeral(self, frame: bytes, wire: bytes) -> None:
        """An ephemeral event of the channel (no offset, never stored); synchronous."""
        ...


class Hub:
    def __init__(self, redis_url: str, events: EventLog, *, name: str = "cadence-gateway") -> None:
        self.events = events
        self._channels: dict[ChannelName, dict[Subscriber, None]] = {}
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

    async def attach(self, sub: Subscriber) -> int:
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

    def detach(self, sub: Subscriber) -> None:
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
        if payload.startswith(EPHEMERAL):
            frame = payload[len(EPHEMERAL) :]
            framed = wire(frame)  # framed once for every subscriber, as entries are
            subs = self._channels[channel]
            self.deliveries += len(subs)
            for sub in list(subs):
                sub.offer_ephemeral(frame, framed)
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
