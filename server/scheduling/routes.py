"""REST endpoints of this domain (filled in by its issue)."""

from server.routing import Endpoint

ENDPOINTS: list[Endpoint] = []
