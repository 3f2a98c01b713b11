"""Which invoices take payments and refunds (pure). The state the new amount paid implies is
the invoice state machine's (pipelines/billing/_states.py), not decided here.

An invoice takes payments while it is `issued`, `partially_paid` or `overdue`; a `draft` has
nothing to pay yet and a `void` one nothing to pay at all (409). A payment that takes the net
paid amount past the total is accepted (an over-payment: the balance goes negative, a credit
the clinic refunds or keeps on account), and a `paid` invoice takes no new payment (nothing is
due; a refund first). Refunds reduce the net paid amount and can move a paid invoice back.
"""

from __future__ import annotations

from storage.errors import Conflict

PAYABLE = frozenset({"issued", "partially_paid", "overdue"})
REFUNDABLE = frozenset({"issued", "partially_paid", "overdue", "paid"})


def check_payable(state: str) -> None:
    if state not in PAYABLE:
        raise Conflict(
            f"an invoice that is {state} takes no payment",
            {"status": state, "payable": sorted(PAYABLE)},
            code="invoice_not_payable",
        )


def check_refundable(state: str) -> None:
    if state not in REFUNDABLE:
        raise Conflict(
            f"an invoice that is {state} takes no refund",
            {"status": state, "refundable": sorted(REFUNDABLE)},
            code="invoice_not_refundable",
        )
