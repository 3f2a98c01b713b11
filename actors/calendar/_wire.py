"""The one wire shape of a slot (PROTOCOL.md): what `GET .../slots` lists and `slots.changed`
carries, times and specialist ids only (no patient data), instants in RFC 3339."""

from __future__ import annotations

import uuid
from typing import Any

from pipelines.availability import RemovedSlot, Slot
from storage.rfc3339 import format_instant, parse_instant


def slot_json(s: Slot) -> dict[str, Any]:
    return {"start": format_instant(s.start), "end": format_instant(s.end),
            "specialist_ids": [str(x) for x in s.specialist_ids]}  # fmt: skip


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
    upserted = [
        Slot(
            parse_instant(s["start"]),
            parse_instant(s["end"]),
            tuple(uuid.UUID(x) for x in s["specialist_ids"]),
        )  # fmt: skip
        for s in data.get("upserted", [])
    ]
    removed = [
        RemovedSlot(parse_instant(r["start"]), parse_instant(r["end"]))
        for r in data.get("removed", [])
    ]
    return upserted, removed
