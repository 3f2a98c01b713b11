"""The one wire shape of a slot (PROTOCOL.md): what `GET .../slots` lists and `slots.changed`
carries, times and specialist ids only (no patient data), instants in RFC 3339."""

from __future__ import annotations

import uuid
from typing import Any

from actors.calendar._state import SeatSlot
from pipelines.availability import RemovedSlot, Slot
from storage.rfc3339 import format_instant, parse_instant


def slot_json(s: Slot) -> dict[str, Any]:
    """`seats_left` only on a group calendar's slots (a class)."""
    out: dict[str, Any] = {"start": format_instant(s.start), "end": format_instant(s.end),
           "specialist_ids": [str(x) for x in s.specialist_ids]}  # fmt: skip
    if isinstance(s, SeatSlot):
        out["seats_left"] = s.seats_left
    return out


def _slot_of(s: dict[str, Any]) -> Slot:
    start, end = parse_instant(s["start"]), parse_instant(s["end"])
    ids = tuple(uuid.UUID(x) for x in s["specialist_ids"])
    if "seats_left" in s:
        return SeatSlot(start, end, ids, int(s["seats_left"]))
    return Slot(start, end, ids)


def delta_json(
    calendar_id: uuid.UUID, upserted: list[Slot], removed: list[RemovedSlot]
) -> dict[str, Any]:
    """`slots.changed` data."""
    return {
        "calendar_id": str(calendar_id),
        "upserted": [slot_json(s) for s in upserted],
        "removed": [
            {"start": format_instant(r.start), "end": format_instant(r.end)} for r in removed
        ],
    }


def parse_delta(data: dict[str, Any]) -> tuple[list[Slot], list[RemovedSlot]]:
    upserted = [_slot_of(s) for s in data.get("upserted", [])]
    removed = [
        RemovedSlot(parse_instant(r["start"]), parse_instant(r["end"]))
        for r in data.get("removed", [])
    ]
    return upserted, removed
