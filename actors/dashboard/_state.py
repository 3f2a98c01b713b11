"""The dashboard's state and its deltas: pure functions of what Postgres says about the clinic's
day and of the instant (no I/O here).

State: `{"day", "cards", "attention": {item id: item}}`. Events, on the organization channel:
- `dashboard.updated` `{"day", "cards"}`: the cards' absolute values, counts only (the gateway
  lets an owner receive this type and nothing else of the channel);
- `dashboard.attention` `{"day", "reset", "upserted": [items], "removed": [ids]}`: `reset` says
  "drop every item you hold first" (the day changed, or the projection starts afresh).
A client applies them in stream order onto a snapshot (GET /v1/dashboard) taken at a position.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import orjson

from storage.dashboard import DayCounts, FailedNotification, OpenAppointment
from storage.rfc3339 import format_instant

UPDATED = "dashboard.updated"
ATTENTION = "dashboard.attention"
# Cards the system cannot know yet stay 0 in the shape: intake forms arrive with the clinical
# records issue, and then feed `intake_pending` and the `intake_missing` attention kind.
# `follow_ups_due`: pending follow-ups due on or before the clinic's day.
CARDS = (
    "appointments_today",
    "checked_in",
    "waiting",
    "no_shows",
    "intake_pending",
    "follow_ups_due",
)
State = dict[str, Any]
Event = tuple[str, Mapping[str, Any]]


@dataclass(frozen=True, slots=True)
class Rules:
    late_after: timedelta = timedelta(minutes=10)  # past the start, not arrived: "late"


def cards_of(counts: DayCounts, follow_ups_due: int = 0) -> dict[str, int]:
    return {
        "appointments_today": counts.appointments,
        "checked_in": counts.arrived,
        "waiting": counts.waiting,
        "no_shows": counts.no_shows,
        "intake_pending": 0,
        "follow_ups_due": follow_ups_due,
    }


def attention_of(
    awaited: Iterable[OpenAppointment],
    failed: Iterable[FailedNotification],
    now: datetime,
    rules: Rules,
) -> dict[str, dict[str, Any]]:
    """The needs-attention items: a patient late for a booked or confirmed appointment, an
    appointment of the day still unconfirmed (until it becomes late), and a notification to a
    patient that failed today. Ids are stable (kind and row), so recomputing yields the same
    items; ids only, never names or message text."""
    items: dict[str, dict[str, Any]] = {}
    for a in awaited:
        late_at = a.starts_at + rules.late_after
        if now >= late_at:
            kind, since = "late", late_at
        elif a.status == "booked":
            kind, since = "unconfirmed", a.created_at
        else:
            continue
        item_id = f"{kind}:{a.id}"
        items[item_id] = {
            "id": item_id,
            "kind": kind,
            "appointment_id": str(a.id),
            "patient_id": str(a.patient_id),
            "specialist_id": str(a.specialist_id),
            "calendar_id": str(a.calendar_id),
            "start": format_instant(a.starts_at),
            "since": format_instant(since),
        }
    for n in failed:
        item_id = f"notification_failed:{n.id}"
        items[item_id] = {
            "id": item_id,
            "kind": "notification_failed",
            "notification_id": str(n.id),
            "notification_kind": n.kind,
            "appointment_id": None if n.appointment_id is None else str(n.appointment_id),
            "patient_id": str(n.patient_id),
            "since": format_instant(n.finished_at),
        }
    return items


def state_of(day: date, cards: dict[str, int], attention: dict[str, dict[str, Any]]) -> State:
    return {"day": day.isoformat(), "cards": cards, "attention": attention}


def encode(state: State) -> bytes:
    return orjson.dumps(state, option=orjson.OPT_SORT_KEYS)


def decode(raw: bytes | None) -> State | None:
    if raw is None:
        return None
    try:
        state = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None  # unreadable: start afresh (a reset), never fail the projection on it
    return state if isinstance(state, dict) else None


def ordered(items: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Attention items as clients list them: oldest condition first."""
    return sorted(items, key=lambda i: (i["since"], i["id"]))


def deltas(old: State | None, new: State) -> list[Event]:
    """The events that bring a holder of `old` to `new` (none when they are equal)."""
    out: list[Event] = []
    day = new["day"]
    fresh = old is None or old.get("day") != day
    if fresh or old is None or old.get("cards") != new["cards"]:
        out.append((UPDATED, {"day": day, "cards": new["cards"]}))
    items: dict[str, Any] = new["attention"]
    if fresh or old is None:
        out.append(
            (ATTENTION, {"day": day, "reset": True, "upserted": ordered(items.values()),
                         "removed": []})
        )  # fmt: skip
        return out
    before: dict[str, Any] = old.get("attention") or {}
    upserted = [item for key, item in items.items() if before.get(key) != item]
    removed = sorted(key for key in before if key not in items)
    if upserted or removed:
        out.append(
            (ATTENTION, {"day": day, "reset": False, "upserted": ordered(upserted),
                         "removed": removed})
        )  # fmt: skip
    return out


def apply(state: State, events: Sequence[tuple[str, Mapping[str, Any]]]) -> State:
    """A client's view after `events` (what an SDK does with the deltas; tests hold the
    projection to it)."""
    out: State = {
        "day": state["day"],
        "cards": dict(state["cards"]),
        "attention": dict(state.get("attention") or {}),
    }
    for event_type, data in events:
        if event_type == UPDATED:
            out["day"], out["cards"] = data["day"], dict(data["cards"])
        elif event_type == ATTENTION:
            out["day"] = data["day"]
            if data["reset"]:
                out["attention"] = {}
            for item in data["upserted"]:
                out["attention"][item["id"]] = dict(item)
            for key in data["removed"]:
                out["attention"].pop(key, None)
    return out
