"""Field encryption at rest: AES-256-GCM envelopes with their key id, and keyed blind indexes.

A sealed value is the text `v1:<kid>:<nonce>:<ciphertext>` (base64url, no padding). The key id
travels with the value, so readers decrypt with any key they know while `cadence keys rotate`
moves rows to the active key in batches: no downtime, no flag day. The associated data binds each
ciphertext to its place, `(table, column, row id, organization)`: a value copied into another
row, column or tenant fails authentication instead of decrypting there.

`p0:<text>` marks a value written before encryption existed (the privacy migration tags them);
it is read as is until the rotation seals it. Anything else is refused, never guessed at.

A blind index is an HMAC-SHA256 under a separate key of a normalized value and its organization:
equal values of one tenant match, nothing is learned about the value, and the same e-mail in two
clinics gives unrelated indexes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

VERSION = "v1"
LEGACY = "p0:"
KEY_BYTES = 32
_NONCE_BYTES = 12
_KID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")


class CryptoError(ValueError):
    """A sealed value that cannot be opened. Never carries the value itself."""


class UnknownKey(CryptoError):
    pass


class TamperedValue(CryptoError):
    """Authentication failed: changed bytes, or a value moved from another row/column/tenant."""


@dataclass(frozen=True, slots=True)
class FieldRef:
    """Where a sealed value lives; its associated data."""

    table: str
    column: str
    row_id: uuid.UUID | str
    org_id: uuid.UUID | None

    def aad(self) -> bytes:
        org = "" if self.org_id is None else str(self.org_id)
        return f"cadence/{VERSION}/{self.table}/{self.column}/{self.row_id}/{org}".encode()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _key(text: str, what: str) -> bytes:
    try:
        raw = base64.b64decode(text.replace("-", "+").replace("_", "/") + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise ValueError(f"{what} is not base64") from None
    if len(raw) != KEY_BYTES:
        raise ValueError(f"{what} must be {KEY_BYTES} bytes (base64 of 32 random bytes)")
    return raw


def new_key() -> str:
    """A fresh key as base64 text (for settings files)."""
    return base64.b64encode(os.urandom(KEY_BYTES)).decode()


@dataclass(frozen=True, slots=True)
class KeyRing:
    """The data keys by id (the active one seals; all open) and the blind-index key."""

    keys: Mapping[str, bytes] = field(repr=False)
    active: str
    index_key: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if self.active not in self.keys:
            raise ValueError(f"active data key {self.active!r} is not among the keys")

    @classmethod
    def parse(cls, keys: str, index_key: str, active: str = "") -> KeyRing:
        """`keys` = "kid:base64,kid2:base64" (the first is active unless `active` names one);
        `index_key` = base64 of 32 bytes. Raises ValueError naming what is wrong, never a key."""
        parsed: dict[str, bytes] = {}
        for item in (p.strip() for p in keys.split(",")):
            if not item:
                continue
            kid, sep, material = item.partition(":")
            if not sep or not kid or not set(kid) <= _KID_CHARS or len(kid) > 32:
                raise ValueError("data keys must look like kid:base64key (kid: [A-Za-z0-9_-])")
            if kid in parsed:
                raise ValueError(f"data key id {kid!r} appears twice")
            parsed[kid] = _key(material, f"data key {kid!r}")
        if not parsed:
            raise ValueError("no data key given")
        chosen = active or next(iter(parsed))
        if chosen not in parsed:
            raise ValueError(f"active data key {chosen!r} is not among the keys")
        return cls(parsed, chosen, _key(index_key, "blind index key"))

    def with_active(self, kid: str) -> KeyRing:
        return KeyRing(self.keys, kid, self.index_key)

    def seal(self, plaintext: str, where: FieldRef) -> str:
        nonce = os.urandom(_NONCE_BYTES)
        ct = AESGCM(self.keys[self.active]).encrypt(nonce, plaintext.encode(), where.aad())
        return f"{VERSION}:{self.active}:{_b64(nonce)}:{_b64(ct)}"

    def open(self, sealed: str, where: FieldRef) -> str:
        if sealed.startswith(LEGACY):
            return sealed[len(LEGACY) :]
        parts = sealed.split(":")
        if len(parts) != 4 or parts[0] != VERSION:
            raise CryptoError(f"{where.table}.{where.column}: not a sealed value")
        _, kid, nonce, ct = parts
        key = self.keys.get(kid)
        if key is None:
            raise UnknownKey(f"{where.table}.{where.column}: unknown data key {kid!r}")
        try:
            plain = AESGCM(key).decrypt(_unb64(nonce), _unb64(ct), where.aad())
        except (InvalidTag, binascii.Error, ValueError):
            raise TamperedValue(f"{where.table}.{where.column}: authentication failed") from None
        return plain.decode()

    def blind_index(self, purpose: str, org_id: uuid.UUID, normalized: str) -> bytes:
        """HMAC-SHA256 of (purpose, organization, normalized value) under the index key."""
        message = f"{purpose}\x00{org_id}\x00{normalized}".encode()
        return hmac.new(self.index_key, message, hashlib.sha256).digest()


def key_id(sealed: str) -> str | None:
    """The key id of a sealed value; None for a legacy (not yet sealed) one."""
    if sealed.startswith(LEGACY):
        return None
    parts = sealed.split(":", 2)
    return parts[1] if len(parts) == 3 and parts[0] == VERSION else None


# Development and test only (settings refuse them elsewhere): a fixed ring so a developer's
# database stays readable across restarts even before devstack has written real keys.
DEV_KEYS = "dev1:" + base64.b64encode(hashlib.sha256(b"cadence-dev-data-key-1").digest()).decode()
DEV_INDEX_KEY = base64.b64encode(hashlib.sha256(b"cadence-dev-index-key").digest()).decode()
