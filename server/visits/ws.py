"""The WebSocket ops of virtual visits (docs: server/static/protocol.md, "Virtual visits").

`{"op": "visit.join", "appointment_id"}` -> `{"appointment_id", "role", "attendance_id",
"channel", "peer_present", "peer_attendance_id", "closes_at"}`;
`{"op": "visit.leave", "appointment_id"}`;
`{"op": "visit.signal", "appointment_id", "kind": "offer" | "answer" | "candidate", "sdp"?,
"candidate"?}` -> relayed as the event `visit.signal` `{"from", "kind", ...}` on `visit:<id>`.

A signal is accepted only from a connection that joined the room (so only from one of the two
parties, while the room is open), bounded in size and rate per connection."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from prometheus_client import Gauge

from realtime import ConnectionContext, OpError
from server.visits.access import require_open
from server.visits.rooms import Rooms, room_channel
from storage.errors import Conflict
from storage.types import Principal
from storage.visits import VirtualAppointment, VisitParty

log = logging.getLogger("cadence.visits")
MAX_SDP = 16 * 1024  # a real offer is 2-6 KiB; one with every codec stays well under this
MAX_CANDIDATE = 1024
MAX_MID = 64
SIGNAL_RATE = 10.0  # signals per second per connection, sustained ...
SIGNAL_BURST = 60  # ... and at once (the first burst of ICE candidates)
MAX_JOINED = 10_000  # rooms entered on this process; older entries past their window go first
KINDS = ("offer", "answer", "candidate")

JOINED_ROOMS = Gauge(
    "cadence_visit_joined_connections", "Connections of this process inside a visit's room"
)


@dataclass(slots=True)
class _Bucket:
    tokens: float = SIGNAL_BURST
    at: float = field(default_factory=time.monotonic)

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(SIGNAL_BURST, self.tokens + (now - self.at) * SIGNAL_RATE)
        self.at = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


@dataclass(slots=True)
class _Joined:
    appointment: VirtualAppointment
    party: VisitParty
    principal: Principal
    closes_at: datetime
    attendance_id: uuid.UUID
    bucket: _Bucket = field(default_factory=_Bucket)


def _appointment_id(frame: dict[str, Any]) -> uuid.UUID:
    try:
        return uuid.UUID(str(frame.get("appointment_id")))
    except ValueError:
        raise OpError("bad_request", "appointment_id must be a UUID",
                      {"fields": {"appointment_id": "must be a UUID"}}) from None  # fmt: skip


def _bad(field_name: str, message: str) -> OpError:
    return OpError("bad_request", f"{field_name} {message}", {"fields": {field_name: message}})


def signal_body(frame: dict[str, Any]) -> dict[str, Any]:
    """The relayed part of a `visit.signal` frame, checked: nothing else is forwarded."""
    kind = frame.get("kind")
    if kind not in KINDS:
        raise _bad("kind", "must be one of offer, answer, candidate")
    if kind in ("offer", "answer"):
        sdp = frame.get("sdp")
        if not isinstance(sdp, str) or not 0 < len(sdp) <= MAX_SDP:
            raise _bad("sdp", f"must be a non-empty string of at most {MAX_SDP} characters")
        return {"kind": kind, "sdp": sdp}
    raw = frame.get("candidate")
    if not isinstance(raw, dict):
        raise _bad("candidate", "must be an object {candidate, sdpMid, sdpMLineIndex}")
    text, mid, index = raw.get("candidate"), raw.get("sdpMid"), raw.get("sdpMLineIndex")
    if not isinstance(text, str) or len(text) > MAX_CANDIDATE:
        raise _bad("candidate.candidate", f"must be a string of at most {MAX_CANDIDATE} characters")
    if mid is not None and (not isinstance(mid, str) or len(mid) > MAX_MID):
        raise _bad("candidate.sdpMid", f"must be null or a string of at most {MAX_MID} characters")
    if index is not None and (isinstance(index, bool) or not isinstance(index, int)
                              or not 0 <= index <= 64):  # fmt: skip
        raise _bad("candidate.sdpMLineIndex", "must be null or an integer 0-64")
    return {"kind": kind, "candidate": {"candidate": text, "sdpMid": mid, "sdpMLineIndex": index}}


class VisitOps:
    def __init__(self, rooms: Rooms) -> None:
        self._rooms = rooms
        # (connection id, appointment id) -> what this connection entered
        self._joined: dict[tuple[str, uuid.UUID], _Joined] = {}

    def _principal(self, ctx: ConnectionContext) -> Principal:
        if ctx.principal is None:
            raise OpError("unauthorized", "sign in to enter a visit")
        return ctx.principal

    def _prune(self) -> None:
        if len(self._joined) < MAX_JOINED:
            return
        now = self._rooms.now()
        for key in [k for k, j in self._joined.items() if j.closes_at <= now]:
            del self._joined[key]
        while len(self._joined) >= MAX_JOINED:  # still full: the oldest entry goes
            del self._joined[next(iter(self._joined))]

    async def join(self, ctx: ConnectionContext, frame: dict[str, Any]) -> dict[str, Any]:
        principal = self._principal(ctx)
        entered = await self._rooms.enter(principal, _appointment_id(frame))
        self._prune()
        key = (ctx.id, entered.appointment.id)
        self._joined[key] = _Joined(
            entered.appointment, entered.party, principal, entered.window.closes_at,
            entered.attendance.id,
        )  # fmt: skip
        JOINED_ROOMS.set(len(self._joined))
        return {
            "appointment_id": str(entered.appointment.id),
            "role": entered.party.value,
            "attendance_id": str(entered.attendance.id),
            "channel": room_channel(entered.appointment.id),
            "peer_present": entered.peer is not None,
            "peer_attendance_id": None if entered.peer is None else str(entered.peer),
            "closes_at": entered.window.closes_at,
        }

    def _entered(self, ctx: ConnectionContext, frame: dict[str, Any]) -> _Joined:
        self._principal(ctx)
        joined = self._joined.get((ctx.id, _appointment_id(frame)))
        if joined is None:
            raise Conflict("join the visit on this connection first", code="not_joined")
        return joined

    async def leave(self, ctx: ConnectionContext, frame: dict[str, Any]) -> dict[str, Any]:
        joined = self._entered(ctx, frame)
        del self._joined[(ctx.id, joined.appointment.id)]
        JOINED_ROOMS.set(len(self._joined))
        await self._rooms.leave(
            joined.principal, joined.appointment, joined.party, joined.attendance_id
        )
        return {"appointment_id": str(joined.appointment.id)}

    async def sweep(self, connected: Callable[[str], bool]) -> int:
        """Close the attendances of connections that closed without `visit.leave` (a tab
        closed, a network lost): their party left the room as far as the record goes."""
        gone = [(key, j) for key, j in self._joined.items() if not connected(key[0])]
        for key, joined in gone:
            self._joined.pop(key, None)
            try:
                await self._rooms.leave(joined.principal, joined.appointment, joined.party,
                                        joined.attendance_id, "disconnected")  # fmt: skip
            except Exception as exc:  # the next sweep cannot retry it: logged, not raised
                log.warning("visit attendance not closed", extra={"error": repr(exc)})
        JOINED_ROOMS.set(len(self._joined))
        return len(gone)

    async def signal(self, ctx: ConnectionContext, frame: dict[str, Any]) -> dict[str, Any]:
        joined = self._entered(ctx, frame)
        body = signal_body(frame)
        if not joined.bucket.take():
            raise OpError("rate_limited", "too many signals, slow down",
                          {"retry_after_ms": int(1000 / SIGNAL_RATE)})  # fmt: skip
        # Read again for every signal (bounded by the rate above): an appointment cancelled or
        # moved while its room is in use stops relaying at once.
        found, _, window, state = await self._rooms.lookup(joined.principal, joined.appointment.id)
        require_open(window, state)
        joined.appointment = found
        await self._rooms.signal(joined.appointment, joined.party, body)
        return {}
