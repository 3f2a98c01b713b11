"""Reports through REST: the XLSX export opens with openpyxl and matches the CSV row for row;
the owner's reports carry no patient names; only the owner and admins read them; the ageing
and revenue aggregates are exact in minor units."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any

import openpyxl
import orjson

from pipelines.exports import BOM
from tests.integration.billing._money_fixtures import Money, assert_envelope, money

__all__ = ["money"]


def csv_rows(data: bytes) -> list[list[str]]:
    assert data.startswith(BOM)
    return list(csv.reader(io.StringIO(data[len(BOM) :].decode())))


def as_text(value: Any, header: str, kinds: dict[str, str]) -> str:
    kind = kinds.get(header, "text")
    if value is None or value == "":
        return ""
    if kind == "money":
        return f"{value:.2f}"
    if kind == "date":
        return str(value.date().isoformat())
    if kind == "int":
        return str(int(value))
    return str(value)


KINDS = {
    "issued_on": "date", "due_on": "date", "quantity": "int", "unit_price": "money",
    "tax_rate_percent": "money", "net": "money", "tax": "money", "gross": "money",
    "total": "money", "paid": "money", "balance": "money", "days_overdue": "int",
    "invoices": "int", "lines": "int",
}  # fmt: skip


async def fetch(money: Money, path: str, who: str = "admin") -> bytes:
    response = await money.client.get(path, headers={"Authorization": f"Bearer {money.token(who)}"})
    assert response.status == 200, await response.text()
    return await response.read()


async def seed_lines(money: Money, invoices: int, per: int) -> None:
    awkward = [(3, 3333, 1900, "PT-01"), (1, 1, 2100, "PT-02"), (7, 14285, 900, None)]
    for i in range(invoices):
        lines = [awkward[(i + j) % 3] for j in range(per)]
        await money.invoice(lines, status=("issued", "paid", "partially_paid")[i % 3])


async def test_xlsx_matches_csv_row_for_row(money: Money) -> None:
    await seed_lines(money, 40, 8)  # 320 lines
    today = datetime.now(UTC).date()
    query = f"from={today - timedelta(days=1)}&to={today + timedelta(days=1)}"
    raw_csv = await fetch(money, f"/v1/reports/invoice-lines?format=csv&{query}")
    raw_xlsx = await fetch(money, f"/v1/reports/invoice-lines?format=xlsx&{query}")
    from_csv = csv_rows(raw_csv)
    book = openpyxl.load_workbook(io.BytesIO(raw_xlsx), read_only=True)
    sheet = book.worksheets[0]
    from_xlsx = [list(r) for r in sheet.iter_rows(values_only=True)]
    book.close()
    assert len(from_csv) == len(from_xlsx) == 321
    header = from_csv[0]
    assert [str(h) for h in from_xlsx[0]] == header
    assert "patient" in header  # an admin's export names the patient
    for csv_row, xlsx_row in zip(from_csv[1:], from_xlsx[1:], strict=True):
        assert [as_text(v, h, KINDS) for h, v in zip(header, xlsx_row, strict=True)] == csv_row
    # The sums are exact: gross of every line, from the CSV's decimals.
    total = sum(int(r[header.index("gross")].replace(".", "")) for r in from_csv[1:])
    json_body = await fetch(money, f"/v1/reports/revenue?format=json&{query}&group_by=service")
    report = orjson.loads(json_body)
    gross = report["columns"].index("gross")
    assert sum(int(r[gross].replace(".", "")) for r in report["rows"]) == total


async def test_owner_sees_no_patient_names(money: Money) -> None:
    await seed_lines(money, 2, 2)
    today = datetime.now(UTC).date()
    for kind in ("invoice-lines", "outstanding", "adherence", "sessions"):
        body = await fetch(money, f"/v1/reports/{kind}?format=csv&to={today}", "owner")
        text = body.decode()
        assert "patient" not in csv_rows(body)[0] and "Pop" not in text, kind
        body = await fetch(money, f"/v1/reports/{kind}?format=csv&to={today}", "admin")
        assert "patient" in csv_rows(body)[0], kind
    body = await fetch(money, f"/v1/reports/invoice-lines?format=csv&to={today}", "admin")
    assert "Pop, Ana" in body.decode()


async def test_ageing_buckets(money: Money) -> None:
    today = datetime.now(UTC).date()
    for days, amount in ((-3, 1000), (10, 2000), (45, 3000), (75, 4000), (120, 5000), (200, 6)):
        await money.invoice([(1, amount, 0, "PT-01")], due_on=today - timedelta(days=days))
    await money.invoice([(1, 999, 0, "PT-01")], status="paid")  # nothing due: left out
    body = await fetch(money, f"/v1/reports/ageing?format=csv&to={today}", "owner")
    rows = csv_rows(body)
    assert rows == [
        ["currency", "bucket", "invoices", "balance"],
        ["EUR", "current", "1", "10.00"], ["EUR", "1-30", "1", "20.00"],
        ["EUR", "31-60", "1", "30.00"], ["EUR", "61-90", "1", "40.00"],
        ["EUR", "90+", "2", "50.06"],
    ]  # fmt: skip


async def test_who_may_read_and_bad_input(money: Money) -> None:
    for who in ("receptionist", "specialist", "patient"):
        response = await money.client.get(
            "/v1/reports/revenue", headers={"Authorization": f"Bearer {money.token(who)}"}
        )
        assert response.status == 403, who
    for path in ("/v1/reports/nope", "/v1/reports/revenue?format=pdf",
                 "/v1/reports/revenue?group_by=planet", "/v1/reports/revenue?from=2026-13-01",
                 "/v1/reports/revenue?from=2026-05-01&to=2026-04-01",
                 "/v1/reports/revenue?from=2020-01-01&to=2026-01-01"):  # fmt: skip
        status, body = await money.call("GET", path, "admin")
        assert_envelope(status, body, 422, "validation_failed")
