"""The video provider of virtual visits, as a Protocol: the built-in one connects the two
browsers peer to peer (WebRTC) with the signalling carried over the Cadence WebSocket; a hosted
video service can replace it by implementing `VisitProvider` and being named in
CADENCE_VISIT_PROVIDER (`package.module:name`, a factory called with the `VisitSettings`).

The server keeps deciding who may enter and when (tenant, subject, the open window) and keeps
the attendance record; a provider only says how the browser reaches the room."""

from __future__ import annotations

import base64
import hashlib
import hmac
import importlib
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from server.visit_settings import VisitSettings
from storage.visits import VisitParty


@dataclass(frozen=True, slots=True)
class RoomAccess:
    """What a browser needs to enter a visit's room. `kind` tells the page how: `p2p` (WebRTC
    with `ice_servers`, signalling on `channel`) or a provider's own kind with its `join_url`."""

    kind: str
    ice_servers: list[dict[str, Any]] = field(default_factory=list)
    channel: str | None = None
    join_url: str | None = None


class VisitProvider(Protocol):
    name: str

    def access(
        self, appointment_id: uuid.UUID, party: VisitParty, subject: uuid.UUID, expires_at: float
    ) -> RoomAccess:
        """How `party` (whose id is `subject`) enters the room of the appointment; credentials
        it hands out must not outlive `expires_at` (a Unix time) by more than their TTL."""
        ...


class PeerToPeer:
    """The built-in provider: WebRTC between the two browsers, signalled over `visit:<id>`."""

    name = "builtin"

    def __init__(self, settings: VisitSettings, clock: Callable[[], float] = time.time) -> None:
        self._settings = settings
        self._clock = clock

    def access(
        self, appointment_id: uuid.UUID, party: VisitParty, subject: uuid.UUID, expires_at: float
    ) -> RoomAccess:
        servers: list[dict[str, Any]] = []
        if self._settings.stun_urls:
            servers.append({"urls": list(self._settings.stun_urls)})
        if self._settings.turn_urls:
            username, credential = turn_credential(
                self._settings.turn_secret, f"{party.value}-{subject}",
                int(self._clock()) + self._settings.turn_ttl_s,
            )  # fmt: skip
            servers.append(
                {"urls": list(self._settings.turn_urls), "username": username,
                 "credential": credential}
            )  # fmt: skip
        return RoomAccess("p2p", servers, f"visit:{appointment_id}")


def turn_credential(secret: str, user: str, expires: int) -> tuple[str, str]:
    """The TURN REST API credential (coturn `use-auth-secret`): username `<expiry>:<user>`,
    password base64(HMAC-SHA1(secret, username)). The TURN server checks the HMAC and the
    expiry itself, so nothing is stored and a leaked credential dies with its TTL."""
    username = f"{expires}:{user}"
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return username, base64.b64encode(digest).decode()


def load_provider(settings: VisitSettings) -> VisitProvider:
    """The configured provider: the built-in one, or a factory named `package.module:name`."""
    if settings.provider == "builtin":
        return PeerToPeer(settings)
    module, _, name = settings.provider.partition(":")
    factory = getattr(importlib.import_module(module), name)
    provider: VisitProvider = factory(settings)
    return provider
