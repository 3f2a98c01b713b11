"""Password hashing, cursors, the gate's cache encoding, JWKS parsing: no services needed."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from datetime import UTC, datetime

import jwt
import pytest
from aiohttp.test_utils import make_mocked_request
from argon2 import PasswordHasher
from cryptography.hazmat.primitives.asymmetric import rsa

from server.errors import ApiError
from server.identity import _web
from server.identity.gate import _encode
from server.identity.jwks import JwksKeySet
from server.identity.passwords import Passwords
from server.identity.ratelimit import caller_digest

FAST = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


async def test_passwords_verify_and_unknown_accounts_never_match() -> None:
    passwords = Passwords(FAST)
    stored = await passwords.hash("a long password")
    assert stored.startswith("$argon2id$")
    assert await passwords.verify(stored, "a long password")
    assert not await passwords.verify(stored, "another password")
    assert not await passwords.verify(None, "a long password")
    assert not await passwords.verify("not-a-hash", "a long password")


async def test_hashing_runs_off_the_event_loop() -> None:
    passwords = Passwords()  # the production cost
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.001)

    task = asyncio.create_task(ticker())
    started = time.perf_counter()
    await asyncio.gather(*(passwords.hash("x" * 20) for _ in range(4)))
    elapsed = time.perf_counter() - started
    task.cancel()
    # The loop kept ticking while four hashes ran.
    assert ticks > elapsed * 1000 / 10


def test_cursors_round_trip_at_full_precision() -> None:
    at = datetime(2026, 11, 22, 1, 2, 3, 456789, tzinfo=UTC)
    key = uuid.uuid4()
    page = _web.page_response(
        [{"at": at, "id": key}, {"at": at, "id": uuid.uuid4()}],
        _web.Page(1, None),
        lambda r: {"id": str(r["id"])},
        lambda r: (r["at"], r["id"]),
    )
    request = make_mocked_request("GET", f"/x?limit=1&cursor={page['next_cursor']}")
    assert _web.page_of(request).after == (at, key)


@pytest.mark.parametrize("query", ["cursor=abc", "cursor=W10", "limit=0", "limit=201", "limit=x"])
def test_bad_paging_parameters_are_422(query: str) -> None:
    with pytest.raises(ApiError) as caught:
        _web.page_of(make_mocked_request("GET", f"/x?{query}"))
    assert caught.value.status == 422


def test_gate_encoding() -> None:
    assert _encode(True, None) == "d"
    assert _encode(False, None) == "0"
    at = datetime(2026, 1, 1, tzinfo=UTC)
    assert _encode(False, at) == str(int(at.timestamp() * 1000))


def test_account_identifiers_are_hashed_case_insensitively() -> None:
    assert caller_digest(" Ana@Example.test ") == caller_digest("ana@example.test")
    assert "ana" not in caller_digest("ana@example.test")


def test_jwks_parsing_keeps_rsa_signing_keys_only() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    rsa_jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key))
    document = {
        "keys": [
            {**rsa_jwk, "kid": "sig"},
            {**rsa_jwk, "kid": "enc", "use": "enc"},
            {"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"},
        ]
    }
    keys = JwksKeySet._parse(document)
    assert set(keys) == {"sig", None}  # a single key also answers tokens without kid
    with pytest.raises(ValueError):
        JwksKeySet._parse({"nope": []})
