"""Consumer groups over the organizations' event streams: the durable way out of the events
primitive (storage/events.py).

Each consumer group (`webhooks`, `dashboard`, ...) sees every entry of every organization stream
once; the consumers of one group share the entries between them. An entry stays pending for its
consumer until acknowledged (`ack` after the handler succeeded); entries a dead consumer left
pending are taken over with `claim_stale` (XAUTOCLAIM). Entries are the already-encoded event
frames of PROTOCOL.md, so a `DomainEvent` is read back from the frame itself, and its id (epoch
and offset of the entry) is the same however many times and by whichever consumer it is read.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from storage.events import StreamPosition, offset_seq
from storage.keys import KeySpace
from storage.types import Channel, ChannelKind


@dataclass(frozen=True, slots=True)
class DomainEvent:
    """One entry of an organization stream, as a consumer sees it."""

    id: str  # `evt_<epoch>_<offset>`: stable across re-reads, unique per organization
    organization_id: uuid.UUID
    type: str  # `appointment.booked`, ...
    data: dict[str, Any]
    position: StreamPosition
    at: datetime  # when it was published (the offset's milliseconds)


class MalformedEntry(ValueError):
    """A stream entry that is not an event frame of an organization channel."""


def parse_entry(fields: dict[bytes, bytes]) -> DomainEvent:
    try:
        frame = orjson.loads(fields[b"f"])
        channel = Channel.parse(frame["channel"])
        offset, epoch = str(frame["offset"]), str(frame["epoch"])
        kind, data = frame["type"], frame["data"]
    except (KeyError, TypeError, ValueError, orjson.JSONDecodeError) as exc:
        raise MalformedEntry(str(exc)) from exc
    if channel.kind is not ChannelKind.ORG or not isinstance(kind, str):
        raise MalformedEntry("not an organization event")
    millis = int(offset.partition("-")[0])
    return DomainEvent(
        id=f"evt_{epoch}_{offset}",
        organization_id=channel.id,
        type=kind,
        data=data if isinstance(data, dict) else {"value": data},
        position=StreamPosition(offset, epoch),
        at=datetime.fromtimestamp(millis / 1000, UTC),
    )


@dataclass(frozen=True, slots=True)
class Entry:
    stream: str
    entry_id: str
    fields: dict[bytes, bytes]

    @property
    def seq(self) -> int:
        return offset_seq(self.entry_id)


@dataclass(frozen=True, slots=True)
class GroupInfo:
    stream: str
    pending: int
    lag: int | None  # entries not yet delivered to the group (None: Redis cannot tell)


class ConsumerGroups:
    """The Redis side of one consumer group across organization streams."""

    def __init__(self, redis: aioredis.Redis, keys: KeySpace, group: str) -> None:
        self._redis = redis
        self._keys = keys
        self.group = group

    def stream_of(self, org_id: uuid.UUID) -> str:
        return self._keys.stream(Channel.org(org_id).name)

    async def ensure(self, stream: str) -> None:
        """Create the group on `stream` (and the stream, if it has no entry yet). A new group
        starts at the stream's beginning, so the retained events published before it existed
        are delivered too; consumers dedupe by event id."""
        try:
            await self._redis.xgroup_create(stream, self.group, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def read(
        self, consumer: str, streams: Sequence[str], *, count: int, block_ms: int | None
    ) -> list[Entry]:
        """New entries for `consumer` (XREADGROUP ... >), blocking up to `block_ms`."""
        if not streams:
            return []
        reply = await self._redis.xreadgroup(
            self.group, consumer, {s: ">" for s in streams}, count=count, block=block_ms
        )
        return _entries(reply)

    async def own_pending(
        self, consumer: str, streams: Sequence[str], *, count: int
    ) -> list[Entry]:
        """Entries delivered to `consumer` and never acknowledged (a restart under the same name
        reads these first)."""
        if not streams:
            return []
        reply = await self._redis.xreadgroup(
            self.group, consumer, {s: "0" for s in streams}, count=count
        )
        return [e for e in _entries(reply) if e.fields]

    async def claim_stale(
        self, consumer: str, stream: str, *, min_idle_ms: int, count: int
    ) -> list[Entry]:
        """Take over entries pending longer than `min_idle_ms` at any consumer (XAUTOCLAIM)."""
        reply = await self._redis.xautoclaim(
            stream, self.group, consumer, min_idle_time=min_idle_ms, start_id="0-0", count=count
        )
        claimed = reply[1] if len(reply) > 1 else []
        return [
            Entry(stream, _text(entry_id), fields)
            for entry_id, fields in claimed
            if fields is not None
        ]

    async def deliveries(self, stream: str, entry_id: str) -> int:
        """How many times the entry was delivered (read or claimed) so far."""
        rows = await self._redis.xpending_range(stream, self.group, entry_id, entry_id, 1)
        return int(rows[0]["times_delivered"]) if rows else 0

    async def ack(self, stream: str, entry_ids: Sequence[str]) -> None:
        if entry_ids:
            await self._redis.xack(stream, self.group, *entry_ids)

    async def info(self, stream: str) -> GroupInfo | None:
        try:
            groups = await self._redis.xinfo_groups(stream)
        except ResponseError:
            return None
        for g in groups:
            if _text(g["name"]) == self.group:
                lag = g.get("lag")
                return GroupInfo(
                    stream,
                    int(g["pending"]),
                    None if lag is None else int(lag),
                )
        return None


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _entries(reply: Any) -> list[Entry]:
    out: list[Entry] = []
    # redis-py answers a list of [stream, [(id, fields), ...]] (RESP2) or a dict (RESP3).
    items = reply.items() if isinstance(reply, dict) else (reply or [])
    for stream, entries in items:
        name = _text(stream)
        if isinstance(entries, list) and entries and isinstance(entries[0], list):
            entries = entries[0]
        for entry_id, fields in entries:
            out.append(Entry(name, _text(entry_id), fields or {}))
    return out
