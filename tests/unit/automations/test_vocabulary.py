"""The segment vocabulary compiles to fixed SQL text with every value a parameter; definitions
and rules outside the vocabulary are refused per field; event conditions compare exactly."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from actors.automations import event_matches
from storage.automations import CONDITIONS, RULE_SCHEMA, check_definition, outcome_of
from storage.automations._segments import compile_filter
from storage.automations._sql import Params
from storage.errors import Invalid

NOW = datetime(2026, 12, 2, 12, tzinfo=UTC)
EVERY_CONDITION: list[dict[str, Any]] = [
    {"field": "days_since_last_visit", "op": ">=", "value": 14},
    {"field": "plan_adherence", "op": "<", "value": 0.5},
    {"field": "has_upcoming_appointment", "op": "=", "value": True},
    {"field": "has_active_plan", "op": "=", "value": False},
    {"field": "consent_marketing", "op": "=", "value": True},
    {"field": "created_within_days", "op": "<=", "value": 30},
]


def _compiled(definition: dict[str, Any]) -> tuple[str, list[Any]]:
    params = Params()
    return compile_filter(definition, params, NOW), params.values


def test_every_field_of_the_vocabulary_compiles() -> None:
    assert {c["field"] for c in EVERY_CONDITION} == set(CONDITIONS)
    sql, values = _compiled({"any": [{"all": EVERY_CONDITION[:3]}, *EVERY_CONDITION[3:]]})
    assert values == [14, 0.5, True, False, True, 30, NOW]
    assert sql.count(" OR ") == 3 and sql.count(" AND ") >= 3
    assert "p.erased_at IS NULL" in sql and "p.deleted_at IS NULL" in sql


def test_values_never_reach_the_sql_text() -> None:
    """Two definitions that differ only in their values compile to the same text."""
    other = [
        {**c, "value": v}
        for c, v in zip(EVERY_CONDITION, [3650, 0.99, False, True, False, 1], strict=True)
    ]
    first, _ = _compiled({"all": EVERY_CONDITION})
    second, values = _compiled({"all": other})
    assert first == second and values[:-1] == [3650, 0.99, False, True, False, 1]


def test_a_definition_without_instants_has_no_instant_parameter() -> None:
    sql, values = _compiled({"all": [{"field": "consent_marketing", "op": "=", "value": True}]})
    assert values == [True] and "$2" not in sql


@pytest.mark.parametrize(
    ("definition", "field"),
    [
        ({"all": []}, "definition.all"),
        ({"all": [{"field": "age", "op": ">", "value": 3}]}, "definition.all.0"),
        ({"all": [{"field": "plan_adherence", "op": "=", "value": 0.5}]}, "definition.all.0"),
        ({"any": [{"field": "created_within_days", "op": ">=", "value": 3}]}, "definition.any.0"),
        ({"all": [{"field": "consent_marketing", "op": "=", "value": "1 OR 1=1"}]},
         "definition.all.0"),
        ({"all": [], "any": []}, "definition"),
        ([], "definition"),
    ],
)  # fmt: skip
def test_definitions_outside_the_vocabulary_are_refused(definition: Any, field: str) -> None:
    with pytest.raises(Invalid) as refused:
        check_definition(definition)
    assert field in refused.value.fields


def test_the_rule_schema_knows_unavailable_actions_and_checks_available_ones() -> None:
    validator = Draft202012Validator(RULE_SCHEMA)
    base = {"name": "r", "trigger": "appointment.no_show"}
    # Known kinds pass the shape, so the checker can answer `action_unavailable` for them.
    assert validator.is_valid({**base, "actions": [{"kind": "request_form", "form": "x"}]})
    assert not validator.is_valid({**base, "actions": [{"kind": "assign_plan"}]})
    assert not validator.is_valid({**base, "actions": [{"kind": "call_webhook", "url": "x"}]})
    assert not validator.is_valid({**base, "trigger": "Appointment", "actions": [
        {"kind": "call_webhook"}]})  # fmt: skip


def test_event_conditions_compare_exactly() -> None:
    data = {"status": "no_show", "count": 1, "flag": True, "nothing": None}
    assert event_matches({"field": "status", "equals": "no_show"}, data)
    assert not event_matches({"field": "status", "equals": "No_show"}, data)
    assert event_matches({"field": "count", "equals": 1.0}, data)
    assert not event_matches({"field": "count", "equals": True}, data)  # a bool is not 1
    assert not event_matches({"field": "flag", "equals": 1}, data)
    assert event_matches({"field": "nothing", "equals": None}, data)
    assert not event_matches({"field": "missing", "equals": None}, data)


def test_a_run_fails_when_one_action_failed() -> None:
    assert outcome_of([]).value == "succeeded"
    assert outcome_of([{"status": "succeeded"}, {"status": "skipped"}]).value == "succeeded"
    assert outcome_of([{"status": "succeeded"}, {"status": "failed"}]).value == "failed"
