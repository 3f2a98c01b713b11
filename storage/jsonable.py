"""The JSON form of stored values: instants as RFC 3339 (storage/rfc3339.py), dates as ISO dates,
UUIDs as strings. One function, so a value reads the same in a REST body, an event, a cursor and
the details of an error, whichever edge writes it."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from storage.rfc3339 import format_instant


def jsonable(value: Any) -> Any:
    """Rows and dicts with datetimes, dates and UUIDs, as JSON-ready values."""
    if isinstance(value, datetime):
        return format_instant(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):  # asyncpg's own UUID class too, which orjson refuses
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value
