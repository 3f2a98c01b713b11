"""Billing arithmetic and the invoice state machine, pure."""

from __future__ import annotations

import pytest

from pipelines.billing import (
    TRANSITIONS,
    BillingModel,
    IllegalTransition,
    InvoiceAction,
    InvoiceStatus,
    LineAmounts,
    MoneyError,
    check_currency,
    format_amount,
    format_number,
    line_amounts,
    next_status,
    settle_action,
    tax_of,
    totals,
    units_of,
    visit_price,
)


@pytest.mark.parametrize(
    ("net", "bp", "tax"),
    [(0, 1900, 0), (1, 1900, 0), (3, 1900, 1), (50, 1900, 10), (49, 1000, 5), (45, 1000, 5),
     (44, 1000, 4), (999, 1950, 195), (7, 500, 0), (10, 500, 1), (10_000, 0, 0),
     (10_000, 10_000, 10_000), (99_999_999, 2100, 21_000_000)],
)  # fmt: skip
def test_vat_is_rounded_half_up_per_line(net: int, bp: int, tax: int) -> None:
    assert tax_of(net, bp) == tax


def test_the_rule_holds_against_exact_fractions() -> None:
    from fractions import Fraction

    for net in range(0, 2000, 7):
        for bp in (0, 500, 900, 1900, 1950, 2100, 2400, 10_000):
            exact = Fraction(net * bp, 10_000)
            assert tax_of(net, bp) == int(exact + Fraction(1, 2)) // 1


def test_totals_are_the_sums_of_the_lines_never_re_rounded() -> None:
    lines = [line_amounts(1, 1, 1900) for _ in range(100)]
    sums = totals(lines)
    assert (sums.subtotal, sums.tax, sums.total) == (100, 0, 100)
    assert totals([LineAmounts(5, 1, 6), LineAmounts(10, 2, 12)]).total == 18


@pytest.mark.parametrize(
    ("q", "p", "bp", "field"),
    [(0, 1, 0, "quantity"), (1, -1, 0, "unit_price"), (1, 1, 10_001, "tax_rate_bp"),
     (True, 1, 0, "quantity"), (1_000_001, 1, 0, "quantity")],
)  # fmt: skip
def test_out_of_range_values_are_refused(q: int, p: int, bp: int, field: str) -> None:
    with pytest.raises(MoneyError) as refused:
        line_amounts(q, p, bp)
    assert refused.value.field == field


def test_visit_prices_by_billing_model() -> None:
    assert visit_price(BillingModel.SESSION_BASED, price=9000, duration_min=50, unit_min=None,
                       rate=None) == (1, 9000)  # fmt: skip
    assert visit_price(BillingModel.TIME_BASED, price=0, duration_min=50, unit_min=15,
                       rate=1200) == (4, 1200)  # fmt: skip
    assert visit_price(BillingModel.HYBRID, price=5000, duration_min=60, unit_min=30,
                       rate=1000) == (1, 7000)  # fmt: skip
    assert units_of(60, 15) == 4 and units_of(61, 15) == 5
    with pytest.raises(MoneyError):
        visit_price(BillingModel.TIME_BASED, price=0, duration_min=5, unit_min=None, rate=None)


def test_numbers_currencies_and_printing() -> None:
    assert format_number(2026, 123) == "2026-000123"
    assert format_amount(11900, "EUR") == "119.00" and format_amount(1234, "JPY") == "1,234"
    assert format_amount(1, "KWD") == "0.001"
    assert check_currency("EUR") == "EUR"
    for bad in ("eur", "EURO", "", "E1R"):
        with pytest.raises(MoneyError):
            check_currency(bad)


def test_every_cell_of_the_state_machine() -> None:
    for state in InvoiceStatus:
        for action in InvoiceAction:
            if (state, action) in TRANSITIONS:
                assert next_status(state, action) is TRANSITIONS[(state, action)]
            else:
                with pytest.raises(IllegalTransition) as refused:
                    next_status(state, action)
                assert refused.value.current is state
    # Void is final; nothing leaves it and only issue leaves a draft besides a discard.
    assert not [a for (s, a) in TRANSITIONS if s is InvoiceStatus.VOID]
    assert {a for (s, a) in TRANSITIONS if s is InvoiceStatus.DRAFT} == {
        InvoiceAction.ISSUE, InvoiceAction.VOID,
    }  # fmt: skip


def test_settlement_follows_the_amount_paid() -> None:
    assert settle_action(100, 0) is InvoiceAction.SETTLE_NONE
    assert settle_action(100, 1) is InvoiceAction.SETTLE_PART
    assert settle_action(100, 100) is InvoiceAction.SETTLE_FULL
    assert settle_action(100, 150) is InvoiceAction.SETTLE_FULL  # an over-payment
    assert next_status(InvoiceStatus.OVERDUE, InvoiceAction.SETTLE_PART) is InvoiceStatus.OVERDUE
