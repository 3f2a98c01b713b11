"""What the scheduling storage functions raise; the REST layer and the actors map these."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


class SchedulingError(Exception):
    """Base of the scheduling domain's expected failures."""


class NotFound(SchedulingError):
    """The entity does not exist, is deleted, or belongs to another organization."""

    def __init__(self, entity: str) -> None:
        super().__init__(f"{entity} not found")
        self.entity = entity


class InvalidReference(SchedulingError):
    """A request names a related entity (field) that cannot be used, e.g. an inactive service."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class SlotUnavailable(SchedulingError):
    """The time is taken (the exclusion constraint, SQLSTATE 23P01) or not bookable.

    `conflicts` lists what stands in the way, as JSON-ready dicts, when it is known.
    """

    def __init__(self, message: str, conflicts: Sequence[Mapping[str, Any]] = ()) -> None:
        super().__init__(message)
        self.conflicts = [dict(c) for c in conflicts]


class InvalidTransition(SchedulingError):
    """The state machine has no edge for this action from the appointment's current status."""

    def __init__(self, current: str, action: str, allowed: list[str]) -> None:
        super().__init__(f"cannot {action} an appointment that is {current}")
        self.current = current
        self.action = action
        self.allowed = allowed
