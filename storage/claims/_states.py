"""The insurance-claim state machine: states, actions, and the one table of legal transitions.

    draft -> submitted -> accepted -> paid
                       -> rejected -> draft   (correct: back to draft to fix it, then resubmit)

`paid` is final. Lines can change only in `draft`; `submit` needs at least one line.
`accept` records the insurer's reference, `reject` its reason, `pay` the insurer's payment on
the invoice (a payment with method `insurer`). A correction keeps the claim, its history and its
reference count: the resubmission is the same claim with `submissions` one higher.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from storage.errors import InvalidTransition


class ClaimState(StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    PAID = "paid"


class ClaimAction(StrEnum):
    SUBMIT = "submit"
    ACCEPT = "accept"
    REJECT = "reject"
    PAY = "pay"
    CORRECT = "correct"


S, A = ClaimState, ClaimAction
TRANSITIONS: Mapping[tuple[ClaimState, ClaimAction], ClaimState] = {
    (S.DRAFT, A.SUBMIT): S.SUBMITTED,
    (S.SUBMITTED, A.ACCEPT): S.ACCEPTED,
    (S.SUBMITTED, A.REJECT): S.REJECTED,
    (S.ACCEPTED, A.PAY): S.PAID,
    (S.REJECTED, A.CORRECT): S.DRAFT,
}
del S, A


def allowed_actions(state: ClaimState) -> list[ClaimAction]:
    return [action for (current, action) in TRANSITIONS if current is state]


def next_state(current: ClaimState, action: ClaimAction) -> ClaimState:
    """The state after `action`; InvalidTransition (409) when the table has no such edge."""
    try:
        return TRANSITIONS[(current, action)]
    except KeyError:
        raise InvalidTransition(
            "claim", current.value, action.value, [a.value for a in allowed_actions(current)]
        ) from None
