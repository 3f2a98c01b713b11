"""REST endpoints of the telerehab domain: exercise library, treatment plans, assignments and
progress records. The live session endpoints (`/v1/telerehab/sessions`) join this list with the
telerehab session issue."""

from server.routing import Endpoint
from server.telerehab import assignments, care_team, consents, exercises, plans, progress

ENDPOINTS: list[Endpoint] = [
    *exercises.ENDPOINTS,
    *plans.ENDPOINTS,
    *assignments.ENDPOINTS,
    *progress.ENDPOINTS,
    *consents.ENDPOINTS,
    *care_team.ENDPOINTS,
]
