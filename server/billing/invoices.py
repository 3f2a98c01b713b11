"""REST endpoints of invoices: a draft for a patient in one currency, lines from completed
appointments, purchased plans, products or by hand, then issue (the next number of the
clinic's gapless series, `2026-000123`), void, mark overdue, and credit notes that correct an
issued invoice (which itself never changes). Payments move paid / partially_paid through
`storage.billing.apply_payment_state` (the payments endpoints).

Transitions are pipelines/billing's table; one it lacks is 409 `invalid_transition` with the
allowed actions. Changing an issued invoice's lines is 409 `invoice_immutable`; a line priced
in another currency is 422 `currency_mismatch`.

Who: admins write and read every invoice of their clinic; a patient reads their own issued
invoices and credit notes (drafts are the clinic's work in progress: 404, like another
patient's or another clinic's invoice). The PDF is `GET /v1/invoices/{id}/document`
(server/records/documents.py, the records renderer).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from pipelines.billing import InvoiceAction, InvoiceStatus, allowed_actions
from server.billing import schemas
from server.billing._common import BILLING_ADMINS, BILLING_READERS, TAG, uuid_or_none
from server.errors import not_found, validation_failed
from server.http import iso, json_response, path_id, read_json
from server.routing import Endpoint
from server.web.paging import instant_id_page, page_response
from server.web.params import date_value, query_uuid, uuid_value
from server.work import Work, unit_of_work
from storage import billing as store
from storage.care_team import patient_exists
from storage.clinic_day import clinic_today
from storage.types import Principal, Role

# The actions a client asks for by path; the settling ones are the payments'.
REST_ACTIONS = {
    InvoiceAction.ISSUE: "issue",
    InvoiceAction.VOID: "void",
    InvoiceAction.MARK_OVERDUE: "mark-overdue",
}


def render_line(line: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": str(line["id"]),
        "position": line["position"],
        "source": line["source"],
        "appointment_id": uuid_or_none(line["appointment_id"]),
        "patient_plan_id": uuid_or_none(line["patient_plan_id"]),
        "product_id": uuid_or_none(line["product_id"]),
        "service_id": uuid_or_none(line["service_id"]),
        "service_code": line["service_code"],
        "description": line["description"],
        "quantity": line["quantity"],
        "unit_price": line["unit_price"],
        "tax_rate_bp": line["tax_rate_bp"],
        "net_amount": line["net_amount"],
        "tax_amount": line["tax_amount"],
        "gross_amount": line["gross_amount"],
    }


def render_invoice(row: dict[str, Any], *, with_lines: bool = True) -> dict[str, Any]:
    status = InvoiceStatus(row["status"])
    out = {
        "id": str(row["id"]),
        "patient_id": str(row["patient_id"]),
        "kind": row["kind"],
        "credited_invoice_id": uuid_or_none(row["credited_invoice_id"]),
        "status": status.value,
        "number": row["number"],
        "currency": row["currency"],
        "issued_at": iso(row["issued_at"]),
        "due_on": None if row["due_on"] is None else row["due_on"].isoformat(),
        "subtotal_amount": row["subtotal_amount"],
        "tax_amount": row["tax_amount"],
        "total_amount": row["total_amount"],
        "amount_paid": row["amount_paid"],
        "balance": row["total_amount"] - row["amount_paid"],
        "voided_at": iso(row["voided_at"]),
        "allowed_actions": [REST_ACTIONS[a] for a in allowed_actions(status) if a in REST_ACTIONS],
        "created_at": iso(row["created_at"]),
        "updated_at": iso(row["updated_at"]),
    }
    if with_lines:
        out["lines"] = [render_line(line) for line in row["lines"]]
    return out


def _own_patient(who: Principal) -> uuid.UUID | None:
    if who.role is Role.PATIENT:
        return who.patient_id or uuid.UUID(int=0)
    return None


async def _visible(work: Work, invoice_id: uuid.UUID) -> dict[str, Any]:
    own = _own_patient(work.principal)
    row = await store.get_invoice(invoice_id, patient_id=own)
    if row is None or (own is not None and row["status"] == InvoiceStatus.DRAFT.value):
        raise not_found("invoice")
    return row


def _audit_view(row: dict[str, Any]) -> dict[str, Any]:
    return {
        k: row[k] for k in ("status", "number", "total_amount", "amount_paid", "kind", "currency")
    }


async def create(request: web.Request) -> web.Response:
    body = await read_json(request, schemas.INVOICE_IN)
    patient_id = uuid_value(body["patient_id"], "patient_id")
    due_on = date_value(body["due_on"], "due_on") if "due_on" in body else None
    async with unit_of_work(request, Work) as work:
        if not await patient_exists(patient_id):
            raise validation_failed({"patient_id": "is not a patient of this clinic"})
        row = await store.create_invoice(
            work.org_id, patient_id=patient_id, currency=body["currency"], due_on=due_on,
            by_user=work.principal.user_id,
        )  # fmt: skip
        await work.audit("invoice.create", "invoice", row["id"], after=_audit_view(row))
    return json_response(render_invoice(row), status=201)


async def list_(request: web.Request) -> web.Response:
    page = instant_id_page(request)
    raw_status = request.query.get("status")
    status = None
    if raw_status:
        try:
            status = InvoiceStatus(raw_status)
        except ValueError:
            allowed = ", ".join(s.value for s in InvoiceStatus)
            raise validation_failed({"status": f"must be one of {allowed}"}) from None
    patient_id = query_uuid(request, "patient_id")
    async with unit_of_work(request, Work) as work:
        own = _own_patient(work.principal)
        if own is not None:
            if patient_id is not None and patient_id != own:
                return json_response({"data": [], "next_cursor": None})
            patient_id = own
            if status is InvoiceStatus.DRAFT:
                return json_response({"data": [], "next_cursor": None})
        found = await store.list_invoices(
            patient_id=patient_id, status=status, limit=page.limit + 1, after=page.after
        )
        if own is not None:
            found = [r for r in found if r["status"] != InvoiceStatus.DRAFT.value]
    return json_response(
        page_response(
            found,
            page,
            lambda r: render_invoice(r, with_lines=False),
            lambda r: [r["created_at"], r["id"]],
        )  # fmt: skip
    )


async def get(request: web.Request) -> web.Response:
    invoice_id = path_id(request, what="invoice")
    async with unit_of_work(request, Work) as work:
        row = await _visible(work, invoice_id)
    return json_response(render_invoice(row))


def _line_spec(body: dict[str, Any]) -> store.LineSpec:
    def ref(name: str) -> uuid.UUID | None:
        return uuid_value(body[name], name) if name in body else None

    return store.LineSpec(
        source=body["source"],
        appointment_id=ref("appointment_id"),
        patient_plan_id=ref("patient_plan_id"),
        product_id=ref("product_id"),
        quantity=body.get("quantity", 1),
        description=body.get("description"),
        unit_price=body.get("unit_price"),
        tax_rate_id=ref("tax_rate_id"),
        tax_rate_bp=body.get("tax_rate_bp"),
    )


async def add_line(request: web.Request) -> web.Response:
    invoice_id = path_id(request, what="invoice")
    body = await read_json(request, schemas.LINE_IN)
    spec = _line_spec(body)
    async with unit_of_work(request, Work) as work:
        row = await store.add_line(work.conn, work.org_id, invoice_id, spec)
        await work.audit(
            "invoice.line_add", "invoice", invoice_id,
            after={"line": render_line(row["lines"][-1]), "total_amount": row["total_amount"]},
        )  # fmt: skip
    return json_response(render_invoice(row), status=201)


async def remove_line(request: web.Request) -> web.Response:
    invoice_id = path_id(request, what="invoice")
    line_id = path_id(request, "line_id", what="invoice line")
    async with unit_of_work(request, Work) as work:
        row = await store.remove_line(work.conn, invoice_id, line_id)
        await work.audit(
            "invoice.line_remove", "invoice", invoice_id,
            after={"line_id": line_id, "total_amount": row["total_amount"]},
        )  # fmt: skip
    return json_response(render_invoice(row))


def _transition(action: InvoiceAction) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handler(request: web.Request) -> web.Response:
        invoice_id = path_id(request, what="invoice")
        if request.body_exists:
            await read_json(request, schemas.NO_BODY)
        async with unit_of_work(request, Work) as work:
            before = await store.get_invoice(invoice_id)
            if before is None:
                raise not_found("invoice")
            if action is InvoiceAction.ISSUE:
                after = await store.issue_invoice(
                    work.conn, work.org_id, invoice_id, by_user=work.principal.user_id
                )
            elif action is InvoiceAction.VOID:
                after = await store.void_invoice(work.conn, invoice_id)
            else:
                today = await clinic_today(work.conn, datetime.now(UTC))
                after = await store.mark_overdue(work.conn, invoice_id, today)
            await work.audit(
                f"invoice.{action.value}", "invoice", invoice_id,
                before=_audit_view(before), after=_audit_view(after),
            )  # fmt: skip
        return json_response(render_invoice(after))

    handler.__name__ = f"invoice_{action.value}"
    return handler


async def credit_note(request: web.Request) -> web.Response:
    invoice_id = path_id(request, what="invoice")
    body = await read_json(request, schemas.CREDIT_NOTE_IN) if request.body_exists else {}
    raw = body.get("line_ids")
    line_ids = None if raw is None else [uuid_value(v, "line_ids") for v in raw]
    async with unit_of_work(request, Work) as work:
        if await store.get_invoice(invoice_id) is None:
            raise not_found("invoice")
        row = await store.create_credit_note(
            work.conn, work.org_id, invoice_id, line_ids=line_ids,
            by_user=work.principal.user_id,
        )  # fmt: skip
        await work.audit(
            "invoice.credit_note", "invoice", row["id"],
            after={**_audit_view(row), "credited_invoice_id": invoice_id},
        )  # fmt: skip
    return json_response(render_invoice(row), status=201)


_ONE = "/v1/invoices/{id}"
_SUMMARIES = {
    InvoiceAction.ISSUE: "Issue a draft: it takes the next number of the clinic's series and "
    "never changes again",
    InvoiceAction.VOID: "Void a draft, or an issued invoice with nothing paid (it keeps its "
    "number)",
    InvoiceAction.MARK_OVERDUE: "Mark an unpaid invoice overdue (its due date has passed)",
}
ENDPOINTS: list[Endpoint] = [
    Endpoint("POST", "/v1/invoices", create, BILLING_ADMINS,
             "Start a draft invoice for a patient, in one currency", TAG,
             request_schema=schemas.INVOICE_IN, response_schema=schemas.INVOICE, status=201,
             errors=(422,)),
    Endpoint("GET", "/v1/invoices", list_, BILLING_READERS,
             "Invoices, oldest first (a patient: their own issued ones)", TAG,
             response_schema=schemas.INVOICES_PAGE,
             query={"patient_id": "", "status": "draft | issued | paid | partially_paid | "
                    "overdue | void", "limit": "", "cursor": ""},
             errors=(422,)),
    Endpoint("GET", _ONE, get, BILLING_READERS, "An invoice with its lines", TAG,
             response_schema=schemas.INVOICE, errors=(404,)),
    Endpoint("POST", f"{_ONE}/lines", add_line, BILLING_ADMINS,
             "Add a line to a draft: a completed appointment, a purchased plan, a product or a "
             "manual line", TAG, request_schema=schemas.LINE_IN,
             response_schema=schemas.INVOICE, status=201, errors=(404, 409, 422)),
    Endpoint("DELETE", f"{_ONE}/lines/{{line_id}}", remove_line, BILLING_ADMINS,
             "Remove a line from a draft", TAG, response_schema=schemas.INVOICE,
             errors=(404, 409)),
    *(
        Endpoint("POST", f"{_ONE}/{path}", _transition(action), BILLING_ADMINS,
                 _SUMMARIES[action], TAG, request_schema=schemas.NO_BODY, body_optional=True,
                 response_schema=schemas.INVOICE, errors=(404, 409, 422))
        for action, path in REST_ACTIONS.items()
    ),
    Endpoint("POST", f"{_ONE}/credit-notes", credit_note, BILLING_ADMINS,
             "Correct an issued invoice: a draft credit note of all its lines or those named",
             TAG, request_schema=schemas.CREDIT_NOTE_IN, body_optional=True,
             response_schema=schemas.INVOICE,
             status=201, errors=(404, 409, 422)),
]  # fmt: skip
