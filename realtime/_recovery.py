"""One connection's subscription to one channel: joining live without gap or duplicate, and
resyncing from the stream whenever continuity is in doubt.

Join: register with the hub (live entries are buffered from then on), wait until Redis confirms
the topic, THEN read the replay or the position, send the reply and the replayed frames, and apply
the buffer dropping every entry whose seq is not newer. Entries published before the confirmation
are in the replay; entries after it are in the buffer; the overlap is removed by seq.

Live: an entry is delivered only if its seq is exactly last+1 in the same epoch. A jump, an epoch
change, or a pub/sub reconnect (generation change) switches to RESYNCING: replay from the last
delivered offset, or push a `recovery` frame (recovered: false). Never a silent gap.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from enum import Enum
from typing import Protocol

from redis.exceptions import RedisError

from realtime import _protocol as proto
from realtime._entries import Live, entry_of
from realtime._hub import Hub
from storage.events import ORIGIN, StreamPosition
from storage.types import ChannelName

log = logging.getLogger("cadence.realtime.recovery")
REDIS_TIMEOUT_S = 5.0


class Sink(Protocol):
    """The connection side of a subscription."""

    @property
    def queue_cap(self) -> int: ...

    @property
    def queued_bytes(self) -> int: ...

    def push(self, frame: bytes, wire: bytes | None = None) -> bool: ...

    def fail(self, code: int, reason: str) -> None: ...


class SubState(Enum):
    JOINING = "joining"
    LIVE = "live"
    RESYNCING = "resyncing"
    CLOSED = "closed"


_TRANSITIONS: dict[SubState, frozenset[SubState]] = {
    SubState.JOINING: frozenset({SubState.LIVE, SubState.RESYNCING, SubState.CLOSED}),
    SubState.LIVE: frozenset({SubState.RESYNCING, SubState.CLOSED}),
    SubState.RESYNCING: frozenset({SubState.LIVE, SubState.CLOSED}),
    SubState.CLOSED: frozenset(),
}


class Subscription:
    __slots__ = (
        "channel", "counters_only", "non_clinical_only", "state", "position", "last_seq",
        "_sink", "_hub", "_slots", "_buffer", "_buffered", "_stale", "_task",
    )  # fmt: skip

    def __init__(
        self,
        channel: ChannelName,
        sink: Sink,
        hub: Hub,
        redis_slots: asyncio.Semaphore,
        *,
        counters_only: bool = False,
        non_clinical_only: bool = False,
    ) -> None:
        self.channel = channel
        self.counters_only = counters_only
        self.non_clinical_only = non_clinical_only
        self.state = SubState.JOINING
        self.position = ORIGIN  # of the last entry delivered (or the one the client was given)
        self.last_seq = 0  # `position.seq`, compared on every delivery
        self._sink = sink
        self._hub = hub
        self._slots = redis_slots
        self._buffer: list[Live] = []
        self._buffered = 0
        self._stale = False  # continuity in doubt while joining/resyncing: go round again
        self._task: asyncio.Task[None] | None = None

    def _move(self, to: SubState) -> None:
        if to not in _TRANSITIONS[self.state]:
            raise RuntimeError(f"subscription cannot go from {self.state.name} to {to.name}")
        self.state = to

    async def join(self, since: StreamPosition | None, fid: proto.FrameId) -> None:
        """Subscribe; pushes the `ok` reply, then the recovered frames, then live ones.

        Raises TimeoutError or RedisError (nothing was pushed, the hub forgot the subscription).
        """
        try:
            generation = await self._hub.attach(self)
            async with self._slots, asyncio.timeout(REDIS_TIMEOUT_S):
                mark = len(self._buffer)
                if since is not None:
                    replay = await self._hub.events.replay(self.channel, since)
                    recovered, top, frames = replay.recovered, replay.position, replay.frames
                else:
                    top = await self._hub.events.position(self.channel)
                    recovered, frames = True, []
        except BaseException:
            self._hub.detach(self)
            raise
        if self.state is SubState.CLOSED:
            return
        self._forget(mark)
        if since is not None and recovered:
            self._at(since)
        else:
            self._at(top)
        self._sink.push(proto.ok(fid, proto.subscribed(self.channel, top, recovered)))
        self._deliver_replayed(frames)
        self._settle(generation)

    def _at(self, position: StreamPosition) -> None:
        self.position = position
        self.last_seq = position.seq

    def _forget(self, mark: int) -> None:
        # Entries received before the stream read was sent were published before it ran, so the
        # read covers them (or declared them lost): they are redundant, whatever their epoch.
        if mark:
            del self._buffer[:mark]
            self._buffered = sum(len(e.frame) for e in self._buffer)

    def _deliver_replayed(self, frames: list[tuple[str, bytes]]) -> None:
        for offset, frame in frames:
            entry = entry_of(offset.encode(), frame)
            if entry is not None and entry.seq > self.last_seq:
                self._accept(entry)

    def _settle(self, generation: int) -> None:
        """Apply the buffer; go live, or resync if continuity is still in doubt."""
        if self._flush() and not self._stale and generation == self._hub.generation:
            self._move(SubState.LIVE)
            return
        if self.state is not SubState.RESYNCING:
            self._move(SubState.RESYNCING)
            self._task = asyncio.create_task(self._resync(), name=f"resync {self.channel}")

    def offer(self, entry: Live) -> None:
        """Called by the hub for every live entry of the channel; synchronous, never awaits."""
        if self.state is SubState.LIVE:
            if self._apply(entry):
                return
            self._hold(entry)
            self.request_resync()
        elif self.state is not SubState.CLOSED:
            self._hold(entry)

    def offer_ephemeral(self, frame: bytes, wire: bytes) -> None:
        """An ephemeral event (storage/events.py `signal_many`): delivered only while live and
        only where the connection has room (a quarter of its queue): it is dropped rather than
        held, and never fails a slow connection. Ephemeral events are clinical (a skeleton):
        subscriptions restricted to counters or to non-clinical events never get them."""
        if self.state is not SubState.LIVE or self.counters_only or self.non_clinical_only:
            return
        if self._sink.queued_bytes + len(frame) > self._sink.queue_cap // 4:
            return
        self._sink.push(frame, wire)

    def _apply(self, entry: Live) -> bool:
        """Deliver a contiguous entry, drop a duplicate; False on a gap or another epoch."""
        epoch, mine = entry.position.epoch, self.position.epoch
        if epoch is not mine and epoch != mine:
            return False
        if entry.seq == self.last_seq + 1:
            self._accept(entry)
            return True
        return entry.seq <= self.last_seq

    def _accept(self, entry: Live) -> None:
        self.last_seq = entry.seq
        self.position = entry.position
        if (entry.counter or not self.counters_only) and not (
            entry.clinical and self.non_clinical_only
        ):
            self._sink.push(entry.frame, entry.wire)

    def _hold(self, entry: Live) -> None:
        self._buffer.append(entry)
        self._buffered += len(entry.frame)
        if self._buffered > self._sink.queue_cap:
            self._sink.fail(proto.CloseCode.SLOW_CONSUMER, "slow consumer")

    def _flush(self) -> bool:
        buffer, self._buffer, self._buffered = self._buffer, [], 0
        for index, entry in enumerate(buffer):
            if not self._apply(entry):
                self._buffer = buffer[index:]
                self._buffered = sum(len(e.frame) for e in self._buffer)
                return False
        return True

    def request_resync(self) -> None:
        if self.state is SubState.LIVE:
            self._move(SubState.RESYNCING)
            self._task = asyncio.create_task(self._resync(), name=f"resync {self.channel}")
        elif self.state is not SubState.CLOSED:
            self._stale = True

    async def _resync(self) -> None:
        delay = 0.05
        while self.state is SubState.RESYNCING:
            self._stale = False
            generation = self._hub.generation
            try:
                async with self._slots, asyncio.timeout(REDIS_TIMEOUT_S):
                    mark = len(self._buffer)
                    replay = await self._hub.events.replay(self.channel, self.position)
            except (RedisError, OSError, TimeoutError) as exc:
                log.warning("resync of %s failed (%s); retrying", self.channel, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
                continue
            if self.state is not SubState.RESYNCING:
                return
            self._forget(mark)
            if replay.recovered:
                self._deliver_replayed(replay.frames)
            else:
                self._at(replay.position)
                self._sink.push(proto.recovery(self.channel, replay.position))
            if self._flush() and not self._stale and generation == self._hub.generation:
                self._move(SubState.LIVE)
                return

    def close(self) -> None:
        if self.state is SubState.CLOSED:
            return
        self._move(SubState.CLOSED)
        self._hub.detach(self)
        self._buffer.clear()
        if self._task is not None and self._task is not asyncio.current_task():
            self._task.cancel()

    async def wait_closed(self) -> None:
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
