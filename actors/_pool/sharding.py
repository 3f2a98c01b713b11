"""Stable placement of entities on a fixed pool of actors.

Python's `hash()` is salted per process, so two server processes would disagree about which shard
owns a calendar; a keyed digest of the id's bytes gives every process the same answer.
"""

from __future__ import annotations

import hashlib
import uuid


def shard_of(key: uuid.UUID | str, shards: int) -> int:
    if shards <= 0:
        raise ValueError("shards must be positive")
    raw = key.bytes if isinstance(key, uuid.UUID) else key.encode()
    digest = hashlib.blake2b(raw, digest_size=8).digest()
    return int.from_bytes(digest, "big") % shards
