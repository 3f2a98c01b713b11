"""Follow-ups (ClinicFlow): a reminder that a patient should be seen again by a date, created by
a clinician, worked by the front desk's queue until an appointment fulfils it. The state machine
is `_states.TRANSITIONS`; the reason is sealed at rest (storage/sealed.py's cipher). Every
function runs inside `Database.tenant(org)`."""

from storage.follow_ups._repository import (
    MAX_REASON,
    create_follow_up,
    get_follow_up,
    list_follow_ups,
    transition_follow_up,
)
from storage.follow_ups._states import (
    TRANSITIONS,
    Action,
    FollowUpState,
    allowed_actions,
    next_state,
)

__all__ = [
    "MAX_REASON",
    "TRANSITIONS",
    "Action",
    "FollowUpState",
    "allowed_actions",
    "create_follow_up",
    "get_follow_up",
    "list_follow_ups",
    "next_state",
    "transition_follow_up",
]
