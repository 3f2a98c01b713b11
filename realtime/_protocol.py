"""The wire protocol of `GET /v1/ws` (PROTOCOL.md): limits, close codes, frame parsing and the
encoders of every server frame.

Server frames are encoded to bytes once and written as TEXT frames; event frames arrive already
encoded from the stream (storage/events.py) and are never decoded on the delivery path.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

import orjson

from storage.errors import DomainError, Invalid
from storage.events import StreamPosition

MAX_ID_LEN = 64
MAX_BINARY_HEADER = 4096


class CloseCode(IntEnum):
    NORMAL = 1000
    GOING_AWAY = 1001  # server shutdown, idle connection
    UNSUPPORTED = 1003
    TOO_LARGE = 1009
    INTERNAL = 1011
    UNAUTHORIZED = 4001  # token missing/invalid/expired (also mid-connection)
    REVOKED = 4003  # the member was disabled, removed, changed role or signed out
    SLOW_CONSUMER = 4008  # outbound queue exceeded its byte cap
    TOO_MANY_FRAMES = 4029  # inbound frame rate exceeded


@dataclass(frozen=True, slots=True)
class Limits:
    """Every bound of one connection and of the gateway. Defaults follow PROTOCOL.md."""

    max_text_bytes: int = 64 * 1024
    max_binary_bytes: int = 512 * 1024
    queue_bytes: int = 1024 * 1024  # outbound bytes waiting for a slow client before 4008
    frames_per_s: float = 100.0  # inbound token bucket: sustained rate ...
    frame_burst: int = 200  # ... and burst
    auth_window_s: float = 5.0  # an anonymous connection may send `auth` this long
    heartbeat_s: float = 25.0  # WebSocket ping when the peer is silent; no pong -> closed
    idle_s: float = 120.0  # a connection with no subscription and no frame is closed (1001)
    close_timeout_s: float = 5.0  # wait for the peer's close reply, then abort the socket
    op_timeout_s: float = 10.0  # one op handler call
    ops_in_flight: int = 8  # pipelined ops (pose frames) of one connection awaiting their result
    stale_after_s: float = 1.0  # a live stream's frame older than this is skipped (`overloaded`)
    max_subscriptions: int = 200
    policy_cache_s: float = 10.0  # per-connection authorization decisions
    redis_concurrency: int = 32  # replay/position calls in flight per process
    presence_ttl_s: float = 30.0
    presence_refresh_s: float = 10.0


# The WebSocket edge of the error vocabulary (storage/errors.py): an op handler raises any
# `DomainError` (a storage family's, the server's ApiError, or one built here) and the client gets
# `{"op": "error", "error": {code, message, details?}}` with the very code, message and details the
# REST envelope shows for the same failure. `OpError` is its name at this edge.
OpError = DomainError


FrameId = int | str | None


def frame_id(frame: dict[str, Any]) -> FrameId:
    """The client's `id`, echoed in the reply; a malformed id is dropped rather than echoed."""
    value = frame.get("id")
    if isinstance(value, bool):
        return None
    if isinstance(value, int) and -(2**53) < value < 2**53:
        return value
    if isinstance(value, str) and len(value) <= MAX_ID_LEN:
        return value
    return None


def parse_text(data: bytes | str) -> dict[str, Any]:
    """A client text frame as a JSON object with a string `op`; raises OpError(bad_request)."""
    try:
        frame = orjson.loads(data)
    except orjson.JSONDecodeError:
        raise OpError("bad_request", "frame is not valid UTF-8 JSON") from None
    if not isinstance(frame, dict):
        raise OpError("bad_request", "frame must be a JSON object")
    if not isinstance(frame.get("op"), str):
        raise OpError("bad_request", "frame needs a string 'op'")
    if b"\\u0000" in (data if isinstance(data, bytes) else data.encode()):
        where = nul_path(frame)
        if where is not None:
            # PostgreSQL's text cannot hold NUL: refused here, not as a failure deep in an op.
            raise nul_error(where)
    return frame


def nul_path(value: Any, path: str = "$") -> str | None:
    """Where a NUL character sits in a decoded JSON value (in a string or a key), if anywhere:
    the field path both edges (REST bodies, WebSocket frames) name in their 422."""
    if isinstance(value, str):
        return path if "\x00" in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}" if path != "$" else str(key)
            if "\x00" in key:
                return where.replace("\x00", "\\u0000")
            found = nul_path(item, where)
            if found is not None:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = nul_path(item, f"{path}.{index}")
            if found is not None:
                return found
    return None


def nul_error(where: str) -> DomainError:
    return Invalid(
        {where: "must not contain NUL (\\u0000) characters"},
        "text must not contain NUL characters",
    )


def parse_binary(data: bytes) -> dict[str, Any]:
    """A binary frame: 4-byte big-endian header length N, N bytes of JSON header, payload.

    Returns the header object with the payload under `payload` (a memoryview, not a copy).
    """
    if len(data) < 4:
        raise OpError("bad_request", "binary frame shorter than its 4-byte header length")
    size = int.from_bytes(data[:4], "big")
    if size == 0 or size > MAX_BINARY_HEADER or 4 + size > len(data):
        raise OpError("bad_request", "binary frame header length is out of range")
    header = parse_text(data[4 : 4 + size])
    header["payload"] = memoryview(data)[4 + size :]
    return header


def wire(frame: bytes) -> bytes:
    """`frame` as one complete WebSocket TEXT frame (FIN, unmasked: server to client).

    Identical for every subscriber, so an entry is framed once and the same bytes are written to
    every socket that can take them right away."""
    size = len(frame)
    if size < 126:
        return bytes((0x81, size)) + frame
    if size < 65536:
        return b"\x81\x7e" + size.to_bytes(2, "big") + frame
    return b"\x81\x7f" + size.to_bytes(8, "big") + frame


def _dumps(obj: dict[str, Any]) -> bytes:
    return orjson.dumps(obj)


def ok(fid: FrameId, result: dict[str, Any] | None) -> bytes:
    return _dumps({"id": fid, "op": "ok", "result": result if result is not None else {}})


def error(fid: FrameId, code: str, message: str, details: Mapping[str, Any] | None = None) -> bytes:
    body: dict[str, Any] = {"code": code, "message": message}
    if details:
        body["details"] = details
    return _dumps({"id": fid, "op": "error", "error": body})


def subscribed(channel: str, position: StreamPosition, recovered: bool) -> dict[str, Any]:
    return {"channel": channel, "position": position.as_dict(), "recovered": recovered}


def recovery(channel: str, position: StreamPosition) -> bytes:
    """Pushed when a live subscription lost history (epoch changed, or the gateway's pub/sub link
    was down longer than retention): the client refetches its snapshot, then applies the events
    that follow this frame. Same meaning as `recovered: false` in a subscribe reply."""
    return _dumps(
        {"op": "recovery", "channel": channel, "position": position.as_dict(), "recovered": False}
    )
