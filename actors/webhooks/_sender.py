"""The webhooks sender: a pump that claims due deliveries of every organization and POSTs them.

One `run_once` leases a bounded batch (storage.webhooks.claim_due: FOR UPDATE SKIP LOCKED, so
senders in several processes share the work), sends it with at most `concurrency` requests in
flight, and records each attempt in its own short transaction. No transaction is held open
across a request. A sender killed mid-send leaves its rows leased; they are due again when the
lease ends and go out again under the same `webhook-id` (at least once; receivers dedupe).

Times that schedule (due, lease, backoff) come from the Context clock, which tests control. The
`webhook-timestamp` header is the wall clock's: receivers hold it against their own clocks.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from dataclasses import dataclass
from datetime import timedelta

import aiohttp
import orjson
from yarl import URL

from actors.consumers import Clock, Context, SystemClock
from actors.webhooks import _metrics as metrics
from actors.webhooks._guard import AddressRefused, GuardedResolver, check_address, check_url
from actors.webhooks._options import WebhookOptions
from actors.webhooks._retry import next_step
from actors.webhooks._signing import signed_headers
from storage import webhooks as store
from storage.errors import Invalid

log = logging.getLogger("cadence.webhooks")
BACKLOG_EVERY_S = 10.0  # how often the due-backlog gauge is recounted
SENDER = "webhooks.sender"  # the pump's name (Runner.wake)
_BODY_CAP = 64 * 1024  # an answer's body is read up to this (and dropped) to reuse the socket


@dataclass(frozen=True, slots=True)
class _Result:
    status_code: int | None
    latency_ms: int
    error: str | None  # None: a 2xx answer

    @property
    def ok(self) -> bool:
        return self.error is None


class WebhookSender:
    name = SENDER
    idle_s = 0.5  # the poll for retries falling due; new deliveries ring (WebhookHandler)

    def __init__(
        self,
        ctx: Context,
        options: WebhookOptions,
        *,
        wall: Clock | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self._ctx = ctx
        self._options = options
        self._wall = wall or SystemClock()
        self._rng = rng or random.Random()
        self._policy = store.FailurePolicy(
            options.failure_threshold, timedelta(seconds=options.failure_min_age_s)
        )
        self._slots = asyncio.Semaphore(options.concurrency)
        self._backlog_at = 0.0

    async def run_once(self) -> int:
        now = self._ctx.clock.now()
        lease_until = now + timedelta(seconds=self._options.lease_s)
        async with self._ctx.db.platform() as conn:
            claimed = await store.claim_due(
                conn, self._ctx.keyring, now, lease_until, self._options.batch_size
            )
            if time.monotonic() - self._backlog_at >= BACKLOG_EVERY_S:
                metrics.BACKLOG.set(await store.due_backlog(conn, now) + len(claimed))
                self._backlog_at = time.monotonic()
        if claimed:
            # A session per batch: the pump holds nothing open between batches (nothing to
            # close), and within a batch the deliveries to one receiver share connections.
            async with self._client() as session:
                results = await asyncio.gather(*(self._slot(session, c) for c in claimed))
            await self._record(list(zip(claimed, results, strict=True)))
        return len(claimed)

    async def _slot(self, session: aiohttp.ClientSession, claimed: store.Claimed) -> _Result:
        async with self._slots:
            return await self._attempt(session, claimed)

    async def _record(self, done: list[tuple[store.Claimed, _Result]]) -> None:
        """The batch's outcomes in one transaction, in endpoint order (two senders lock the
        endpoints' failure counters in the same order, so they never deadlock). A failure to
        record (the database) is the runner's to count: those rows are sent again after their
        lease, under the same webhook-id."""
        now = self._ctx.clock.now()
        done.sort(key=lambda pair: (pair[0].endpoint_id.bytes, pair[0].delivery_id.bytes))
        finished: list[tuple[store.Claimed, str, store.Finished]] = []
        async with self._ctx.db.platform() as conn:
            for claimed, result in done:
                status, next_at = next_step(
                    claimed.attempt, result.ok, now, self._options, self._rng
                )
                outcome = store.Outcome(
                    status, next_at, result.status_code, result.latency_ms, result.error
                )
                finished.append(
                    (claimed, status, await store.finish(conn, claimed, outcome, now, self._policy))
                )
        for claimed, status, end in finished:
            if not end.recorded:
                metrics.DELIVERIES.labels("superseded").inc()
                continue
            label = {store.DELIVERED: "delivered", store.FAILED: "failed"}.get(status, "retry")
            metrics.DELIVERIES.labels(label).inc()
            if end.endpoint_disabled:
                metrics.DISABLED.inc()
                log.warning(
                    "webhook endpoint disabled after a run of failures",
                    extra={"organization_id": str(claimed.organization_id),
                           "endpoint_id": str(claimed.endpoint_id)},
                )  # fmt: skip

    def _client(self) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(
            resolver=GuardedResolver(self._options), limit=self._options.concurrency
        )
        return aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(total=self._options.timeout_s),
            trust_env=False,  # no proxy from the environment: the guard checks the target
            cookie_jar=aiohttp.DummyCookieJar(),  # one receiver's cookies are no one's
        )

    async def _attempt(self, session: aiohttp.ClientSession, claimed: store.Claimed) -> _Result:
        if not claimed.secrets:
            return _Result(None, 0, "secret_unreadable")
        started = time.monotonic()
        try:
            url = check_url(claimed.url, self._options)
            check_address(url.raw_host or "", self._options)  # literals skip the resolver
            result = await self._post(session, url, claimed)
        except Invalid:
            result = _Result(None, 0, "invalid_url")
        except AddressRefused:
            result = _Result(None, 0, "address_refused")
        except TimeoutError:
            result = _Result(None, 0, "timeout")
        except aiohttp.ClientConnectorError as exc:
            refused = isinstance(exc.os_error, AddressRefused)
            result = _Result(None, 0, "address_refused" if refused else "connection_error")
        except aiohttp.ClientError as exc:
            result = _Result(None, 0, _error_class(exc))
        except (ValueError, OSError) as exc:
            # Whatever else one receiver's URL or socket raises must not stall the batch.
            log.warning("webhook attempt failed", extra={"error": type(exc).__name__})
            result = _Result(None, 0, "client_error")
        elapsed = time.monotonic() - started
        metrics.ATTEMPT_LATENCY.observe(elapsed)
        return _Result(result.status_code, round(elapsed * 1000), result.error)

    async def _post(
        self, session: aiohttp.ClientSession, url: URL, claimed: store.Claimed
    ) -> _Result:
        body = orjson.dumps(claimed.payload).decode()
        headers = signed_headers(claimed.event_id, body, claimed.secrets, self._wall.now())
        async with session.post(url, data=body, headers=headers, allow_redirects=False) as resp:
            code = resp.status
            # The answer's body means nothing to us and is never stored; a small one is read
            # so the connection can serve the next delivery of the batch. The status decided.
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                await resp.content.read(_BODY_CAP)
        return _Result(code, 0, None if 200 <= code < 300 else f"http_{code}")


def _error_class(exc: aiohttp.ClientError) -> str:
    """A short, stable name for the attempt log (never the receiver's text)."""
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "disconnected"
    if isinstance(exc, aiohttp.ClientPayloadError | aiohttp.ClientResponseError):
        return "bad_response"
    return "client_error"
