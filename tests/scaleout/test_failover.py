"""Two `cadence serve` replicas behind HAProxy share one Ray cluster, Redis and Postgres: a
WebSocket client whose replica is killed (-9) resumes on the other one through the load balancer
and receives every event of its channel, in order, once; REST never sees the dead replica."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import redis.asyncio as aioredis

from bench.scaleout import Balancer, Replica, ray_head, replica_env
from realtime.client import CadenceClient, Event, Position, Resync
from storage.events import EventLog
from storage.keys import KeySpace
from storage.types import Channel
from tests.scaleout.clinic import SECRET, Rest, make_clinic, new_org, slot, z
from tests.support.consumers import until
from tests.support.services import app_password, base_urls, redis_prefix

PER_PHASE = 6


async def _holds(rest: Rest, calendar: str, slots: range) -> None:
    """Place holds one after another; each is acknowledged (201) or the test fails: the load
    balancer must hide a dead replica from REST clients."""
    for i in slots:
        await rest.ok("POST", "/v1/holds", {"calendar_id": calendar, "start": z(slot(i))}, 201)


async def _until(check: Any, timeout_s: float = 60.0) -> None:
    async with asyncio.timeout(timeout_s):
        while not check():  # noqa: ASYNC110 - state of another task's reader
            await asyncio.sleep(0.02)


async def test_a_websocket_resumes_on_the_other_replica_after_kill_9_without_losing_an_event(
    scaleout_database: str, ray_tmp: Path, haproxy: str, tmp_path: Path
) -> None:
    _, redis_url = base_urls()
    with redis_prefix() as prefix, ray_head(ray_tmp) as ray_address:
        env = replica_env(
            dsn=scaleout_database,
            redis_url=redis_url,
            prefix=prefix,
            secret=SECRET,
            files=tmp_path,
            ray_tmp=ray_tmp,
            ray_address=ray_address,
        )
        env["CADENCE_DB_APP_PASSWORD"] = app_password()
        first, second = Replica("a", env, tmp_path / "a.log"), Replica("b", env, tmp_path / "b.log")
        balancer: Balancer | None = None
        redis = aioredis.from_url(redis_url)
        try:
            await asyncio.gather(first.ready(), second.ready())
            # `first`: every new connection goes to replica a while it is up, so the test knows
            # which replica holds the socket (compose balances by leastconn).
            balancer = Balancer(
                haproxy, [first.address, second.address], "first", tmp_path / "lb.log"
            )
            await balancer.ready()
            await _scenario(balancer, first, scaleout_database, EventLog(redis, KeySpace(prefix)))
        finally:
            if balancer is not None:
                balancer.stop()
            first.stop()
            second.stop()  # in test mode its shutdown removes the run's actors
            await redis.aclose()


async def _scenario(balancer: Balancer, doomed: Replica, dsn: str, log: EventLog) -> None:
    async with aiohttp.ClientSession() as http:
        clinic = await make_clinic(http, balancer.http, await new_org(dsn))
        rest, calendar = clinic.rest, clinic.calendar
        today = datetime.now(UTC).date()
        snapshot = await rest.ok(
            "GET",
            f"/v1/public/calendars/{calendar}/slots?from={today}&to={today + timedelta(days=5)}",
        )
        since = Position.parse(snapshot["position"])
        channel = Channel.calendar(uuid.UUID(calendar)).name

        # The client comes back only once the test has published while it was away (a client
        # slow to reconnect): its resume must then replay what it missed.
        may_return = asyncio.Event()
        attempts = 0

        async def token() -> str:
            nonlocal attempts
            attempts += 1
            if attempts > 1:
                await may_return.wait()
            return ""

        received: list[Event] = []
        resyncs: list[Resync] = []
        client = CadenceClient(balancer.ws, token, backoff_min_s=0.05, backoff_max_s=0.5)
        await client.connect()
        try:
            await client.subscribe(
                str(channel), since=since, on_event=received.append, on_resync=resyncs.append
            )

            async def caught_up() -> bool:
                top = await log.position(channel)
                return bool(received) and received[-1].position == top

            await _holds(rest, calendar, range(0, PER_PHASE))
            await until(caught_up)
            before = len(received)

            killed_at = time.monotonic()
            doomed.kill()
            await _holds(rest, calendar, range(PER_PHASE, 2 * PER_PHASE))
            rest_back_s = time.monotonic() - killed_at
            missed = await log.replay(channel, received[-1].position)
            during = len(missed.frames)

            may_return.set()
            returned_at = time.monotonic()
            await _until(lambda: client.connections == 2)
            await _holds(rest, calendar, range(2 * PER_PHASE, 3 * PER_PHASE))
            await until(caught_up)
            resumed_s = time.monotonic() - returned_at
        finally:
            await client.close()

        stream = await log.replay(channel, since)
        assert stream.recovered
        offsets = [offset for offset, _ in stream.frames]
        # History was kept (retention 10 min), so the protocol promises recovered: true and every
        # event: no Resync, every offset of the stream since the snapshot, in order, once.
        assert resyncs == []
        assert [e.position.offset for e in received] == offsets
        assert before >= PER_PHASE and during >= PER_PHASE
        assert len(offsets) - before - during >= PER_PHASE
        print(
            f"\nscale-out failover: events before={before} during={during} "
            f"after={len(offsets) - before - during}; REST through the balancer served "
            f"{PER_PHASE} holds {rest_back_s:.2f} s after kill -9; the socket resumed and caught "
            f"up {resumed_s:.2f} s after the client came back"
        )
