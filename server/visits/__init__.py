"""Virtual visits: a video room per virtual appointment (docs/visits.md). REST
`GET /v1/appointments/{id}/visit`; WebSocket ops `visit.join`, `visit.leave`, `visit.signal`;
the channel `visit:<appointment id>` that only the appointment's patient and specialist may
subscribe to; a `VisitProvider` Protocol with the built-in peer-to-peer provider as default.

`server.visits.install.install(app)` mounts it all; the settings are `server.visit_settings`."""

from server.visit_settings import VisitSettings
from server.visits.provider import RoomAccess, VisitProvider

__all__ = ["RoomAccess", "VisitProvider", "VisitSettings"]
