"""Checking a JSON value against one of our JSON Schemas, fast on the path almost every value
takes: the value conforms.

jsonschema (the reference validator) words the faults, but it interprets the schema on every
call: about 100-200 µs for a WebSocket `hold` frame or a small REST body on this machine, a
tenth of a hold's whole path. fastjsonschema (horejsek) compiles the schema to Python code once
and says conform / not in a fraction of that. Its verdict is trusted only one way:

- it accepts: the value conforms (the schema uses only keywords both implement alike, checked
  when the check is built; a schema with any other keyword is left to jsonschema alone);
- it refuses: jsonschema looks again and words the faults. Where fastjsonschema is the stricter
  of the two, jsonschema finds none and the value is accepted, as it always was.

Formats are jsonschema's: with `formats`, each `format` of the schema is judged by jsonschema's
FormatChecker, otherwise not at all (as jsonschema does without a checker).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import fastjsonschema
from jsonschema import Draft202012Validator, FormatChecker

from storage.field_errors import field_messages

# Keywords with one meaning in draft 7 (fastjsonschema) and 2020-12 (our schemas, OpenAPI 3.1).
# Left out on purpose: `$ref`/`$defs` (resolved differently), `items` as a list, `prefixItems`,
# `dependentRequired`, `unevaluated*`, `contains` and anything unknown: such schemas are
# checked by jsonschema alone.
_ASSERTIONS = frozenset({
    "type", "enum", "const", "properties", "required", "additionalProperties",
    "patternProperties", "propertyNames", "minProperties", "maxProperties", "items", "minItems",
    "maxItems", "uniqueItems", "minLength", "maxLength", "pattern", "format", "minimum",
    "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf", "anyOf", "oneOf", "allOf",
    "not",
})  # fmt: skip
_ANNOTATIONS = frozenset({
    "title", "description", "default", "examples", "example", "deprecated", "readOnly",
    "writeOnly", "$comment",
})  # fmt: skip
_SUBSCHEMA = ("additionalProperties", "propertyNames", "items", "not")
_SUBSCHEMA_MAPS = ("properties", "patternProperties")
_SUBSCHEMA_LISTS = ("anyOf", "oneOf", "allOf")


def _formats_of(schema: Any, found: set[str]) -> bool:
    """Whether fastjsonschema may be trusted with `schema`; collects its `format` names."""
    if isinstance(schema, bool):
        return True
    if not isinstance(schema, Mapping):
        return False
    for key, value in schema.items():
        if key in _ANNOTATIONS:
            continue
        if key not in _ASSERTIONS:
            return False
        if key == "format":
            found.add(str(value))
        elif key in _SUBSCHEMA and not _formats_of(value, found):
            return False
        elif key in _SUBSCHEMA_MAPS and not all(_formats_of(s, found) for s in value.values()):
            return False
        elif key in _SUBSCHEMA_LISTS and not all(_formats_of(s, found) for s in value):
            return False
    return True


def _conforms_to(checker: FormatChecker, name: str) -> Callable[[Any], bool]:
    return lambda value: checker.conforms(value, name)


def _accept(value: Any) -> bool:
    return True


class SchemaCheck:
    """One schema's check: `faults(value)` is {} for a conforming value, else path -> message
    (storage/field_errors.py's words)."""

    __slots__ = ("_fast", "_full")

    def __init__(self, schema: Mapping[str, Any], formats: bool = False) -> None:
        checker = FormatChecker() if formats else None
        self._full = Draft202012Validator(schema, format_checker=checker)
        names: set[str] = set()
        self._fast: Callable[[Any], Any] | None = None
        if _formats_of(schema, names):
            judges = {
                name: (_accept if checker is None else _conforms_to(checker, name))
                for name in names
            }
            try:
                # use_default=False: a check never writes a schema's defaults into the value.
                self._fast = fastjsonschema.compile(dict(schema), formats=judges, use_default=False)
            except fastjsonschema.JsonSchemaDefinitionException:
                self._fast = None  # e.g. a pattern its code generator cannot take: jsonschema

    def faults(self, value: Any) -> dict[str, str]:
        if self._fast is not None:
            try:
                self._fast(value)
                return {}
            except fastjsonschema.JsonSchemaException:
                pass
        return field_messages(self._full.iter_errors(value))

    @property
    def compiled(self) -> bool:
        """Whether the fast check is used (for tests)."""
        return self._fast is not None
