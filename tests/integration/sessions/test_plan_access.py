"""Telerehab sold by service plan: where the clinic says so, a guided session starts only for a
patient holding an active plan that grants telerehab; the plan's cancellation ends the access."""

from __future__ import annotations

from typing import Any

from tests.integration.sessions.conftest import Live


async def _patch_clinic(live: Live, settings: dict[str, Any]) -> dict[str, Any]:
    path = live.url(f"/v1/organizations/{live.clinic.org_id}")
    async with live.http.patch(path, json=settings, headers=live.clinic.admin) as r:
        assert r.status == 200, await r.text()
        return dict(await r.json())


async def _plan(live: Live, *, grants: bool) -> str:
    """A service plan (granting telerehab or not) bought for patient 0; the patient plan's id."""
    admin = live.clinic.admin
    service = {"name": "Telerehab", "duration_min": 30, "modality": "virtual",
               "price": {"amount": 9000, "currency": "EUR"}}  # fmt: skip
    status, created = await live.post("/v1/services", admin, service)
    assert status == 201, created
    body = {"name": "Remote knee x10", "sessions": 10, "validity_days": 30,
            "price": {"amount": 60000, "currency": "EUR"}, "grants_telerehab": grants,
            "service_ids": [created["id"]]}  # fmt: skip
    status, plan = await live.post("/v1/service-plans", admin, body)
    assert status == 201, plan
    patient = live.clinic.patients[0]
    status, bought = await live.post(
        f"/v1/patients/{patient}/plans", admin, {"service_plan_id": plan["id"]}
    )
    assert status == 201, bought
    return str(bought["id"])


async def _start(live: Live) -> tuple[int, Any]:
    return await live.post(
        "/v1/telerehab/sessions", live.clinic.patient(0), {"assignment_id": live.assignment_id}
    )


async def test_a_clinic_selling_telerehab_by_plan_starts_sessions_only_under_a_granting_plan(
    live: Live,
) -> None:
    # Off (the default): the session starts without any plan.
    status, body = await _start(live)
    assert status == 201, body
    status, stopped = await live.post(
        f"/v1/telerehab/sessions/{body['id']}/abandon", live.clinic.patient(0)
    )
    assert status == 200, stopped

    clinic = await _patch_clinic(live, {"telerehab_requires_plan": True})
    assert clinic["telerehab_requires_plan"] is True
    status, body = await _start(live)
    assert status == 409 and body["error"]["code"] == "plan_required", body

    await _plan(live, grants=False)  # a plan without the grant does not open it
    status, body = await _start(live)
    assert status == 409 and body["error"]["code"] == "plan_required", body

    granting = await _plan(live, grants=True)
    status, body = await _start(live)
    assert status == 201, body
    status, stopped = await live.post(
        f"/v1/telerehab/sessions/{body['id']}/abandon", live.clinic.patient(0)
    )
    assert status == 200, stopped

    # Cancelling the plan ends the access at the next start.
    status, cancelled = await live.post(f"/v1/patient-plans/{granting}/cancel", live.clinic.admin)
    assert status == 200, cancelled
    status, body = await _start(live)
    assert status == 409 and body["error"]["code"] == "plan_required", body


async def test_only_the_clinics_admin_turns_the_setting_on(live: Live) -> None:
    path = live.url(f"/v1/organizations/{live.clinic.org_id}")
    for who in (live.clinic.specialist, live.clinic.patient(0)):
        async with live.http.patch(path, json={"telerehab_requires_plan": True}, headers=who) as r:
            assert r.status == 403, await r.text()
    async with live.http.patch(
        path, json={"telerehab_requires_plan": "yes"}, headers=live.clinic.admin
    ) as r:
        assert r.status == 422, await r.text()
