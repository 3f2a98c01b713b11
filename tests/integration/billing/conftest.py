"""Fixtures of the catalog, plans and invoices tests: a fresh organization per test with the
scheduling tests' small API client (calendar, patient, booking), and helpers that walk an
appointment to completion and run storage calls in the organization's transaction."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestClient

from server.resources import DB_KEY
from storage.types import Role
from tests.integration.scheduling.conftest import Api, day_at, new_org

T = TypeVar("T")


@pytest_asyncio.fixture
async def api(client: TestClient[web.Request, web.Application]) -> Api:
    return Api(client, await new_org(client.app))


@pytest_asyncio.fixture
async def other(client: TestClient[web.Request, web.Application]) -> Api:
    return Api(client, await new_org(client.app))


async def in_tenant(api: Api, work: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
    """Run `work` in one transaction of the organization (the application role, RLS on)."""
    async with api.client.app[DB_KEY].tenant(api.org_id) as conn:
        return await work(conn)


async def clinic(api: Api, price: int = 20000, currency: str = "EUR") -> dict[str, str]:
    """A specialist, a 60-minute service priced `price` in `currency`, its calendar, a patient."""
    service = await api.service(price={"amount": price, "currency": currency})
    specialist = await api.specialist()
    calendar = await api.calendar([specialist], service_id=service["id"])
    patient = await api.patient()
    return {
        "service": service["id"],
        "specialist": specialist,
        "calendar": calendar["id"],
        "patient": patient,
    }


async def in_progress(api: Api, world: dict[str, str], days_ahead: int = 1, hour: int = 9) -> str:
    """A booked appointment walked to in_progress (ready to complete); its id."""
    appt = await api.book_one(world["calendar"], world["patient"], day_at(days_ahead, hour))
    for step in ("check-in", "start"):
        await api.ok("POST", f"/v1/appointments/{appt['id']}/{step}")
    appointment_id: str = appt["id"]
    return appointment_id


async def completed(api: Api, world: dict[str, str], days_ahead: int = 1, hour: int = 9) -> str:
    appointment_id = await in_progress(api, world, days_ahead, hour)
    await api.ok("POST", f"/v1/appointments/{appointment_id}/complete")
    return appointment_id


async def draft(api: Api, patient: str, currency: str = "EUR", **extra: Any) -> dict[str, Any]:
    body = {"patient_id": patient, "currency": currency, **extra}
    created: dict[str, Any] = await api.ok("POST", "/v1/invoices", body, expect=201)
    return created


async def manual_line(
    api: Api, invoice_id: str, unit_price: int = 10000, quantity: int = 1, tax_rate_bp: int = 1900
) -> dict[str, Any]:
    body = {
        "source": "manual",
        "description": "Consultation",
        "unit_price": unit_price,
        "quantity": quantity,
        "tax_rate_bp": tax_rate_bp,
    }
    answer: dict[str, Any] = await api.ok(
        "POST", f"/v1/invoices/{invoice_id}/lines", body, expect=201
    )
    return answer


async def issued(api: Api, patient: str, **extra: Any) -> dict[str, Any]:
    invoice = await draft(api, patient, **extra)
    await manual_line(api, invoice["id"])
    answer: dict[str, Any] = await api.ok("POST", f"/v1/invoices/{invoice['id']}/issue")
    return answer


def pdf_text(pdf: bytes, tmp: Path) -> str:
    path = tmp / "invoice.pdf"
    path.write_bytes(pdf)
    out = subprocess.run(
        ["pdftotext", "-layout", "-enc", "UTF-8", str(path), "-"],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return out.stdout.decode("utf-8")


__all__ = [
    "Api",
    "Role",
    "clinic",
    "completed",
    "day_at",
    "draft",
    "in_progress",
    "in_tenant",
    "issued",
    "manual_line",
    "pdf_text",
    "uuid",
]
