"""The webhooks consumer: every organization event becomes one delivery per endpoint that asked
for it. Idempotent by event id (the deliveries' unique key), so an event read twice after a
crash or a takeover queues nothing twice."""

from __future__ import annotations

from collections.abc import Callable

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
        # The Standard Webhooks payload: type, timestamp (the event's), data.
        payload = {"type": event.type, "timestamp": format_instant(event.at), "data": event.data}
        async with self._ctx.db.tenant(event.organization_id) as conn:
            targets = [
                e.id
                for e in await store.active_endpoints()
                # An endpoint created after the event did not exist when it happened.
                if e.created_at <= event.at and matches(e.event_types, event.type)
            ]
            queued = await store.enqueue(
                conn,
                event.organization_id,
                targets,
                event_id=event.id,
                event_type=event.type,
                payload=payload,
                now=self._ctx.clock.now(),
            )
        metrics.ENQUEUED.inc(queued)
        if queued and self._on_queued is not None:
            self._on_queued()
