"""Automations: the consumer that runs an organization's rules on its events (group
`automations`), and the actions a rule can take (`Action`). Storage of rules, segments and runs:
storage/automations."""

from actors.automations._actions import (
    Action,
    ActionContext,
    AssignPlan,
    CallWebhook,
    Outcome,
    SendNotification,
    default_actions,
)
from actors.automations._handler import AutomationHandler, RunInProgress, event_matches

__all__ = [
    "Action",
    "ActionContext",
    "AssignPlan",
    "AutomationHandler",
    "CallWebhook",
    "Outcome",
    "RunInProgress",
    "SendNotification",
    "default_actions",
    "event_matches",
]
