"""Request helpers of the scheduling REST layer: hours validation, paging cursors, time format."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest

from server.errors import ApiError
from server.http import iso, jsonable
from server.scheduling import repository as repo
from server.scheduling._web import Page, encode_cursor
from storage.scheduling import minutes_to_time


def test_weekly_hours_are_sorted_and_overlaps_refused() -> None:
    rows = repo.weekly_rows(
        [
            {"weekday": 2, "start": "13:00", "end": "24:00"},
            {"weekday": 2, "start": "08:00", "end": "13:00"},
        ],
        "hours",
    )
    assert rows == [
        {"weekday": 2, "start_min": 480, "end_min": 780},
        {"weekday": 2, "start_min": 780, "end_min": 1440},
    ]
    with pytest.raises(ApiError) as caught:
        repo.weekly_rows(
            [
                {"weekday": 1, "start": "09:00", "end": "10:00"},
                {"weekday": 1, "start": "09:30", "end": "11:00"},
            ],
            "hours",
        )
    assert caught.value.status == 422 and "hours" in caught.value.details["fields"]
    with pytest.raises(ApiError):
        repo.weekly_rows([{"weekday": 1, "start": "10:00", "end": "09:00"}], "hours")
    with pytest.raises(ApiError):
        repo.day_ranges([{"start": "10:00", "end": "10:00"}])


def test_minutes_round_trip_and_midnight_means_end_of_day() -> None:
    assert repo.hhmm(repo.minutes("07:05")) == "07:05" and repo.hhmm(1440) == "24:00"
    assert minutes_to_time(1440).hour == 0 and minutes_to_time(545).minute == 5


def test_timezones_are_checked_against_the_iana_database() -> None:
    assert repo.check_timezone("Europe/Bucharest") == "Europe/Bucharest"
    for bad in ("Mars/Base", "../etc/passwd", ""):
        with pytest.raises(ApiError):
            repo.check_timezone(bad)


def test_cursor_encodes_the_sort_key_and_times_are_utc_z() -> None:
    when = datetime(2030, 5, 1, 12, 30, tzinfo=timezone(timedelta(hours=3)))
    ident = uuid.UUID(int=5)
    cursor = encode_cursor([when, ident])
    import base64

    import orjson

    assert orjson.loads(base64.urlsafe_b64decode(cursor + "==")) == [
        "2030-05-01T09:30:00Z",
        str(ident),
    ]
    assert iso(when) == "2030-05-01T09:30:00Z"
    assert jsonable({"a": [ident, when.date()]}) == {"a": [str(ident), "2030-05-01"]}
    assert Page(10, None).after is None
    assert iso(datetime(2030, 1, 1, tzinfo=UTC)) == "2030-01-01T00:00:00Z"
