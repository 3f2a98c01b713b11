"""Webhooks out: a consumer of the organization event streams that queues one delivery per
subscribed endpoint (`webhook_handler`), and a pump that sends the due ones, signed per Standard
Webhooks, with retries over about a day (`webhook_sender`). Not an actor per endpoint: the
queue is the deliveries table, shared by any number of sender processes."""

from collections.abc import Callable

from actors.consumers import Context
from actors.webhooks._filter import FILTER_PATTERN, matches, valid_filter
from actors.webhooks._guard import AddressRefused, check_url, refused
from actors.webhooks._handler import WebhookHandler
from actors.webhooks._options import BACKOFF_S, WebhookOptions, parse_allowlist
from actors.webhooks._sender import SENDER, WebhookSender
from actors.webhooks._signing import new_secret, signed_headers


def webhook_handler(
    ctx: Context, options: WebhookOptions, on_queued: Callable[[], None] | None = None
) -> WebhookHandler:
    """`on_queued`: called after an event queued deliveries (e.g. `Runner.wake(SENDER)`)."""
    return WebhookHandler(ctx, options, on_queued)


def webhook_sender(ctx: Context, options: WebhookOptions) -> WebhookSender:
    return WebhookSender(ctx, options)


__all__ = [
    "BACKOFF_S", "FILTER_PATTERN", "SENDER", "AddressRefused", "WebhookHandler", "WebhookOptions",
    "WebhookSender", "check_url", "matches", "new_secret", "parse_allowlist", "refused",
    "signed_headers", "valid_filter", "webhook_handler", "webhook_sender",
]  # fmt: skip
