"""What the database refuses, as domain errors: constraint violations the domains rely on
(uniqueness, references, checks, the appointments' exclusion constraint), a deadlock between
two multi-row writes, and a sealed value that failed its integrity check."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg

from server.errors import ApiError, validation_failed
from storage.crypto import CryptoError
from storage.errors import Conflict

log = logging.getLogger("cadence.http")


@asynccontextmanager
async def db_errors() -> AsyncIterator[None]:
    """Around a unit of work: the refusals above become their answers (409, 422, 500)."""
    try:
        yield
    except asyncpg.ExclusionViolationError:
        raise Conflict(
            "the specialist is not free at this time", {"conflicts": []}, code="slot_unavailable"
        ) from None
    except asyncpg.DeadlockDetectedError:
        # Two multi-row writes (series) racing for the same rows: Postgres aborted this one.
        # Nothing was written; the caller may retry and will get an exact answer.
        raise ApiError(
            409,
            "conflict",
            "a concurrent booking overlapped this one; retry",
            headers={"Retry-After": "1"},
        ) from None
    except asyncpg.UniqueViolationError:
        raise Conflict("a resource with these values already exists") from None
    except (asyncpg.ForeignKeyViolationError, asyncpg.CheckViolationError):
        raise validation_failed({"$": "references or values the database refuses"}) from None
    except CryptoError as exc:
        # A sealed value was changed or moved in the database: refuse to show it, say so once.
        log.error("sealed value refused", extra={"error": str(exc)})
        raise ApiError(500, "data_integrity", "a stored value failed its integrity check") from None
