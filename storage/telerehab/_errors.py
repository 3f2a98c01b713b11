"""What the telerehab storage functions raise; the REST layer and the session actors map these."""

from __future__ import annotations

from collections.abc import Mapping


class TelerehabError(Exception):
    """Base of the telerehab domain's expected failures."""


class NotFound(TelerehabError):
    """The entity does not exist, is deleted, or is not visible to the caller's organization."""

    def __init__(self, entity: str) -> None:
        super().__init__(f"{entity} not found")
        self.entity = entity


class Invalid(TelerehabError):
    """The input breaks domain rules; `fields` maps each offending field path to a message
    (rendered as 422 `validation_failed` with per-field details)."""

    def __init__(self, fields: Mapping[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in fields.items()))
        self.fields = dict(fields)


class ReadOnly(TelerehabError):
    """The row is visible but not writable by the caller (global content outside the platform
    path); clone it into the organization instead."""

    def __init__(self, entity: str) -> None:
        super().__init__(f"this {entity} is global and read-only; clone it to change it")
        self.entity = entity


class Conflict(TelerehabError):
    """The request collides with the current state (e.g. a questionnaire already answered)."""


class InvalidTransition(TelerehabError):
    """A state machine has no edge for this action from the current state."""

    def __init__(self, entity: str, current: str, action: str, allowed: list[str]) -> None:
        super().__init__(f"cannot {action} a {entity} that is {current}")
        self.entity = entity
        self.current = current
        self.action = action
        self.allowed = allowed
