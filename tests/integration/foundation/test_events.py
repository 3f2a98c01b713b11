"""The events primitive against real Redis: completeness, order, epochs, retention."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import orjson
import pytest
import redis.asyncio as aioredis

from server.settings import Settings
from storage.events import EventLog, StreamPosition, offset_seq
from storage.keys import KeySpace
from storage.redis import create_redis
from storage.types import Channel, ChannelName


@pytest.fixture
async def log(settings: Settings) -> AsyncIterator[tuple[EventLog, aioredis.Redis, KeySpace]]:
    client = create_redis(settings.redis_url)
    keys = KeySpace(settings.redis_prefix)
    yield EventLog(client, keys, retention_s=600, maxlen=100_000), client, keys
    await client.aclose()


def _channel() -> ChannelName:
    return Channel.calendar(uuid.uuid4()).name


async def test_ten_thousand_events_read_back_complete_and_in_order_from_any_position(
    log: tuple[EventLog, aioredis.Redis, KeySpace],
) -> None:
    events, _, _ = log
    channel = _channel()
    start = await events.position(channel)
    positions = []
    for chunk in range(0, 10_000, 500):
        positions += await asyncio.gather(
            *(events.publish(channel, "test", {"n": chunk + i}) for i in range(500))
        )
    seqs = sorted(offset_seq(p.offset) for p in positions)
    assert seqs == list(range(1, 10_001))  # gapless, unique

    everything = await events.replay(channel, start, limit=20_000)
    assert everything.recovered
    numbers = [orjson.loads(frame)["data"]["n"] for _, frame in everything.frames]
    assert sorted(numbers) == list(range(10_000)) and len(numbers) == 10_000
    offsets = [offset for offset, _ in everything.frames]
    assert [offset_seq(o) for o in offsets] == list(range(1, 10_001))

    for cut in (0, 1, 4_321, 9_998, 9_999):
        since = StreamPosition(offsets[cut], everything.position.epoch)
        tail = await events.replay(channel, since, limit=20_000)
        assert tail.recovered
        assert [o for o, _ in tail.frames] == offsets[cut + 1 :]


async def test_frames_are_the_protocol_event_frame(
    log: tuple[EventLog, aioredis.Redis, KeySpace],
) -> None:
    events, _, _ = log
    channel = _channel()
    start = await events.position(channel)
    published = await events.publish(channel, "slots.changed", {"calendar_id": "c"})
    replay = await events.replay(channel, start)
    frame = orjson.loads(replay.frames[0][1])
    assert frame == {
        "op": "event",
        "channel": channel,
        "offset": published.offset,
        "epoch": published.epoch,
        "type": "slots.changed",
        "data": {"calendar_id": "c"},
    }


async def test_live_subscribers_get_offset_and_identical_frame(
    log: tuple[EventLog, aioredis.Redis, KeySpace], settings: Settings
) -> None:
    events, client, _ = log
    channel = _channel()
    pubsub = client.pubsub()
    await pubsub.subscribe(events.topic(channel))
    await pubsub.get_message(timeout=1)  # subscription confirmation
    start = await events.position(channel)
    published = await events.publish(channel, "x", {"k": 1})
    message = None
    for _ in range(50):
        message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.1)
        if message:
            break
    assert message is not None
    offset, _, frame = message["data"].partition(b" ")
    assert offset.decode() == published.offset
    assert (await events.replay(channel, start)).frames == [(published.offset, frame)]
    await pubsub.aclose()


async def test_deleting_the_stream_changes_the_epoch_and_old_positions_do_not_recover(
    log: tuple[EventLog, aioredis.Redis, KeySpace],
) -> None:
    events, client, keys = log
    channel = _channel()
    first = await events.publish(channel, "x", {})
    await events.publish(channel, "x", {})
    await client.delete(keys.stream(channel))
    after = await events.position(channel)
    assert after.epoch != first.epoch
    replay = await events.replay(channel, first)
    assert not replay.recovered and replay.frames == []
    republished = await events.publish(channel, "x", {})
    assert republished.epoch == after.epoch  # stable once rotated


async def test_losing_all_keys_changes_the_epoch(
    log: tuple[EventLog, aioredis.Redis, KeySpace],
) -> None:
    events, client, keys = log
    channel = _channel()
    first = await events.publish(channel, "x", {})
    await client.delete(keys.stream(channel), keys.stream_meta(channel))
    assert (await events.publish(channel, "x", {})).epoch != first.epoch


async def test_position_outside_retention_is_not_recovered(settings: Settings) -> None:
    client = create_redis(settings.redis_url)
    events = EventLog(client, KeySpace(settings.redis_prefix), retention_s=600, maxlen=1000)
    channel = _channel()
    try:
        first = await events.publish(channel, "x", {"n": 0})
        for i in range(5_000):
            await events.publish(channel, "x", {"n": i})
        replay = await events.replay(channel, first)
        assert not replay.recovered
        recent = await events.replay(channel, replay.position)
        assert recent.recovered and recent.frames == []
    finally:
        await client.aclose()


async def test_a_position_from_the_future_or_another_epoch_is_not_recovered(
    log: tuple[EventLog, aioredis.Redis, KeySpace],
) -> None:
    events, _, _ = log
    channel = _channel()
    top = await events.publish(channel, "x", {})
    ahead = StreamPosition(f"{top.offset.split('-')[0]}-999", top.epoch)
    assert not (await events.replay(channel, ahead)).recovered
    assert not (await events.replay(channel, StreamPosition(top.offset, "other"))).recovered
    assert (await events.replay(channel, top)).recovered


async def test_a_batch_publish_survives_redis_forgetting_its_scripts(
    log: tuple[EventLog, aioredis.Redis, KeySpace],
) -> None:
    """Batches send EVALSHA without asking first; after a restart or SCRIPT FLUSH the script is
    loaded again and every entry is published exactly once, in order."""
    events, client, _ = log
    channel = _channel()
    start = await events.position(channel)
    await events.publish_many([(channel, "test", {"n": n}) for n in range(3)])
    await client.script_flush()
    await events.publish_many([(channel, "test", {"n": n}) for n in range(3, 6)])
    replayed = await events.replay(channel, start, limit=100)
    assert replayed.recovered
    assert [orjson.loads(frame)["data"]["n"] for _, frame in replayed.frames] == list(range(6))
