"""What the scheduling storage functions raise: the kinds of storage/errors.py under the
scheduling domain's names. The edges (REST, WebSocket, the calendar actors) map them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from storage import errors


class SchedulingError(errors.DomainError):
    """Base of the scheduling domain's expected failures."""


class NotFound(SchedulingError, errors.NotFound):
    """The entity does not exist, is deleted, or belongs to another organization."""


class InvalidReference(SchedulingError, errors.Invalid):
    """A request names a related entity (field) that cannot be used, e.g. an inactive service."""

    def __init__(self, field: str, message: str) -> None:
        # `message` is the field's own message (the actors build their answer from it).
        super().__init__({field: message}, message)
        self.field = field


class SlotUnavailable(SchedulingError, errors.Conflict):
    """The time is taken (the exclusion constraint, SQLSTATE 23P01) or not bookable.

    `conflicts` lists what stands in the way, when it is known; `details.conflicts` is the same
    list, JSON-ready.
    """

    def __init__(self, message: str, conflicts: Sequence[Mapping[str, Any]] = ()) -> None:
        self.conflicts = [dict(c) for c in conflicts]
        super().__init__(message, {"conflicts": self.conflicts}, code="slot_unavailable")


class InvalidTransition(SchedulingError, errors.InvalidTransition):
    """The state machine has no edge for this action from the appointment's current status."""

    def __init__(self, current: str, action: str, allowed: list[str]) -> None:
        super().__init__("appointment", current, action, allowed)
