"""The cells of an export and their one text form, shared by CSV and XLSX so that the two files
match row for row."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import StrEnum


class Kind(StrEnum):
    TEXT = "text"
    INTEGER = "integer"
    MONEY = "money"  # integer minor units in the rows; a decimal in the files
    PERCENT = "percent"  # integer basis points (2100 = 21.00 %)
    DATE = "date"
    INSTANT = "instant"


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    kind: Kind = Kind.TEXT
    width: int = 14


Cell = str | int | date | datetime | None
Row = Sequence[Cell]

# Two decimals: the minor unit of every currency the clinics bill today (EUR, RON, GBP, USD).
# A currency with another exponent would carry it in its own column; none does yet.
MONEY_EXPONENT = 2


def money_text(minor: int, exponent: int = MONEY_EXPONENT) -> str:
    """`-1234` -> `"-12.34"`: exact integer arithmetic, never a float."""
    sign = "-" if minor < 0 else ""
    whole, part = divmod(abs(minor), 10**exponent)
    return f"{sign}{whole}.{part:0{exponent}d}" if exponent else f"{sign}{whole}"


def money_decimal(minor: int, exponent: int = MONEY_EXPONENT) -> Decimal:
    return Decimal(minor).scaleb(-exponent)


def utc_naive(value: datetime) -> datetime:
    """The instant in UTC without its zone (a spreadsheet cell has none), to the second."""
    if value.utcoffset() is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.replace(microsecond=0)


def cell_text(column: Column, value: Cell) -> str:
    """The text of a cell in the CSV, and what the XLSX cell reads back as (the test compares
    them): money and percent as fixed-point decimals, dates ISO 8601, instants UTC to the
    second."""
    if value is None:
        return ""
    if column.kind is Kind.MONEY:
        assert isinstance(value, int) and not isinstance(value, bool)
        return money_text(value)
    if column.kind is Kind.PERCENT:
        assert isinstance(value, int) and not isinstance(value, bool)
        return money_text(value, 2)
    if column.kind is Kind.INSTANT:
        assert isinstance(value, datetime)
        return utc_naive(value).strftime("%Y-%m-%dT%H:%M:%SZ")
    if column.kind is Kind.DATE:
        assert isinstance(value, date)
        return value.isoformat()
    return str(value)
