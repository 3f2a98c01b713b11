"""The clinic day of the chaos scenario, written to survive faults: every request whose outcome
the client could not learn (connection reset, timeout, a 5xx) is sent again in a way that cannot
do it twice, until a definite answer or the end of the run; so the checker knows exactly which
bookings the clients were told about and which telemetry rows were acknowledged.

- `staff_gen` (generator process): hold (same Idempotency-Key on a retry) -> book (the same hold
  id: booking a booked hold answers with its appointment) -> cancel most (a retry of a cancel
  that may have happened is recorded as uncertain);
- `tele_gen` (generator process): telemetry batches resent with the same event ids until stored;
- `Subscriber` (runner process): a calendar subscriber through the SDK that resumes with
  offset + epoch and counts gapless steps, silent gaps and explicit resyncs.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson

from bench.generators import Link
from bench.scenarios.telemetry import _events, _samples
from realtime.client import CadenceClient, Event, Position, Resync

KEEP = 0.2  # share of bookings kept; the rest are cancelled, freeing the slot again
RETRY_PAUSE_S = 0.25
REQUEST_TIMEOUT_S = 15.0
# A request left without a definite answer this long after the day's end is given up (and
# counted): the checker then allows either outcome for it.
GRACE_S = 45.0
_DEFINITE_ERRORS = frozenset({400, 401, 403, 404, 409, 410, 422})


class Indefinite(Exception):
    """No definite answer: the request may or may not have taken effect."""


@dataclass
class Answer:
    status: int
    body: Any


async def _once(
    http: aiohttp.ClientSession, method: str, path: str, body: Any, headers: dict[str, str]
) -> Answer:
    try:
        async with asyncio.timeout(REQUEST_TIMEOUT_S):
            async with http.request(method, path, json=body, headers=headers) as r:
                raw = await r.read()
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise Indefinite(type(exc).__name__) from exc
    if r.status >= 500 or r.status == 429:
        raise Indefinite(str(r.status))
    return Answer(r.status, orjson.loads(raw) if raw else None)


async def until_definite(
    http: aiohttp.ClientSession, method: str, path: str, body: Any, headers: dict[str, str],
    give_up_at: float, statuses: dict[str, int], op: str,
) -> tuple[Answer | None, bool]:  # fmt: skip
    """(the definite answer or None when given up, whether an earlier attempt was indefinite)."""
    retried = False
    while True:
        try:
            answer = await _once(http, method, path, body, headers)
        except Indefinite as exc:
            statuses[f"{op} {exc}"] = statuses.get(f"{op} {exc}", 0) + 1
            if time.monotonic() > give_up_at:
                return None, True
            retried = True
            await asyncio.sleep(RETRY_PAUSE_S)
            continue
        statuses[f"{op} {answer.status}"] = statuses.get(f"{op} {answer.status}", 0) + 1
        return answer, retried


@dataclass
class DeskLog:
    booked: list[tuple[str, str, str]] = field(default_factory=list)  # (id, start, specialist)
    cancelled: list[str] = field(default_factory=list)
    uncertain: list[str] = field(default_factory=list)  # cancel outcome unknown
    unknown_books: int = 0  # book requests given up without a definite answer
    statuses: dict[str, int] = field(default_factory=dict)
    cycles: int = 0


async def _cycle(
    http: aiohttp.ClientSession, arg: dict[str, Any], rng: random.Random, w: int, log: DeskLog,
    give_up_at: float,
) -> None:  # fmt: skip
    headers = {"Authorization": f"Bearer {arg['tokens'][w]}"}
    cal = rng.choice(arg["calendars"])
    hold_headers = {**headers, "Idempotency-Key": uuid.uuid4().hex}
    body = {"calendar_id": cal["id"], "start": rng.choice(cal["starts"])}
    hold, _ = await until_definite(
        http, "POST", "/v1/holds", body, hold_headers, give_up_at, log.statuses, "hold"
    )
    if hold is None or hold.status != 201:
        return
    book = {"hold_id": hold.body["id"], "patient_id": arg["patients"][w % len(arg["patients"])]}
    appt, _ = await until_definite(
        http, "POST", "/v1/appointments", book, headers, give_up_at, log.statuses, "book"
    )
    if appt is None:
        log.unknown_books += 1
        return
    if appt.status != 201:
        return
    a = appt.body
    log.booked.append((a["id"], a["start"], a["specialist_id"]))
    log.cycles += 1
    if rng.random() < KEEP:
        return
    path = f"/v1/appointments/{a['id']}/cancel"
    done, retried = await until_definite(
        http, "POST", path, {"reason": "bench"}, headers, give_up_at, log.statuses, "cancel"
    )
    if done is not None and done.status == 200:
        log.cancelled.append(a["id"])
    elif done is None or retried:
        log.uncertain.append(a["id"])


async def staff_gen(index: int, arg: dict[str, Any], link: Link) -> dict[str, Any]:
    """`workers` front-desk loops with think time until the deadline."""
    rng = random.Random(index)
    log = DeskLog()
    async with aiohttp.ClientSession(arg["base"], connector=aiohttp.TCPConnector(limit=0)) as http:
        await link.ready()
        await link.wait_go()
        deadline = time.monotonic() + arg["duration"]
        give_up_at = deadline + GRACE_S

        async def worker(w: int) -> None:
            while time.monotonic() < deadline:
                await _cycle(http, arg, rng, w, log, give_up_at)
                await asyncio.sleep(rng.expovariate(1 / arg["think_s"]))

        await asyncio.gather(*(worker(w) for w in range(arg["workers"])))
    return {
        "booked": log.booked, "cancelled": log.cancelled, "uncertain": log.uncertain,
        "unknown_books": log.unknown_books, "statuses": log.statuses, "cycles": log.cycles,
    }  # fmt: skip


async def tele_gen(index: int, arg: dict[str, Any], link: Link) -> dict[str, Any]:
    """`clients` telerehab sessions, each posting a batch every `interval_s`; a batch without a
    definite answer is sent again with the same event ids (the server keeps each id once)."""
    acked: list[tuple[int, int]] = []
    statuses: dict[str, int] = {}
    next_seq = [0]
    given_up = [0]
    arg = {**arg, "_samples": _samples(arg["exercise_id"])}
    async with aiohttp.ClientSession(arg["base"], connector=aiohttp.TCPConnector(limit=0)) as http:
        await link.ready()
        await link.wait_go()
        deadline = time.monotonic() + arg["duration"]

        async def session(c: int) -> None:
            headers = {"Authorization": f"Bearer {arg['tokens'][c]}"}
            while time.monotonic() < deadline:
                first = next_seq[0]
                next_seq[0] += arg["batch"]
                body = {"events": _events(arg, index, first, arg["batch"])}
                answer, _ = await until_definite(
                    http, "POST", "/v1/telemetry", body, headers, deadline + GRACE_S, statuses,
                    "telemetry",
                )  # fmt: skip
                if answer is None:
                    given_up[0] += 1
                elif answer.status == 200 and answer.body["accepted"] == arg["batch"]:
                    acked.append((first, arg["batch"]))
                await asyncio.sleep(arg["interval_s"])

        await asyncio.gather(*(session(c) for c in range(arg["clients"])))
    return {"acked": acked, "sent": next_seq[0], "statuses": statuses, "given_up": given_up[0]}


class Subscriber:
    """One calendar subscriber on its own connection. Every event must follow the last one
    (same epoch, seq + 1) unless an explicit Resync came between: anything else is a silent
    gap. `newest_ms` is the stream time of the newest event (or resync) seen, so the runner
    can tell when a subscriber is live again after a fault."""

    def __init__(self, url: str, channel: str, since: Position) -> None:
        self.channel = channel
        self.last = since
        self.events = 0
        self.gaps = 0
        self.resyncs = 0
        self.newest_ms = 0
        self.client = CadenceClient(url, None, backoff_min_s=0.05, backoff_max_s=1.0)

    async def start(self) -> None:
        await self.client.connect()
        await self.client.subscribe(
            self.channel, since=self.last, on_event=self._event, on_resync=self._resync
        )

    def _event(self, event: Event) -> None:
        p = event.position
        if p.epoch != self.last.epoch or p.seq != self.last.seq + 1:
            self.gaps += 1
        self.last = p
        self.events += 1
        self.newest_ms = max(self.newest_ms, _ms(p))

    def _resync(self, resync: Resync) -> None:
        self.resyncs += 1
        self.last = resync.position
        self.newest_ms = max(self.newest_ms, int(time.time() * 1000))

    @property
    def reconnects(self) -> int:
        return max(0, self.client.connections - 1)

    async def close(self) -> None:
        await self.client.close()


def _ms(position: Position) -> int:
    return int(position.offset.partition("-")[0])
