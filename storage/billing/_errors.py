"""The billing domain's refusals, as kinds of the one error vocabulary (storage/errors.py)."""

from __future__ import annotations

from pipelines.billing import IllegalTransition, MoneyError
from storage.errors import Conflict, Invalid, InvalidTransition


class CurrencyMismatch(Invalid):
    """A price in another currency than the invoice's (422 `currency_mismatch`)."""

    def __init__(self, field: str, expected: str, found: str) -> None:
        super().__init__(
            {field: f"is priced in {found}, the invoice is in {expected}"},
            "currency mismatch: an invoice has one currency",
        )
        self.code = "currency_mismatch"
        self.details["expected"] = expected
        self.details["found"] = found


def out_of_stock(product_id: object, stock: int, wanted: int) -> Conflict:
    return Conflict(
        "not enough of this product in stock",
        {"product_id": product_id, "stock": stock, "wanted": wanted},
        code="out_of_stock",
    )


def invalid_money(exc: MoneyError) -> Invalid:
    return Invalid({exc.field: exc.message})


def invalid_transition(exc: IllegalTransition) -> InvalidTransition:
    return InvalidTransition(
        "invoice", exc.current.value, exc.action.value, [a.value for a in exc.allowed]
    )
