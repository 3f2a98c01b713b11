"""The WebSocket gateway: connections, channels, authorization, fan-out, recovery, presence.

`Gateway` serves `GET /v1/ws` (PROTOCOL.md). The server hands it implementations of
`Authenticator` and `SubscriptionPolicy`, and registers the non-built-in ops (`hold`, `release`,
`pose`, `telemetry`, binary `pose.frame`) in `Gateway.ops` as `OpHandler`s that raise `OpError`,
or as `Pipelined` submitters for a stream of frames that need not wait for each reply (`pose`).
"""

from realtime._contracts import (
    Authenticator,
    ConnectionContext,
    NullObserver,
    Observer,
    OpHandler,
    Pipelined,
    Submitter,
    SubscriptionPolicy,
)
from realtime._gateway import Gateway
from realtime._protocol import CloseCode, Limits, OpError

__all__ = [
    "Authenticator",
    "CloseCode",
    "ConnectionContext",
    "Gateway",
    "Limits",
    "NullObserver",
    "Observer",
    "OpError",
    "OpHandler",
    "Pipelined",
    "SubscriptionPolicy",
    "Submitter",
]
