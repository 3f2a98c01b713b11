"""What the telerehab storage functions raise: the kinds of storage/errors.py under the telerehab
domain's names. The edges (REST, the session actors) map them."""

from __future__ import annotations

from storage import errors


class TelerehabError(errors.DomainError):
    """Base of the telerehab domain's expected failures."""


class NotFound(TelerehabError, errors.NotFound):
    """The entity does not exist, is deleted, or is not visible to the caller's organization."""


class Invalid(TelerehabError, errors.Invalid):
    """The input breaks domain rules; `fields` maps each offending field path to a message
    (rendered as `validation_failed` with per-field details)."""


class ReadOnly(TelerehabError, errors.Forbidden):
    """The row is visible but not writable by the caller (global content outside the platform
    path); clone it into the organization instead."""

    def __init__(self, entity: str) -> None:
        super().__init__(
            f"this {entity} is global and read-only; clone it to change it",
            {"entity": entity},
            code="read_only",
        )
        self.entity = entity


class Conflict(TelerehabError, errors.Conflict):
    """The request collides with the current state (e.g. a questionnaire already answered)."""


class InvalidTransition(TelerehabError, errors.InvalidTransition):
    """A state machine has no edge for this action from the current state."""
