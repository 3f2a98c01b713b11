"""Telemetry batch shaping: decode a client batch, validate its events per type and turn them
into rows. Pure.

A batch reaches ingest as the client's JSON bytes, whichever way it came (the body of
`POST /v1/telemetry`, or the WebSocket `telemetry` frame: both are objects with an `events`
array), and `decode_batch` is the one place it becomes typed rows. Each event is judged on its
own: one bad event is rejected with a reason and the rest of its batch goes on. Rows carry ids
and measurements only; names and contact data are refused outright.

This runs for every event ingested (tens of thousands a second per core), so the common case is
kept cheap: ids stay canonical UUID text (checked by one regular expression, not parsed into
`uuid.UUID` objects: asyncpg encodes the text straight into COPY), rows are named tuples, and the
per-field helpers below only build their messages once a value is already known to be bad.
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, NamedTuple, TypeAlias

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

# A UUID in canonical text form (lowercase hex, 8-4-4-4-12), which Postgres and asyncpg read as
# is. An alias rather than a NewType: a NewType is a call per id, and this runs per event.
UuidText: TypeAlias = str
_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-(?:[0-9a-f]{4}-){3}[0-9a-f]{12}")
_is_canonical = _CANONICAL_UUID.fullmatch
_ABSENT = object()


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def micros(t: datetime) -> int:
    """An aware datetime as whole microseconds since the Unix epoch (exact)."""
    return (t - _EPOCH) // _MICROSECOND


class TelemetryRow(NamedTuple):
    """One valid event. A named tuple: immutable, and built cheaply once per ingested event.

    The event time is kept as microseconds since the epoch (`t_us`): that is what the ingest
    path writes (a datetime costs more to build and to encode than the row's other fields)."""

    event_id: UuidText
    type: EventType
    t_us: int
    session_id: UuidText | None
    exercise_id: UuidText | None
    data: dict[str, Any]

    @property
    def t(self) -> datetime:
        return _EPOCH + timedelta(microseconds=self.t_us)

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


def _uuid(value: object, field: str) -> UuidText:
    if not isinstance(value, str):
        raise _Bad("invalid_field", f"{field} must be a UUID string")
    if len(value) == 36 and _CANONICAL_UUID.fullmatch(value):
        return value
    try:  # the other spellings `uuid.UUID` accepts (upper case, braces, no hyphens, urn:uuid:)
        return str(uuid.UUID(value))
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
    if isinstance(value, bool) or not isinstance(value, (int, float)):
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
    for name, value in angles.items():
        if not isinstance(name, str) or len(name) > 40:
            raise _Bad("invalid_field", "data.angles keys must be short joint names")
        # The common case inline (this runs for every joint of every sample); `_number` gives
        # the reason when it fails. A comparison chain is False for NaN.
        if type(value) is not float or not 0.0 <= value <= 360.0:
            _number(angles, name, 0, 360)
    if "visibility" in data:
        visibility = data["visibility"]
        if type(visibility) is not float or not 0.0 <= visibility <= 1.0:
            _number(data, "visibility", 0, 1)


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


@dataclass(frozen=True, slots=True)
class _Kind:
    type: EventType
    check: Callable[[Mapping[str, Any]], None]
    needs_exercise: bool
    needs_session: bool


# Keyed by the wire name: one dict lookup per event instead of `EventType(name)` (a Python-level
# call through the Enum metaclass) plus a lookup per rule table.
_KINDS: Mapping[str, _Kind] = {
    k.type.value: k
    for k in (
        _Kind(EventType.POSE_SAMPLE, _pose_sample, needs_exercise=True, needs_session=True),
        _Kind(EventType.REP_METRICS, _rep_metrics, needs_exercise=True, needs_session=True),
        _Kind(EventType.VIDEO_WATCH, _video_watch, needs_exercise=True, needs_session=False),
        _Kind(EventType.CLIENT_ERROR, _client_error, needs_exercise=False, needs_session=False),
        _Kind(EventType.SESSION_TIMING, _session_timing, needs_exercise=False, needs_session=True),
    )
}


@dataclass(frozen=True, slots=True)
class _Window:
    """The times a batch received at `now` may carry (computed once per batch)."""

    earliest: datetime
    latest: datetime
    earliest_us: int
    latest_us: int

    @classmethod
    def at(cls, now: datetime) -> _Window:
        earliest, latest = now - MAX_AGE, now + MAX_SKEW
        return cls(earliest, latest, micros(earliest), micros(latest))


_BAD_T = "t must be epoch milliseconds or an RFC 3339 time"


def _timestamp(value: object, window: _Window) -> int:
    """`t` as microseconds since the epoch. The event time is part of the primary key, so a
    resent event must map to the very same microsecond, whichever path computed it."""
    if type(value) is int:
        # The common case, without a datetime: exactly what the general path computes for whole
        # milliseconds. Out of the window, the general path below says why.
        t_us = value * 1000
        if window.earliest_us <= t_us <= window.latest_us:
            return t_us
    if (type(value) is int or type(value) is float) and math.isfinite(value):
        try:
            t = datetime.fromtimestamp(value / 1000, tz=UTC)
        except (OverflowError, OSError, ValueError):
            raise _Bad("t_out_of_range", "t is not a plausible time") from None
    elif isinstance(value, str):
        try:
            t = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise _Bad("invalid_field", _BAD_T) from None
        if t.tzinfo is None:
            raise _Bad("invalid_field", "t needs a UTC offset")
        t = t.astimezone(UTC)
    else:  # bool is an int subclass: refused here with the rest
        raise _Bad("invalid_field", _BAD_T)
    if t > window.latest or t < window.earliest:
        raise _Bad("t_out_of_range", "t must be within the last 30 days and not in the future")
    return micros(t)


def _event(raw: object, window: _Window) -> TelemetryRow:
    if not isinstance(raw, dict):
        raise _Bad("invalid_event", "each event must be an object")
    if len(orjson.dumps(raw)) > MAX_EVENT_BYTES:
        raise _Bad("too_large", f"an event may be at most {MAX_EVENT_BYTES} bytes")
    event_id = raw.get("id")
    if type(event_id) is not str or len(event_id) != 36 or not _is_canonical(event_id):
        event_id = _uuid(event_id, "id")  # the general case (spellings, reasons), inline above
    name = raw.get("type")
    kind = _KINDS.get(name) if isinstance(name, str) else None
    if kind is None:
        raise _Bad("unknown_type", f"type must be one of {', '.join(EventType)}")
    t = _timestamp(raw.get("t"), window)
    session_id = raw.get("session_id") or None
    if session_id is not None and (
        type(session_id) is not str or len(session_id) != 36 or not _is_canonical(session_id)
    ):
        session_id = _uuid(session_id, "session_id")
    data = raw.get("data")
    if not isinstance(data, dict):
        raise _Bad("invalid_field", "data must be an object")
    if not PII_KEYS.isdisjoint(map(str.lower, data)):
        raise _Bad("pii_not_allowed", "telemetry carries ids and measurements, never personal data")
    exercise_id = data.get("exercise_id", _ABSENT)
    if exercise_id is _ABSENT:
        exercise_id = None
    elif type(exercise_id) is not str or len(exercise_id) != 36 or not _is_canonical(exercise_id):
        exercise_id = _uuid(exercise_id, "data.exercise_id")
    if kind.needs_exercise and exercise_id is None:
        raise _Bad("invalid_field", "data.exercise_id is required for this type")
    if kind.needs_session and session_id is None:
        raise _Bad("invalid_field", "session_id is required for this type")
    kind.check(data)
    return TelemetryRow(event_id, kind.type, t, session_id, exercise_id, data)


class MalformedBatch(ValueError):
    """The batch as a whole is unreadable, so none of it is stored: `bad_request` (not JSON) or
    `validation_failed` (not an object with an `events` array)."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def decode_batch(
    body: bytes, now: datetime, *, max_events: int = MAX_EVENTS_PER_BATCH
) -> tuple[list[TelemetryRow], list[Rejection]]:
    """A client batch as it arrived (`{"events": [...]}`, other keys ignored) as valid rows and
    one rejection per invalid event (`validate_batch`); raises MalformedBatch."""
    try:
        batch = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise MalformedBatch("bad_request") from None
    events = batch.get("events") if isinstance(batch, dict) else None
    if not isinstance(events, list):
        raise MalformedBatch("validation_failed")
    return validate_batch(events, now, max_events=max_events)


def validate_batch(
    events: Sequence[object], now: datetime, *, max_events: int = MAX_EVENTS_PER_BATCH
) -> tuple[list[TelemetryRow], list[Rejection]]:
    """Valid rows (each id once, first wins) and one rejection per invalid event."""
    rows: list[TelemetryRow] = []
    rejected: list[Rejection] = []
    seen: set[str] = set()
    window = _Window.at(now)
    for raw in events[:max_events]:
        try:
            row = _event(raw, window)
        except _Bad as bad:
            rejected.append(Rejection(_label(raw), bad.code, bad.message))
            continue
        if row.event_id not in seen:
            seen.add(row.event_id)
            rows.append(row)
    too_many = f"a batch may carry at most {max_events} events"
    rejected.extend(
        Rejection(_label(raw), "batch_too_large", too_many) for raw in events[max_events:]
    )
    return rows, rejected


def _label(raw: object) -> str | None:
    """The id a rejection names: the client's, when it is a short string."""
    rid = raw.get("id") if isinstance(raw, dict) else None
    return rid if isinstance(rid, str) and len(rid) <= 64 else None
