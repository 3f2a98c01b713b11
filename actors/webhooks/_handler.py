"""The webhooks consumer: every organization event becomes one delivery per endpoint that asked
for it. Idempotent by event id (the deliveries' unique key), so an event read twice after a
crash or a takeover queues nothing twice."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence

from actors.consumers import Context
from actors.webhooks import _metrics as metrics
from actors.webhooks._filter import matches
from actors.webhooks._options import WebhookOptions
from storage import webhooks as store
from storage.rfc3339 import format_instant
from storage.streams import DomainEvent


class WebhookHandler:
    group = "webhooks"

    def __init__(
        self,
        ctx: Context,
        options: WebhookOptions,
        on_queued: Callable[[], None] | None = None,
    ) -> None:
        self._ctx = ctx
        self._options = options
        # Rings the sender of this process (Runner.wake) so new deliveries go out now rather
        # than at its next idle poll; senders of other processes find them by polling.
        self._on_queued = on_queued

    async def handle(self, event: DomainEvent) -> None:
        await self.handle_many([event])

    async def handle_many(self, events: Sequence[DomainEvent]) -> None:
        """A read batch: one transaction and one endpoint lookup per organization in it."""
        by_org: dict[uuid.UUID, list[DomainEvent]] = {}
        for event in events:
            by_org.setdefault(event.organization_id, []).append(event)
        queued = 0
        for org_id, batch in by_org.items():
            async with self._ctx.db.tenant(org_id) as conn:
                endpoints = await store.active_endpoints()
                queued += await store.enqueue(
                    conn,
                    org_id,
                    [self._queued(endpoints, event) for event in batch],
                    now=self._ctx.clock.now(),
                )
        metrics.ENQUEUED.inc(queued)
        if queued and self._on_queued is not None:
            self._on_queued()

    @staticmethod
    def _queued(endpoints: Sequence[store.Endpoint], event: DomainEvent) -> store.Queued:
        # The Standard Webhooks payload: type, timestamp (the event's), data.
        payload = {"type": event.type, "timestamp": format_instant(event.at), "data": event.data}
        targets = [
            e.id
            for e in endpoints
            # An endpoint created after the event did not exist when it happened.
            if e.created_at <= event.at and matches(e.event_types, event.type)
        ]
        return store.Queued(targets, event.id, event.type, payload)
