"""Invoices through REST: every cell of the state machine (allowed and refused), settlement by
`apply_payment_state`, immutability once issued, credit notes, the arithmetic on awkward
values, currency mismatches, bad input, tenancy and roles, gapless numbers under concurrency,
and the PDF."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from pipelines.billing import TRANSITIONS, InvoiceAction, InvoiceStatus, line_amounts
from storage import billing as store
from tests.integration.billing.conftest import (
    Api,
    Role,
    clinic,
    completed,
    draft,
    in_tenant,
    issued,
    manual_line,
    pdf_text,
)

PAST = (date.today() - timedelta(days=3)).isoformat()
REST = {InvoiceAction.ISSUE: "issue", InvoiceAction.VOID: "void",
        InvoiceAction.MARK_OVERDUE: "mark-overdue"}  # fmt: skip


async def _settle(api: Api, invoice_id: str, amount_paid: int) -> dict[str, Any]:
    async def run(conn: asyncpg.Connection) -> dict[str, Any]:
        return await store.apply_payment_state(
            conn, api.org_id, uuid.UUID(invoice_id), amount_paid=amount_paid
        )

    return await in_tenant(api, run)


async def _in_state(api: Api, patient: str, state: InvoiceStatus) -> dict[str, Any]:
    """An invoice of total 11900 (100.00 + 19 % VAT), due in the past, in `state`."""
    invoice = await draft(api, patient, due_on=PAST)
    await manual_line(api, invoice["id"])
    path = f"/v1/invoices/{invoice['id']}"
    if state is InvoiceStatus.DRAFT:
        return invoice
    if state is InvoiceStatus.VOID:
        answer: dict[str, Any] = await api.ok("POST", f"{path}/void")
        return answer
    await api.ok("POST", f"{path}/issue")
    if state is InvoiceStatus.PAID:
        await _settle(api, invoice["id"], 11900)
    elif state is InvoiceStatus.PARTIALLY_PAID:
        await _settle(api, invoice["id"], 5000)
    elif state is InvoiceStatus.OVERDUE:
        await api.ok("POST", f"{path}/mark-overdue")
    answer = await api.ok("GET", path)
    assert answer["status"] == state.value
    return answer


@pytest.mark.parametrize("state", list(InvoiceStatus))
async def test_every_rest_cell_of_the_state_machine(api: Api, state: InvoiceStatus) -> None:
    world = await clinic(api)
    for action, path in REST.items():
        invoice = await _in_state(api, world["patient"], state)
        status, body = await api.call("POST", f"/v1/invoices/{invoice['id']}/{path}")
        legal = (state, action) in TRANSITIONS
        if legal:
            assert status == 200, (state, action, body)
            assert body["status"] == TRANSITIONS[(state, action)].value
        else:
            assert status == 409, (state, action, body)
            assert body["error"]["code"] == "invalid_transition"
            assert body["error"]["details"]["status"] == state.value
            after = await api.ok("GET", f"/v1/invoices/{invoice['id']}")
            assert after["status"] == state.value


@pytest.mark.parametrize("amount", [0, 5000, 11900, 20000])
async def test_every_settlement_cell(api: Api, amount: int) -> None:
    """apply_payment_state from each state, for nothing, part, all and more than all paid."""
    world = await clinic(api)
    for state in InvoiceStatus:
        invoice = await _in_state(api, world["patient"], state)
        action = (
            InvoiceAction.SETTLE_FULL if amount >= 11900
            else InvoiceAction.SETTLE_PART if amount > 0 else InvoiceAction.SETTLE_NONE
        )  # fmt: skip
        if (state, action) in TRANSITIONS:
            after = await _settle(api, invoice["id"], amount)
            assert after["status"] == TRANSITIONS[(state, action)].value
            shown = await api.ok("GET", f"/v1/invoices/{invoice['id']}")
            assert shown["amount_paid"] == amount and shown["balance"] == 11900 - amount
        else:
            with pytest.raises(Exception) as refused:
                await _settle(api, invoice["id"], amount)
            assert getattr(refused.value, "code", None) == "invalid_transition"


async def test_an_issued_invoice_is_immutable(api: Api) -> None:
    world = await clinic(api)
    invoice = await issued(api, world["patient"])
    path = f"/v1/invoices/{invoice['id']}"
    status, body = await api.call(
        "POST", f"{path}/lines",
        {"source": "manual", "description": "x", "unit_price": 1, "tax_rate_bp": 0},
    )  # fmt: skip
    assert status == 409 and body["error"]["code"] == "invoice_immutable"
    line = invoice["lines"][0]["id"]
    status, body = await api.call("DELETE", f"{path}/lines/{line}")
    assert status == 409 and body["error"]["code"] == "invoice_immutable"

    async def tamper(conn: asyncpg.Connection) -> None:
        await conn.execute(
            "UPDATE invoices SET total_amount = 1, subtotal_amount = 1, tax_amount = 0 "
            "WHERE id = $1::uuid", invoice["id"],
        )  # fmt: skip

    with pytest.raises(asyncpg.IntegrityConstraintViolationError):
        await in_tenant(api, tamper)

    async def tamper_line(conn: asyncpg.Connection) -> None:
        await conn.execute("DELETE FROM invoice_lines WHERE id = $1::uuid", line)

    with pytest.raises(asyncpg.IntegrityConstraintViolationError):
        await in_tenant(api, tamper_line)


async def test_a_credit_note_corrects_an_issued_invoice(api: Api) -> None:
    world = await clinic(api)
    invoice = await issued(api, world["patient"])
    note = await api.ok("POST", f"/v1/invoices/{invoice['id']}/credit-notes", expect=201)
    assert note["kind"] == "credit_note" and note["status"] == "draft"
    assert note["credited_invoice_id"] == invoice["id"]
    assert note["total_amount"] == invoice["total_amount"]
    note = await api.ok("POST", f"/v1/invoices/{note['id']}/issue")
    year, seq = invoice["number"].split("-")
    assert note["number"] == f"{year}-{int(seq) + 1:06d}"
    status, body = await api.call("POST", f"/v1/invoices/{invoice['id']}/credit-notes")
    assert status == 409 and body["error"]["code"] == "over_credited"
    original = await api.ok("GET", f"/v1/invoices/{invoice['id']}")
    assert original["status"] == "issued" and original["lines"] == invoice["lines"]
    fresh = await draft(api, world["patient"])
    status, body = await api.call("POST", f"/v1/invoices/{fresh['id']}/credit-notes")
    assert status == 409


async def test_vat_is_rounded_per_line_over_many_awkward_lines(api: Api) -> None:
    world = await clinic(api)
    invoice = await draft(api, world["patient"])
    awkward = [(1, 1, 1900), (3, 333, 1950), (7, 1, 500), (1, 99_999_999, 2100),
               (2, 5, 1000), (13, 77, 900), (1, 50, 1900), (1, 0, 1900), (999, 3, 2400),
               (1, 25, 2000)]  # fmt: skip
    awkward += [(1, 1, 1900)] * 60  # 60 x 0.01 at 19 %: 0 tax each, not 0.11 on the total
    for quantity, unit_price, rate in awkward:
        answer = await manual_line(api, invoice["id"], unit_price, quantity, rate)
    expected = [line_amounts(q, p, r) for q, p, r in awkward]
    assert [(x["net_amount"], x["tax_amount"], x["gross_amount"]) for x in answer["lines"]] == [
        (e.net, e.tax, e.gross) for e in expected
    ]
    assert answer["subtotal_amount"] == sum(e.net for e in expected)
    assert answer["tax_amount"] == sum(e.tax for e in expected)
    assert answer["total_amount"] == answer["subtotal_amount"] + answer["tax_amount"]
    # Spot values worked by hand: 3 x 3.33 at 19.5 % = 9.99 net, 1.948... -> 1.95 tax.
    assert (expected[1].net, expected[1].tax) == (999, 195)
    assert (expected[2].net, expected[2].tax) == (7, 0)  # 0.35 rounds down
    assert (expected[4].net, expected[4].tax) == (10, 1)  # 1.0 exactly
    assert (expected[9].net, expected[9].tax) == (25, 5)  # 5.0 exactly
    assert (expected[6].net, expected[6].tax) == (50, 10)  # 9.5 rounds half up
    issued_answer = await api.ok("POST", f"/v1/invoices/{invoice['id']}/issue")
    assert issued_answer["total_amount"] == answer["total_amount"]


async def test_a_line_in_another_currency_is_refused(api: Api) -> None:
    world = await clinic(api, currency="RON")
    appointment_id = await completed(api, world)
    product = await api.ok(
        "POST", "/v1/products",
        {"name": "Tape", "price": {"amount": 900, "currency": "USD"}, "stock": 5}, expect=201,
    )  # fmt: skip
    invoice = await draft(api, world["patient"], currency="EUR")
    path = f"/v1/invoices/{invoice['id']}/lines"
    for body in (
        {"source": "appointment", "appointment_id": appointment_id},
        {"source": "product", "product_id": product["id"]},
    ):
        status, answer = await api.call("POST", path, body)
        assert status == 422 and answer["error"]["code"] == "currency_mismatch", answer
        assert answer["error"]["details"]["expected"] == "EUR"
    assert (await api.ok("GET", f"/v1/products/{product['id']}"))["stock"] == 5
    ron = await draft(api, world["patient"], currency="RON")
    billed = await api.ok(
        "POST", f"/v1/invoices/{ron['id']}/lines",
        {"source": "appointment", "appointment_id": appointment_id}, expect=201,
    )  # fmt: skip
    assert billed["total_amount"] == 20000
    status, answer = await api.call(
        "POST", f"/v1/invoices/{ron['id']}/lines",
        {"source": "appointment", "appointment_id": appointment_id},
    )  # fmt: skip
    assert status == 409 and answer["error"]["code"] == "already_invoiced"


async def test_time_based_and_hybrid_services_bill_started_units(api: Api) -> None:
    world = await clinic(api, price=5000)
    await api.ok(
        "PUT", f"/v1/services/{world['service']}/billing",
        {"billing_model": "time_based", "time_unit_min": 25, "rate_per_unit": 1500,
         "service_code": "PT-97110"},
    )  # fmt: skip
    first = await completed(api, world, hour=9)
    invoice = await draft(api, world["patient"])
    answer = await api.ok(
        "POST", f"/v1/invoices/{invoice['id']}/lines",
        {"source": "appointment", "appointment_id": first}, expect=201,
    )  # fmt: skip
    line = answer["lines"][0]
    assert (line["quantity"], line["unit_price"], line["net_amount"]) == (3, 1500, 4500)
    assert line["service_code"] == "PT-97110"
    await api.ok(
        "PUT", f"/v1/services/{world['service']}/billing",
        {"billing_model": "hybrid", "time_unit_min": 30, "rate_per_unit": 1000},
    )  # fmt: skip
    second = await completed(api, world, hour=11)
    answer = await api.ok(
        "POST", f"/v1/invoices/{invoice['id']}/lines",
        {"source": "appointment", "appointment_id": second}, expect=201,
    )  # fmt: skip
    assert answer["lines"][1]["net_amount"] == 5000 + 2 * 1000


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/v1/invoices", {"patient_id": "x", "currency": "EUR"}, "patient_id"),
        ("/v1/invoices", {"patient_id": str(uuid.uuid4()), "currency": "eur"}, "currency"),
        ("/v1/invoices", {"currency": "EUR"}, "patient_id"),
        ("/v1/invoices", {"patient_id": str(uuid.uuid4()), "currency": "EUR"}, "patient_id"),
        ("/v1/invoices", {"patient_id": str(uuid.uuid4()), "currency": "EUR", "x": 1}, None),
    ],
)
async def test_bad_invoice_input_answers_the_envelope(
    api: Api, path: str, body: dict[str, Any], field: str | None
) -> None:
    status, answer = await api.call("POST", path, body)
    assert status == 422, answer
    assert answer["error"]["code"] == "validation_failed" and answer["error"]["request_id"]
    if field is not None:
        assert field in str(answer["error"]["details"])


@pytest.mark.parametrize(
    "line",
    [
        {"source": "manual", "description": "x", "unit_price": -1, "tax_rate_bp": 0},
        {"source": "manual", "description": "x", "unit_price": 1, "quantity": 0},
        {"source": "manual", "description": "x", "unit_price": 1, "tax_rate_bp": 10001},
        {"source": "manual", "unit_price": 1},
        {"source": "manual", "description": "x", "unit_price": 1.5},
        {"source": "appointment"},
        {"source": "appointment", "appointment_id": str(uuid.uuid4())},
        {"source": "product", "product_id": str(uuid.uuid4())},
        {"source": "patient_plan", "patient_plan_id": str(uuid.uuid4())},
        {"source": "gift"},
    ],
)
async def test_bad_lines_answer_422(api: Api, line: dict[str, Any]) -> None:
    world = await clinic(api)
    invoice = await draft(api, world["patient"])
    status, answer = await api.call("POST", f"/v1/invoices/{invoice['id']}/lines", line)
    assert status == 422, answer
    assert answer["error"]["code"] == "validation_failed"
    assert (await api.ok("GET", f"/v1/invoices/{invoice['id']}"))["lines"] == []


async def test_an_empty_draft_cannot_be_issued(api: Api) -> None:
    world = await clinic(api)
    invoice = await draft(api, world["patient"])
    status, answer = await api.call("POST", f"/v1/invoices/{invoice['id']}/issue")
    assert status == 422 and "lines" in answer["error"]["details"]["fields"]


async def test_tenants_and_roles(api: Api, other: Api) -> None:
    world = await clinic(api)
    invoice = await issued(api, world["patient"])
    hidden = await draft(api, world["patient"])
    path = f"/v1/invoices/{invoice['id']}"
    status, _ = await other.call("GET", path)
    assert status == 404
    status, _ = await other.call("POST", f"{path}/void")
    assert status == 404
    for role in (Role.SPECIALIST, Role.RECEPTIONIST, Role.OWNER):
        status, _ = await api.call("POST", f"{path}/void", role=role)
        assert status == 403, role
    me = uuid.UUID(world["patient"])
    mine = await api.ok("GET", path, role=Role.PATIENT, patient_id=me)
    assert mine["number"] == invoice["number"]
    listed = await api.ok("GET", "/v1/invoices", role=Role.PATIENT, patient_id=me)
    assert [i["id"] for i in listed["data"]] == [invoice["id"]]
    status, _ = await api.call("GET", f"/v1/invoices/{hidden['id']}", role=Role.PATIENT,
                               patient_id=me)  # fmt: skip
    assert status == 404
    someone = uuid.UUID(await api.patient("Some", "One"))
    status, _ = await api.call("GET", path, role=Role.PATIENT, patient_id=someone)
    assert status == 404
    status, _ = await api.call("POST", f"{path}/void", role=Role.PATIENT, patient_id=me)
    assert status == 403


async def test_100_concurrent_issues_take_100_gapless_numbers(api: Api) -> None:
    world = await clinic(api)
    drafts = []
    for _ in range(100):
        invoice = await draft(api, world["patient"])
        await manual_line(api, invoice["id"], unit_price=100)
        drafts.append(invoice["id"])
    answers = await asyncio.gather(*(api.call("POST", f"/v1/invoices/{i}/issue") for i in drafts))
    assert all(status == 200 for status, _ in answers), [a for a in answers if a[0] != 200][:3]
    numbers = sorted(body["number"] for _, body in answers)
    year = datetime.now(UTC).year
    assert numbers == [f"{year}-{n:06d}" for n in range(1, 101)]
    # An issue that fails after taking a number rolls it back: still no gap.
    empty = await draft(api, world["patient"])
    status, _ = await api.call("POST", f"/v1/invoices/{empty['id']}/issue")
    assert status == 422
    again = await issued(api, world["patient"])
    assert again["number"] == f"{year}-000101"


async def test_the_invoice_pdf_renders_with_its_number(api: Api, tmp_path: Path) -> None:
    world = await clinic(api)
    invoice = await issued(api, world["patient"])
    link = await api.ok("GET", f"/v1/invoices/{invoice['id']}/document")
    async with api.client.get(link["url"]) as answer:
        assert answer.status == 200
        pdf = await answer.read()
    assert pdf.startswith(b"%PDF-")
    text = pdf_text(pdf, tmp_path)
    assert invoice["number"] in text and "119.00" in text and "Pat Ient" in text
    me = uuid.UUID(world["patient"])
    mine = await api.ok(
        "GET", f"/v1/invoices/{invoice['id']}/document", role=Role.PATIENT, patient_id=me
    )
    assert mine["sha256"] == link["sha256"]
    unissued = await draft(api, world["patient"])
    status, answer = await api.call("GET", f"/v1/invoices/{unissued['id']}/document")
    assert status == 409 and answer["error"]["code"] == "not_issued"
