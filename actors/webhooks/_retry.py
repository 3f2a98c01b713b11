"""Where a delivery goes after an attempt: a pure function of the attempt's number and result."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from actors.webhooks._options import WebhookOptions
from storage.webhooks import DELIVERED, FAILED, PENDING


def next_step(
    attempt: int, ok: bool, now: datetime, options: WebhookOptions, rng: random.Random
) -> tuple[str, datetime | None]:
    """(status, next attempt time). After failed attempt n the wait is step n of the backoff,
    jittered, so receivers that failed together are not retried together; after the last step
    the delivery has failed (a replay gives it one more attempt)."""
    if ok:
        return DELIVERED, None
    if attempt > len(options.backoff_s):
        return FAILED, None
    step = options.backoff_s[attempt - 1]
    wait = step * rng.uniform(1 - options.jitter, 1 + options.jitter)
    return PENDING, now + timedelta(seconds=wait)
