"""The pure parts of the money exports: fixed-point money text, CSV and XLSX that match cell
for cell, and the ageing buckets."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import openpyxl
import pytest

from pipelines.exports import BOM, Column, Kind, XlsxSheet, cell_text, csv_header, csv_rows
from pipelines.reports import Outstanding, ageing, bucket_of


@pytest.mark.parametrize(
    ("minor", "text"),
    [(0, "0.00"), (1, "0.01"), (-1, "-0.01"), (100, "1.00"), (-12345, "-123.45"),
     (2**53 + 1, "90071992547409.93")],
)  # fmt: skip
def test_money_text_is_exact(minor: int, text: str) -> None:
    assert cell_text(Column("x", Kind.MONEY), minor) == text


COLUMNS = [Column("text"), Column("n", Kind.INTEGER), Column("amount", Kind.MONEY),
           Column("on", Kind.DATE), Column("at", Kind.INSTANT)]  # fmt: skip
ROWS = [
    ("=SUM(A1:A9)", 3, 1999, date(2026, 1, 31), datetime(2026, 1, 31, 23, 5, tzinfo=UTC)),
    ('comma, "quote"\nnewline', -7, -5, None, None),
    ("Ștefan Ăîâ", 0, 0, date(2026, 12, 1), datetime(2026, 6, 1, 10, 0, 59, 999, tzinfo=UTC)),
]


def test_csv_and_xlsx_match_cell_for_cell(tmp_path: Path) -> None:
    raw = csv_header(COLUMNS) + csv_rows(COLUMNS, ROWS)
    assert raw.startswith(BOM)
    from_csv = list(csv.reader(io.StringIO(raw[len(BOM) :].decode())))
    path = str(tmp_path / "x.xlsx")
    with XlsxSheet(path, "A sheet title longer than thirty-one characters", COLUMNS) as sheet:
        sheet.add(ROWS)
        assert sheet.rows_written == 3
    book = openpyxl.load_workbook(path, read_only=True)
    got = [list(r) for r in book.worksheets[0].iter_rows(values_only=True)]
    book.close()
    assert from_csv[0] == got[0] == [c.name for c in COLUMNS]
    for text_row, cells in zip(from_csv[1:], got[1:], strict=True):
        as_text = [
            "" if v is None else
            f"{v:.2f}" if c.kind is Kind.MONEY else
            v.date().isoformat() if c.kind is Kind.DATE else
            v.strftime("%Y-%m-%dT%H:%M:%SZ") if c.kind is Kind.INSTANT else str(v)
            for c, v in zip(COLUMNS, cells, strict=True)
        ]  # fmt: skip
        assert as_text == text_row
    # A formula-looking text stays text in both.
    assert got[1][0] == "=SUM(A1:A9)" and from_csv[1][0] == "=SUM(A1:A9)"


def test_a_row_of_the_wrong_width_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        csv_rows(COLUMNS, [("a",)])
    with XlsxSheet(str(tmp_path / "y.xlsx"), "t", COLUMNS) as sheet, pytest.raises(ValueError):
        sheet.add([("a",)])


def test_ageing_buckets_and_sums() -> None:
    today = date(2026, 12, 2)
    assert bucket_of(today, today).name == "current"
    assert bucket_of(today - timedelta(days=1), today).name == "1-30"
    assert bucket_of(today - timedelta(days=30), today).name == "1-30"
    assert bucket_of(today - timedelta(days=31), today).name == "31-60"
    assert bucket_of(today - timedelta(days=91), today).name == "90+"
    rows = ageing(
        [Outstanding("EUR", today - timedelta(days=40), 5), Outstanding("EUR", today, 7),
         Outstanding("RON", today - timedelta(days=400), 1), Outstanding("EUR", today, -3)],
        today,
    )  # fmt: skip
    assert ("EUR", "31-60", 1, 5) in rows and ("EUR", "current", 1, 7) in rows
    assert ("RON", "90+", 1, 1) in rows and len(rows) == 10
