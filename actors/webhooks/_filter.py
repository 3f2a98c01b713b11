"""Which events an endpoint asked for: exact types (`appointment.booked`), a family
(`appointment.*`) or everything (`*`)."""

from __future__ import annotations

import re
from collections.abc import Iterable

# What a filter may look like: dotted lower-case words, optionally ending in `.*`, or `*`.
FILTER_PATTERN = r"^(\*|[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*(\.\*)?)$"
_FILTER = re.compile(FILTER_PATTERN)


def valid_filter(value: str) -> bool:
    return bool(_FILTER.match(value))


def matches(filters: Iterable[str], event_type: str) -> bool:
    for f in filters:
        if f == "*" or f == event_type:
            return True
        if f.endswith(".*") and event_type.startswith(f[:-1]):
            return True
    return False
