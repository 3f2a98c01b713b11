"""RFC 3339 instants, the one text form of a time on the wire (PROTOCOL.md): UTC with `Z`,
sub-second digits only when there are any (so a cursor built from a stored instant neither skips
nor repeats rows, and a whole-second instant reads `2026-12-02T09:00:00Z`)."""

from __future__ import annotations

from datetime import UTC, datetime


class InvalidInstant(ValueError):
    """Text that is not an RFC 3339 instant with an offset."""


def format_instant(t: datetime) -> str:
    return t.astimezone(UTC).isoformat().replace("+00:00", "Z")


def parse_instant(text: str) -> datetime:
    """An aware datetime from RFC 3339 text (`Z` or an offset; a naive time is refused)."""
    try:
        value = datetime.fromisoformat(text)
    except (TypeError, ValueError):
        raise InvalidInstant(f"not an RFC 3339 instant: {text!r}") from None
    if value.tzinfo is None:
        raise InvalidInstant(f"an RFC 3339 instant needs an offset or Z: {text!r}")
    return value
