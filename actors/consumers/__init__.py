"""Events out: the consumers of the organizations' event streams and the pumps of due work.

A `Handler` reads every organization event through its own Redis consumer group; a `Pump` does
work that falls due by time (deliveries to retry, reminders, the notification outbox). The
`Runner` drives both in one process with one lifecycle. They run inside `cadence serve` or as a
separate `cadence consume` worker, not as Ray actors: they own no state that needs a single
owner (Redis consumer groups share entries between consumers, and Postgres `SKIP LOCKED`
shares due rows), their work is network I/O, and a crashed worker is recovered by the next
XAUTOCLAIM or lease expiry rather than by a restart."""

from actors.consumers._contracts import (
    BatchHandler,
    Clock,
    Context,
    Handler,
    HandlerFactory,
    Pump,
    PumpFactory,
    SystemClock,
)
from actors.consumers._runner import Runner, RunnerOptions

__all__ = [
    "BatchHandler",
    "Clock",
    "Context",
    "Handler",
    "HandlerFactory",
    "Pump",
    "PumpFactory",
    "Runner",
    "RunnerOptions",
    "SystemClock",
]
