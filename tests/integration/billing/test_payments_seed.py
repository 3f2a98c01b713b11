"""The demo clinic's money (`cadence seed demo`): plans, a product, invoices in several states,
payments and a submitted claim, read back through REST as the demo's admin and owner."""

from __future__ import annotations

import uuid

from aiohttp import web
from aiohttp.test_utils import TestClient

from server import tokens
from server.resources import DB_KEY, SETTINGS_KEY
from server.seed import seed_demo
from storage.types import Role

Client = TestClient[web.Request, web.Application]


async def test_demo_clinic_has_invoices_payments_and_a_claim(client: Client) -> None:
    demo = await seed_demo(client.app[DB_KEY])
    org = uuid.UUID(demo["organization_id"])
    money = demo["billing"]
    secret = client.app[SETTINGS_KEY].secret

    def auth(role: Role) -> dict[str, str]:
        token = tokens.issue(secret, role=role, org_id=org, user_id=uuid.uuid4())
        return {"Authorization": f"Bearer {token}"}

    states = {}
    for expected, invoice in money["invoices"].items():
        response = await client.get(f"/v1/invoices/{invoice}/payments", headers=auth(Role.ADMIN))
        assert response.status == 200, await response.text()
        body = await response.json()
        states[expected] = (body["invoice"]["status"], [p["method"] for p in body["data"]])
    assert states == {
        "draft": ("draft", []),
        "issued": ("issued", []),
        "paid": ("paid", ["card"]),
        "partially_paid": ("partially_paid", ["cash"]),
    }
    response = await client.get(f"/v1/claims/{money['claim_id']}", headers=auth(Role.ADMIN))
    claim = await response.json()
    assert claim["status"] == "submitted" and claim["submissions"] == 1
    assert [line["service_code"] for line in claim["lines"]] == ["KT-101"]
    assert claim["invoice_id"] == money["invoices"]["partially_paid"]
    # The owner's revenue report sees the issued invoices, without names.
    response = await client.get("/v1/reports/revenue?format=csv", headers=auth(Role.OWNER))
    assert response.status == 200
    text = (await response.read()).decode()
    assert "patient" not in text.splitlines()[0] and len(text.splitlines()) >= 2
