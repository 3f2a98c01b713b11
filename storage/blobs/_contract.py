"""What every blob store promises: content-addressed keys, whole-object reads, short-lived links."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from urllib.parse import quote

_KEY = re.compile(r"^sha256/[0-9a-f]{64}$")


@dataclass(frozen=True, slots=True)
class StoredBlob:
    key: str  # content-addressed: "sha256/<64 hex>"; the same bytes -> the same key, stored once
    sha256: str
    size: int
    content_type: str


@dataclass(frozen=True, slots=True)
class Link:
    url: str
    expires_at: datetime


class BlobStore(Protocol):
    """Object storage for immutable bytes. Keys name the content (`key_of`), so a put of bytes
    already stored writes nothing and answers the same key. Every method raises
    `storage.errors.Unavailable` when the store cannot be reached."""

    async def put(self, data: bytes, content_type: str) -> StoredBlob:
        """Store the bytes (durably, before returning) under their content key."""
        ...

    async def get(self, key: str) -> bytes:
        """The stored bytes; `storage.errors.NotFound` when there are none under the key."""
        ...

    async def link(
        self,
        key: str,
        *,
        ttl_s: int = 300,
        filename: str | None = None,
        content_type: str | None = None,
    ) -> Link:
        """A GET URL for the bytes that works without credentials until `expires_at`, answering
        `content_type` and, with `filename`, a download under that name."""
        ...


class BlobStoreConfigError(RuntimeError):
    """The configured store cannot be used at all (a missing bucket, a directory that cannot be
    written): start-up fails with this one-line message."""


def key_of(data: bytes) -> tuple[str, str]:
    """(key, sha256 hex) of the bytes."""
    digest = hashlib.sha256(data).hexdigest()
    return f"sha256/{digest}", digest


def key_of_digest(sha256: str) -> str:
    """The key of bytes whose SHA-256 is `sha256` (lowercase hex); ValueError for anything else."""
    key = f"sha256/{sha256}"
    if not _KEY.match(key):
        raise ValueError("sha256 must be 64 lowercase hex digits")
    return key


def is_key(key: str) -> bool:
    """Whether `key` is a content key (a key from outside never names a path or another object)."""
    return bool(_KEY.match(key))


def content_disposition(filename: str) -> str:
    """`attachment` under `filename`: an ASCII fallback for old clients and the exact name in
    RFC 5987 form (any script, quotes and separators included)."""
    fallback = "".join(
        c if c.isascii() and c.isprintable() and c not in '"\\' else "_" for c in filename
    )
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"
