"""REST endpoints of the live front desk (ClinicFlow dashboard).

`GET /v1/dashboard` is the snapshot a client starts from: the clinic's day (cards and, for
staff, the needs-attention queue) with the position of the organization channel `org:<id>` to
subscribe from. The deltas after that position (`dashboard.updated`, `dashboard.attention`)
bring it to every later state; an owner receives `dashboard.updated` only (counts, never
patient data), and so gets the cards alone here too.
"""

from __future__ import annotations

from aiohttp import web

from actors.consumers import Clock, Context, SystemClock
from actors.dashboard import DashboardProjection
from server.dashboard import schemas
from server.errors import ApiError
from server.http import json_response
from server.resources import DB_KEY, EVENTS_KEY, KEYS_KEY, REDIS_KEY, SETTINGS_KEY
from server.routing import Endpoint, roles
from server.work import member
from storage.dashboard import ProjectionBusy
from storage.types import Role

TAG = "dashboard"
# Which instant is "now" for the snapshot's refresh; a test sets its own before the app starts.
CLOCK_KEY = web.AppKey("dashboard_clock", Clock)
READERS = roles(Role.ADMIN, Role.RECEPTIONIST, Role.SPECIALIST, Role.OWNER)


def _projection(app: web.Application) -> DashboardProjection:
    ctx = Context(
        db=app[DB_KEY],
        redis=app[REDIS_KEY],
        keys=app[KEYS_KEY],
        events=app[EVENTS_KEY],
        keyring=app[SETTINGS_KEY].data_keys,
        clock=app.get(CLOCK_KEY) or SystemClock(),
    )
    return DashboardProjection(ctx)


async def get_dashboard(request: web.Request) -> web.Response:
    """Brought up to date first (so a projection whose consumers lag still answers the truth, and
    publishes it), then read with its position."""
    who, org_id = member(request)
    try:
        dashboard = await _projection(request.app).snapshot(org_id)
    except ProjectionBusy:
        raise ApiError(
            503, "busy", "the dashboard is changing fast; retry", headers={"Retry-After": "1"}
        ) from None
    return json_response(dashboard.as_dict(with_attention=who.role is not Role.OWNER))


ENDPOINTS: list[Endpoint] = [
    Endpoint(
        "GET",
        "/v1/dashboard",
        get_dashboard,
        READERS,
        "Today's front desk: cards, needs-attention queue (staff) and the org channel position",
        TAG,
        response_schema=schemas.SNAPSHOT,
        errors=(403, 503),
    ),
]
