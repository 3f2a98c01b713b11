"""JSON Schemas (draft 2020-12) of every WebSocket frame of `GET /v1/ws`: the ops a client sends
and the frames the server sends. One document, published at `/v1/protocol/frames.schema.json`
(the JavaScript client's types are generated from it) and used by the gateway, which checks each
text frame of a known op against its schema before running the op: a frame that breaks it gets
the `error` frame `bad_request` with `details.fields` naming each offending field, as REST's 422.

The op schemas bound shapes and types only; the ops still check meaning (a channel the caller may
join, a slot that exists). Unknown extra fields are allowed, so adding one is not a breaking
change for old servers."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

from storage.json_check import SchemaCheck

__all__ = ["CLIENT_OPS", "SERVER_FRAMES", "document", "violations"]

Schema = dict[str, Any]
_UUID: Schema = {"type": "string", "format": "uuid"}
_ID: Schema = {
    "description": "the client's id, echoed in the reply",
    "anyOf": [{"type": "integer"}, {"type": "string", "maxLength": 64}, {"type": "null"}],
}
_POSITION: Schema = {
    "type": "object",
    "required": ["offset", "epoch"],
    "properties": {"offset": {"type": "string"}, "epoch": {"type": "string"}},
}
_CHANNEL: Schema = {"type": "string", "minLength": 1, "maxLength": 200}
_LANDMARK: Schema = {"type": "array", "items": {"type": "number"}, "minItems": 3, "maxItems": 4}


def _op(name: str, properties: Mapping[str, Any], *required: str, **extra: Any) -> Schema:
    return {
        "type": "object",
        "required": ["op", *required],
        "properties": {"id": _ID, "op": {"const": name}, **properties},
        **extra,
    }


# Client -> server (text frames; `pose.frame` and `pose.landmarks` may also come as the binary
# form, whose JSON header is checked against the same schema).
CLIENT_OPS: dict[str, Schema] = {
    "auth": _op("auth", {"token": {"type": "string", "minLength": 1, "maxLength": 8192}}, "token"),
    "ping": _op("ping", {}),
    "subscribe": _op(
        "subscribe",
        {"channel": _CHANNEL, "since": {"anyOf": [_POSITION, {"type": "null"}]}},
        "channel",
    ),  # fmt: skip
    "unsubscribe": _op("unsubscribe", {"channel": _CHANNEL}, "channel"),
    "presence": _op("presence", {"channel": _CHANNEL}, "channel"),
    "hold": _op(
        "hold",
        {
            "calendar_id": _UUID,
            "start": {"type": "string", "format": "date-time"},
            "specialist_id": {"anyOf": [_UUID, {"type": "null"}]},
            "hold_token": {"type": ["string", "null"]},
            "idempotency_key": {"type": ["string", "null"], "maxLength": 255},
        },
        "calendar_id",
        "start",
    ),
    "release": _op(
        "release", {"hold_id": _UUID, "hold_token": {"type": ["string", "null"]}}, "hold_id"
    ),
    "pose": _op(
        "pose",
        {
            "session_id": _UUID,
            "frames": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["t", "landmarks"],
                    "properties": {
                        "t": {"type": "number"},
                        "landmarks": {"type": "array", "items": _LANDMARK},
                    },
                },
            },
        },
        "session_id",
        "frames",
    ),
    "pose.landmarks": _op(
        "pose.landmarks",
        {
            "session_id": _UUID,
            "t": {"type": "array", "items": {"type": "number"}},
            "aspect": {"type": ["number", "null"]},
        },
        "session_id",
        "t",
        description="binary: this JSON header, then 33 x 4 float32 per frame",
    ),
    "pose.frame": _op(
        "pose.frame",
        {"session_id": _UUID, "t": {"type": "number"}},
        "session_id",
        description="binary: this JSON header, then JPEG bytes",
    ),
    "telemetry": _op("telemetry", {"events": {"type": "array"}}, "events"),
    # Virtual visits (server/visits): enter and leave an appointment's room, and relay WebRTC
    # signalling to the other party on `visit:<appointment id>`.
    "visit.join": _op("visit.join", {"appointment_id": _UUID}, "appointment_id"),
    "visit.leave": _op("visit.leave", {"appointment_id": _UUID}, "appointment_id"),
    "visit.signal": _op(
        "visit.signal",
        {
            "appointment_id": _UUID,
            "kind": {"enum": ["offer", "answer", "candidate"]},
            "sdp": {"type": "string", "minLength": 1, "maxLength": 16384},
            "candidate": {
                "type": "object",
                "required": ["candidate"],
                "properties": {
                    "candidate": {"type": "string", "maxLength": 1024},
                    "sdpMid": {"type": ["string", "null"], "maxLength": 64},
                    "sdpMLineIndex": {"type": ["integer", "null"], "minimum": 0, "maximum": 64},
                },
            },
        },
        "appointment_id",
        "kind",
        description="offer and answer carry `sdp`; candidate carries `candidate`",
    ),
    **{
        f"session.{action}": _op(
            f"session.{action}",
            {"session_id": _UUID, "reps": {"type": ["integer", "null"], "minimum": 0}},
            "session_id",
        )
        for action in ("pause", "resume", "skip", "done", "abandon")
    },
}

_ERROR_BODY: Schema = {
    "type": "object",
    "required": ["code", "message"],
    "properties": {
        "code": {"type": "string"},
        "message": {"type": "string"},
        "details": {"type": "object"},
    },
}
# Server -> client.
SERVER_FRAMES: dict[str, Schema] = {
    "ok": {
        "type": "object",
        "required": ["op", "id", "result"],
        "properties": {"op": {"const": "ok"}, "id": _ID, "result": {"type": "object"}},
        "description": "the reply to an op; subscribe's result is {channel, position, recovered}",
    },
    "error": {
        "type": "object",
        "required": ["op", "error"],
        "properties": {"op": {"const": "error"}, "id": _ID, "error": _ERROR_BODY},
        "description": "an op failed; same code/message/details as the REST error envelope",
    },
    "event": {
        "type": "object",
        "required": ["op", "channel", "offset", "epoch", "type", "data"],
        "properties": {
            "op": {"const": "event"},
            "channel": {"type": "string"},
            "offset": {"type": "string"},
            "epoch": {"type": "string"},
            "type": {"type": "string"},
            "data": {"type": "object"},
        },
    },
    "ephemeral": {
        "type": "object",
        "required": ["op", "channel", "type", "data"],
        "properties": {
            "op": {"const": "ephemeral"},
            "channel": {"type": "string"},
            "type": {"type": "string"},
            "data": {"type": "object"},
        },
        "description": "an event that is not stored: no offset, never replayed, sent only to "
        "subscribers live at that moment and dropped for a connection that is behind "
        "(`pose.skeleton`)",
    },
    "recovery": {
        "type": "object",
        "required": ["op", "channel", "position", "recovered"],
        "properties": {
            "op": {"const": "recovery"},
            "channel": {"type": "string"},
            "position": _POSITION,
            "recovered": {"const": False},
        },
        "description": "history was lost: refetch the snapshot, then apply the events after it",
    },
}


def _defs_name(op: str) -> str:
    return op.replace(".", "_")


@cache
def _document() -> Schema:
    client = {f"client_{_defs_name(op)}": schema for op, schema in CLIENT_OPS.items()}
    server = {f"server_{_defs_name(op)}": schema for op, schema in SERVER_FRAMES.items()}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "/v1/protocol/frames.schema.json",
        "title": "Cadence WebSocket frames (GET /v1/ws)",
        "$defs": {
            **client,
            **server,
            "ClientFrame": {"oneOf": [{"$ref": f"#/$defs/{name}"} for name in client]},
            "ServerFrame": {"oneOf": [{"$ref": f"#/$defs/{name}"} for name in server]},
        },
    }


def document() -> Schema:
    """The published document (a fresh copy's worth: callers must not change it)."""
    return _document()


@cache
def _validator(op: str) -> SchemaCheck | None:
    schema = CLIENT_OPS.get(op)
    return None if schema is None else SchemaCheck(schema)


# The code a schema fault is answered with is the one each op answered before the schemas
# existed, so no client sees a code change (PROTOCOL.md: extend, never break): the ops that
# mirror a REST call answer as REST does; the pose ops check their own frames (the binary form
# included) with codes of their own (bad_shape, bad_visibility, ...), so the schema is published
# for them but not enforced here; every other op answers bad_request.
_AS_REST = frozenset({"hold", "release", "telemetry"})
_SELF_CHECKED = frozenset({"pose", "pose.landmarks", "pose.frame"})


def violations(frame: Mapping[str, Any]) -> tuple[str, dict[str, str]] | None:
    """(error code, path -> message) for a client frame that breaks its op's schema; None when
    it conforms, its op checks itself, or its op has no schema here (an unknown op is the
    dispatcher's to refuse)."""
    op = str(frame.get("op"))
    if op in _SELF_CHECKED:
        return None
    validator = _validator(op)
    if validator is None:
        return None
    fields = validator.faults(frame)
    if not fields:
        return None
    return ("validation_failed" if op in _AS_REST else "bad_request"), fields
