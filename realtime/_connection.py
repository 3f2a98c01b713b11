"""One WebSocket connection: its lifecycle, its byte-capped outbound queue drained by ONE writer
task, its inbound frame budget and its token expiry.

Everything that reaches the client — replies, replayed and live events — goes through `push`,
which never awaits: the hub calls it for every subscriber of an entry in one synchronous loop.
When the queued bytes would exceed `Limits.queue_bytes` the client is too slow: the queue is
dropped and the connection closed with 4008 (it can resume from its last offset).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from enum import Enum
from typing import Any

from aiohttp import WSMsgType, web

from realtime._contracts import Observer
from realtime._protocol import CloseCode, Limits
from realtime._protocol import wire as proto_wire
from realtime._recovery import Subscription
from storage.types import ChannelName, Principal

log = logging.getLogger("cadence.realtime.connection")
# Below this many bytes waiting in the socket's buffer a frame is written directly; above it the
# frame queues for the writer task, which awaits the drain (asyncio's default high-water mark).
DIRECT_WRITE_LIMIT = 64 * 1024


class ConnState(Enum):
    OPEN = "open"
    CLOSING = "closing"
    CLOSED = "closed"


_TRANSITIONS: dict[ConnState, frozenset[ConnState]] = {
    ConnState.OPEN: frozenset({ConnState.CLOSING}),
    ConnState.CLOSING: frozenset({ConnState.CLOSED}),
    ConnState.CLOSED: frozenset(),
}


class TokenBucket:
    """Inbound frame budget: `rate` per second sustained, `burst` at once."""

    __slots__ = ("_rate", "_burst", "_tokens", "_at")

    def __init__(self, rate: float, burst: int) -> None:
        self._rate = rate
        self._burst = float(burst)
        self._tokens = float(burst)
        self._at = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self._tokens = min(self._burst, self._tokens + (now - self._at) * self._rate)
        self._at = now
        if self._tokens < 1.0:
            return False
        self._tokens -= 1.0
        return True


class Connection:
    def __init__(
        self,
        ws: web.WebSocketResponse,
        request: web.Request,
        connection_id: str,
        limits: Limits,
        observer: Observer,
    ) -> None:
        self._ws = ws
        self._request = request
        self._id = connection_id
        self.limits = limits
        self._observer = observer
        self.state = ConnState.OPEN
        self.close_code: int | None = None
        self.opened_at = time.monotonic()
        self._principal: Principal | None = None
        self._out: deque[bytes] = deque()
        self._queued = 0
        self._transport = request.transport
        self.direct_writes = 0
        self._writer: asyncio.Task[None] | None = None
        self._closer: asyncio.Task[None] | None = None
        self._expiry: asyncio.TimerHandle | None = None
        self.bucket = TokenBucket(limits.frames_per_s, limits.frame_burst)
        self.subscriptions: dict[ChannelName, Subscription] = {}
        self.decisions: dict[ChannelName, tuple[bool, float]] = {}  # policy cache
        self.present_on: set[ChannelName] = set()
        # Inbound frames waiting for the op worker, which exists only while there are some.
        self.inbox: deque[tuple[bool, bytes, float]] = deque()  # (text, data, read at)
        self.worker: asyncio.Task[None] | None = None
        # Pipelined ops submitted whose reply has not left yet, oldest first (realtime/_gateway.py).
        self.in_flight: deque[asyncio.Task[None]] = deque()

    # -- ConnectionContext ------------------------------------------------------------------

    @property
    def id(self) -> str:
        return self._id

    @property
    def principal(self) -> Principal | None:
        return self._principal

    @property
    def remote(self) -> str | None:
        return self._request.remote

    @property
    def queue_cap(self) -> int:
        return self.limits.queue_bytes

    @property
    def queued_bytes(self) -> int:
        return self._queued

    def push(self, frame: bytes, wire: bytes | None = None) -> bool:
        if self.state is not ConnState.OPEN:
            return False
        transport = self._transport
        if (
            self._writer is None
            and transport is not None
            and transport.get_write_buffer_size() < DIRECT_WRITE_LIMIT
            and not self._ws.closed
            and not transport.is_closing()
        ):
            # Fast path, most deliveries: nothing is waiting and the socket takes data, so write
            # the frame now. A synchronous write, no task switch, no await per subscriber.
            transport.write(wire if wire is not None else proto_wire(frame))
            self.direct_writes += 1
            return True
        self._queued += len(frame)
        if self._queued > self.limits.queue_bytes:
            self._observer.dropped("slow_consumer")
            self.fail(CloseCode.SLOW_CONSUMER, "slow consumer")
            return False
        self._out.append(frame)
        if self._writer is None:
            self._writer = asyncio.create_task(self._write(), name=f"ws-writer {self._id}")
        return True

    # -- lifecycle --------------------------------------------------------------------------

    def _move(self, to: ConnState) -> None:
        if to not in _TRANSITIONS[self.state]:
            raise RuntimeError(f"connection cannot go from {self.state.name} to {to.name}")
        self.state = to

    def authenticate(self, principal: Principal) -> None:
        """Set (or refresh) the principal; closes with 4001 when its token expires."""
        self._principal = principal
        self.decisions.clear()
        if self._expiry is not None:
            self._expiry.cancel()
            self._expiry = None
        if principal.expires_at is not None:
            delay = max(0.0, principal.expires_at - time.time())
            self._expiry = asyncio.get_running_loop().call_later(
                delay, self.fail, CloseCode.UNAUTHORIZED, "token expired"
            )

    def fail(self, code: int, reason: str) -> None:
        """Close with `code` as soon as possible: queued frames are dropped, never awaited."""
        if self.state is not ConnState.OPEN:
            return
        self._move(ConnState.CLOSING)
        self.close_code = code
        self._out.clear()
        self._queued = 0
        if self._expiry is not None:
            self._expiry.cancel()
        # The writer may be stuck in a drain on a client that stopped reading.
        if self._writer is not None:
            self._writer.cancel()
        self._closer = asyncio.create_task(self._close(code, reason), name=f"ws-close {self._id}")

    async def _write(self) -> None:
        """The connection's one writer: exists only while frames wait (an idle connection holds
        no task), drains them in order, awaiting the socket when its buffer is full."""
        out, ws = self._out, self._ws
        sent = 0
        try:
            while out:
                frame = out.popleft()
                self._queued -= len(frame)
                # Frames are UTF-8 JSON already: sent as TEXT without a decode/encode trip.
                await ws.send_frame(frame, WSMsgType.TEXT)
                sent += 1
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the peer went away under us; the reader sees it too
            log.debug("writer of %s stopped: %r", self._id, exc)
            self.fail(CloseCode.GOING_AWAY, "")
        finally:
            if self._writer is asyncio.current_task():
                self._writer = None
            self._observer.frames("out", "queued", sent)

    async def _close(self, code: int, reason: str) -> None:
        transport = self._request.transport
        try:
            async with asyncio.timeout(self.limits.close_timeout_s):
                await self._ws.close(code=code, message=reason.encode()[:120], drain=False)
        except Exception as exc:
            log.debug("close of %s: %r", self._id, exc)
        # Let the client read what is still buffered (the close frame last) for a bounded time;
        # a client that never reads does not get to hold our memory.
        deadline = time.monotonic() + self.limits.close_timeout_s
        while (
            transport is not None
            and not transport.is_closing()
            or (transport is not None and transport.get_write_buffer_size() > 0)
        ):
            if time.monotonic() > deadline:
                transport.abort()
                break
            await asyncio.sleep(0.05)

    async def finish(self) -> None:
        """After the reader loop ended: close if still open, stop the tasks, settle."""
        if self.state is ConnState.OPEN:
            code = self._ws.close_code or CloseCode.NORMAL
            self.fail(code, "")
        if self._closer is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._closer
        if self._writer is not None:
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer
        for sub in self.subscriptions.values():
            sub.close()
        self.subscriptions.clear()
        self._move(ConnState.CLOSED)
        self._observer.closed(self.close_code or CloseCode.NORMAL)

    def describe(self) -> dict[str, Any]:
        return {"id": self._id, "state": self.state.value, "queued": self._queued}
