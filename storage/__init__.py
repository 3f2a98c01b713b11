"""Storage: PostgreSQL (pools, the tenant transaction, Piccolo tables, the domains'
repositories), Redis keys, the events primitive, and the one error vocabulary (storage.errors)."""

from storage.db import Database
from storage.events import EventLog, Replay, StreamPosition
from storage.keys import KeySpace
from storage.types import Channel, ChannelKind, ChannelName, Principal, Role

__all__ = [
    "Channel",
    "ChannelKind",
    "ChannelName",
    "Database",
    "EventLog",
    "KeySpace",
    "Principal",
    "Replay",
    "Role",
    "StreamPosition",
]
