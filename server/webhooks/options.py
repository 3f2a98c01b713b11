"""The webhook options of a server: one value for the REST checks (endpoint URLs) and the
consumer and sender it runs (server/consumers.py), so both apply the same address rules."""

from __future__ import annotations

from aiohttp import web

from actors.webhooks import WebhookOptions, parse_allowlist
from server.resources import SETTINGS_KEY
from server.settings import Settings

WEBHOOK_OPTIONS_KEY = web.AppKey("webhook_options", WebhookOptions)


def options_for(settings: Settings) -> WebhookOptions:
    """The defaults of an environment: development and tests may reach loopback over plain
    http; everywhere else only https to public addresses."""
    local = settings.is_local
    return WebhookOptions(
        allow_loopback=local,
        require_https=not local,
        allowlist=parse_allowlist(",".join(settings.webhook_allowlist)),
    )


def options_of(app: web.Application) -> WebhookOptions:
    """The options the server set (WEBHOOK_OPTIONS_KEY), else its environment's defaults."""
    found = app.get(WEBHOOK_OPTIONS_KEY)
    return found if found is not None else options_for(app[SETTINGS_KEY])
