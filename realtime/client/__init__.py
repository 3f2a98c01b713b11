"""Python client SDK of the Cadence WebSocket gateway (see README.md in this folder).

async with CadenceClient("ws://127.0.0.1:8080/v1/ws", token) as client:
    sub = await client.subscribe("calendar:<uuid>", since=snapshot_position)
    async for item in sub:
        ...  # Event, or Resync when history was lost and the snapshot must be refetched
"""

from realtime.client._client import (
    CadenceClient,
    ClientError,
    Ephemeral,
    Event,
    Position,
    Resync,
    Subscription,
)

__all__ = [
    "CadenceClient",
    "ClientError",
    "Ephemeral",
    "Event",
    "Position",
    "Resync",
    "Subscription",
]
