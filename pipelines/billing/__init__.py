"""Billing arithmetic and rules, pure: invoice line amounts and VAT in integer minor units (the
rounding rule is in `_money`), totals, visit prices by billing model, invoice numbers, and the
invoice state machine. Storage feeds it and writes what it returns."""

from pipelines.billing._money import (
    BASIS_POINTS,
    BillingModel,
    LineAmounts,
    MoneyError,
    Totals,
    check_currency,
    format_amount,
    format_number,
    line_amounts,
    round_half_up,
    tax_of,
    totals,
    units_of,
    visit_price,
)
from pipelines.billing._states import (
    TRANSITIONS,
    IllegalTransition,
    InvoiceAction,
    InvoiceStatus,
    allowed_actions,
    next_status,
    settle_action,
)

__all__ = [
    "BASIS_POINTS",
    "TRANSITIONS",
    "BillingModel",
    "IllegalTransition",
    "InvoiceAction",
    "InvoiceStatus",
    "LineAmounts",
    "MoneyError",
    "Totals",
    "allowed_actions",
    "check_currency",
    "format_amount",
    "format_number",
    "line_amounts",
    "next_status",
    "round_half_up",
    "settle_action",
    "tax_of",
    "totals",
    "units_of",
    "visit_price",
]
