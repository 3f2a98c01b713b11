"""The WebSocket `telemetry` op and `POST /v1/telemetry` are one path: the frame goes to the
ingest actors as the bytes that arrived, is decoded there like a REST body, and is answered the
same way, errors included."""

from __future__ import annotations

import uuid
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient

from server.settings import Settings
from tests.integration.telemetry.test_ingest import rep_event, stored_ids, tenant, watch_event

Client = TestClient[web.Request, web.Application]


async def _ws_call(client: Client, token: str, frame: dict[str, Any]) -> dict[str, Any]:
    ws = await client.ws_connect("/v1/ws", headers={"Authorization": f"Bearer {token}"})
    try:
        await ws.send_json(frame)
        reply: dict[str, Any] = await ws.receive_json(timeout=30)
        return reply
    finally:
        await ws.close()


async def test_a_websocket_batch_is_stored_and_answered_like_a_rest_batch(
    client: Client, settings: Settings
) -> None:
    t = await tenant(settings)
    session, exercise = str(uuid.uuid4()), str(uuid.uuid4())

    def batch() -> list[dict[str, Any]]:
        bad = {**watch_event(exercise), "type": "nope"}
        return [rep_event(session, exercise, 1, 70), watch_event(exercise), bad]

    over_rest, over_ws = batch(), batch()
    response = await client.post(
        "/v1/telemetry", json={"events": over_rest}, headers=t.auth(t.patient_token)
    )
    assert response.status == 200
    rest = await response.json()
    reply = await _ws_call(client, t.patient_token, {"id": 7, "op": "telemetry", "events": over_ws})
    assert reply["id"] == 7 and reply["op"] == "ok", reply
    ws = reply["result"]

    def shape(answer: dict[str, Any]) -> tuple[int, int, list[str]]:
        codes = [r["error"]["code"] for r in answer["rejected"]]
        return answer["accepted"], answer["discarded"], codes

    assert shape(ws) == shape(rest) == (2, 0, ["unknown_type"])
    assert ws["rejected"][0]["id"] == over_ws[2]["id"]
    stored = set(await stored_ids(settings.database_url, t.patient))
    assert stored == {uuid.UUID(e["id"]) for e in over_rest[:2] + over_ws[:2]}


async def test_a_websocket_batch_without_events_gets_the_rest_error_and_its_details(
    client: Client, settings: Settings
) -> None:
    t = await tenant(settings)
    response = await client.post(
        "/v1/telemetry", json={"events": {}}, headers=t.auth(t.patient_token)
    )
    assert response.status == 422
    rest = (await response.json())["error"]
    reply = await _ws_call(client, t.patient_token, {"id": "b", "op": "telemetry", "events": {}})
    assert reply["op"] == "error", reply
    ws = reply["error"]
    assert ws["code"] == rest["code"] == "validation_failed"
    assert ws["details"] == rest["details"] and "events" in ws["details"]["fields"]
    assert await stored_ids(settings.database_url, t.patient) == []
