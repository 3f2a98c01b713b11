"""The billing catalog through REST: VAT rates, services' billing terms, products and service
plans; bad input, roles and tenancy."""

from __future__ import annotations

import uuid

import pytest

from tests.integration.billing.conftest import Api, Role, clinic


async def test_tax_rates_and_a_services_billing_terms(api: Api, other: Api) -> None:
    world = await clinic(api)
    vat = await api.ok("POST", "/v1/tax-rates", {"name": "Standard", "rate_bp": 1900}, expect=201)
    status, body = await api.call("POST", "/v1/tax-rates", {"name": "standard", "rate_bp": 900})
    assert status == 409
    path = f"/v1/services/{world['service']}/billing"
    terms = await api.ok(
        "PUT", path,
        {"billing_model": "time_based", "time_unit_min": 15, "rate_per_unit": 1200,
         "service_code": "97110", "tax_rate_id": vat["id"]},
        role=Role.OWNER,
    )  # fmt: skip
    assert terms["billing_model"] == "time_based" and terms["tax_rate_id"] == vat["id"]
    assert (await api.ok("GET", path, role=Role.SPECIALIST))["service_code"] == "97110"
    status, body = await api.call("PUT", path, {"billing_model": "time_based"})
    assert status == 422 and "rate_per_unit" in body["error"]["details"]["fields"]
    status, body = await api.call(
        "PUT", path,
        {"billing_model": "session_based", "rate_per_unit": 5, "time_unit_min": 5},
    )  # fmt: skip
    assert status == 422
    foreign = await other.ok("POST", "/v1/tax-rates", {"name": "X", "rate_bp": 500}, expect=201)
    status, body = await api.call(
        "PUT", path, {"billing_model": "session_based", "tax_rate_id": foreign["id"]}
    )
    assert status == 422 and "tax_rate_id" in body["error"]["details"]["fields"]
    status, _ = await other.call("GET", path)
    assert status == 404
    status, _ = await api.call("PUT", path, {"billing_model": "hybrid"}, role=Role.SPECIALIST)
    assert status == 403
    retired = await api.ok("PATCH", f"/v1/tax-rates/{vat['id']}", {"active": False})
    assert retired["active"] is False
    rates = await api.ok("GET", "/v1/tax-rates")
    assert [r["id"] for r in rates["data"]] == [vat["id"]]


@pytest.mark.parametrize(
    "body",
    [
        {"name": "Band", "price": {"amount": -1, "currency": "EUR"}},
        {"name": "Band", "price": {"amount": 100, "currency": "euro"}},
        {"name": "Band", "price": {"amount": 1.5, "currency": "EUR"}},
        {"name": "", "price": {"amount": 100, "currency": "EUR"}},
        {"name": "Band", "price": {"amount": 100, "currency": "EUR"}, "stock": -1},
        {"name": "Band", "price": {"amount": 100, "currency": "EUR"}, "sku": "a b"},
        {"name": "Band"},
    ],
)
async def test_bad_products_answer_the_envelope(api: Api, body: dict[str, object]) -> None:
    status, answer = await api.call("POST", "/v1/products", body)
    assert status == 422, answer
    assert answer["error"]["code"] == "validation_failed" and answer["error"]["details"]


async def test_products_and_plans(api: Api, other: Api) -> None:
    world = await clinic(api)
    product = await api.ok(
        "POST", "/v1/products",
        {"name": "Band", "sku": "BAND-1", "price": {"amount": 1500, "currency": "EUR"},
         "stock": 3},
        expect=201,
    )  # fmt: skip
    changed = await api.ok("PATCH", f"/v1/products/{product['id']}", {"stock": 10})
    assert changed["stock"] == 10
    page = await api.ok("GET", "/v1/products?limit=1")
    assert [p["id"] for p in page["data"]] == [product["id"]]
    status, _ = await other.call("GET", f"/v1/products/{product['id']}")
    assert status == 404
    plan = await api.ok(
        "POST", "/v1/service-plans",
        {"name": "10 sessions", "sessions": 10, "validity_days": 180,
         "price": {"amount": 180000, "currency": "EUR"}, "grants_telerehab": True,
         "service_ids": [world["service"]],
         "products": [{"product_id": product["id"], "quantity": 1}]},
        expect=201,
    )  # fmt: skip
    assert plan["service_ids"] == [world["service"]] and plan["products"][0]["quantity"] == 1
    status, body = await api.call(
        "POST", "/v1/service-plans",
        {"name": "x", "sessions": 1, "validity_days": 1,
         "price": {"amount": 1, "currency": "EUR"}, "service_ids": [str(uuid.uuid4())]},
    )  # fmt: skip
    assert status == 422 and "service_ids[0]" in body["error"]["details"]["fields"]
    retired = await api.ok("PATCH", f"/v1/service-plans/{plan['id']}", {"active": False})
    assert retired["active"] is False
    status, body = await api.call(
        "POST", f"/v1/patients/{world['patient']}/plans", {"service_plan_id": plan["id"]}
    )
    assert status == 422
    status, _ = await api.call("POST", "/v1/service-plans", {}, role=Role.RECEPTIONIST)
    assert status == 403
