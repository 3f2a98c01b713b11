"""Fixtures of the payments, claims and reports tests: a clinic with a patient, a specialist,
a coded service, tokens per role, and invoices written directly in the state a test needs (the
invoice feature's own REST is tested beside it; here the subject is what money does to them)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg
import orjson
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestClient

from server import tokens
from server.resources import DB_KEY, SETTINGS_KEY
from storage.types import Role

Client = TestClient[web.Request, web.Application]
Line = tuple[int, int, int, str | None]  # quantity, unit price, tax basis points, service code


@dataclass
class Money:
    client: Client
    org: uuid.UUID
    patient: uuid.UUID
    service: uuid.UUID
    appointment: uuid.UUID
    users: dict[str, uuid.UUID] = field(default_factory=dict)
    numbers: list[int] = field(default_factory=lambda: [0])

    def token(self, who: str) -> str:
        user = self.users.setdefault(who, uuid.uuid4())
        secret = self.client.app[SETTINGS_KEY].secret
        return tokens.issue(secret, role=Role(who), org_id=self.org, user_id=user)

    async def call(
        self, method: str, path: str, who: str | None, body: Any = None, *, raw: bytes | None = None
    ) -> tuple[int, Any]:
        headers = {} if who is None else {"Authorization": f"Bearer {self.token(who)}"}
        data = raw if body is None else orjson.dumps(body)
        if data is not None:
            headers["Content-Type"] = "application/json"
        response = await self.client.request(method, path, data=data, headers=headers)
        answer = await response.read()
        try:
            return response.status, (orjson.loads(answer) if answer else None)
        except orjson.JSONDecodeError:
            return response.status, answer

    async def invoice(
        self,
        lines: Sequence[Line],
        *,
        status: str = "issued",
        currency: str = "EUR",
        due_on: date | None = None,
        issued_at: datetime | None = None,
    ) -> tuple[uuid.UUID, list[uuid.UUID]]:
        """An invoice with its lines (tax rounded half up per line), then moved to `status`."""
        async with self.client.app[DB_KEY].platform() as conn:
            return await write_invoice(
                conn, self, lines, status=status, currency=currency, due_on=due_on,
                issued_at=issued_at,
            )  # fmt: skip


def tax_of(net: int, bp: int) -> int:
    return (net * bp + 5000) // 10000


async def write_invoice(
    conn: asyncpg.Connection,
    money: Money,
    lines: Sequence[Line],
    *,
    status: str,
    currency: str,
    due_on: date | None,
    issued_at: datetime | None,
) -> tuple[uuid.UUID, list[uuid.UUID]]:
    org = money.org
    sums = [0, 0]
    for qty, unit, bp, _ in lines:
        sums[0] += qty * unit
        sums[1] += tax_of(qty * unit, bp)
    invoice: uuid.UUID = await conn.fetchval(
        "INSERT INTO invoices (organization_id, patient_id, currency, subtotal_amount, tax_amount,"
        " total_amount, due_on) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        org, money.patient, currency, sums[0], sums[1], sums[0] + sums[1],
        due_on or (datetime.now(UTC).date() + timedelta(days=30)),
    )  # fmt: skip
    ids = []
    for i, (qty, unit, bp, code) in enumerate(lines, start=1):
        net = qty * unit
        ids.append(await conn.fetchval(
            "INSERT INTO invoice_lines (organization_id, invoice_id, position, source,"
            " appointment_id, service_id, service_code, description, quantity, unit_price,"
            " tax_rate_bp, net_amount, tax_amount, gross_amount)"
            " VALUES ($1, $2, $3, 'appointment', $4, $5, $6, 'Physio session', $7, $8, $9, $10,"
            " $11, $12) RETURNING id",
            org, invoice, i, money.appointment, money.service, code, qty, unit, bp, net,
            tax_of(net, bp), net + tax_of(net, bp),
        ))  # fmt: skip
    if status != "draft":
        year = (issued_at or datetime.now(UTC)).year
        n = await conn.fetchval(
            "INSERT INTO invoice_series (organization_id, year, last_number) VALUES ($1, $2, 1)"
            " ON CONFLICT (organization_id, year) DO UPDATE"
            " SET last_number = invoice_series.last_number + 1 RETURNING last_number",
            org, year,
        )  # fmt: skip
        await conn.execute(
            "UPDATE invoices SET status = $2, series_year = $3::int, series_number = $4::int,"
            " number = $3::int::text || '-' || lpad($4::int::text, 6, '0'), issued_at = $5,"
            " voided_at = CASE WHEN $2 = 'void' THEN now() END WHERE id = $1",
            invoice, status, year, n, issued_at or datetime.now(UTC),
        )  # fmt: skip
    return invoice, ids


async def make_money(client: Client) -> Money:
    async with client.app[DB_KEY].platform() as conn:
        org = await conn.fetchval(
            "INSERT INTO organizations (name, slug) VALUES ('Clinic', $1) RETURNING id",
            "m-" + uuid.uuid4().hex[:12],
        )
        patient = await conn.fetchval(
            "INSERT INTO patients (organization_id, first_name, last_name)"
            " VALUES ($1, 'Ana', 'Pop') RETURNING id",
            org,
        )
        specialist = await conn.fetchval(
            "INSERT INTO specialists (organization_id, name, timezone)"
            " VALUES ($1, 'Dr A', 'UTC') RETURNING id",
            org,
        )
        service = await conn.fetchval(
            "INSERT INTO services (organization_id, name, duration_min, modality, service_code)"
            " VALUES ($1, 'Physio', 30, 'in_clinic', 'PT-01') RETURNING id",
            org,
        )
        calendar = await conn.fetchval(
            "INSERT INTO calendars (organization_id, name, service_id, timezone,"
            " slot_interval_min, horizon_days) VALUES ($1, 'Cal', $2, 'UTC', 30, 30) RETURNING id",
            org, service,
        )  # fmt: skip
        at = datetime.now(UTC).replace(microsecond=0) - timedelta(days=2)
        appointment = await conn.fetchval(
            "INSERT INTO appointments (organization_id, calendar_id, service_id, specialist_id,"
            " patient_id, starts_at, ends_at, status) VALUES ($1, $2, $3, $4, $5, $6, $7,"
            " 'completed') RETURNING id",
            org, calendar, service, specialist, patient, at, at + timedelta(minutes=30),
        )  # fmt: skip
    return Money(client, org, patient, service, appointment)


@pytest_asyncio.fixture
async def money(client: Client) -> Money:
    return await make_money(client)


def assert_envelope(status: int, answer: Any, expected: int, code: str) -> dict[str, Any]:
    assert status == expected, answer
    assert isinstance(answer, dict) and set(answer) == {"error"}, answer
    error: dict[str, Any] = answer["error"]
    assert error["code"] == code and isinstance(error["message"], str), error
    return error
