"""The signing keys of an external identity provider, fetched from its JWKS URL.

Keys are cached by `kid`. A token signed with a `kid` we have not seen triggers one refetch (the
provider rotated its keys), at most once per `min_refresh_s`, so a stream of tokens with made-up
kids cannot turn us into a traffic amplifier against the provider. When the provider is down,
keys already known keep working.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import aiohttp
import jwt
import orjson

log = logging.getLogger("cadence.jwks")


class UnknownKey(Exception):
    """No key of the provider matches the token's `kid`."""


class JwksKeySet:
    def __init__(
        self,
        url: str,
        *,
        ttl_s: float = 600.0,
        min_refresh_s: float = 30.0,
        timeout_s: float = 3.0,
        max_bytes: int = 256 * 1024,
    ) -> None:
        self._url = url
        self._ttl_s = ttl_s
        self._min_refresh_s = min_refresh_s
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._max_bytes = max_bytes
        self._keys: dict[str | None, Any] = {}
        self._fetched_at = float("-inf")
        self._lock = asyncio.Lock()
        self._session: aiohttp.ClientSession | None = None

    async def key(self, kid: str | None) -> Any:
        """The public key for `kid` (a token without `kid` matches only a single-key set)."""
        if kid in self._keys and not self._stale():
            return self._keys[kid]
        async with self._lock:  # one fetch for a crowd of requests that missed together
            if kid not in self._keys or self._stale():
                await self._refresh()
        if kid in self._keys:
            return self._keys[kid]
        raise UnknownKey(kid)

    def _stale(self) -> bool:
        return time.monotonic() - self._fetched_at > self._ttl_s

    async def _refresh(self) -> None:
        if time.monotonic() - self._fetched_at < self._min_refresh_s:
            return
        self._fetched_at = time.monotonic()  # also on failure: back off for min_refresh_s
        try:
            document = await self._fetch()
            keys = self._parse(document)
        except (aiohttp.ClientError, TimeoutError, ValueError, jwt.PyJWTError) as exc:
            log.warning("JWKS fetch failed; keeping known keys", extra={"error": repr(exc)})
            return
        self._keys = keys

    async def _fetch(self) -> Any:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        async with self._session.get(self._url) as response:
            response.raise_for_status()
            body = await response.content.read(self._max_bytes + 1)
            if len(body) > self._max_bytes:
                raise ValueError("JWKS document too large")
            return orjson.loads(body)

    @staticmethod
    def _parse(document: Any) -> dict[str | None, Any]:
        if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
            raise ValueError("not a JWKS document")
        keys: dict[str | None, Any] = {}
        for entry in document["keys"]:
            if not isinstance(entry, dict) or entry.get("kty") != "RSA":
                continue
            if entry.get("use", "sig") != "sig" or entry.get("alg", "RS256") != "RS256":
                continue
            keys[entry.get("kid")] = jwt.PyJWK(entry, algorithm="RS256").key
        if len(keys) == 1:
            keys.setdefault(None, next(iter(keys.values())))
        return keys

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
