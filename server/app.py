"""The aiohttp application factory: middlewares, lifecycle and every domain's endpoints."""

from __future__ import annotations

from aiohttp import web

from server import gateway, health, live, metrics, middleware, openapi, sessions, telemetry
from server.automations import routes as automation_routes
from server.billing import routes as billing_routes
from server.consumers import consumers_ctx
from server.dashboard import routes as dashboard_routes
from server.identity import IDENTITY_KEY, Backends, Identity
from server.identity import routes as identity_routes
from server.loop_probe import loop_lag_ctx
from server.messages import routes as message_routes
from server.notifications import routes as notification_routes
from server.pages import routes as page_routes
from server.records import routes as record_routes
from server.resources import SETTINGS_KEY, blobs_ctx, database_ctx, ray_ctx, redis_ctx
from server.routing import PUBLIC, Endpoint, mount
from server.scheduling import routes as scheduling_routes
from server.scheduling.requests import expiry_ctx as request_expiry_ctx
from server.services import actors_ctx
from server.settings import Settings
from server.telerehab import routes as telerehab_routes
from server.visits import install as visits
from server.webhooks import routes as webhook_routes


async def metrics_endpoint(request: web.Request) -> web.Response:
    body, content_type = metrics.exposition()
    response = web.Response(body=body)
    response.headers["Content-Type"] = content_type
    return response


OPERATIONS = [
    Endpoint(
        "GET",
        "/metrics",
        metrics_endpoint,
        PUBLIC,
        "Prometheus metrics",
        "operations",
        response_schema={"type": "string"},
        media_type="text/plain",
    ),
]


def create_app(settings: Settings) -> web.Application:
    app = web.Application(
        middlewares=[middleware.observe, middleware.errors, middleware.authorize],
        client_max_size=settings.max_body_bytes,
    )
    app[SETTINGS_KEY] = settings
    identity = Identity(settings, Backends.of_app(app))
    app[IDENTITY_KEY] = identity
    app[middleware.AUTHENTICATOR_KEY] = identity.authenticator
    app[middleware.POLICY_KEY] = identity.policy
    app[middleware.RATE_LIMITER_KEY] = identity.limiter
    app[middleware.CORS_ORIGINS_KEY] = frozenset(settings.cors_origins)
    app.cleanup_ctx.extend(
        [
            loop_lag_ctx,
            database_ctx,
            redis_ctx,
            blobs_ctx,
            ray_ctx,
            actors_ctx,
            request_expiry_ctx,
            identity.lifecycle,
            consumers_ctx,
        ]
    )
    mount(app, health.ENDPOINTS + OPERATIONS + openapi.ENDPOINTS)
    mount(app, identity_routes.ENDPOINTS)
    mount(app, scheduling_routes.ENDPOINTS)
    mount(app, telerehab_routes.ENDPOINTS)
    mount(app, webhook_routes.ENDPOINTS)
    mount(app, notification_routes.ENDPOINTS)
    mount(app, dashboard_routes.ENDPOINTS)
    mount(app, message_routes.ENDPOINTS)
    mount(app, automation_routes.ENDPOINTS)
    mount(app, record_routes.ENDPOINTS)
    mount(app, billing_routes.ENDPOINTS)
    mount(app, page_routes.ENDPOINTS)
    gateway.install(app)
    live.install(app)  # after the gateway: registers its hold / release ops
    sessions.install(app)  # after the gateway: registers pose, pose.frame, session.* ops
    telemetry.install(app)  # after the gateway: registers the telemetry op
    visits.install(app)  # after the gateway: registers visit.join, visit.leave, visit.signal
    return app
