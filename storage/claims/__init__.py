"""Insurance claims: lines of an issued invoice that carry a service code, sent to an insurer
and answered (accepted with its reference, rejected with its reason), corrected and resubmitted,
and paid (the insurer's payment on the invoice). The state machine is `_states.TRANSITIONS`;
lines change only in draft (a trigger is the proof). Every function runs inside
`Database.tenant(org)`."""

from storage.claims._repository import (
    claim_history,
    claim_lines,
    correct_claim,
    create_claim,
    get_claim,
    list_claims,
    transition_claim,
)
from storage.claims._states import (
    TRANSITIONS,
    ClaimAction,
    ClaimState,
    allowed_actions,
    next_state,
)

__all__ = [
    "TRANSITIONS",
    "ClaimAction",
    "ClaimState",
    "allowed_actions",
    "claim_history",
    "claim_lines",
    "correct_claim",
    "create_claim",
    "get_claim",
    "list_claims",
    "next_state",
    "transition_claim",
]
