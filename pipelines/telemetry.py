"""Telemetry batch shaping: validate client events per type and turn them into rows. Pure.

Each event is judged on its own: one bad event is rejected with a reason and the rest of its
batch goes on. Rows carry ids and measurements only; names and contact data are refused outright.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

import orjson

MAX_EVENTS_PER_BATCH = 500
MAX_EVENT_BYTES = 8 * 1024
MAX_AGE = timedelta(days=30)
MAX_SKEW = timedelta(minutes=5)
PII_KEYS = frozenset(
    {
        "name",
        "first_name",
        "last_name",
        "full_name",
        "email",
        "phone",
        "address",
        "date_of_birth",
        "dob",
        "contact",
    }
)


class EventType(StrEnum):
    POSE_SAMPLE = "pose.sample"
    REP_METRICS = "rep.metrics"
    VIDEO_WATCH = "video.watch"
    CLIENT_ERROR = "client.error"
    SESSION_TIMING = "session.timing"


# Kept for a patient who opted out of analytics: what the clinician needs to follow the treatment.
CLINICAL = frozenset({EventType.REP_METRICS, EventType.SESSION_TIMING})


@dataclass(frozen=True, slots=True)
class TelemetryRow:
    event_id: uuid.UUID
    type: EventType
    t: datetime
    session_id: uuid.UUID | None
    exercise_id: uuid.UUID | None
    data: dict[str, Any]

    @property
    def clinical(self) -> bool:
        return self.type in CLINICAL


@dataclass(frozen=True, slots=True)
class Rejection:
    id: str | None
    code: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "error": {"code": self.code, "message": self.message}}


class _Bad(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _uuid(value: object, field: str) -> uuid.UUID:
    if not isinstance(value, str):
        raise _Bad("invalid_field", f"{field} must be a UUID string")
    try:
        return uuid.UUID(value)
    except ValueError:
        raise _Bad("invalid_field", f"{field} must be a UUID string") from None


def _number(
    data: Mapping[str, Any],
    key: str,
    low: float,
    high: float,
    *,
    integer: bool = False,
    required: bool = True,
) -> None:
    if key not in data:
        if required:
            raise _Bad("invalid_field", f"data.{key} is required")
        return
    value = data[key]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _Bad("invalid_field", f"data.{key} must be a number")
    if integer and not isinstance(value, int):
        raise _Bad("invalid_field", f"data.{key} must be an integer")
    if not math.isfinite(value) or not low <= value <= high:
        raise _Bad("invalid_field", f"data.{key} must be between {low:g} and {high:g}")


def _text(
    data: Mapping[str, Any],
    key: str,
    limit: int,
    *,
    required: bool = True,
    choices: frozenset[str] | None = None,
) -> None:
    if key not in data:
        if required:
            raise _Bad("invalid_field", f"data.{key} is required")
        return
    value = data[key]
    if not isinstance(value, str) or not 0 < len(value) <= limit:
        raise _Bad("invalid_field", f"data.{key} must be a string of 1..{limit} characters")
    if choices is not None and value not in choices:
        raise _Bad("invalid_field", f"data.{key} must be one of {', '.join(sorted(choices))}")


def _pose_sample(data: Mapping[str, Any]) -> None:
    angles = data.get("angles")
    if not isinstance(angles, dict) or not 0 < len(angles) <= 16:
        raise _Bad("invalid_field", "data.angles must map 1..16 joint names to degrees")
    for name in angles:
        if not isinstance(name, str) or len(name) > 40:
            raise _Bad("invalid_field", "data.angles keys must be short joint names")
        _number(angles, name, 0, 360)
    _number(data, "visibility", 0, 1, required=False)


def _rep_metrics(data: Mapping[str, Any]) -> None:
    _number(data, "set", 1, 100, integer=True)
    _number(data, "rep", 1, 1000, integer=True)
    _number(data, "rom_deg", 0, 360)
    _number(data, "duration_ms", 0, 600_000, integer=True)
    _number(data, "min_deg", 0, 360, required=False)
    _number(data, "max_deg", 0, 360, required=False)


def _video_watch(data: Mapping[str, Any]) -> None:
    _text(data, "media_key", 300)
    _text(data, "action", 16, choices=frozenset({"play", "pause", "seek", "progress", "ended"}))
    _number(data, "position_s", 0, 86_400)


def _client_error(data: Mapping[str, Any]) -> None:
    _text(data, "code", 64)
    _text(data, "message", 500)
    _text(data, "where", 200, required=False)


def _session_timing(data: Mapping[str, Any]) -> None:
    _text(
        data,
        "phase",
        16,
        choices=frozenset(
            {"started", "exercise", "rest", "paused", "resumed", "completed", "abandoned"}
        ),
    )
    _number(data, "ms", 0, 86_400_000, integer=True)


_DATA_RULES: Mapping[EventType, Callable[[Mapping[str, Any]], None]] = {
    EventType.POSE_SAMPLE: _pose_sample,
    EventType.REP_METRICS: _rep_metrics,
    EventType.VIDEO_WATCH: _video_watch,
    EventType.CLIENT_ERROR: _client_error,
    EventType.SESSION_TIMING: _session_timing,
}
_NEEDS_EXERCISE = frozenset({EventType.POSE_SAMPLE, EventType.REP_METRICS, EventType.VIDEO_WATCH})
_NEEDS_SESSION = frozenset({EventType.POSE_SAMPLE, EventType.REP_METRICS, EventType.SESSION_TIMING})


def _timestamp(value: object, now: datetime) -> datetime:
    if isinstance(value, bool):
        raise _Bad("invalid_field", "t must be epoch milliseconds or an RFC 3339 time")
    if isinstance(value, int | float) and math.isfinite(value):
        try:
            t = datetime.fromtimestamp(value / 1000, tz=UTC)
        except (OverflowError, OSError, ValueError):
            raise _Bad("t_out_of_range", "t is not a plausible time") from None
    elif isinstance(value, str):
        try:
            t = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise _Bad(
                "invalid_field", "t must be epoch milliseconds or an RFC 3339 time"
            ) from None
        if t.tzinfo is None:
            raise _Bad("invalid_field", "t needs a UTC offset")
        t = t.astimezone(UTC)
    else:
        raise _Bad("invalid_field", "t must be epoch milliseconds or an RFC 3339 time")
    if t > now + MAX_SKEW or t < now - MAX_AGE:
        raise _Bad("t_out_of_range", "t must be within the last 30 days and not in the future")
    return t


def _event(raw: object, now: datetime) -> TelemetryRow:
    if not isinstance(raw, dict):
        raise _Bad("invalid_event", "each event must be an object")
    if len(orjson.dumps(raw)) > MAX_EVENT_BYTES:
        raise _Bad("too_large", f"an event may be at most {MAX_EVENT_BYTES} bytes")
    event_id = _uuid(raw.get("id"), "id")
    try:
        kind = EventType(str(raw.get("type")))
    except ValueError:
        raise _Bad("unknown_type", f"type must be one of {', '.join(EventType)}") from None
    t = _timestamp(raw.get("t"), now)
    session_id = _uuid(raw["session_id"], "session_id") if raw.get("session_id") else None
    data = raw.get("data")
    if not isinstance(data, dict):
        raise _Bad("invalid_field", "data must be an object")
    if PII_KEYS & {k.lower() for k in data}:
        raise _Bad("pii_not_allowed", "telemetry carries ids and measurements, never personal data")
    exercise_id = _uuid(data["exercise_id"], "data.exercise_id") if "exercise_id" in data else None
    if kind in _NEEDS_EXERCISE and exercise_id is None:
        raise _Bad("invalid_field", "data.exercise_id is required for this type")
    if kind in _NEEDS_SESSION and session_id is None:
        raise _Bad("invalid_field", "session_id is required for this type")
    _DATA_RULES[kind](data)
    return TelemetryRow(event_id, kind, t, session_id, exercise_id, data)


def validate_batch(
    events: Sequence[object], now: datetime, *, max_events: int = MAX_EVENTS_PER_BATCH
) -> tuple[list[TelemetryRow], list[Rejection]]:
    """Valid rows (each id once, first wins) and one rejection per invalid event."""
    rows: list[TelemetryRow] = []
    rejected: list[Rejection] = []
    seen: set[uuid.UUID] = set()
    for index, raw in enumerate(events):
        rid = raw.get("id") if isinstance(raw, dict) else None
        label = rid if isinstance(rid, str) and len(rid) <= 64 else None
        if index >= max_events:
            rejected.append(
                Rejection(
                    label, "batch_too_large", f"a batch may carry at most {max_events} events"
                )
            )
            continue
        try:
            row = _event(raw, now)
        except _Bad as bad:
            rejected.append(Rejection(label, bad.code, bad.message))
            continue
        if row.event_id not in seen:
            seen.add(row.event_id)
            rows.append(row)
    return rows, rejected
