"""The overdue sweep: open invoices past their due date become overdue without anyone pressing
a button; paid, draft and not-yet-due invoices are left alone; two sweepers share the work."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg

from actors.billing import OverduePump
from storage import billing as store
from tests.integration.billing.conftest import draft, in_tenant, manual_line
from tests.integration.scheduling.conftest import Api
from tests.support.consumers import ManualClock, context_of

TODAY = datetime.now(UTC).date()


async def _issued(api: Api, patient: str, due: date, paid: int = 0) -> str:
    """An issued invoice of total 11900, due on `due`, with `paid` of it paid."""
    invoice = await draft(api, patient, due_on=due.isoformat())
    await manual_line(api, invoice["id"])
    await api.ok("POST", f"/v1/invoices/{invoice['id']}/issue")
    if paid:

        async def settle(conn: asyncpg.Connection) -> Any:
            return await store.apply_payment_state(
                conn, api.org_id, uuid.UUID(invoice["id"]), amount_paid=paid
            )

        await in_tenant(api, settle)
    return str(invoice["id"])


async def _status(api: Api, invoice_id: str) -> str:
    return str((await api.ok("GET", f"/v1/invoices/{invoice_id}"))["status"])


async def test_the_sweep_marks_exactly_the_open_invoices_past_their_due_date(api: Api) -> None:
    patient = await api.patient()
    past = TODAY - timedelta(days=3)
    late = [await _issued(api, patient, past) for _ in range(3)]
    late.append(await _issued(api, patient, past, paid=5000))  # partially paid
    paid = await _issued(api, patient, past, paid=11900)
    not_yet = await _issued(api, patient, TODAY + timedelta(days=5))
    today_due = await _issued(api, patient, TODAY)  # due today is not late yet
    unissued = (await draft(api, patient, due_on=past.isoformat()))["id"]

    clock = ManualClock(datetime.combine(TODAY, time(9), tzinfo=UTC))
    ctx = context_of(api.client.app, clock)
    # Two sweepers at once with small batches: each invoice is marked once, none is missed.
    pumps = [OverduePump(ctx, batch=2), OverduePump(ctx, batch=2)]

    async def drain(pump: OverduePump) -> int:
        total = 0
        while marked := await pump.run_once():
            total += marked
        return total

    await asyncio.gather(*(drain(p) for p in pumps))
    assert [await _status(api, i) for i in late] == ["overdue"] * 4
    assert await _status(api, paid) == "paid"
    assert await _status(api, not_yet) == "issued"
    assert await _status(api, today_due) == "issued"
    assert await _status(api, unissued) == "draft"

    # The next day, the invoice due today is late too; nothing else moves.
    clock.advance(timedelta(days=1))
    await drain(pumps[0])
    assert await _status(api, today_due) == "overdue"
    assert await _status(api, not_yet) == "issued"
    # Paid in full later, an overdue invoice is paid (the sweep never takes it back).
    late_id = uuid.UUID(late[0])

    async def settle(conn: asyncpg.Connection) -> Any:
        return await store.apply_payment_state(conn, api.org_id, late_id, amount_paid=11900)

    await in_tenant(api, settle)
    await drain(pumps[1])
    assert await _status(api, late[0]) == "paid"


async def test_an_invoice_is_late_by_its_clinics_own_date(api: Api) -> None:
    """At 20:00 UTC it is already tomorrow in Auckland: an Auckland clinic's invoice due today
    (UTC's today) is late there, for the sweep and for mark-overdue alike."""
    await api.ok("PATCH", f"/v1/organizations/{api.org_id}", {"timezone": "Pacific/Auckland"})
    patient = await api.patient()
    swept = await _issued(api, patient, TODAY)
    clock = ManualClock(datetime.combine(TODAY, time(20), tzinfo=UTC))
    pump = OverduePump(context_of(api.client.app, clock), batch=10)
    while await pump.run_once():
        pass
    assert await _status(api, swept) == "overdue"
    pressed = await _issued(api, patient, TODAY)
    # mark-overdue uses the real clock: whatever the hour, the due date (UTC's today) is not
    # past in Auckland before UTC's 11:00, and is after it; either way, REST agrees with it.
    auckland_today = datetime.now(ZoneInfo("Pacific/Auckland")).date()
    status, _ = await api.call("POST", f"/v1/invoices/{pressed}/mark-overdue")
    assert status == (200 if auckland_today > TODAY else 409)


async def test_the_same_due_date_is_not_late_in_a_clinic_west_of_utc(api: Api) -> None:
    """At 03:00 UTC it is still yesterday in Honolulu: an invoice due yesterday (UTC) is due
    today there, so it is not late yet."""
    await api.ok("PATCH", f"/v1/organizations/{api.org_id}", {"timezone": "Pacific/Honolulu"})
    patient = await api.patient()
    due_yesterday = await _issued(api, patient, TODAY - timedelta(days=1))
    clock = ManualClock(datetime.combine(TODAY, time(3), tzinfo=UTC))
    pump = OverduePump(context_of(api.client.app, clock), batch=10)
    while await pump.run_once():
        pass
    assert await _status(api, due_yesterday) == "issued"
    clock.advance(timedelta(hours=8))  # 11:00 UTC: 01:00 in Honolulu, the due date has passed
    while await pump.run_once():
        pass
    assert await _status(api, due_yesterday) == "overdue"
