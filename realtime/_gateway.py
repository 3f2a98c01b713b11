"""`GET /v1/ws`: the handshake (Origin allowlist, token from header, query or `auth` frame), the
reader loop (size, rate and shape of every inbound frame) and op dispatch.

Authentication decisions (documented in realtime/README.md):
- A token in the `Authorization` header or the `access_token` query parameter is verified right
  after the upgrade; an invalid one closes the socket with 4001 (browsers cannot read an HTTP
  status of a failed upgrade, they can read a close code).
- No token: the connection is anonymous at once (public calendar channels only). Within
  `Limits.auth_window_s` (5 s) an `auth` frame upgrades it; later, `auth` is answered with
  `auth_window_closed`. An authenticated connection may send `auth` any time with a fresh token
  for the same identity to push back its expiry. An invalid token in `auth` closes with 4001.
- The token's expiry closes the connection with 4001 unless refreshed before.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Collection
from typing import Any

import redis.asyncio as aioredis
from aiohttp import WSMsgType, web
from yarl import URL

from realtime import _protocol as proto
from realtime import frame_schemas
from realtime._connection import Connection, ConnState
from realtime._contracts import (
    Authenticator,
    NullObserver,
    Observer,
    OpHandler,
    Pipelined,
    Submitter,
    SubscriptionPolicy,
    Verbatim,
)
from realtime._hub import Hub
from realtime._ops import BuiltinOps
from realtime._presence import Presence
from realtime._protocol import CloseCode, FrameId, Limits, OpError
from storage.events import EventLog
from storage.keys import KeySpace
from storage.outage import outage
from storage.types import Principal

log = logging.getLogger("cadence.realtime.gateway")


class Gateway:
    """One per server process. `ops` is the registry of non-built-in ops (name -> handler,
    `Pipelined(submitter)` for a stream of frames that need not wait for each reply, or
    `Verbatim(handler)` for a handler that also gets the frame's bytes)."""

    def __init__(
        self,
        *,
        redis: aioredis.Redis,
        redis_url: str,
        events: EventLog,
        keys: KeySpace,
        authenticator: Authenticator,
        policy: SubscriptionPolicy,
        origins: Collection[str] = (),
        limits: Limits | None = None,
        observer: Observer | None = None,
        server_id: str | None = None,
        preauthenticated: Callable[[web.Request], Principal | None] | None = None,
        ops: dict[str, OpHandler | Pipelined | Verbatim] | None = None,
    ) -> None:
        self.limits = limits or Limits()
        self.server_id = server_id or secrets.token_hex(6)
        self.ops: dict[str, OpHandler | Pipelined | Verbatim] = ops if ops is not None else {}
        self.hub = Hub(redis_url, events, name=f"cadence-gateway-{self.server_id}")
        self.presence = Presence(redis, keys, self.server_id, ttl_s=self.limits.presence_ttl_s)
        self._origins = frozenset(origins)
        self._observer: Observer = observer or NullObserver()
        self._builtin = BuiltinOps(self.hub, self.presence, authenticator, policy, self.limits)
        self._connections: dict[str, Connection] = {}
        self._ticker: asyncio.Task[None] | None = None
        self._drained = asyncio.Event()
        self._cleanups: set[asyncio.Task[None]] = set()
        # The server's middleware may already have verified an Authorization header.
        self._preauthenticated = preauthenticated

    @property
    def connections(self) -> int:
        return len(self._connections)

    def connected(self, connection_id: str) -> bool:
        """Whether a connection of this process is still open: ops that keep state per
        connection (a visit's room) sweep what the closed ones left behind."""
        return connection_id in self._connections

    async def start(self) -> None:
        await self.hub.start()
        self._ticker = asyncio.create_task(self._tick(), name="realtime-presence")

    def close_matching(
        self, matches: Callable[[Principal | None], bool], code: int, reason: str
    ) -> int:
        """Close, with `code`, every connection whose principal `matches` (a revoked member's,
        on every process: the server calls this for each revocation it hears). Never awaits."""
        closing = [c for c in self._connections.values() if matches(c.principal)]
        for conn in closing:
            conn.fail(code, reason)
        return len(closing)

    async def close_all(self, code: int = CloseCode.GOING_AWAY) -> None:
        """Close every socket with `code` and wait (bounded) until their handlers finished."""
        for conn in list(self._connections.values()):
            conn.fail(code, "server shutting down")
        if self._connections:
            self._drained.clear()
            async with asyncio.timeout(self.limits.close_timeout_s * 2 + 1):
                await self._drained.wait()

    async def stop(self) -> None:
        if self._connections:
            try:
                await self.close_all()
            except TimeoutError:
                log.warning("%d connections did not close in time", len(self._connections))
        if self._ticker is not None:
            self._ticker.cancel()
        await self.presence.clear()
        await self.hub.stop()

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(self.limits.presence_refresh_s)
            await self.presence.refresh()
            total = direct = 0
            for conn in self._connections.values():
                total += conn.queued_bytes
                direct, conn.direct_writes = direct + conn.direct_writes, 0
            self._observer.queued(total, len(self._connections))
            self._observer.frames("out", "direct", direct)

    def _origin_allowed(self, request: web.Request) -> bool:
        origin = request.headers.get("Origin")
        if origin is None or "*" in self._origins or origin in self._origins:
            return True  # non-browser clients send no Origin
        # Same origin as the server itself is always fine (the docs page, the demo pages).
        try:
            parsed = URL(origin)
            return parsed.host is not None and parsed.authority == request.host
        except ValueError:  # not a URL at all (e.g. "http://[x"): no origin we allow
            return False

    @staticmethod
    def _token(request: web.Request) -> str | None:
        header = request.headers.get("Authorization")
        if header is not None:
            scheme, _, value = header.partition(" ")
            return value.strip() if scheme.lower() == "bearer" else ""
        # Never logged: the access log prints the route pattern, not the query string.
        return request.query.get("access_token")

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if not self._origin_allowed(request):
            # The server's error middleware renders it as the error envelope.
            raise web.HTTPForbidden(reason="origin not allowed")
        limits = self.limits
        ws = web.WebSocketResponse(
            max_msg_size=max(limits.max_text_bytes, limits.max_binary_bytes),
            compress=False,  # encode once, send the same bytes to everyone
            heartbeat=limits.heartbeat_s,
            timeout=limits.close_timeout_s,
            decode_text=False,
        )
        known = self._preauthenticated(request) if self._preauthenticated else None
        token = None if known is not None else self._token(request)
        await ws.prepare(request)
        conn = Connection(ws, request, secrets.token_hex(8), limits, self._observer)
        self._connections[conn.id] = conn
        self._observer.opened()
        try:
            if known is not None:
                conn.authenticate(known)
                await self._builtin.enter_patient_presence(conn)
            elif token is not None:
                try:
                    conn.authenticate(await self._builtin.verify(token))
                except Exception:
                    conn.fail(CloseCode.UNAUTHORIZED, "invalid token")
                else:
                    await self._builtin.enter_patient_presence(conn)
            await self._read(conn, ws)
        finally:
            # Shielded: a handler cancelled again (aiohttp cancels handlers of lost connections)
            # must not leave a half-closed connection behind.
            cleanup = asyncio.create_task(self._cleanup(conn))
            self._cleanups.add(cleanup)
            cleanup.add_done_callback(self._cleanups.discard)
            await asyncio.shield(cleanup)
        return ws

    async def _cleanup(self, conn: Connection) -> None:
        try:
            if conn.worker is not None:
                conn.worker.cancel()
                await asyncio.wait({conn.worker}, timeout=self.limits.op_timeout_s)
            if conn.in_flight:  # their replies have nowhere to go
                for task in conn.in_flight:
                    task.cancel()
                await asyncio.wait(set(conn.in_flight), timeout=self.limits.op_timeout_s)
            await conn.finish()
            await self._builtin.leave_all(conn)
        finally:
            del self._connections[conn.id]
            if not self._connections:
                self._drained.set()

    async def _read(self, conn: Connection, ws: web.WebSocketResponse) -> None:
        """Only reads, so it is always inside receive(): pings are answered and a close
        handshake completes even while the worker runs an op."""
        limits = self.limits
        while conn.state is ConnState.OPEN:
            idle = None if conn.subscriptions else limits.idle_s
            try:
                msg = await ws.receive(timeout=idle)
            except TimeoutError:
                conn.fail(CloseCode.GOING_AWAY, "idle")
                return
            if msg.type is WSMsgType.TEXT or msg.type is WSMsgType.BINARY:
                if not conn.bucket.take():
                    conn.fail(CloseCode.TOO_MANY_FRAMES, "too many frames")
                    return
                data: bytes = msg.data if isinstance(msg.data, bytes) else msg.data.encode()
                text = msg.type is WSMsgType.TEXT
                if text and len(data) > limits.max_text_bytes:
                    conn.fail(CloseCode.TOO_LARGE, "text frame too large")
                    return
                if len(conn.inbox) >= limits.frame_burst:  # ops slower than frames come in
                    conn.fail(CloseCode.TOO_MANY_FRAMES, "too many frames pending")
                    return
                conn.inbox.append((text, data, time.monotonic()))
                if conn.worker is None:
                    conn.worker = asyncio.create_task(self._work(conn), name=f"ws-ops {conn.id}")
            else:  # CLOSE, CLOSING, CLOSED, ERROR (aiohttp closed oversize frames with 1009)
                return

    async def _work(self, conn: Connection) -> None:
        """Handles the frames of one connection one at a time, in arrival order; exists only
        while frames wait, so an idle connection holds no task. A pipelined op counts as
        handled once submitted: its reply follows in order (`_submit`)."""
        task = asyncio.current_task()
        inbox = conn.inbox
        try:
            # Some drivers turn a cancellation into their own error (which an op reports as an
            # error reply); `cancelling()` still tells us to stop.
            while inbox and conn.state is ConnState.OPEN and not (task and task.cancelling()):
                text, data, read_at = inbox.popleft()
                await self._on_frame(conn, data, read_at, binary=not text)
        finally:
            if conn.worker is task:
                conn.worker = None

    async def _on_frame(
        self, conn: Connection, data: bytes, read_at: float, *, binary: bool
    ) -> None:
        try:
            frame = proto.parse_binary(data) if binary else proto.parse_text(data)
        except OpError as exc:
            self._observer.frames("in", "malformed")
            await _settled(conn)
            conn.push(proto.error(None, exc.code, exc.message, exc.details))
            return
        await self._dispatch(conn, frame, data, read_at, binary=binary)

    async def _dispatch(
        self, conn: Connection, frame: dict[str, Any], data: bytes, read_at: float, *, binary: bool
    ) -> None:
        fid = proto.frame_id(frame)
        op: str = frame["op"]
        builtin = self._builtin
        handler = self.ops.get(op)
        self._observer.frames("in", op if handler is not None or op in _BUILTIN else "unknown")
        broken = frame_schemas.violations(frame)
        if broken is not None:
            # The published schema of the op (realtime/frame_schemas.py), checked before the op
            # runs: the code the op itself answers, naming every field in REST's words.
            await _settled(conn)
            code, fields = broken
            conn.push(proto.error(fid, code, f"{op[:40]} frame failed validation",
                                  {"fields": fields}))  # fmt: skip
            return
        if isinstance(handler, Pipelined):
            stale = read_at + self.limits.stale_after_s if handler.live else None
            await self._submit(conn, handler.submit, frame, fid, op, stale)
            return
        # Any other op runs alone: after the replies of the pipelined ops sent before it.
        await _settled(conn)
        try:
            async with asyncio.timeout(self.limits.op_timeout_s):
                if binary and handler is None:
                    raise OpError("unknown_op", f"no binary op {op[:40]!r}")
                if op == "subscribe" and not binary:
                    await builtin.subscribe(conn, frame, fid)
                    return
                result: dict[str, Any] | None
                if op == "ping":
                    result = await builtin.ping(conn, frame)
                elif op == "auth":
                    result = await builtin.auth(conn, frame)
                elif op == "unsubscribe":
                    result = await builtin.unsubscribe(conn, frame)
                elif op == "presence":
                    result = await builtin.presence(conn, frame)
                elif isinstance(handler, Verbatim):
                    result = await handler.handle(conn, frame, data)
                elif handler is not None:
                    result = await handler(conn, frame)
                else:
                    raise OpError("unknown_op", f"unknown op {op[:40]!r}")
            conn.push(proto.ok(fid, result))
        except Exception as exc:
            conn.push(_error_reply(fid, op, exc))

    async def _submit(
        self,
        conn: Connection,
        submit: Submitter,
        frame: dict[str, Any],
        fid: FrameId,
        op: str,
        stale: float | None = None,
    ) -> None:
        """Submit a pipelined op now, in arrival order, and leave its result to a task that
        replies after the op before it replied: the next frame need not wait for this one's
        result. At most `Limits.ops_in_flight` results are outstanding per connection. A live
        stream's frame still waiting at `stale` (monotonic) is answered `overloaded`, in order,
        and not run: it takes no slot, so a connection behind catches up at once."""
        in_flight = conn.in_flight
        while not _too_late(stale) and len(in_flight) >= self.limits.ops_in_flight:
            # A finished task leaves by its callback; a live frame waits no longer than `stale`.
            left = None if stale is None else stale - time.monotonic()
            await asyncio.wait({in_flight[0]}, timeout=left)
        deadline = asyncio.get_running_loop().time() + self.limits.op_timeout_s
        result: Awaitable[dict[str, Any] | None] | Exception
        if _too_late(stale):
            self._observer.frames("in", "skipped")
            waited = {"stale_after_ms": round(self.limits.stale_after_s * 1000)}
            result = OpError("overloaded", OVERLOADED, waited)
        else:
            try:
                async with asyncio.timeout_at(deadline):
                    result = await submit(conn, frame)
            except Exception as exc:
                result = exc
        if isinstance(result, Exception) and not in_flight:
            conn.push(_error_reply(fid, op, result))
            return
        before = in_flight[-1] if in_flight else None
        task = asyncio.create_task(
            _reply_after(conn, before, fid, op, result, deadline), name=f"ws-op {conn.id}"
        )
        in_flight.append(task)
        task.add_done_callback(in_flight.remove)


async def _settled(conn: Connection) -> None:
    """Until the replies of every pipelined op submitted so far have left."""
    if conn.in_flight:
        await asyncio.wait(set(conn.in_flight))


async def _reply_after(
    conn: Connection,
    before: asyncio.Task[None] | None,
    fid: FrameId,
    op: str,
    result: Awaitable[dict[str, Any] | None] | Exception,
    deadline: float,
) -> None:
    try:
        if isinstance(result, Exception):
            raise result
        async with asyncio.timeout_at(deadline):
            reply = proto.ok(fid, await result)
    except Exception as exc:
        reply = _error_reply(fid, op, exc)
    if before is not None:  # done or cancelled: either way its turn has passed
        await asyncio.wait({before})
    conn.push(reply)


OVERLOADED = "the server is behind: this frame was skipped, send the next ones as usual"


def _too_late(stale: float | None) -> bool:
    return stale is not None and time.monotonic() > stale


def _error_reply(fid: FrameId, op: str, exc: Exception) -> bytes:
    if isinstance(exc, OpError):
        return proto.error(fid, exc.code, exc.message, exc.details)
    if isinstance(exc, TimeoutError):
        return proto.error(fid, "timeout", "the operation timed out")
    away = outage(exc)
    if away is not None:  # Postgres or Redis restarting: the client retries, as after a 503
        log.warning("op %r: service unavailable (%s)", op[:40], type(exc).__name__)
        return proto.error(fid, away.code, away.message, away.details)
    log.error("op %r failed", op[:40], exc_info=exc)
    return proto.error(fid, "internal", "internal error")


_BUILTIN = frozenset({"subscribe", "unsubscribe", "ping", "auth", "presence"})
