"""Handlers calling the calendar shards (actors/calendar): their answers as API results, and the
slot list as the API shows it. Shared by the scheduling handlers and server/live (which builds
on this package, never the other way round)."""

from __future__ import annotations

from collections.abc import Awaitable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from actors.calendar import messages as m
from actors.calendar import slot_json
from server.errors import ApiError, validation_failed
from server.pool_errors import pool_errors
from server.web.params import instant_value
from storage.rfc3339 import parse_instant

T = TypeVar("T")


def instant(value: object, name: str) -> datetime:
    """An RFC 3339 instant with an offset; 422 otherwise (the web kit's parser and words)."""
    return instant_value(value, name)


def instant_or_date(raw: str | None, name: str) -> datetime | date | None:
    if not raw:
        return None
    if len(raw) == 10:
        try:
            return date.fromisoformat(raw)
        except ValueError:
            raise validation_failed({name: "must be a date or an RFC 3339 date-time"}) from None
    return instant(raw, name)


SLOT_QUERY = {
    "from": "RFC 3339 instant, or a date in `timezone` (default: the calendar's) (default now)",
    "to": "RFC 3339 instant, or a date in `timezone`, inclusive (default from+7d)",
    "timezone": "the viewer's IANA time zone: dates are read and days are cut in it",
    "group": "`day`: also answer `days`, the slots grouped by the viewer's local date",
}


@dataclass(frozen=True, slots=True)
class SlotQuery:
    """A slot listing's window and view: dates are the viewer's when a `timezone` is given (a
    booking page shows the viewer's days, Cal.com's booker does the same), else the calendar's."""

    start: datetime | date | None
    end: datetime | date | None
    viewer: ZoneInfo | None
    by_day: bool

    @classmethod
    def of(cls, query: Mapping[str, str]) -> SlotQuery:
        viewer = _zone(query.get("timezone"))
        group = query.get("group")
        if group not in (None, "", "day"):
            raise validation_failed({"group": "must be `day`"})
        start = instant_or_date(query.get("from"), "from")
        end = instant_or_date(query.get("to"), "to")
        if viewer is not None:  # the viewer's dates: their midnights, `to` inclusive
            if type(start) is date:
                start = datetime.combine(start, time(0), viewer)
            if type(end) is date:
                end = datetime.combine(end + timedelta(days=1), time(0), viewer)
        return cls(start, end, viewer, group == "day")

    def render(self, body: dict[str, Any]) -> dict[str, Any]:
        """The listing with the view asked for: `viewer_timezone` and, grouped, `days`."""
        zone = self.viewer or ZoneInfo(body["timezone"])
        if self.viewer is not None:
            body["viewer_timezone"] = self.viewer.key
        if self.by_day:
            days: dict[str, list[dict[str, Any]]] = {}
            for slot in body["slots"]:
                local = parse_instant(slot["start"]).astimezone(zone)
                days.setdefault(local.date().isoformat(), []).append(
                    {**slot, "local_start": local.isoformat(timespec="minutes")}
                )
            body["days"] = [{"date": d, "slots": s} for d, s in days.items()]
        return body


def _zone(raw: str | None) -> ZoneInfo | None:
    if not raw:
        return None
    try:
        return ZoneInfo(raw)
    except (ZoneInfoNotFoundError, ValueError):
        message = "must be an IANA time zone (e.g. Europe/Bucharest)"
        raise validation_failed({"timezone": message}) from None


def render_slots(view: m.SlotsView, query: SlotQuery | None = None) -> dict[str, Any]:
    body = {
        "calendar_id": str(view.calendar_id),
        "timezone": view.timezone,
        "position": view.position.as_dict(),
        "slots": [slot_json(s) for s in view.slots],
    }
    return body if query is None else query.render(body)


def failure(f: m.Failure) -> ApiError:
    return ApiError(f.status, f.code, f.message, dict(f.details))


async def settled(call: Awaitable[m.Result], kind: type[T]) -> T:
    """The facade's answer of the expected kind; failures and a busy or restarting shard
    become their API errors (429 / 503 with Retry-After)."""
    with pool_errors(
        "the calendar is busy; retry after the hint", "the calendar is restarting; retry shortly"
    ):
        result = await call
    if isinstance(result, m.Failure):
        headers = {"Retry-After": "1"} if result.status == 503 else {}
        raise ApiError(result.status, result.code, result.message, dict(result.details), headers)
    if not isinstance(result, kind):
        raise ApiError(503, "unavailable", "unexpected answer from the calendar; retry")
    return result
