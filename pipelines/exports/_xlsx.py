"""An XLSX workbook written row by row with bounded memory: XlsxWriter's `constant_memory`
mode flushes each row to a temporary file as soon as the next one starts, so 50,000 rows take
the memory of one (the bench measures it). The workbook is written to a path the caller owns
(near-pure: XlsxWriter's own temporary files are the only I/O); the caller streams the file.

Cells keep their types: integers and money are numbers (money with two decimals shown), dates
and instants are dates (instants in UTC, to the second), text is text (never a formula: a
cell starting with `=` stays text, so an export cannot carry a formula into an accountant's
spreadsheet)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime
from types import TracebackType
from typing import Any

import xlsxwriter

from pipelines.exports._cells import Column, Kind, Row, money_decimal, utc_naive

MAX_SHEET_TITLE = 31  # Excel's limit


class XlsxSheet:
    """One worksheet of a new workbook at `path`: `add(rows)` in order, then `close()`.
    A context manager; closing twice is harmless."""

    def __init__(self, path: str, title: str, columns: Sequence[Column]) -> None:
        self._columns = list(columns)
        self._book: Any = xlsxwriter.Workbook(
            path,
            {
                "constant_memory": True,
                "strings_to_formulas": False,
                "strings_to_numbers": False,
                "strings_to_urls": False,
            },
        )
        self._sheet: Any = self._book.add_worksheet(title[:MAX_SHEET_TITLE])
        bold = self._book.add_format({"bold": True})
        self._formats: dict[Kind, Any] = {
            Kind.MONEY: self._book.add_format({"num_format": "0.00"}),
            Kind.PERCENT: self._book.add_format({"num_format": "0.00"}),
            Kind.DATE: self._book.add_format({"num_format": "yyyy-mm-dd"}),
            Kind.INSTANT: self._book.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"}),
        }
        for i, column in enumerate(self._columns):
            self._sheet.set_column(i, i, column.width)
            self._sheet.write_string(0, i, column.name, bold)
        self._next = 1
        self._closed = False

    @property
    def rows_written(self) -> int:
        return self._next - 1

    def add(self, rows: Iterable[Row]) -> None:
        sheet, columns = self._sheet, self._columns
        for row in rows:
            if len(row) != len(columns):
                raise ValueError(f"a row of {len(row)} cells for {len(columns)} columns")
            r = self._next
            for i, (column, value) in enumerate(zip(columns, row, strict=True)):
                if value is None:
                    continue
                kind = column.kind
                if kind is Kind.TEXT:
                    sheet.write_string(r, i, str(value))
                elif kind is Kind.INTEGER:
                    sheet.write_number(r, i, value)
                elif kind is Kind.MONEY or kind is Kind.PERCENT:
                    assert isinstance(value, int)
                    # A spreadsheet number is a double: exact to the cent below 2^53 cents.
                    sheet.write_number(r, i, money_decimal(value), self._formats[kind])
                elif kind is Kind.INSTANT:
                    assert isinstance(value, datetime)
                    sheet.write_datetime(r, i, utc_naive(value), self._formats[kind])
                else:
                    assert isinstance(value, date)
                    sheet.write_datetime(r, i, value, self._formats[kind])
            self._next += 1

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._book.close()

    def __enter__(self) -> XlsxSheet:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()
