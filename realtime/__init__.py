"""The WebSocket gateway: connections, channels, authorization, fan-out, recovery, presence.

`Gateway` serves `GET /v1/ws` (PROTOCOL.md). The server hands it implementations of
`Authenticator` and `SubscriptionPolicy`, and registers the non-built-in ops (`hold`, `release`,
`pose`, `telemetry`, binary `pose.frame`) in `Gateway.ops` as `OpHandler`s that raise `OpError`,
as `Pipelined` submitters for a stream of frames that need not wait for each reply (`pose`), or
as `Verbatim` handlers that forward the frame's bytes as they arrived (`telemetry`).
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
    Verbatim,
    VerbatimHandler,
)
from realtime._gateway import Gateway
from realtime._protocol import CloseCode, Limits, OpError, nul_error, nul_path

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
    "Verbatim",
    "VerbatimHandler",
    "nul_error",
    "nul_path",
]
