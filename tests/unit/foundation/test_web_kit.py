"""The shared web kit (server/web/) and the one error vocabulary (storage/errors.py): pure
functions, no services."""

from __future__ import annotations

import ast
import pickle
import uuid
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp.test_utils import make_mocked_request

from realtime import OpError
from realtime import _protocol as proto
from server.errors import ApiError, render, status_of
from server.http import validate
from server.web import paging, params
from server.web.idempotency import idempotency_key
from storage import errors
from storage import scheduling as sched
from storage import telerehab as rehab
from storage.field_errors import MUST_BE_DATE

ROOT = Path(__file__).resolve().parents[3]


def _request(query: str = "", headers: dict[str, str] | None = None) -> Any:
    return make_mocked_request("GET", f"/x?{query}", headers=headers)


# --- paging -------------------------------------------------------------------------------


def test_a_cursor_round_trips_its_sort_key_at_full_precision() -> None:
    at = datetime(2026, 11, 22, 1, 2, 3, 456789, tzinfo=timezone(timedelta(hours=2)))
    key = uuid.uuid4()
    rows = [(at, key), (at, uuid.uuid4())]
    page = paging.page_response(rows, paging.Page(1, None), lambda r: str(r[1]), lambda r: r)
    assert page["data"] == [str(key)]
    follow = _request(f"limit=1&cursor={page['next_cursor']}")
    assert paging.page_of(follow).after == ["2026-11-21T23:02:03.456789Z", str(key)]
    assert paging.instant_id_page(follow).after == (at, key)
    assert paging.instant_id_page(follow).after[0].tzinfo is not None  # type: ignore[index]


def test_the_last_page_has_no_cursor() -> None:
    page = paging.page_response([1, 2], paging.Page(2, None), str, lambda r: [r])
    assert page == {"data": ["1", "2"], "next_cursor": None}


@pytest.mark.parametrize(
    "query",
    ["limit=0", "limit=201", "limit=x", "limit=-1", "cursor=abc", "cursor=W10", "cursor=e30"],
)
def test_bad_paging_parameters_are_422_with_the_field(query: str) -> None:
    with pytest.raises(ApiError) as caught:
        paging.instant_id_page(_request(query))
    assert caught.value.status == 422
    assert set(caught.value.details["fields"]) <= {"limit", "cursor"}


def test_a_cursor_of_another_shape_is_refused() -> None:
    cursor = paging.encode_cursor(["a", "b", "c"])
    with pytest.raises(ApiError):
        paging.page_of(_request(f"cursor={cursor}"), key_size=2)
    page = paging.page_of(_request(f"cursor={cursor}"))
    with pytest.raises(ApiError):
        paging.cursor_key(page, 2)
    assert paging.cursor_key(page, 3) == ["a", "b", "c"]


# --- parameters: the same words from a parser and from a schema -----------------------------

SCHEMA = {
    "type": "object",
    "required": ["id", "at"],
    "properties": {
        "id": {"type": "string", "format": "uuid"},
        "at": {"type": "string", "format": "date-time"},
        "other": {"anyOf": [{"type": "string", "format": "uuid"}, {"type": "null"}]},
    },
}


@pytest.mark.parametrize(
    ("body", "parse"),
    [
        ({"id": "nope", "at": "2030-01-01T10:00:00Z"}, lambda b: params.uuid_value(b["id"], "id")),
        ({"id": str(uuid.uuid4())}, lambda b: params.instant_value(b.get("at"), "at")),
        ({"id": str(uuid.uuid4()), "at": "2030-01-01T10:00:00"},
         lambda b: params.instant_value(b["at"], "at")),
        ({"id": str(uuid.uuid4()), "at": "soon"}, lambda b: params.instant_value(b["at"], "at")),
        ({"id": str(uuid.uuid4()), "at": "2030-01-01T10:00:00Z", "other": "x"},
         lambda b: params.uuid_value(b["other"], "other")),
    ],
)  # fmt: skip
def test_a_schema_and_a_parser_refuse_a_value_with_the_same_details(body: Any, parse: Any) -> None:
    with pytest.raises(ApiError) as by_schema:
        validate(body, SCHEMA)
    with pytest.raises(ApiError) as by_parser:
        parse(body)
    assert by_schema.value.details == by_parser.value.details


def test_query_values_and_path_ids() -> None:
    when = params.query_instant(_request("at=2030-05-01T12:30:00%2B03:00"), "at")
    assert when == datetime(2030, 5, 1, 9, 30, tzinfo=UTC)
    assert params.query_uuid(_request("id="), "id") is None
    with pytest.raises(ApiError) as caught:
        params.query_date(_request("day=2030-02-30"), "day", datetime.now(UTC).date())
    assert caught.value.details == {"fields": {"day": MUST_BE_DATE}}


def test_idempotency_keys_are_1_to_200_characters() -> None:
    assert idempotency_key(_request()) is None
    assert idempotency_key(_request(headers={"Idempotency-Key": "k1"})) == "k1"
    with pytest.raises(ApiError) as caught:
        idempotency_key(_request(headers={"Idempotency-Key": "k" * 201}))
    assert "Idempotency-Key" in caught.value.details["fields"]


# --- one error vocabulary -------------------------------------------------------------------


def _envelope(error: errors.DomainError) -> tuple[int, dict[str, Any]]:
    response = render(error)
    assert response.body is not None
    return response.status, orjson.loads(response.body)["error"]  # type: ignore[arg-type]


def _frame(error: errors.DomainError) -> dict[str, Any]:
    frame = orjson.loads(proto.error(7, error.code, error.message, error.details))
    assert frame["op"] == "error" and frame["id"] == 7
    return frame["error"]  # type: ignore[no-any-return]


AT = datetime(2030, 1, 1, 9, tzinfo=UTC)
ID = uuid.UUID(int=1)
CASES: list[tuple[errors.DomainError, int, str]] = [
    (sched.NotFound("calendar"), 404, "not_found"),
    (rehab.NotFound("plan"), 404, "not_found"),
    (sched.InvalidReference("patient_id", "no such patient"), 422, "validation_failed"),
    (rehab.Invalid({"pain": "must be 0..10"}), 422, "validation_failed"),
    (sched.SlotUnavailable("taken", [{"start": AT, "id": ID}]), 409, "slot_unavailable"),
    (sched.InvalidTransition("completed", "cancel", ["archive"]), 409, "invalid_transition"),
    (rehab.InvalidTransition("plan version", "draft", "end", ["end"]), 409, "invalid_transition"),
    (rehab.ReadOnly("exercise"), 403, "read_only"),
    (rehab.Conflict("already answered"), 409, "conflict"),
    (ApiError(429, "slow_down", "busy", {"retry_after_ms": 500}), 429, "slow_down"),
    (OpError("unauthorized", "sign in"), 401, "unauthorized"),
]  # fmt: skip


@pytest.mark.parametrize(("error", "status", "code"), CASES, ids=[c[2] for c in CASES])
def test_every_failure_reads_the_same_in_the_envelope_and_the_error_frame(
    error: errors.DomainError, status: int, code: str
) -> None:
    got_status, envelope = _envelope(error)
    frame = _frame(error)
    assert (got_status, status_of(error), envelope["code"]) == (status, status, code)
    assert frame["code"] == envelope["code"] and frame["message"] == envelope["message"]
    assert frame.get("details", {}) == envelope["details"]


def test_details_are_json_ready_at_the_source() -> None:
    error = sched.SlotUnavailable("taken", [{"start": AT, "id": ID}])
    assert error.details == {"conflicts": [{"start": "2030-01-01T09:00:00Z", "id": str(ID)}]}
    assert error.conflicts[0]["start"] is AT  # the raw values stay for storage's own use
    transition = sched.InvalidTransition("completed", "cancel", ["archive"])
    assert str(transition) == "cannot cancel an appointment that is completed"
    assert transition.details == {"status": "completed", "action": "cancel", "allowed": ["archive"]}


def test_the_families_are_kinds_of_the_one_vocabulary() -> None:
    assert isinstance(sched.NotFound("x"), errors.NotFound | sched.SchedulingError)
    assert isinstance(rehab.ReadOnly("x"), errors.Forbidden)
    assert isinstance(rehab.Invalid({}), rehab.TelerehabError)
    assert isinstance(ApiError(400), OpError)  # an op may raise what a handler raises


@pytest.mark.parametrize(("error", "status", "code"), CASES, ids=[c[2] for c in CASES])
def test_a_failure_crosses_a_process_whole(
    error: errors.DomainError, status: int, code: str
) -> None:
    again = pickle.loads(pickle.dumps(error))
    assert type(again) is type(error) and again.__dict__ == error.__dict__
    assert str(again) == str(error)


# --- layering -------------------------------------------------------------------------------


def test_scheduling_never_imports_the_live_package() -> None:
    """server.live builds on server.scheduling; an import back (even inside a function) would
    be a package cycle."""
    found = []
    for path in sorted((ROOT / "server" / "scheduling").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = (
                [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else []
            )
            found += [f"{path.name}: {n}" for n in names if n.startswith("server.live")]
    assert found == []
