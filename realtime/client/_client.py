"""The Python client of `GET /v1/ws`: one connection, many subscriptions, automatic resume."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson
import websockets

from storage.events import StreamPosition

log = logging.getLogger("cadence.client")

TokenSource = str | Callable[[], Awaitable[str]] | None
EventCallback = Callable[["Event"], Any]
ResyncCallback = Callable[["Resync"], Any]
EphemeralCallback = Callable[["Ephemeral"], Any]
StateCallback = Callable[[str], Any]
# The connection states `on_state` is told of, in the order a client goes through them.
CONNECTING, CONNECTED, RECONNECTING, CLOSED = "connecting", "connected", "reconnecting", "closed"
_FATAL = {4001: "token missing, invalid or expired"}


# The SDK's name for the one position type of the protocol (`{"offset", "epoch"}` on the wire):
# `Position.parse(snapshot["position"])`, `position.as_dict()`, `position.seq`.
Position = StreamPosition


@dataclass(frozen=True, slots=True)
class Event:
    channel: str
    position: Position
    type: str
    data: Any


@dataclass(frozen=True, slots=True)
class Ephemeral:
    """An event that is never stored (`pose.skeleton`): no position, never replayed, and
    dropped by the server for a connection that is behind. Only an `on_ephemeral` callback
    gets them; a subscription's iterator never does, so a slow reader cannot be held up."""

    channel: str
    type: str
    data: Any


@dataclass(frozen=True, slots=True)
class Resync:
    """History of `channel` was lost (recovered: false): refetch the snapshot; the events that
    follow continue from `position`."""

    channel: str
    position: Position


class ClientError(Exception):
    def __init__(self, code: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.details = details or {}


# Answers after which the same telemetry batch is sent again (the server deduplicates by id).
_RESEND = frozenset({"disconnected", "timeout", "slow_down", "unavailable", "storage_unavailable"})


class Subscription:
    """A channel this client holds across reconnects. Iterate it, or pass callbacks."""

    def __init__(
        self,
        channel: str,
        since: Position | None,
        on_event: EventCallback | None,
        on_resync: ResyncCallback | None,
        maxsize: int,
        on_ephemeral: EphemeralCallback | None = None,
    ) -> None:
        self.channel = channel
        self.position = since  # last event applied (or the position the server gave us)
        self._on_event = on_event
        self._on_resync = on_resync
        self._on_ephemeral = on_ephemeral
        self._queue: asyncio.Queue[Event | Resync] = asyncio.Queue(maxsize)
        self.active = True

    async def _emit(self, item: Event | Resync) -> None:
        result: Any = None
        if isinstance(item, Event) and self._on_event is not None:
            result = self._on_event(item)
        elif isinstance(item, Resync) and self._on_resync is not None:
            result = self._on_resync(item)
        elif isinstance(item, Event) or self._on_event is None:
            # Bounded: when the caller does not keep up, the reader waits, the server's queue
            # fills, the server closes with 4008, and we resume from `position` afterwards.
            await self._queue.put(item)
            return
        else:
            # Callbacks without a resync callback: the Resync is logged, never silently lost.
            log.warning("%s: history lost (recovered: false) and no on_resync", item.channel)
        if inspect.isawaitable(result):
            await result

    async def _ephemeral(self, item: Ephemeral) -> None:
        if self._on_ephemeral is not None:
            result = self._on_ephemeral(item)
            if inspect.isawaitable(result):
                await result

    def __aiter__(self) -> AsyncIterator[Event | Resync]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Event | Resync]:
        while self.active or not self._queue.empty():
            yield await self._queue.get()


class CadenceClient:
    """Connects with a token, keeps subscriptions, reconnects with backoff and resumes.

    Example::

        async with CadenceClient("ws://127.0.0.1:8080/v1/ws", token) as client:
            sub = await client.subscribe(f"calendar:{calendar_id}", since=snapshot_position)
            async for item in sub:
                if isinstance(item, Resync):
                    snapshot = await refetch_slots()   # history was lost: start over
                else:
                    apply(item.type, item.data)

    `token` may be a string, None (anonymous: public calendars only) or an async callable
    returning a fresh token (called before every connection attempt). Events of a channel arrive
    in order, each once; after a reconnect the client resubscribes with its last position and
    either receives what it missed or a `Resync`. A 4001 close stops the client (`closed` is set,
    `error` says why) unless `token` is a callable.
    """

    def __init__(
        self,
        url: str,
        token: TokenSource = None,
        *,
        backoff_min_s: float = 0.1,
        backoff_max_s: float = 10.0,
        call_timeout_s: float = 10.0,
        queue_size: int = 10_000,
        on_state: StateCallback | None = None,
    ) -> None:
        self._url = url
        self._token = token
        self._backoff = (backoff_min_s, backoff_max_s)
        self._call_timeout_s = call_timeout_s
        self._queue_size = queue_size
        self._subs: dict[str, Subscription] = {}
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._joining: dict[int, Subscription] = {}
        self._ids = 0
        self._ws: websockets.ClientConnection | None = None
        self._runner: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        self.closed = asyncio.Event()
        self.error: str | None = None
        self.connections = 0  # successful connections so far (1 + reconnects)
        self.unacknowledged: dict[int, list[dict[str, Any]]] = {}  # telemetry batches in flight
        self._on_state = on_state
        self.state = CLOSED
        self.exception: BaseException | None = None  # what stopped the client, when it failed

    def _set_state(self, state: str) -> None:
        if state == self.state:
            return
        self.state = state
        if self._on_state is not None:
            try:
                self._on_state(state)
            except Exception:  # a caller's callback must not stop the connection loop
                log.exception("on_state callback failed")

    async def __aenter__(self) -> CadenceClient:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def connect(self, timeout_s: float = 10.0) -> None:
        self._runner = asyncio.create_task(self._run(), name="cadence-client")
        waits = [asyncio.ensure_future(e.wait()) for e in (self._ready, self.closed)]
        try:
            async with asyncio.timeout(timeout_s):
                await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waits:
                waiter.cancel()
        if self.closed.is_set():
            code = "token_failed" if self.exception is not None else "closed"
            raise ClientError(code, self.error or "connection refused") from self.exception

    async def close(self) -> None:
        """Close with 1000 (normal closure), then stop the connection loop."""
        self._finish(None)
        ws = self._ws
        if ws is not None:
            # Closed here, before the loop is cancelled: a socket closed by the cancellation
            # unwinding `websockets.connect` would go out with 1011 (internal error).
            with contextlib.suppress(websockets.WebSocketException, OSError):
                await ws.close(1000, "client closed")
        if self._runner is not None:
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._runner
        self._set_state(CLOSED)

    def _finish(self, error: str | None) -> None:
        self.error = self.error or error
        self.closed.set()
        for sub in self._subs.values():
            sub.active = False
        for future in self._pending.values():
            if not future.done():
                future.set_exception(ClientError("closed", self.error or "client closed"))
        self._set_state(CLOSED)

    async def presence(self, channel: str) -> dict[str, Any]:
        """Who is on `channel`: `{channel, viewers}` for a calendar, `{channel, connected,
        devices}` for a patient's channel (PROTOCOL.md, presence)."""
        return await self.call("presence", channel=channel)

    async def presence_list(self, channels: list[str]) -> dict[str, dict[str, Any]]:
        """The presence of several channels at once (channel -> its answer), asked concurrently."""
        answers = await asyncio.gather(*(self.presence(c) for c in channels))
        return dict(zip(channels, answers, strict=True))

    async def history(self, channel: str, since: Position) -> list[Event]:
        """The events of `channel` after `since`, up to the newest at the time of the call, without
        keeping a subscription (a channel this client is not subscribed to). Raises ClientError
        `history_lost` when the stream no longer holds them: refetch the snapshot instead."""
        if channel in self._subs:
            raise ClientError("already_subscribed", "read history of a channel not subscribed")
        sub = Subscription(channel, since, None, None, self._queue_size)
        self._subs[channel] = sub
        try:
            fields = {"channel": channel, "since": since.as_dict()}
            reply = await self._request("subscribe", fields, sub)
            head = Position.parse(reply["position"])
            if not reply.get("recovered", True):
                raise ClientError("history_lost", "the stream no longer holds these events")
            found: list[Event] = []
            async with asyncio.timeout(self._call_timeout_s):
                while sub.position is None or (
                    sub.position.epoch == head.epoch and sub.position.seq < head.seq
                ):
                    item = await sub._queue.get()
                    if isinstance(item, Event):
                        found.append(item)
            while not sub._queue.empty():  # the reader may have queued past the head already
                item = sub._queue.get_nowait()
                if isinstance(item, Event):
                    found.append(item)
            return found
        finally:
            self._subs.pop(channel, None)
            sub.active = False
            if not self.closed.is_set():
                with contextlib.suppress(ClientError, TimeoutError):
                    await self.call("unsubscribe", channel=channel)

    async def subscribe(
        self,
        channel: str,
        *,
        since: Position | None = None,
        on_event: EventCallback | None = None,
        on_resync: ResyncCallback | None = None,
        on_ephemeral: EphemeralCallback | None = None,
    ) -> Subscription:
        """`on_ephemeral` gets the channel's events that are never stored (the live skeleton
        of a pose session); without it they are ignored."""
        sub = Subscription(channel, since, on_event, on_resync, self._queue_size, on_ephemeral)
        self._subs[channel] = sub
        try:
            await self._join(sub)
        except BaseException:
            del self._subs[channel]
            raise
        return sub

    async def unsubscribe(self, channel: str) -> None:
        sub = self._subs.pop(channel, None)
        if sub is not None:
            sub.active = False
            await self.call("unsubscribe", channel=channel)

    async def call(self, op: str, **fields: Any) -> dict[str, Any]:
        """Send one op and wait for its reply; returns `result`, raises ClientError."""
        return await self._request(op, fields, None)

    async def send_telemetry(
        self, events: list[dict[str, Any]], *, give_up_after_s: float = 300.0
    ) -> dict[str, Any]:
        """Send a telemetry batch and return the server's acknowledgement (`accepted`,
        `rejected`, `discarded`), which comes only once the batch is stored.

        Each event needs a client-chosen `id`. Until the batch is acknowledged it is kept in
        `unacknowledged` and sent again after a reconnect, or after the server's retry hint when
        it asks to slow down; resends are harmless because the server deduplicates by event id.
        """
        key = id(events)
        self.unacknowledged[key] = events
        deadline = asyncio.get_running_loop().time() + give_up_after_s
        try:
            while True:
                try:
                    return await self.call("telemetry", events=events)
                except (ClientError, TimeoutError) as exc:
                    code = exc.code if isinstance(exc, ClientError) else "timeout"
                    if code not in _RESEND or asyncio.get_running_loop().time() > deadline:
                        raise
                    hint = exc.details.get("retry_after_ms") if isinstance(exc, ClientError) else 0
                    await asyncio.sleep((hint or 200) / 1000)
        finally:
            self.unacknowledged.pop(key, None)

    async def _request(
        self, op: str, fields: dict[str, Any], joining: Subscription | None
    ) -> dict[str, Any]:
        await self._ready.wait()
        ws = self._ws
        assert ws is not None
        self._ids += 1
        fid = self._ids
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[fid] = future
        if joining is not None:
            self._joining[fid] = joining
        try:
            await ws.send(orjson.dumps({"id": fid, "op": op, **fields}).decode())
            async with asyncio.timeout(self._call_timeout_s):
                reply = await future
        finally:
            self._pending.pop(fid, None)
            self._joining.pop(fid, None)
        if reply["op"] == "error":
            error = reply["error"]
            raise ClientError(error["code"], error["message"], error.get("details"))
        result: dict[str, Any] = reply.get("result") or {}
        return result

    async def _join(self, sub: Subscription) -> None:
        fields: dict[str, Any] = {"channel": sub.channel}
        if sub.position is not None:
            fields["since"] = sub.position.as_dict()
        await self._request("subscribe", fields, sub)

    async def _joined(self, sub: Subscription, result: dict[str, Any]) -> None:
        # Runs in the reader, before any event that follows the reply is looked at.
        position = Position.parse(result["position"])
        if sub.position is None:
            sub.position = position
        elif not result["recovered"]:
            sub.position = position
            await sub._emit(Resync(sub.channel, position))
        # recovered: true -> the missed events follow this reply and advance `position`.

    async def _token_value(self) -> str | None:
        if self._token is None or isinstance(self._token, str):
            return self._token
        return await self._token()

    async def _run(self) -> None:
        attempt = 0
        while not self.closed.is_set():
            self._set_state(CONNECTING if self.connections == 0 else RECONNECTING)
            try:
                token = await self._token_value()
            except Exception as exc:
                # Surfaced, not swallowed by the task: connect() raises ClientError
                # `token_failed` from it, and `exception` keeps it.
                log.warning("token callback failed: %r", exc)
                self.exception = exc
                self._finish(f"token callback failed: {exc!r}")
                return
            headers = {"Authorization": f"Bearer {token}"} if token else None
            try:
                async with websockets.connect(
                    self._url, additional_headers=headers, max_size=2**20, compression=None
                ) as ws:
                    self._ws = ws
                    self.connections += 1
                    attempt = 0
                    reader = asyncio.create_task(self._read(ws))
                    self._ready.set()
                    self._set_state(CONNECTED)
                    resume = [self._resume(sub) for sub in list(self._subs.values())]
                    await asyncio.gather(*resume, return_exceptions=True)
                    await reader
            except websockets.ConnectionClosed as exc:
                code = exc.rcvd.code if exc.rcvd else None
                if code in _FATAL and isinstance(self._token, str | None):
                    self._finish(f"closed with {code}: {_FATAL[code]}")
                    return
                log.info("connection closed (%s); reconnecting", code)
            except (OSError, TimeoutError, websockets.InvalidHandshake) as exc:
                log.info("connect failed: %s", exc)
            finally:
                self._ready.clear()
                self._ws = None
                for future in self._pending.values():
                    if not future.done():
                        future.set_exception(ClientError("disconnected", "connection lost"))
            attempt += 1
            low, high = self._backoff
            await asyncio.sleep(random.uniform(0, min(high, low * 2**attempt)))

    async def _resume(self, sub: Subscription) -> None:
        try:
            await self._join(sub)
        except ClientError as exc:
            log.warning("resubscribe to %s failed: %s", sub.channel, exc)

    async def _read(self, ws: websockets.ClientConnection) -> None:
        async for raw in ws:
            frame = orjson.loads(raw)
            op = frame.get("op")
            if op == "event":
                await self._on_event(frame)
            elif op in ("ok", "error"):
                fid = frame.get("id")
                joining = self._joining.pop(fid, None)
                if joining is not None and op == "ok":
                    await self._joined(joining, frame["result"])
                future = self._pending.get(fid)
                if future is not None and not future.done():
                    future.set_result(frame)
            elif op == "ephemeral":
                sub = self._subs.get(frame["channel"])
                if sub is not None:
                    await sub._ephemeral(Ephemeral(sub.channel, frame["type"], frame["data"]))
            elif op == "recovery":
                sub = self._subs.get(frame["channel"])
                if sub is not None:
                    sub.position = Position.parse(frame["position"])
                    await sub._emit(Resync(sub.channel, sub.position))

    async def _on_event(self, frame: dict[str, Any]) -> None:
        sub = self._subs.get(frame["channel"])
        if sub is None:
            return
        position = Position(frame["offset"], frame["epoch"])
        last = sub.position
        if last is not None and last.epoch == position.epoch and position.seq <= last.seq:
            return  # already applied (a resume overlapping what we had)
        sub.position = position
        await sub._emit(Event(sub.channel, position, frame["type"], frame["data"]))
