"""A projection's published state in Redis, changed only together with the events that describe
the change.

The state (one key per organization) is exactly what the events published so far describe: each
update WATCHes the key, reads the state, lets the caller compute the new state and the events
from it, and then writes the state AND appends the events to the channel's stream in ONE
MULTI/EXEC. Two writers racing (two consumers, a consumer and the pump, a snapshot's refresh)
cannot interleave: the loser's EXEC fails and it starts over from the winner's state. So a
reader that takes the channel's position first and the state second holds a state at least as
new as that position, and the events after the position bring it to any later state (they are
absolute values and upserts/removals by id: applying one the state already reflects changes
nothing).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import WatchError

from storage.events import EventLog, StreamPosition
from storage.types import ChannelName

# The new state (None: unchanged) and the events describing the change, from the old state.
Step = Callable[
    [bytes | None], Awaitable[tuple[bytes | None, Sequence[tuple[str, Mapping[str, Any]]]]]
]


class ProjectionBusy(RuntimeError):
    """Other writers changed the state on every attempt; the caller retries later."""


@dataclass(frozen=True, slots=True)
class Snapshot:
    state: bytes | None
    position: StreamPosition  # the channel's position the state is at least as new as


class ProjectionStore:
    def __init__(
        self, redis: aioredis.Redis, events: EventLog, *, ttl_s: int, attempts: int = 8
    ) -> None:
        self._redis = redis
        self._events = events
        self._ttl_s = ttl_s
        self._attempts = attempts

    async def update(self, key: str, channel: ChannelName, step: Step) -> int:
        """Run `step` on the current state and commit its result with its events; returns how
        many events were published. `step` may run more than once (after a lost race)."""
        for _ in range(self._attempts):
            async with self._redis.pipeline(transaction=True) as pipe:
                try:
                    await pipe.watch(key)
                    new, events = await step(_bytes(await pipe.get(key)))
                    if new is None and not events:
                        return 0  # leaving the block resets the pipeline: unwatches
                    pipe.multi()  # type: ignore[no-untyped-call]  # redis-py leaves it untyped
                    if new is not None:
                        pipe.set(key, new, ex=self._ttl_s)
                    for event_type, data in events:
                        # The events primitive's own script, sent whole (EVAL): a script not
                        # loaded yet must not fail inside the transaction after the state was
                        # written.
                        script, keys, args = self._events.publish_call(channel, event_type, data)
                        pipe.eval(_text(script.script), len(keys), *keys, *args)
                    await pipe.execute()
                    return len(events)
                except WatchError:
                    continue
        raise ProjectionBusy(f"{key}: the state kept changing under {self._attempts} attempts")

    async def snapshot(self, key: str, channel: ChannelName) -> Snapshot:
        """The channel's position, THEN the state (see the module's docstring for why)."""
        position = await self._events.position(channel)
        state = _bytes(await self._redis.get(key))
        return Snapshot(state, position)


def _bytes(value: bytes | str | None) -> bytes | None:
    return value.encode() if isinstance(value, str) else value


def _text(value: bytes | str | memoryview) -> str:
    return value if isinstance(value, str) else bytes(value).decode()
