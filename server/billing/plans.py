"""REST endpoints of service plans (packages of N sessions of given services, valid for a
period, optionally granting telerehab access, with bundled products) and of patients'
purchased plans. A completed appointment of a service the patient's plan covers takes one of
its sessions, exactly once, in the transaction of the status change (migration
m2026_12_05t01's trigger); an undone completion gives it back.

Who: admins and the owner manage the catalog; staff read it. Admins sell plans and see every
patient's; a patient sees their own. Anything of another clinic, or another patient's, is 404.
"""

from __future__ import annotations

import uuid
from typing import Any

from aiohttp import web

from server.billing import schemas
from server.billing._common import (
    BILLING_ADMINS,
    BILLING_READERS,
    CATALOG_READERS,
    CATALOG_WRITERS,
    TAG,
    price,
    uuid_or_none,
)
from server.errors import not_found
from server.http import iso, json_response, path_id, read_json
from server.routing import Endpoint
from server.web.paging import instant_id_page, page_response
from server.web.params import instant_value, uuid_value
from server.work import Work, unit_of_work
from storage import billing as store
from storage.care_team import patient_exists
from storage.types import Principal, Role


def render_service_plan(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": str(row["id"]),
        "name": row["name"],
        "sessions": row["sessions"],
        "validity_days": row["validity_days"],
        "price": price(row),
        "tax_rate_id": uuid_or_none(row["tax_rate_id"]),
        "grants_telerehab": row["grants_telerehab"],
        "active": row["active"],
        "service_ids": [str(s) for s in row["service_ids"]],
        "products": [
            {"product_id": str(p["product_id"]), "quantity": p["quantity"]} for p in row["products"]
        ],
        "created_at": iso(row["created_at"]),
        "updated_at": iso(row["updated_at"]),
    }


def render_patient_plan(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": str(row["id"]),
        "patient_id": str(row["patient_id"]),
        "service_plan_id": str(row["service_plan_id"]),
        "status": row["status"],
        "sessions_total": row["sessions_total"],
        "sessions_used": row["sessions_used"],
        "sessions_remaining": row["sessions_remaining"],
        "valid_from": iso(row["valid_from"]),
        "valid_until": iso(row["valid_until"]),
        "grants_telerehab": row["grants_telerehab"],
        "price": price(row),
        "tax_rate_bp": row["tax_rate_bp"],
        "service_ids": [str(s) for s in row["service_ids"]],
        "created_at": iso(row["created_at"]),
    }


def _plan_changes(body: dict[str, Any]) -> dict[str, Any]:
    keep = ("name", "sessions", "validity_days", "grants_telerehab", "active")
    changes = {k: v for k, v in body.items() if k in keep}
    if "price" in body:
        changes["price_amount"] = body["price"]["amount"]
        changes["price_currency"] = body["price"]["currency"]
    if "tax_rate_id" in body:
        raw = body["tax_rate_id"]
        changes["tax_rate_id"] = None if raw is None else uuid_value(raw, "tax_rate_id")
    return changes


async def create_service_plan(request: web.Request) -> web.Response:
    body = await read_json(request, schemas.SERVICE_PLAN_IN)
    changes = _plan_changes(body)
    service_ids = [uuid_value(s, f"service_ids[{i}]") for i, s in enumerate(body["service_ids"])]
    products = [
        (uuid_value(p["product_id"], f"products[{i}].product_id"), p["quantity"])
        for i, p in enumerate(body.get("products", []))
    ]
    async with unit_of_work(request, Work) as work:
        row = await store.create_service_plan(
            work.org_id,
            name=body["name"],
            sessions=body["sessions"],
            validity_days=body["validity_days"],
            price_amount=changes["price_amount"],
            price_currency=changes["price_currency"],
            tax_rate_id=changes.get("tax_rate_id"),
            grants_telerehab=body.get("grants_telerehab", False),
            service_ids=service_ids,
            products=products,
        )
        await work.audit(
            "service_plan.create", "service_plan", row["id"], after=render_service_plan(row)
        )
    return json_response(render_service_plan(row), status=201)


async def list_service_plans(request: web.Request) -> web.Response:
    page = instant_id_page(request)
    async with unit_of_work(request, Work):
        found = await store.list_service_plans(page.limit + 1, page.after)
    return json_response(
        page_response(found, page, render_service_plan, lambda r: [r["created_at"], r["id"]])
    )


async def get_service_plan(request: web.Request) -> web.Response:
    plan_id = path_id(request, what="service plan")
    async with unit_of_work(request, Work):
        row = await store.get_service_plan(plan_id)
    if row is None:
        raise not_found("service plan")
    return json_response(render_service_plan(row))


async def update_service_plan(request: web.Request) -> web.Response:
    plan_id = path_id(request, what="service plan")
    body = await read_json(request, schemas.SERVICE_PLAN_PATCH)
    async with unit_of_work(request, Work) as work:
        before = await store.get_service_plan(plan_id)
        if before is None:
            raise not_found("service plan")
        row = await store.update_service_plan(plan_id, _plan_changes(body))
        await work.audit(
            "service_plan.update", "service_plan", plan_id,
            before=render_service_plan(before), after=render_service_plan(row),
        )  # fmt: skip
    return json_response(render_service_plan(row))


def _own_patient(who: Principal) -> uuid.UUID | None:
    """The patient a patient principal is restricted to (a patient token without its patient
    sees no one); None for admins, who see every patient of their clinic."""
    if who.role is Role.PATIENT:
        return who.patient_id or uuid.UUID(int=0)
    return None


async def purchase(request: web.Request) -> web.Response:
    patient_id = path_id(request, what="patient")
    body = await read_json(request, schemas.PURCHASE_IN)
    plan_id = uuid_value(body["service_plan_id"], "service_plan_id")
    raw_from = body.get("valid_from")
    valid_from = None if raw_from is None else instant_value(raw_from, "valid_from")
    async with unit_of_work(request, Work) as work:
        if not await patient_exists(patient_id):
            raise not_found("patient")
        row = await store.purchase_plan(
            work.conn, work.org_id, patient_id=patient_id, service_plan_id=plan_id,
            valid_from=valid_from, by_user=work.principal.user_id,
        )  # fmt: skip
        await work.audit(
            "patient_plan.purchase", "patient_plan", row["id"], after=render_patient_plan(row)
        )
    return json_response(render_patient_plan(row), status=201)


async def list_patient_plans(request: web.Request) -> web.Response:
    patient_id = path_id(request, what="patient")
    async with unit_of_work(request, Work) as work:
        own = _own_patient(work.principal)
        if (own is not None and own != patient_id) or not await patient_exists(patient_id):
            raise not_found("patient")
        found = await store.list_patient_plans(patient_id)
    return json_response({"data": [render_patient_plan(r) for r in found]})


async def _visible_plan(work: Work, plan_id: uuid.UUID, lock: bool = False) -> dict[str, Any]:
    row = await store.get_patient_plan(plan_id, patient_id=_own_patient(work.principal))
    if row is None:
        raise not_found("patient plan")
    return row


async def get_patient_plan(request: web.Request) -> web.Response:
    plan_id = path_id(request, what="patient plan")
    async with unit_of_work(request, Work) as work:
        row = await _visible_plan(work, plan_id)
    return json_response(render_patient_plan(row))


async def redemptions(request: web.Request) -> web.Response:
    plan_id = path_id(request, what="patient plan")
    async with unit_of_work(request, Work) as work:
        await _visible_plan(work, plan_id)
        found = await store.plan_redemptions(plan_id)
    return json_response(
        {
            "data": [
                {
                    "id": str(r["id"]),
                    "appointment_id": str(r["appointment_id"]),
                    "redeemed_at": iso(r["redeemed_at"]),
                    "restored_at": iso(r["restored_at"]),
                }
                for r in found
            ]
        }
    )


async def cancel_patient_plan(request: web.Request) -> web.Response:
    plan_id = path_id(request, what="patient plan")
    if request.body_exists:
        await read_json(request, schemas.NO_BODY)
    async with unit_of_work(request, Work) as work:
        row = await store.cancel_patient_plan(plan_id)
        await work.audit(
            "patient_plan.cancel", "patient_plan", plan_id, after={"status": row["status"]}
        )
    return json_response(render_patient_plan(row))


ENDPOINTS: list[Endpoint] = [
    Endpoint("POST", "/v1/service-plans", create_service_plan, CATALOG_WRITERS,
             "Add a service plan: N sessions of the services, valid for a period, optional "
             "telerehab access and bundled products", TAG,
             request_schema=schemas.SERVICE_PLAN_IN, response_schema=schemas.SERVICE_PLAN,
             status=201, errors=(409, 422)),
    Endpoint("GET", "/v1/service-plans", list_service_plans, CATALOG_READERS,
             "The clinic's service plans", TAG, response_schema=schemas.SERVICE_PLANS_PAGE,
             query={"limit": "", "cursor": ""}, errors=(422,)),
    Endpoint("GET", "/v1/service-plans/{id}", get_service_plan, CATALOG_READERS,
             "A service plan", TAG, response_schema=schemas.SERVICE_PLAN, errors=(404,)),
    Endpoint("PATCH", "/v1/service-plans/{id}", update_service_plan, CATALOG_WRITERS,
             "Change a service plan (plans already sold keep their terms)", TAG,
             request_schema=schemas.SERVICE_PLAN_PATCH, response_schema=schemas.SERVICE_PLAN,
             errors=(404, 409, 422)),
    Endpoint("POST", "/v1/patients/{id}/plans", purchase, BILLING_ADMINS,
             "Sell a plan to a patient (its bundled products leave stock)", TAG,
             request_schema=schemas.PURCHASE_IN, response_schema=schemas.PATIENT_PLAN,
             status=201, errors=(404, 409, 422)),
    Endpoint("GET", "/v1/patients/{id}/plans", list_patient_plans, BILLING_READERS,
             "A patient's purchased plans (a patient: their own)", TAG,
             response_schema=schemas.PATIENT_PLANS, errors=(404,)),
    Endpoint("GET", "/v1/patient-plans/{id}", get_patient_plan, BILLING_READERS,
             "A purchased plan: sessions used and remaining, validity", TAG,
             response_schema=schemas.PATIENT_PLAN, errors=(404,)),
    Endpoint("GET", "/v1/patient-plans/{id}/redemptions", redemptions, BILLING_READERS,
             "The appointments that took a session of the plan (restored ones too)", TAG,
             response_schema=schemas.REDEMPTIONS, errors=(404,)),
    Endpoint("POST", "/v1/patient-plans/{id}/cancel", cancel_patient_plan, BILLING_ADMINS,
             "Cancel a purchased plan: no further sessions are taken from it", TAG,
             request_schema=schemas.NO_BODY, body_optional=True,
             response_schema=schemas.PATIENT_PLAN, errors=(404, 409, 422)),
]  # fmt: skip
