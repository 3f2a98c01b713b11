"""Password hashing: argon2id (memory-hard), always off the event loop, bounded in concurrency.

Verifying against an unknown account costs the same as against a real one (a dummy hash is
checked), so response timing does not tell whether an e-mail has an account.
"""

from __future__ import annotations

import asyncio
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

# OWASP's argon2id baseline: 19 MiB, 2 passes, 1 lane (about 20 ms on one core here).
DEFAULT_HASHER = PasswordHasher(time_cost=2, memory_cost=19_456, parallelism=1)
MIN_LENGTH = 10
MAX_LENGTH = 1024  # argon2 takes any length; a bound keeps one request's cost bounded


class Passwords:
    def __init__(self, hasher: PasswordHasher = DEFAULT_HASHER, concurrency: int = 2) -> None:
        self._hasher = hasher
        # Each hash holds memory_cost of RAM and a worker thread; a login burst queues here
        # instead of exhausting both.
        self._slots = asyncio.Semaphore(concurrency)
        self._dummy: str | None = None

    async def hash(self, password: str) -> str:
        async with self._slots:
            return await asyncio.to_thread(self._hasher.hash, password)

    async def verify(self, stored: str | None, password: str) -> bool:
        """True when `password` matches `stored`; an account without a hash never matches, after
        the same amount of work."""
        if stored is None:
            stored = await self._dummy_hash()
            password = password + "\x00"  # can never match the random dummy
        async with self._slots:
            return await asyncio.to_thread(self._check, stored, password)

    def needs_rehash(self, stored: str) -> bool:
        """True when `stored` was hashed with other parameters than ours (they were raised since):
        the sign-in that just verified it stores a fresh hash."""
        try:
            return self._hasher.check_needs_rehash(stored)
        except (InvalidHashError, ValueError):
            return True

    def _check(self, stored: str, password: str) -> bool:
        try:
            return self._hasher.verify(stored, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    async def _dummy_hash(self) -> str:
        if self._dummy is None:
            self._dummy = await self.hash(secrets.token_urlsafe(24))
        return self._dummy
