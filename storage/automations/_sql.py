"""Small helpers of the automations repositories: numbered query parameters, and a JSON
Schema's errors as per-field messages."""

from __future__ import annotations

from typing import Any

from jsonschema import Draft202012Validator


class Params:
    """The values of one statement: `add` keeps a value and answers its placeholder (`$n`), so
    compiled SQL carries values only as parameters."""

    def __init__(self) -> None:
        self.values: list[Any] = []

    def add(self, value: Any) -> str:
        self.values.append(value)
        return f"${len(self.values)}"


def schema_errors(validator: Draft202012Validator, data: Any, root: str) -> dict[str, str]:
    """{path: message} of every error, the path rooted at `root` (`definition.all.0.value`)."""
    fields: dict[str, str] = {}
    for error in validator.iter_errors(data):
        path = ".".join([root, *(str(p) for p in error.absolute_path)])
        if error.validator in ("oneOf", "anyOf"):
            message = "is not a condition of the vocabulary (field, op, value)"
        else:
            message = error.message[:200]
        fields.setdefault(path, message)
    return fields
