"""A plan's sessions: a completed appointment of a covered service takes one exactly once,
also when the completion is retried, sent many times at once, or races a cancellation; an
undone completion gives it back."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from tests.integration.billing.conftest import (
    Api,
    Role,
    clinic,
    completed,
    day_at,
    in_progress,
)


async def _plan(api: Api, world: dict[str, str], sessions: int = 3) -> dict[str, Any]:
    plan = await api.ok(
        "POST",
        "/v1/service-plans",
        {
            "name": "Knee rehab x3",
            "sessions": sessions,
            "validity_days": 90,
            "price": {"amount": 50000, "currency": "EUR"},
            "grants_telerehab": True,
            "service_ids": [world["service"]],
        },
        expect=201,
    )
    bought: dict[str, Any] = await api.ok(
        "POST",
        f"/v1/patients/{world['patient']}/plans",
        {"service_plan_id": plan["id"]},
        expect=201,
    )
    assert bought["sessions_remaining"] == sessions and bought["grants_telerehab"] is True
    return bought


async def _used(api: Api, plan_id: str) -> int:
    found = await api.ok("GET", f"/v1/patient-plans/{plan_id}")
    used: int = found["sessions_used"]
    assert found["sessions_remaining"] == found["sessions_total"] - used
    return used


async def test_a_completion_takes_one_session_and_a_retry_takes_none(api: Api) -> None:
    world = await clinic(api)
    plan = await _plan(api, world)
    appointment_id = await completed(api, world)
    assert await _used(api, plan["id"]) == 1
    status, body = await api.call("POST", f"/v1/appointments/{appointment_id}/complete")
    assert status == 409 and body["error"]["code"] == "invalid_transition"
    assert await _used(api, plan["id"]) == 1
    redemptions = await api.ok("GET", f"/v1/patient-plans/{plan['id']}/redemptions")
    assert [r["appointment_id"] for r in redemptions["data"]] == [appointment_id]


async def test_concurrent_completions_of_one_appointment_take_one_session(api: Api) -> None:
    world = await clinic(api)
    plan = await _plan(api, world)
    appointment_id = await in_progress(api, world)
    answers = await asyncio.gather(
        *(api.call("POST", f"/v1/appointments/{appointment_id}/complete") for _ in range(8))
    )
    assert sorted(status for status, _ in answers) == [200] + [409] * 7
    assert await _used(api, plan["id"]) == 1


async def test_a_completion_racing_a_cancellation_takes_a_session_only_if_it_won(
    api: Api,
) -> None:
    world = await clinic(api)
    plan = await _plan(api, world, sessions=10)
    outcomes = []
    for hour in (9, 11, 13, 15):
        # checked_in: both a start+complete and a cancel are legal; they race on the row lock.
        appt = await api.book_one(world["calendar"], world["patient"], day_at(1, hour))
        await api.ok("POST", f"/v1/appointments/{appt['id']}/check-in")

        async def finish(appointment_id: str = appt["id"]) -> int:
            status, _ = await api.call("POST", f"/v1/appointments/{appointment_id}/start")
            if status != 200:
                return status
            status, _ = await api.call("POST", f"/v1/appointments/{appointment_id}/complete")
            return status

        cancel = api.call(
            "POST", f"/v1/appointments/{appt['id']}/cancel", {"reason": "patient_request"}
        )
        await asyncio.gather(finish(), cancel)
        final = await api.ok("GET", f"/v1/appointments/{appt['id']}")
        outcomes.append(final["status"])
    assert set(outcomes) <= {"completed", "cancelled"}
    assert await _used(api, plan["id"]) == outcomes.count("completed")


async def test_an_undone_completion_gives_the_session_back(api: Api) -> None:
    world = await clinic(api)
    plan = await _plan(api, world)
    appointment_id = await completed(api, world)
    assert await _used(api, plan["id"]) == 1

    reopened = await api.ok("POST", f"/v1/appointments/{appointment_id}/reopen")
    assert reopened["status"] == "in_progress"
    assert await _used(api, plan["id"]) == 0
    await api.ok("POST", f"/v1/appointments/{appointment_id}/complete")
    assert await _used(api, plan["id"]) == 1
    redemptions = await api.ok("GET", f"/v1/patient-plans/{plan['id']}/redemptions")
    assert [r["restored_at"] is None for r in redemptions["data"]] == [False, True]


async def test_a_used_up_plan_covers_no_more_and_the_visit_is_billable(api: Api) -> None:
    world = await clinic(api)
    plan = await _plan(api, world, sessions=1)
    first = await completed(api, world, hour=9)
    second = await completed(api, world, hour=11)
    assert await _used(api, plan["id"]) == 1
    invoice = await api.ok(
        "POST", "/v1/invoices", {"patient_id": world["patient"], "currency": "EUR"}, expect=201
    )
    status, body = await api.call(
        "POST", f"/v1/invoices/{invoice['id']}/lines",
        {"source": "appointment", "appointment_id": first},
    )  # fmt: skip
    assert status == 409 and body["error"]["code"] == "covered_by_plan"
    await api.ok(
        "POST", f"/v1/invoices/{invoice['id']}/lines",
        {"source": "appointment", "appointment_id": second}, expect=201,
    )  # fmt: skip


async def test_a_plan_covers_only_its_services_and_its_patient(api: Api, other: Api) -> None:
    world = await clinic(api)
    plan = await _plan(api, world)
    other_patient = await api.patient("Other", "Person")
    appt = await api.book_one(
        world["calendar"], other_patient,
        day_at(1, 9),
    )  # fmt: skip
    for step in ("check-in", "start", "complete"):
        await api.ok("POST", f"/v1/appointments/{appt['id']}/{step}")
    assert await _used(api, plan["id"]) == 0
    # Another clinic, a patient's other patient, a specialist: 404 / 403.
    status, _ = await other.call("GET", f"/v1/patient-plans/{plan['id']}")
    assert status == 404
    status, _ = await api.call(
        "GET",
        f"/v1/patient-plans/{plan['id']}",
        role=Role.PATIENT,
        patient_id=uuid.UUID(other_patient),
    )
    assert status == 404
    mine = await api.ok(
        "GET",
        f"/v1/patients/{world['patient']}/plans",
        role=Role.PATIENT,
        patient_id=uuid.UUID(world["patient"]),
    )
    assert [p["id"] for p in mine["data"]] == [plan["id"]]
    status, _ = await api.call(
        "POST", f"/v1/patients/{world['patient']}/plans",
        {"service_plan_id": plan["service_plan_id"]}, role=Role.SPECIALIST,
    )  # fmt: skip
    assert status == 403


async def test_bundled_products_leave_stock_and_run_out(api: Api) -> None:
    world = await clinic(api)
    product = await api.ok(
        "POST", "/v1/products",
        {"name": "Resistance band", "price": {"amount": 1500, "currency": "EUR"}, "stock": 1},
        expect=201,
    )  # fmt: skip
    plan = await api.ok(
        "POST", "/v1/service-plans",
        {"name": "Pack", "sessions": 2, "validity_days": 30,
         "price": {"amount": 30000, "currency": "EUR"}, "service_ids": [world["service"]],
         "products": [{"product_id": product["id"], "quantity": 1}]},
        expect=201,
    )  # fmt: skip
    path = f"/v1/patients/{world['patient']}/plans"
    await api.ok("POST", path, {"service_plan_id": plan["id"]}, expect=201)
    status, body = await api.call("POST", path, {"service_plan_id": plan["id"]})
    assert status == 409 and body["error"]["code"] == "out_of_stock"
    assert (await api.ok("GET", f"/v1/products/{product['id']}"))["stock"] == 0
