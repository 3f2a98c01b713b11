"""Signed, expiring download tokens of the local store: what S3's presigned URLs are to S3.

A token carries the key, the expiry, the download name and the content type, with an HMAC-SHA256
over all four, so none of them can be changed without the signing key. The key is derived from
the server's secret for this one purpose: a token never verifies as anything else, and the
secret itself never signs a URL.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

_PURPOSE = b"cadence/blob-links/v1"


class BadLink(Exception):
    """Not a token this server signed (malformed or tampered with)."""


class ExpiredLink(Exception):
    """A genuine token past its expiry."""


@dataclass(frozen=True, slots=True)
class LinkClaims:
    key: str
    expires_at: datetime
    filename: str | None
    content_type: str


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class LinkSigner:
    def __init__(self, key: bytes) -> None:
        if len(key) < 32:
            raise ValueError("a link signing key needs at least 32 bytes")
        self._key = key

    @classmethod
    def from_secret(cls, secret: str) -> LinkSigner:
        return cls(hmac.new(secret.encode(), _PURPOSE, hashlib.sha256).digest())

    def _mac(self, payload: bytes) -> bytes:
        return hmac.new(self._key, payload, hashlib.sha256).digest()

    def sign(self, claims: LinkClaims) -> str:
        expires = int(claims.expires_at.timestamp())
        payload = orjson.dumps([claims.key, expires, claims.filename, claims.content_type])
        return f"{_b64(payload)}.{_b64(self._mac(payload))}"

    def verify(self, token: str, now: datetime) -> LinkClaims:
        """The token's claims; BadLink unless this signer made it, ExpiredLink once expired."""
        encoded, dot, mac = token.partition(".")
        try:
            payload, signature = _unb64(encoded), _unb64(mac)
        except (binascii.Error, ValueError):
            raise BadLink from None
        if not dot or not hmac.compare_digest(signature, self._mac(payload)):
            raise BadLink
        claims = _claims(orjson.loads(payload))
        if claims.expires_at <= now:
            raise ExpiredLink
        return claims


def _claims(data: Any) -> LinkClaims:
    # Signed by us, so well-formed; checked anyway so a future format change fails loudly.
    match data:
        case [str(key), int(expires), str() | None as filename, str(content_type)]:
            return LinkClaims(key, datetime.fromtimestamp(expires, UTC), filename, content_type)
    raise BadLink
