"""REST endpoints of webhooks: an organization's admins manage its endpoints, read the delivery
log and replay deliveries. The secret of an endpoint is answered once, when it is created or
rotated; it is stored sealed and never shown again."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

from actors.webhooks import check_url, new_secret
from server.errors import validation_failed
from server.http import iso, json_response, path_id, read_json
from server.resources import SETTINGS_KEY
from server.routing import Endpoint, roles
from server.web.paging import instant_id_page, page_response
from server.webhooks import schemas
from server.webhooks.options import options_of
from server.work import Work, unit_of_work
from storage import webhooks as store
from storage.types import Role

TAG = "webhooks"
ADMIN = roles(Role.ADMIN)
ENTITY = "webhook_endpoint"
PAGING = {"limit": "page size, 1..200 (default 50)", "cursor": "next_cursor of the previous page"}


def _work(request: web.Request) -> AbstractAsyncContextManager[Work]:
    """One transaction in the caller's organization, and who to write in its audit rows."""
    return unit_of_work(request, Work)


def _now() -> datetime:
    return datetime.now(UTC)


def render_endpoint(e: store.Endpoint) -> dict[str, Any]:
    return {
        "id": str(e.id),
        "url": e.url,
        "description": e.description,
        "event_types": list(e.event_types),
        "enabled": e.enabled,
        "disabled_at": iso(e.disabled_at),
        "disabled_reason": e.disabled_reason,
        "consecutive_failures": e.consecutive_failures,
        "created_at": iso(e.created_at),
        "updated_at": iso(e.updated_at),
    }


def render_delivery(d: store.Delivery) -> dict[str, Any]:
    return {
        "id": str(d.id),
        "endpoint_id": str(d.endpoint_id),
        "event_id": d.event_id,
        "event_type": d.event_type,
        "status": d.status,
        "attempts": d.attempts,
        "next_attempt_at": iso(d.next_attempt_at) if d.status == store.PENDING else None,
        "last_status_code": d.last_status_code,
        "last_error": d.last_error,
        "last_attempt_at": iso(d.last_attempt_at),
        "delivered_at": iso(d.delivered_at),
        "created_at": iso(d.created_at),
    }


def _render_attempt(a: store.Attempt) -> dict[str, Any]:
    return {
        "attempt": a.attempt,
        "status_code": a.status_code,
        "latency_ms": a.latency_ms,
        "error": a.error,
        "at": iso(a.attempted_at),
    }


async def create_endpoint(request: web.Request) -> web.Response:
    body = await read_json(request, schemas.ENDPOINT_CREATE)
    url = str(check_url(body["url"], options_of(request.app)))
    secret = new_secret()
    async with _work(request) as work:
        created = await store.create_endpoint(
            request.app[SETTINGS_KEY].data_keys,
            work.org_id,
            url=url,
            description=body.get("description", ""),
            event_types=body["event_types"],
            secret=secret,
            created_by=work.actor.user_id,
        )
        await work.audit("webhook_endpoint.create", ENTITY, created.id, None, created.audited())
    return json_response({**render_endpoint(created), "secret": secret}, status=201)


async def list_endpoints(request: web.Request) -> web.Response:
    page = instant_id_page(request)
    async with _work(request) as work:
        found = await store.list_endpoints(work.conn, page.limit + 1, page.after)
    return json_response(
        page_response(found, page, render_endpoint, lambda e: (e.created_at, e.id))
    )


async def get_endpoint(request: web.Request) -> web.Response:
    endpoint_id = path_id(request, what="webhook endpoint")
    async with _work(request):
        found = await store.get_endpoint(endpoint_id)
    return json_response(render_endpoint(found))


async def patch_endpoint(request: web.Request) -> web.Response:
    endpoint_id = path_id(request, what="webhook endpoint")
    body = await read_json(request, schemas.ENDPOINT_PATCH)
    url = str(check_url(body["url"], options_of(request.app))) if "url" in body else None
    async with _work(request) as work:
        before, after = await store.update_endpoint(
            endpoint_id,
            _now(),
            url=url,
            description=body.get("description"),
            event_types=body.get("event_types"),
            enabled=body.get("enabled"),
        )
        await work.audit(
            "webhook_endpoint.update", ENTITY, endpoint_id, before.audited(), after.audited()
        )
    return json_response(render_endpoint(after))


async def delete_endpoint(request: web.Request) -> web.Response:
    endpoint_id = path_id(request, what="webhook endpoint")
    async with _work(request) as work:
        deleted = await store.delete_endpoint(endpoint_id, _now())
        await work.audit("webhook_endpoint.delete", ENTITY, endpoint_id, deleted.audited(), None)
    return web.Response(status=204)


async def rotate_secret(request: web.Request) -> web.Response:
    """A new secret, answered once; the previous one keeps signing beside it for a grace period
    (WebhookOptions.secret_grace_s) so receivers can switch without a gap."""
    endpoint_id = path_id(request, what="webhook endpoint")
    secret = new_secret()
    grace = timedelta(seconds=options_of(request.app).secret_grace_s)
    async with _work(request) as work:
        rotated = await store.rotate_secret(
            request.app[SETTINGS_KEY].data_keys, endpoint_id, secret, _now(), grace
        )
        # `secret` is a sensitive field: the audit row says it changed, masked.
        await work.audit(
            "webhook_endpoint.rotate_secret",
            ENTITY,
            endpoint_id,
            {"secret": "old"},
            {"secret": "new"},
        )
    return json_response({**render_endpoint(rotated), "secret": secret})


async def list_deliveries(request: web.Request) -> web.Response:
    endpoint_id = path_id(request, what="webhook endpoint")
    status = request.query.get("status") or None
    if status is not None and status not in store.STATUSES:
        raise validation_failed({"status": f"must be one of {', '.join(store.STATUSES)}"})
    page = instant_id_page(request)
    async with _work(request) as work:
        await store.get_endpoint(endpoint_id)  # 404 for an unknown (or another org's) endpoint
        found = await store.list_deliveries(
            work.conn, endpoint_id, status=status, limit=page.limit + 1, after=page.after
        )
    return json_response(
        page_response(found, page, render_delivery, lambda d: (d.created_at, d.id))
    )


async def get_delivery(request: web.Request) -> web.Response:
    delivery_id = path_id(request, what="webhook delivery")
    async with _work(request) as work:
        found = await store.get_delivery(work.conn, delivery_id)
        log = await store.attempts_of(work.conn, delivery_id)
    return json_response(
        {
            **render_delivery(found),
            "payload": found.payload,
            "attempts_log": [_render_attempt(a) for a in log],
        }
    )


async def replay_delivery(request: web.Request) -> web.Response:
    """Send a delivery again soon, under the same webhook-id."""
    delivery_id = path_id(request, what="webhook delivery")
    async with _work(request) as work:
        replayed = await store.replay(work.conn, delivery_id, _now())
    return json_response(render_delivery(replayed), status=202)


_BASE = "/v1/webhooks"
_ONE = _BASE + "/endpoints/{id}"
ENDPOINTS: list[Endpoint] = [
    Endpoint(
        "POST", _BASE + "/endpoints", create_endpoint, ADMIN,
        "Create a webhook endpoint (its secret is answered once)", TAG,
        request_schema=schemas.ENDPOINT_CREATE, response_schema=schemas.ENDPOINT_WITH_SECRET,
        status=201, errors=(422,),
    ),
    Endpoint(
        "GET", _BASE + "/endpoints", list_endpoints, ADMIN, "Webhook endpoints, newest first",
        TAG, response_schema=schemas.ENDPOINTS_PAGE, query=PAGING, errors=(422,),
    ),
    Endpoint(
        "GET", _ONE, get_endpoint, ADMIN, "A webhook endpoint", TAG,
        response_schema=schemas.ENDPOINT, errors=(404,),
    ),
    Endpoint(
        "PATCH", _ONE, patch_endpoint, ADMIN,
        "Change a webhook endpoint; `enabled: true` re-enables it and clears its failures", TAG,
        request_schema=schemas.ENDPOINT_PATCH, response_schema=schemas.ENDPOINT,
        errors=(404, 422),
    ),
    Endpoint(
        "DELETE", _ONE, delete_endpoint, ADMIN,
        "Delete a webhook endpoint (its pending deliveries are cancelled)", TAG,
        status=204, errors=(404,),
    ),
    Endpoint(
        "POST", _ONE + "/rotate-secret", rotate_secret, ADMIN,
        "A new signing secret (answered once; the old one signs too for a grace period)", TAG,
        response_schema=schemas.ENDPOINT_WITH_SECRET, errors=(404,),
    ),
    Endpoint(
        "GET", _ONE + "/deliveries", list_deliveries, ADMIN,
        "An endpoint's deliveries, newest first", TAG, response_schema=schemas.DELIVERIES_PAGE,
        query={**PAGING, "status": "pending, delivered, failed or cancelled"},
        errors=(404, 422),
    ),
    Endpoint(
        "GET", _BASE + "/deliveries/{id}", get_delivery, ADMIN,
        "A delivery with its payload and attempts", TAG,
        response_schema=schemas.DELIVERY_DETAIL, errors=(404,),
    ),
    Endpoint(
        "POST", _BASE + "/deliveries/{id}/replay", replay_delivery, ADMIN,
        "Send a delivery again soon, under the same webhook-id", TAG,
        response_schema=schemas.DELIVERY, status=202, errors=(404, 409),
    ),
]  # fmt: skip
