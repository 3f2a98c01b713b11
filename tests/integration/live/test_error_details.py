"""One error vocabulary at both edges: the same bad `hold` answers with the same code and the
same `details` over REST (the envelope) and over the WebSocket (the `error` frame)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.integration.live.conftest import Clinic, day_at, z

# Each case: the hold's fields (beside calendar_id, unless it names its own) and the field the
# details must name.
SLOT = z(day_at(3, 10))
BAD_HOLDS: list[tuple[str, dict[str, Any], str]] = [
    ("calendar_id not a UUID", {"calendar_id": "calendar-7", "start": SLOT}, "calendar_id"),
    ("calendar_id missing", {"start": SLOT}, "calendar_id"),
    ("start not an instant", {"start": "tomorrow at ten"}, "start"),
    ("start without an offset", {"start": "2030-01-01T10:00:00"}, "start"),
    ("start missing", {}, "start"),
    ("start not on a slot", {"start": z(day_at(3, 11, 17))}, "start"),
    ("specialist_id not a UUID", {"start": SLOT, "specialist_id": "x"}, "specialist_id"),
]  # fmt: skip


async def _rest_hold(clinic: Clinic, fields: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    status, body = await clinic.api.call("POST", "/v1/holds", fields)
    return status, body["error"]


async def _ws_hold(clinic: Clinic, fields: dict[str, Any]) -> dict[str, Any]:
    token = clinic.api.token()
    ws = await clinic.client.ws_connect("/v1/ws", headers={"Authorization": f"Bearer {token}"})
    try:
        await ws.send_json({"id": 1, "op": "hold", **fields})
        reply: dict[str, Any] = await ws.receive_json(timeout=30)
    finally:
        await ws.close()
    assert reply["id"] == 1 and reply["op"] == "error", reply
    return reply["error"]  # type: ignore[no-any-return]


@pytest.mark.parametrize(("case", "fields", "field"), BAD_HOLDS, ids=[c[0] for c in BAD_HOLDS])
async def test_a_bad_hold_carries_the_same_details_over_rest_and_websocket(
    clinic: Clinic, case: str, fields: dict[str, Any], field: str
) -> None:
    if "calendar_id" not in fields and case != "calendar_id missing":
        fields = {"calendar_id": clinic.calendar_id, **fields}
    status, rest = await _rest_hold(clinic, fields)
    ws = await _ws_hold(clinic, fields)
    assert status == 422 and rest["code"] == "validation_failed", rest
    assert field in rest["details"]["fields"], rest
    assert ws["code"] == rest["code"] and ws["details"] == rest["details"], (ws, rest)


async def test_a_taken_slot_names_the_same_conflict_over_rest_and_websocket(
    clinic: Clinic,
) -> None:
    start = day_at(3, 12)
    status, held = await clinic.hold(start)
    assert status == 201, held
    fields = {"calendar_id": clinic.calendar_id, "start": z(start)}
    status, rest = await _rest_hold(clinic, fields)
    ws = await _ws_hold(clinic, fields)
    assert status == 409 and rest["code"] == "slot_unavailable", rest
    assert ws["code"] == rest["code"] and ws.get("details", {}) == rest["details"], (ws, rest)


async def test_an_unknown_calendar_is_not_found_at_both_edges(clinic: Clinic) -> None:
    fields = {"calendar_id": str(uuid.uuid4()), "start": z(day_at(3, 10))}
    status, rest = await _rest_hold(clinic, fields)
    ws = await _ws_hold(clinic, fields)
    assert status == 404 and rest["code"] == ws["code"] == "not_found", (ws, rest)
    assert ws.get("details", {}) == rest["details"]
