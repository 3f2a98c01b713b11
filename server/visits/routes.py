"""`GET /v1/appointments/{id}/visit`: the video room of a virtual appointment and its record.

The two parties (the appointment's patient and specialist, organization AND subject compared)
get the room: its state and window and, while it is open, how to enter it (the provider's
`room`: ICE servers with short-lived TURN credentials, the signalling channel). Admins and
receptionists of the clinic get the state and the record only (who was in the room and when,
and the time both were there together); anyone else, and any other organization, gets 404."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from server.errors import not_found
from server.http import iso, json_response
from server.middleware import principal
from server.routing import ID, STAMP, Endpoint, nullable, roles, shape
from server.visits.access import RoomState, subject_of
from server.visits.provider import VisitProvider
from server.visits.rooms import Rooms
from server.web.params import path_id
from storage.types import Role

TAG = "visits"
ROOMS_KEY = web.AppKey("visit_rooms", Rooms)
PROVIDER_KEY = web.AppKey("visit_provider", VisitProvider)
RECORD_READERS = frozenset({Role.ADMIN, Role.RECEPTIONIST})

_ATTENDANCE = shape(
    {
        "id": ID,
        "role": {"enum": ["patient", "specialist"]},
        "joined_at": STAMP,
        "left_at": nullable(STAMP),
        "left_reason": nullable({"enum": ["left", "rejoined", "disconnected"]}),
    }
)
_ROOM = shape(
    {
        "kind": {"type": "string", "description": "`p2p` (built in) or a provider's kind"},
        "channel": nullable({"type": "string", "description": "the signalling channel"}),
        "ice_servers": {
            "type": "array",
            "items": shape(
                {
                    "urls": {"type": "array", "items": {"type": "string"}},
                    "username": {"type": "string"},
                    "credential": {"type": "string"},
                },
                "username",
                "credential",
            ),
        },
        "join_url": nullable({"type": "string"}),
    }
)
VISIT = shape(
    {
        "appointment_id": ID,
        "provider": {"type": "string"},
        "state": {"enum": [s.value for s in RoomState]},
        "starts_at": STAMP,
        "ends_at": STAMP,
        "opens_at": STAMP,
        "closes_at": STAMP,
        "role": nullable({"enum": ["patient", "specialist"]}),
        "room": nullable(_ROOM),
        "record": shape(
            {
                "attendances": {"type": "array", "items": _ATTENDANCE},
                "together_s": {"type": "number", "description": "seconds both were in the room"},
                "first_together_at": nullable(STAMP),
                "last_together_at": nullable(STAMP),
            }
        ),
    }
)


async def get_visit(request: web.Request) -> web.Response:
    appointment_id = path_id(request, what="appointment")
    who = principal(request)
    rooms = request.app[ROOMS_KEY]
    found, party, window, state = await rooms.lookup(who, appointment_id)
    if party is None and who.role not in RECORD_READERS:
        raise not_found("appointment")
    room: dict[str, Any] | None = None
    if party is not None and state is RoomState.OPEN:
        access = request.app[PROVIDER_KEY].access(
            found.id, party, subject_of(party, found), window.closes_at.timestamp()
        )
        room = {"kind": access.kind, "channel": access.channel,
                "ice_servers": access.ice_servers, "join_url": access.join_url}  # fmt: skip
    record = await rooms.record(who, appointment_id, window)
    return json_response(
        {
            "appointment_id": str(found.id),
            "provider": request.app[PROVIDER_KEY].name,
            "state": state.value,
            "starts_at": iso(found.starts_at),
            "ends_at": iso(found.ends_at),
            "opens_at": iso(window.opens_at),
            "closes_at": iso(window.closes_at),
            "role": None if party is None else party.value,
            "room": room,
            "record": {
                "attendances": [
                    {
                        "id": str(a.id),
                        "role": a.role.value,
                        "joined_at": iso(a.joined_at),
                        "left_at": iso(a.left_at),
                        "left_reason": a.left_reason,
                    }
                    for a in record.attendances
                ],  # fmt: skip
                "together_s": round(record.together_s, 3),
                "first_together_at": iso(record.first_together_at),
                "last_together_at": iso(record.last_together_at),
            },
        }
    )


ENDPOINTS = [
    Endpoint(
        "GET",
        "/v1/appointments/{id}/visit",
        get_visit,
        roles(Role.PATIENT, Role.SPECIALIST, Role.ADMIN, Role.RECEPTIONIST),
        "The video room of a virtual appointment (state, open window, ICE servers for its "
        "patient and specialist while open) and its record (joins, leaves, time together)",
        TAG,
        response_schema=VISIT,
        errors=(401, 403, 404, 409),
    )
]
