"""The invoice state machine: statuses, actions, and the one table of legal transitions.

    draft -> issued (issue: the number is taken) | void (discard: a draft never numbered)
    issued | partially_paid | overdue -> paid | partially_paid (payments settle)
    issued | partially_paid -> overdue (the due date passed unpaid)
    issued | overdue -> void (nothing paid: refund first, or credit a paid one)
    paid -> partially_paid | issued (a refund)

An overdue invoice stays overdue while it is not paid in full. Void and paid are final but for
a refund of a paid invoice; an issued invoice's content never changes in any state (a credit
note corrects it).
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum


class InvoiceStatus(StrEnum):
    DRAFT = "draft"
    ISSUED = "issued"
    PAID = "paid"
    PARTIALLY_PAID = "partially_paid"
    OVERDUE = "overdue"
    VOID = "void"


class InvoiceAction(StrEnum):
    ISSUE = "issue"
    VOID = "void"
    MARK_OVERDUE = "mark_overdue"
    # What a change of the amount paid does (chosen by `settle_action`).
    SETTLE_FULL = "settle_full"
    SETTLE_PART = "settle_part"
    SETTLE_NONE = "settle_none"


S, A = InvoiceStatus, InvoiceAction
TRANSITIONS: Mapping[tuple[InvoiceStatus, InvoiceAction], InvoiceStatus] = {
    (S.DRAFT, A.ISSUE): S.ISSUED,
    (S.DRAFT, A.VOID): S.VOID,
    (S.ISSUED, A.SETTLE_FULL): S.PAID,
    (S.ISSUED, A.SETTLE_PART): S.PARTIALLY_PAID,
    (S.ISSUED, A.SETTLE_NONE): S.ISSUED,
    (S.ISSUED, A.MARK_OVERDUE): S.OVERDUE,
    (S.ISSUED, A.VOID): S.VOID,
    (S.PARTIALLY_PAID, A.SETTLE_FULL): S.PAID,
    (S.PARTIALLY_PAID, A.SETTLE_PART): S.PARTIALLY_PAID,
    (S.PARTIALLY_PAID, A.SETTLE_NONE): S.ISSUED,
    (S.PARTIALLY_PAID, A.MARK_OVERDUE): S.OVERDUE,
    (S.OVERDUE, A.SETTLE_FULL): S.PAID,
    (S.OVERDUE, A.SETTLE_PART): S.OVERDUE,
    (S.OVERDUE, A.SETTLE_NONE): S.OVERDUE,
    (S.OVERDUE, A.VOID): S.VOID,
    (S.PAID, A.SETTLE_FULL): S.PAID,
    (S.PAID, A.SETTLE_PART): S.PARTIALLY_PAID,
    (S.PAID, A.SETTLE_NONE): S.ISSUED,
}
del S, A


class IllegalTransition(Exception):
    """The table has no edge for `action` from `current`; `allowed` lists the actions it has."""

    def __init__(self, current: InvoiceStatus, action: InvoiceAction) -> None:
        super().__init__(f"cannot {action.value} an invoice that is {current.value}")
        self.current = current
        self.action = action
        self.allowed = allowed_actions(current)


def allowed_actions(status: InvoiceStatus) -> list[InvoiceAction]:
    return [action for (state, action) in TRANSITIONS if state is status]


def next_status(current: InvoiceStatus, action: InvoiceAction) -> InvoiceStatus:
    """The status after `action`; raises IllegalTransition when the table has no such edge."""
    try:
        return TRANSITIONS[(current, action)]
    except KeyError:
        raise IllegalTransition(current, action) from None


def settle_action(total: int, amount_paid: int) -> InvoiceAction:
    """What an amount paid (net of refunds) means for an invoice of `total`: paid in full
    (over-payment included), in part, or not at all."""
    if amount_paid >= total:
        return InvoiceAction.SETTLE_FULL
    if amount_paid > 0:
        return InvoiceAction.SETTLE_PART
    return InvoiceAction.SETTLE_NONE
