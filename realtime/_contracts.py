"""What the gateway needs from the floors around it, as Protocols. `server/gateway.py` hands in
the implementations; realtime/ never imports server/ (ARCHITECTURE.md, dependency direction)."""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any, Protocol

from storage.types import Channel, Principal


class Authenticator(Protocol):
    async def authenticate_token(self, token: str) -> Principal:
        """The principal of a valid access token. Raises any exception for a token that is
        malformed, forged, expired or whose user is disabled (the client is closed with 4001)."""
        ...


class SubscriptionPolicy(Protocol):
    async def may_subscribe(self, principal: Principal | None, channel: Channel) -> bool:
        """Whether `principal` (None = anonymous) may subscribe to `channel` (PROTOCOL.md
        "Channels and events"). Decisions are cached per connection for `Limits.policy_cache_s`."""
        ...

    def counters_only(self, principal: Principal, channel: Channel) -> bool:
        """True when the subscriber may see aggregates only (the `owner` role on `org:`)."""
        ...

    def non_clinical_only(self, principal: Principal, channel: Channel) -> bool:
        """True when the subscriber may see no clinical event of the channel (a receptionist on
        `patient:`): the gateway delivers only the types of `_entries.NON_CLINICAL_PREFIXES`."""
        ...


class ConnectionContext(Protocol):
    """What an op handler sees of the connection that sent the frame."""

    @property
    def id(self) -> str: ...

    @property
    def principal(self) -> Principal | None: ...

    @property
    def remote(self) -> str | None:
        """The peer's IP address (None when unknown): abuse limits of anonymous ops count per
        address."""
        ...

    def push(self, frame: bytes, wire: bytes | None = None) -> bool:
        """Queue an already encoded server frame (JSON text) for this connection, in order with
        everything else it receives. False when the connection is closing or was just closed
        with 4008 because the frame did not fit its queue. `wire` is optional: the frame already
        framed as a WebSocket TEXT frame (`realtime._protocol.wire`)."""
        ...


class OpHandler(Protocol):
    async def __call__(
        self, ctx: ConnectionContext, frame: dict[str, Any]
    ) -> dict[str, Any] | None:
        """Handle one client frame of the op this handler is registered for.

        Returns the `result` of the `ok` reply (None = `{}`), or raises `OpError(code, message)`
        for an `error` reply. Binary frames reach the handler named by their header's `op`, with
        the header fields plus `payload` (a memoryview of the bytes after the header). Handlers
        of one connection run one at a time, in arrival order, each within `Limits.op_timeout_s`
        (a `Pipelined` op overlaps only with other pipelined ops).
        """
        ...


class Submitter(Protocol):
    async def __call__(
        self, ctx: ConnectionContext, frame: dict[str, Any]
    ) -> Awaitable[dict[str, Any] | None]:
        """Accept one client frame of a pipelined op: check it and start its work (for example,
        queue it for the worker that applies it) before returning; the awaitable returned gives
        the `result` of the `ok` reply, or raises `OpError`. Raising here answers `error` too.

        The gateway awaits the submissions of one connection one at a time, in arrival order,
        so work queued in submission order is done in arrival order; the results may then be
        outstanding together (at most `Limits.ops_in_flight`), and replies still leave in
        arrival order. The whole op (submission and result) runs within `Limits.op_timeout_s`.
        """
        ...


@dataclass(frozen=True, slots=True)
class Pipelined:
    """Registers `submit` in `Gateway.ops` as a pipelined op: a stream of these (pose frames)
    does not wait for each reply before the next frame is submitted. Any other op of the
    connection waits until the replies of the pipelined ops before it have left, so it still
    runs alone and sees their effects.

    `live`: a live stream, whose frames are worth nothing late (pose landmarks). When the
    server falls behind, a frame that has waited longer than `Limits.stale_after_s` since it
    was read is answered `overloaded` without being run, so the frames that do run stay fresh
    and the connection stays open."""

    submit: Submitter
    live: bool = False


class VerbatimHandler(Protocol):
    async def __call__(
        self, ctx: ConnectionContext, frame: dict[str, Any], raw: bytes
    ) -> dict[str, Any] | None:
        """As `OpHandler`, with the frame's bytes as they arrived (`raw`) beside the parsed
        frame."""
        ...


@dataclass(frozen=True, slots=True)
class Verbatim:
    """Registers `handle` in `Gateway.ops` for an op that forwards the client's frame as it
    arrived: the `telemetry` batch goes to the ingest actors as the client's JSON bytes, the
    same bytes as a `POST /v1/telemetry` body, and is decoded into rows there, once, rather
    than re-encoded here from the parsed frame. Otherwise it runs like any `OpHandler`."""

    handle: VerbatimHandler


class Observer(Protocol):
    """Metrics sink. Called off the per-delivery path (per frame batch or per sampling tick)."""

    def opened(self) -> None: ...

    def closed(self, code: int) -> None: ...

    def frames(self, direction: str, op: str, n: int = 1) -> None: ...

    def queued(self, total_bytes: int, connections: int) -> None: ...

    def dropped(self, reason: str) -> None: ...


class NullObserver:
    def opened(self) -> None:
        pass

    def closed(self, code: int) -> None:
        pass

    def frames(self, direction: str, op: str, n: int = 1) -> None:
        pass

    def queued(self, total_bytes: int, connections: int) -> None:
        pass

    def dropped(self, reason: str) -> None:
        pass
