"""The events primitive: every channel is a Redis stream with a pub/sub topic beside it.

`publish` appends to the stream (trimmed by age and length) and publishes the same entry in ONE Lua
call, so a live subscriber and a replaying one see identical bytes in identical order. Each entry is
stored already encoded as the WebSocket `event` frame of PROTOCOL.md; the gateway forwards it as is.

Guarantees:
- offsets of one channel are strictly increasing and their `seq` part has no gaps;
- the epoch changes whenever the channel's history was lost (stream deleted, expired, Redis reset),
  so a position from before the loss is never reported as recovered;
- `replay` returns every entry after a position, or says `recovered=False`; never a silent gap.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import redis.asyncio as aioredis

from storage import _lua
from storage.keys import KeySpace
from storage.redis import ScriptCall, run_scripts
from storage.types import ChannelName

_OFFSET = re.compile(r"^\d{1,15}-\d{1,15}$")
DEFAULT_REPLAY_LIMIT = 10_000
ORG_RETENTION_S = 24 * 3600


@dataclass(frozen=True, slots=True)
class StreamPosition:
    """A place in one channel's stream: the offset of an entry (`<ms>-<seq>`, Redis' stream id)
    in the epoch of the channel's history it belongs to.

    The one shape a position has wherever it travels (snapshots, subscribe replies, `since`,
    `recovery` frames, the SDK); on the wire it is `{"offset", "epoch"}`: `as_dict` writes it,
    `parse` reads and validates it. Event frames carry the same two fields at their top level."""

    offset: str
    epoch: str

    @property
    def seq(self) -> int:
        """The gapless per-channel sequence number inside the offset."""
        return offset_seq(self.offset)

    def as_dict(self) -> dict[str, str]:
        return {"offset": self.offset, "epoch": self.epoch}

    def __reduce__(self) -> tuple[type[StreamPosition], tuple[str, str]]:
        # Pickled as its constructor call (snapshots cross Ray in every slots answer): a slots
        # dataclass otherwise pickles through `__getstate__`, field by field.
        return StreamPosition, (self.offset, self.epoch)

    @classmethod
    def parse(cls, raw: object) -> StreamPosition:
        """Validate a client-supplied `{"offset", "epoch"}`; raises ValueError."""
        if not isinstance(raw, Mapping):
            raise ValueError("position must be an object with offset and epoch")
        offset, epoch = raw.get("offset"), raw.get("epoch")
        if not isinstance(offset, str) or not _OFFSET.match(offset):
            raise ValueError("position.offset must look like '<ms>-<seq>'")
        if not isinstance(epoch, str) or not 0 < len(epoch) <= 64:
            raise ValueError("position.epoch must be a non-empty string")
        return cls(offset, epoch)


# Before the first entry of a channel, in no epoch yet: where a reader stands until it has read
# the channel's real position.
ORIGIN = StreamPosition("0-0", "")


def offset_seq(offset: str) -> int:
    """The gapless per-channel sequence number inside an offset."""
    return int(offset.partition("-")[2])


@dataclass(frozen=True, slots=True)
class Replay:
    recovered: bool
    position: StreamPosition  # the channel's top when the replay was read
    frames: list[tuple[str, bytes]]  # (offset, encoded event frame), in order


def encode_body(event_type: str, data: Mapping[str, Any]) -> bytes:
    """The `"type":...,"data":...` fragment of an event frame."""
    return orjson.dumps({"type": event_type, "data": data})[1:-1]


# The topic payload of an ephemeral event starts with this instead of an offset.
EPHEMERAL = b"~ "


def encode_ephemeral(channel: ChannelName, event_type: str, data: Mapping[str, Any]) -> bytes:
    """The WebSocket `ephemeral` frame: an `event` frame without offset and epoch."""
    return b'{"op":"ephemeral","channel":%s,%s}' % (
        orjson.dumps(channel),
        encode_body(event_type, data),
    )


class EventLog:
    def __init__(
        self,
        redis: aioredis.Redis,
        keys: KeySpace,
        *,
        retention_s: int = 600,
        maxlen: int = 100_000,
        org_retention_s: int = ORG_RETENTION_S,
    ) -> None:
        self._redis = redis
        self._keys = keys
        self._retention_ms = retention_s * 1000
        # Organization streams feed the durable consumers (storage/streams.py): they keep a day,
        # so a consumer that was down for hours still finds what it missed (still length-capped).
        self._org_retention_ms = max(retention_s, org_retention_s) * 1000
        self._maxlen = maxlen
        self._publish = redis.register_script(_lua.PUBLISH)
        self._position = redis.register_script(_lua.POSITION)
        self._replay = redis.register_script(_lua.REPLAY)
        self._forget = redis.register_script(_lua.FORGET)

    def topic(self, channel: ChannelName) -> str:
        return self._keys.topic(channel)

    def channel_of_topic(self, topic: str) -> ChannelName:
        return self._keys.channel_of_topic(topic)

    def _stream_keys(self, channel: ChannelName) -> list[str]:
        return [self._keys.stream(channel), self._keys.stream_meta(channel)]

    def publish_call(
        self, channel: ChannelName, event_type: str, data: Mapping[str, Any]
    ) -> ScriptCall:
        """The publish script with its keys and arguments (`publish`, `publish_many`, and a
        caller that runs it inside its own Redis transaction, as the dashboard projection does)."""
        return (
            self._publish,
            self._stream_keys(channel),
            self._publish_args(channel, event_type, data),
        )

    def _publish_args(
        self, channel: ChannelName, event_type: str, data: Mapping[str, Any]
    ) -> list[Any]:
        retention_ms = self._org_retention_ms if channel.startswith("org:") else self._retention_ms
        return [
            self.topic(channel),
            orjson.dumps(channel),
            encode_body(event_type, data),
            self._maxlen,
            retention_ms,
            secrets.token_hex(6),
            # Idle streams expire after twice the retention; their meta lives longer (the
            # script's factor) so that the next publish notices the loss and rotates the epoch.
            retention_ms * 2,
        ]

    async def publish(
        self,
        channel: ChannelName,
        event_type: str,
        data: Mapping[str, Any],
        *,
        along: Sequence[ScriptCall] = (),
    ) -> StreamPosition:
        """XADD + PUBLISH as one script; `along`: other scripts that run first, in the same
        round trip (each atomic on its own, as in `publish_many`)."""
        if along:
            return (await self.publish_after(along, channel, event_type, data))[1]
        _, keys, args = self.publish_call(channel, event_type, data)
        result = await self._publish(keys=keys, args=args)
        return _position_of(result[0], result[1])

    async def publish_after(
        self,
        along: Sequence[ScriptCall],
        channel: ChannelName,
        event_type: str,
        data: Mapping[str, Any],
    ) -> tuple[list[Any], StreamPosition]:
        """`publish` after the scripts `along`, in the same round trip: their results, and the
        event's position. The event is published whatever they answered."""
        results = await run_scripts(
            self._redis, [*along, self.publish_call(channel, event_type, data)]
        )
        return results[:-1], _position_of(results[-1][0], results[-1][1])

    async def publish_many(
        self, entries: Sequence[tuple[ChannelName, str, Mapping[str, Any]]]
    ) -> list[StreamPosition]:
        """`publish` of several `(channel, type, data)` entries in ONE Redis round trip: the
        same script, pipelined in order. Each entry is atomic on its own, as with `publish`;
        entries of one channel get increasing offsets in the order given."""
        calls = [self.publish_call(channel, kind, data) for channel, kind, data in entries]
        results = await run_scripts(self._redis, calls)
        return [_position_of(r[0], r[1]) for r in results]

    async def signal_many(
        self, entries: Sequence[tuple[ChannelName, str, Mapping[str, Any]]]
    ) -> None:
        """Ephemeral events (a live skeleton): PUBLISHed on the channels' topics in ONE round
        trip, never added to a stream, so they have no offset, are never replayed and are lost
        by a subscriber that is not live at that moment. The gateway tells them apart by their
        `EPHEMERAL` prefix (an entry's payload starts with its offset) and sends them as
        `ephemeral` frames to the channel's subscribers, after the same authorization."""
        if not entries:
            return
        pipe = self._redis.pipeline(transaction=False)
        for channel, kind, data in entries:
            pipe.publish(self.topic(channel), EPHEMERAL + encode_ephemeral(channel, kind, data))
        await pipe.execute()

    async def position(self, channel: ChannelName) -> StreamPosition:
        result = await self._position(keys=self._stream_keys(channel), args=[secrets.token_hex(6)])
        return _position_of(result[0], result[1])

    async def replay(
        self, channel: ChannelName, since: StreamPosition, limit: int = DEFAULT_REPLAY_LIMIT
    ) -> Replay:
        top, epoch, recovered, flat = await self._replay(
            keys=self._stream_keys(channel),
            args=[since.offset, since.epoch, limit, secrets.token_hex(6)],
        )
        frames = [(_text(flat[i]), _bytes(flat[i + 1])) for i in range(0, len(flat), 2)]
        return Replay(bool(recovered), _position_of(top, epoch), frames)

    async def drop(self, channel: ChannelName) -> None:
        """Delete a channel's history (erasure of its subject). The meta stays, so the next
        publish or position sees the loss and starts a new epoch."""
        await self._redis.delete(self._keys.stream(channel))

    async def forget(self, channel: ChannelName, needle: str, *, chunk: int = 1000) -> int:
        """Delete every retained entry of `channel` whose frame contains `needle` (a patient
        id in an organization's stream); returns how many. Entries are immutable, so they are
        found first and then deleted, with the epoch change, in one script."""
        stream, meta = self._stream_keys(channel)
        wanted = needle.encode()
        doomed: list[bytes | str] = []
        start: bytes | str = "-"
        while True:
            rows: list[Any] = (
                await self._redis.xrange(stream, min=start, max="+", count=chunk) or []
            )
            for entry_id, fields in rows:
                frame = fields.get(b"f") or fields.get("f") or b""
                if wanted in _bytes(frame):
                    doomed.append(entry_id)
            if len(rows) < chunk:
                break
            start = "(" + _text(rows[-1][0])
        deleted = 0
        for i in range(0, len(doomed), chunk):
            part = doomed[i : i + chunk]
            deleted += int(
                await self._forget(keys=[stream, meta], args=[secrets.token_hex(6), *part])
            )
        return deleted


def _position_of(offset: bytes | str, epoch: bytes | str) -> StreamPosition:
    """A position as the Lua scripts return it."""
    return StreamPosition(_text(offset), _text(epoch))


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _bytes(value: bytes | str) -> bytes:
    return value.encode() if isinstance(value, str) else value
