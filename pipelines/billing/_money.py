"""Invoice arithmetic in integer minor units: line amounts, VAT, totals, visit prices.

The rounding rule: VAT is computed and rounded PER LINE, half up (half away from zero; line
amounts are never negative), from the line's net amount and its rate in basis points:
    tax = floor((net x rate_bp + 5000) / 10000)
The invoice's tax is the sum of its lines' taxes, so every printed line adds up to the printed
total exactly; it can differ from "the rate applied to the invoice's net" by at most half a
minor unit per line (e.g. 100 lines of 0.01 at 19 %: 0.00 of tax, not 0.19). This is the rule
most invoicing systems and the EU VAT directive's per-line practice follow; a clinic that needs
per-rate rounding on the total is not served yet (docs/billing.md).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

BASIS_POINTS = 10_000
MAX_QUANTITY = 1_000_000
MAX_UNIT_PRICE = 100_000_000_000  # 1e9 in a two-decimal currency: above it is a typo
CURRENCY = re.compile(r"^[A-Z]{3}$")
# ISO 4217 minor-unit exponents that are not 2 (only what printing needs; amounts are already
# minor units).
_EXPONENTS = {
    "BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "ISK": 0, "JPY": 0, "KMF": 0, "KRW": 0,
    "PYG": 0, "RWF": 0, "UGX": 0, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0, "XPF": 0,
    "BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3,
}  # fmt: skip


class BillingModel(StrEnum):
    SESSION_BASED = "session_based"
    TIME_BASED = "time_based"
    HYBRID = "hybrid"


class MoneyError(ValueError):
    """An amount, quantity, rate or currency out of range; `field` names which."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True, slots=True)
class LineAmounts:
    net: int
    tax: int
    gross: int


@dataclass(frozen=True, slots=True)
class Totals:
    subtotal: int
    tax: int
    total: int


def check_currency(code: str, field: str = "currency") -> str:
    if not isinstance(code, str) or not CURRENCY.match(code):
        raise MoneyError(field, "must be an ISO 4217 code of three capital letters")
    return code


def round_half_up(numerator: int, denominator: int) -> int:
    """numerator / denominator rounded half up, for numerator >= 0 and denominator > 0."""
    return (2 * numerator + denominator) // (2 * denominator)


def tax_of(net: int, rate_bp: int) -> int:
    """The VAT of one line (the module's rounding rule)."""
    if not 0 <= rate_bp <= BASIS_POINTS:
        raise MoneyError("tax_rate_bp", f"must be between 0 and {BASIS_POINTS}")
    return round_half_up(net * rate_bp, BASIS_POINTS)


def line_amounts(quantity: int, unit_price: int, rate_bp: int) -> LineAmounts:
    """Net, tax and gross of a line: net = quantity x unit price, exact."""
    if isinstance(quantity, bool) or not 1 <= quantity <= MAX_QUANTITY:
        raise MoneyError("quantity", f"must be an integer between 1 and {MAX_QUANTITY}")
    if isinstance(unit_price, bool) or not 0 <= unit_price <= MAX_UNIT_PRICE:
        raise MoneyError("unit_price", f"must be an integer between 0 and {MAX_UNIT_PRICE}")
    net = quantity * unit_price
    tax = tax_of(net, rate_bp)
    return LineAmounts(net, tax, net + tax)


def totals(lines: Iterable[LineAmounts]) -> Totals:
    """The invoice's totals: the sums of its lines (never re-rounded)."""
    subtotal = tax = 0
    for line in lines:
        subtotal += line.net
        tax += line.tax
    return Totals(subtotal, tax, subtotal + tax)


def units_of(duration_min: int, unit_min: int) -> int:
    """Started units of time: 50 minutes at 15-minute units are 4 units."""
    if duration_min < 1 or unit_min < 1:
        raise MoneyError("time_unit_min", "durations and units must be positive")
    return -(-duration_min // unit_min)


def visit_price(
    model: BillingModel,
    *,
    price: int,
    duration_min: int,
    unit_min: int | None,
    rate: int | None,
) -> tuple[int, int]:
    """(quantity, unit price) of an appointment's line: a session at its price; time-based,
    the started units at the rate; hybrid, one line of the base price plus the units' rate."""
    if model is BillingModel.SESSION_BASED:
        return 1, price
    if unit_min is None or rate is None:
        raise MoneyError("rate_per_unit", f"a {model.value} service needs a rate and a unit")
    units = units_of(duration_min, unit_min)
    if model is BillingModel.TIME_BASED:
        return units, rate
    return 1, price + units * rate


def format_number(year: int, number: int) -> str:
    """An invoice number of the clinic's series: `2026-000123`."""
    return f"{year:04d}-{number:06d}"


def format_amount(amount: int, currency: str) -> str:
    """Minor units as the decimal amount a reader expects (`1234` EUR -> `12.34`)."""
    exponent = _EXPONENTS.get(currency, 2)
    sign = "-" if amount < 0 else ""
    whole, frac = divmod(abs(amount), 10**exponent)
    return f"{sign}{whole:,}" + (f".{frac:0{exponent}d}" if exponent else "")
