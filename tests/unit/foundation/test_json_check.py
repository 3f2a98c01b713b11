"""The fast schema check (storage/json_check.py) never accepts what jsonschema refuses, for every
request body of the API and every client frame of the WebSocket; and it words faults as before."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator, FormatChecker

from realtime import frame_schemas
from server.app import create_app
from server.routing import ENDPOINTS_KEY
from server.settings import Settings
from storage.json_check import SchemaCheck

_SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**40), 2**40),
    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=12),
    st.sampled_from(["", "2026-12-05T10:00:00Z", "2026-12-05", "not-a-date", "10:00",
                     "0b8f2a9e-4a8e-4c2b-9d7e-0f4d2a6c1e3b", "x" * 300, "a@b.ro", "EUR"]),
)  # fmt: skip
_JSON = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


def _request_schemas() -> list[tuple[str, Mapping[str, Any], bool]]:
    settings_ = Settings.from_env(
        {
            "DATABASE_URL": "postgresql://check@127.0.0.1:1/check",
            "REDIS_URL": "redis://127.0.0.1:1",
            "CADENCE_ENV": "test",
            "CADENCE_SECRET": "check-" + "x" * 40,
            "CADENCE_DB_APP_PASSWORD": "check",
        }
    )
    found: list[tuple[str, Mapping[str, Any], bool]] = [
        (f"{ep.method} {ep.path}", ep.request_schema, True)
        for ep in create_app(settings_)[ENDPOINTS_KEY]
        if ep.request_schema is not None
    ]
    found += [(f"frame {op}", schema, False) for op, schema in frame_schemas.CLIENT_OPS.items()]
    return found


SCHEMAS = _request_schemas()


def _names(schema: Any) -> list[str]:
    """Property names anywhere in the schema: values shaped like the real ones are generated
    under them, so generation reaches past the top level."""
    if isinstance(schema, Mapping):
        own = (
            list(schema.get("properties", {}))
            if isinstance(schema.get("properties"), Mapping)
            else []
        )
        return own + [n for v in schema.values() for n in _names(v)]
    if isinstance(schema, list):
        return [n for v in schema for n in _names(v)]
    return []


def test_the_fast_check_is_used_for_most_schemas() -> None:
    compiled = [
        name for name, schema, formats in SCHEMAS if SchemaCheck(schema, formats=formats).compiled
    ]
    assert len(compiled) >= 0.8 * len(SCHEMAS), sorted(
        name for name, schema, formats in SCHEMAS if name not in compiled
    )


@pytest.mark.parametrize(("name", "schema", "formats"), SCHEMAS, ids=[s[0] for s in SCHEMAS])
def test_the_fast_check_accepts_nothing_jsonschema_refuses(
    name: str, schema: Mapping[str, Any], formats: bool
) -> None:
    check = SchemaCheck(schema, formats=formats)
    reference = Draft202012Validator(schema, format_checker=FormatChecker() if formats else None)
    names = sorted(set(_names(schema))) or ["x"]
    shaped = st.dictionaries(st.sampled_from(names), _JSON, max_size=len(names) + 1)

    @settings(max_examples=10, derandomize=True, deadline=None,
              suppress_health_check=[HealthCheck.too_slow])  # fmt: skip
    @given(st.one_of(shaped, _JSON))
    def agree(value: Any) -> None:
        faults = check.faults(value)
        assert (faults == {}) == reference.is_valid(value), (value, faults)

    agree()


def test_faults_are_worded_as_before() -> None:
    schema = {
        "type": "object",
        "required": ["calendar_id", "start"],
        "properties": {
            "calendar_id": {"type": "string", "format": "uuid"},
            "start": {"type": "string", "format": "date-time"},
            "n": {"type": "integer", "minimum": 1},
        },
        "additionalProperties": False,
    }
    check = SchemaCheck(schema, formats=True)
    assert check.compiled
    assert check.faults({"calendar_id": "0b8f2a9e-4a8e-4c2b-9d7e-0f4d2a6c1e3b",
                         "start": "2026-12-05T10:00:00Z", "n": 2}) == {}  # fmt: skip
    faults = check.faults({"calendar_id": "nope", "n": True, "extra": 1})
    assert faults["calendar_id"] == "must be a UUID"
    assert faults["start"] == "is required"
    assert faults["n"] == "must be an integer"
    assert "$" in faults  # the unknown field
    # A value is never changed by a check (no defaults written into it).
    value: dict[str, Any] = {"calendar_id": "0b8f2a9e-4a8e-4c2b-9d7e-0f4d2a6c1e3b",
                             "start": "2026-12-05T10:00:00Z"}  # fmt: skip
    SchemaCheck(
        {
            **schema,
            "properties": {
                **schema["properties"],  # type: ignore[dict-item]
                "n": {"type": "integer", "default": 5},
            },
        }
    ).faults(value)
    assert "n" not in value
