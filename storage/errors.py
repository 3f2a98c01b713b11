"""The one error vocabulary: expected failures, typed where they happen (storage, actors, domain
code) with a stable `code`, a human `message` and JSON-ready `details`.

Nothing here knows HTTP or WebSocket frames. The edges render a `DomainError` as they must: the
REST envelope (server/errors.py, with a status chosen by kind) and the WebSocket `error` frame
(realtime/_protocol.py), both with the same `code`, `message` and `details`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from storage.jsonable import jsonable


class DomainError(Exception):
    """An expected failure. `details` are made JSON-ready here, once, so every edge shows the
    same values (instants in RFC 3339, ids as strings)."""

    def __init__(self, code: str, message: str, details: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details: dict[str, Any] = jsonable(dict(details)) if details else {}

    def __reduce__(self) -> tuple[Any, ...]:
        # Kinds take their own arguments, so rebuild from the state rather than from `args`:
        # an error that crosses a process (an actor's answer) arrives whole.
        return (_restore, (type(self), self.message, self.__dict__))


def _restore(cls: type[DomainError], message: str, state: dict[str, Any]) -> DomainError:
    error = cls.__new__(cls)
    Exception.__init__(error, message)
    error.__dict__.update(state)
    return error


# The kinds below are what the edges map (REST: 404, 422, 403, 409, 503). A domain family derives
# its own names from them, so `except NotFound` works for the family and for the kind.


class NotFound(DomainError):
    """The entity does not exist, is deleted, or is not visible to the caller's organization."""

    def __init__(self, entity: str) -> None:
        super().__init__("not_found", f"{entity} not found")
        self.entity = entity


class Invalid(DomainError):
    """The input breaks a rule; `fields` maps each offending field path to a message."""

    def __init__(
        self, fields: Mapping[str, str], message: str = "request failed validation"
    ) -> None:
        super().__init__("validation_failed", message, {"fields": fields})
        self.fields = dict(fields)


class Forbidden(DomainError):
    """The caller may see the target but not do this to it."""

    def __init__(
        self, message: str, details: Mapping[str, Any] | None = None, *, code: str = "forbidden"
    ) -> None:
        super().__init__(code, message, details)


class Conflict(DomainError):
    """The request collides with the current state; a domain code names which collision."""

    def __init__(
        self, message: str, details: Mapping[str, Any] | None = None, *, code: str = "conflict"
    ) -> None:
        super().__init__(code, message, details)


class Unavailable(DomainError):
    """A service the operation needs (object storage) cannot be reached or answers with a
    failure of its own; nothing was changed, so the caller may retry later."""

    def __init__(self, message: str, details: Mapping[str, Any] | None = None) -> None:
        super().__init__("unavailable", message, details)


class InvalidTransition(Conflict):
    """A state machine has no edge for this action from the current state; the details name
    the current `status` and the `allowed` actions."""

    def __init__(self, entity: str, current: str, action: str, allowed: Sequence[str]) -> None:
        article = "an" if entity[:1] in ("a", "e", "i", "o", "u") else "a"
        super().__init__(
            f"cannot {action} {article} {entity} that is {current}",
            {"status": current, "action": action, "allowed": list(allowed)},
            code="invalid_transition",
        )
        self.entity = entity
        self.current = current
        self.action = action
        self.allowed = list(allowed)
