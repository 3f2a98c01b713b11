"""Calendar shards: the one writer of an organization's appointments, holds and live slots, and
the facade (`CalendarCommands`) the server calls it through."""

from actors.calendar import messages
from actors.calendar._commands import CalendarCommands, anonymous, caller_of
from actors.calendar._shard import CalendarShard, ShardOptions
from actors.calendar._state import Hold, HoldStatus
from actors.calendar._waitlist import entry_json as waitlist_entry_json
from actors.calendar._wire import slot_json

__all__ = [
    "CalendarCommands",
    "CalendarShard",
    "Hold",
    "HoldStatus",
    "ShardOptions",
    "anonymous",
    "caller_of",
    "messages",
    "slot_json",
    "waitlist_entry_json",
]
